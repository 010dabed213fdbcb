/**
 * The paper's post-training experiment end to end, as the `dpo` and `eval`
 * stages of `deno task reproduce` (and notebooks 05–06) run it: preference
 * pairs from the base generator scored by the PRM, Diffusion-DPO, Gran-DPO
 * patch-only and HALO (Gran-DPO, video + patch) trained with several seeds,
 * then Base and every run evaluated on held-out prompts by both methods with
 * the patch-defect analysis, written as `results.json` and `results.md`.
 *
 * Two profiles: `"default"` (the one the README quotes) and `"tiny"` (the same
 * pipeline at toy size, for CI and a first look, in a few minutes).
 * @module
 */

import { join } from "node:path";
import { fail } from "../core/_errors.ts";
import { readJsonLines, writeFileAtomic } from "../core/_atomic.ts";
import { defaultJobs, runJobs } from "../core/_spawn.ts";
import { sha256Hex } from "../core/_hash.ts";
import { disposeGenerator } from "../generator/model.ts";
import { loadGenerator } from "../generator/io.ts";
import { buildPairs, type BuildPairsOptions } from "../pairs/pairs.ts";
import { postTrain, type PostTrainMethod, type PostTrainOptions } from "../dpo/post_train.ts";
import {
  checkIndependentEvaluator,
  type ClipEvaluation,
  evaluateModel,
  evaluationClip,
} from "./evaluate.ts";
import { shapesBench } from "../videos/shapes_bench.ts";
import { formatResults, type HaloResults, haloResults, RESULT_METHODS } from "./results.ts";
import { mostFixedClips } from "./defects.ts";
import { disposeRewardModel } from "../reward/model.ts";
import { rewardPatchLabels, scoreRewards } from "../reward/score.ts";
import type { PatchLabel } from "../videos/scores.ts";
import { saveVideo } from "../videos/video.ts";
import { loadRewardModel } from "../reward/io.ts";
import { readCheckpointManifest } from "../tensor/checkpoint.ts";
import { sampleClips } from "../generator/sampler.ts";
import { testPromptSample } from "../generator/quick_eval.ts";
import { videoSheet } from "../videos/sheet.ts";
import type { Video } from "../videos/video.ts";
import { modelName, type ModelRef, shipped } from "../core/shipped.ts";

/** The child module that runs post-training and evaluation jobs. */
const JOBS_ENTRY = new URL("./_jobs.ts", import.meta.url).href;

/** Sizes of every step of the reproduction. */
export interface HaloProfile {
  /** Profile name. */
  name: "tiny" | "default";
  /** The reward stage (`trainRewardSeeds` options). */
  reward: {
    train: number;
    heldOut: number;
    videoSteps: number;
    patchSteps: number;
    evalEvery: number;
  };
  /** Test prompts of the generator stage's recognisability check. */
  generatorPrompts: number;
  /** Preference pairs (`sharedNoise` and `eta`: candidates from one x_T per prompt; off in every profile). */
  pairs: Pick<
    BuildPairsOptions,
    "prompts" | "candidates" | "steps" | "pairing" | "margin" | "sharedNoise" | "eta"
  >;
  /** Post-training (every method and seed; `anchor`/`anchorWeight` pass through, off in every profile). */
  postTrain: Omit<PostTrainOptions, "out" | "pairs" | "method" | "seed" | "generatorDir"> & {
    seeds: number[];
  };
  /** Evaluation. */
  eval: {
    prompts: number;
    seeds: number[];
    steps: number;
    split?: "test" | "validation";
    /** Classifier-free guidance of the evaluation's samples. Default 2 (the generator's). */
    guidance?: number;
  };
}

/** The methods trained, in table order. */
export const EXPERIMENT_METHODS: readonly PostTrainMethod[] = ["dpo", "patch-only", "grandpo"];

/** The profiles of `deno task reproduce --profile`. */
export const HALO_PROFILES: Readonly<Record<"tiny" | "default", HaloProfile>> = Object.freeze({
  default: {
    name: "default",
    reward: { train: 1000, heldOut: 96, videoSteps: 600, patchSteps: 800, evalEvery: 10 },
    generatorPrompts: 32,
    pairs: { prompts: 256, candidates: 4, steps: 20, pairing: "all", margin: 0.1 },
    postTrain: {
      seeds: [0, 1, 2],
      steps: 300,
      batchSize: 8,
      learningRate: 1e-4,
      checkpointEvery: 50,
    },
    eval: { prompts: 64, seeds: [0, 1], steps: 20 },
  },
  tiny: {
    name: "tiny",
    reward: { train: 48, heldOut: 16, videoSteps: 20, patchSteps: 20, evalEvery: 10 },
    generatorPrompts: 4,
    pairs: { prompts: 8, candidates: 2, steps: 4, pairing: "best-worst", margin: 0 },
    postTrain: { seeds: [0, 1], steps: 4, batchSize: 2, learningRate: 1e-4, checkpointEvery: 2 },
    eval: { prompts: 4, seeds: [0], steps: 4 },
  },
});

/**
 * Looks a profile up by name, with a clear error.
 *
 * @example
 * ```ts
 * import { haloProfile } from "@halo/kit";
 * const tiny = haloProfile("tiny");
 * console.log(tiny.postTrain.seeds, tiny.eval.prompts); // [0, 1] 4
 * ```
 */
export function haloProfile(name: string): HaloProfile {
  const p = HALO_PROFILES[name as "tiny" | "default"];
  if (!p) fail("profile", `one of ${Object.keys(HALO_PROFILES).join(", ")}`, name);
  return p;
}

/** One post-training run of the experiment. */
export interface ExperimentRun {
  /** Method. */
  method: PostTrainMethod;
  /** Training seed. */
  seed: number;
  /** Checkpoint directory (its log is `<dir>.log.jsonl`). */
  dir: string;
  /** Wall seconds. */
  seconds: number;
  /** Means of the logged metrics over the last 50 steps. */
  recent: Record<string, number>;
}

/** Options of {@linkcode runPostTraining}. */
export interface RunPostTrainingOptions {
  /** Output folder (pairs/ and one checkpoint per run). */
  dir: string;
  /** Base generator. */
  generatorDir: ModelRef;
  /** The training PRM. */
  prmDir: ModelRef;
  /** Profile. */
  profile: HaloProfile;
  /** Seed of the pairs. Default 0. */
  seed?: number;
  /** Line printer. */
  log?: (line: string) => void;
  /** No progress bars. */
  quiet?: boolean;
  /** Runs trained at once, in child processes (`lib/eval/_jobs.ts`). Default: the CPU count. */
  jobs?: number;
}

/** Means of the last (up to) `n` records of a post-training log. */
export async function recentMetrics(logFile: string, n = 50): Promise<Record<string, number>> {
  const records = (await readJsonLines<Record<string, number>>(logFile)).slice(-n);
  const keys = Object.keys(records[0] ?? {}).filter((k) => k !== "step" && k !== "seconds");
  return Object.fromEntries(
    keys.map((k) => [k, records.reduce((t, r) => t + r[k], 0) / records.length]),
  );
}

/**
 * Builds the pairs and trains every method with every seed (each run resumes
 * where it stopped; `jobs` runs at once in child processes). Returns the runs
 * in table order.
 */
export async function runPostTraining(
  options: RunPostTrainingOptions,
): Promise<{ pairs: Record<string, unknown>; runs: ExperimentRun[] }> {
  const { dir, profile } = options;
  const log = options.log ?? (() => {});
  const pairs = await buildPairs({
    out: join(dir, "pairs"),
    generatorDir: options.generatorDir,
    prmDir: options.prmDir,
    seed: options.seed ?? 0,
    quiet: options.quiet,
    ...profile.pairs,
  });
  log(
    `  ${pairs.pairs} pairs from ${pairs.candidates} candidates (${pairs.sampled} sampled now) → ${pairs.file}`,
  );
  const { seeds, ...train } = profile.postTrain;
  const specs = EXPERIMENT_METHODS.flatMap((method) =>
    seeds.map((seed) => ({
      method,
      seed,
      options: {
        ...train,
        out: join(dir, `${method}-s${seed}`),
        pairs: pairs.file,
        generatorDir: options.generatorDir,
        method,
        seed,
        quiet: options.quiet,
      } as PostTrainOptions,
    }))
  );
  const jobs = options.jobs ?? defaultJobs();
  if (jobs > 1) {
    const todo = [];
    for (const spec of specs) {
      const step = await readCheckpointManifest(spec.options.out).then((m) => m.step, () => 0);
      if (step < (train.steps ?? 300)) todo.push(spec);
    }
    log(`  training ${todo.length} of ${specs.length} runs, ${jobs} at a time`);
    await runJobs(todo.map((spec) => ({ kind: "post-train", options: spec.options })), {
      concurrency: jobs,
      entry: JOBS_ENTRY,
      onDone: (job, seconds) =>
        log(
          `  ${(job.options as PostTrainOptions).out} done in ${seconds.toFixed(0)} s`,
        ),
    });
  }
  const runs: ExperimentRun[] = [];
  for (const { method, seed, options: o } of specs) {
    const r = await postTrain(o); // finds a finished run and returns at once
    const recent = await recentMetrics(`${o.out}.log.jsonl`);
    log(
      `  ${method} seed ${seed}: ${r.step} steps, ${r.wallSeconds.toFixed(0)} s; loss ${
        recent.loss?.toFixed(4) ?? "–"
      }, implicit accuracy ${recent["rewards/accuracies"]?.toFixed(3) ?? "–"}`,
    );
    runs.push({ method, seed, dir: o.out, seconds: r.wallSeconds, recent });
  }
  return { pairs: { file: pairs.file, ...pairs.manifest }, runs };
}

/** Options of {@linkcode runEvaluation}. */
export interface RunEvaluationOptions {
  /** Output folder (one per-clip JSONL per model). */
  dir: string;
  /** Base generator. Default: the shipped one ({@linkcode shipped}). */
  generatorDir?: ModelRef;
  /** The post-training runs to evaluate. */
  runs: ReadonlyArray<Pick<ExperimentRun, "method" | "seed" | "dir">>;
  /** The independent evaluator RM. Default: the shipped one. */
  evaluatorDir?: ModelRef;
  /** The training PRM (refused as evaluator; used for its worst-patch precision). Default: the shipped one. */
  prmDir?: ModelRef;
  /** Profile. */
  profile: HaloProfile;
  /** Settings recorded in the results. */
  config?: Record<string, unknown>;
  /** Line printer. */
  log?: (line: string) => void;
  /** No progress bars. */
  quiet?: boolean;
  /** Models evaluated at once, in child processes. Default: the CPU count. */
  jobs?: number;
}

/** What {@linkcode runEvaluation} returns: the table and the clips behind it. */
export interface EvaluationRun {
  /** The results table with the claims. */
  results: HaloResults;
  /** Base's clips and each method's, one list per training seed. */
  clips: {
    base: ClipEvaluation[];
    methods: Partial<Record<PostTrainMethod, ClipEvaluation[][]>>;
  };
}

/**
 * Evaluates Base and every run on the same test prompts and noise, and builds
 * the results table with the paper's claims checked. Per-clip records are
 * cached, so a killed evaluation resumes.
 */
export async function runEvaluation(given: RunEvaluationOptions): Promise<EvaluationRun> {
  const options = {
    ...given,
    generatorDir: given.generatorDir ?? shipped.generator,
    evaluatorDir: given.evaluatorDir ?? shipped.evaluator,
    prmDir: given.prmDir ?? shipped.prm,
  };
  const { dir, profile } = options;
  const log = options.log ?? (() => {});
  checkIndependentEvaluator(
    {
      dir: modelName(options.evaluatorDir),
      manifest: await readCheckpointManifest(options.evaluatorDir),
    },
    { dir: modelName(options.prmDir), manifest: await readCheckpointManifest(options.prmDir) },
  );
  const evaluatorLoaded = await loadRewardModel(options.evaluatorDir);
  const prmLoaded = await loadRewardModel(options.prmDir);
  const evaluator = evaluatorLoaded.model, prm = prmLoaded.model;
  try {
    // The per-clip cache is keyed by everything that determines a clip's numbers.
    const cacheOf = async (checkpoint: ModelRef, name: string) => {
      const manifest = await readCheckpointManifest(checkpoint).catch(() =>
        fail("eval", `a checkpoint at ${modelName(checkpoint)} (run the dpo stage first)`, "none")
      );
      const key = await sha256Hex(JSON.stringify({
        generator: manifest.weights.sha256,
        evaluator: evaluatorLoaded.manifest.weights.sha256,
        prm: prmLoaded.manifest.weights.sha256,
        steps: profile.eval.steps,
        split: profile.eval.split ?? "test",
        // keys made before the flag existed (guidance 2) stay valid
        ...((profile.eval.guidance ?? 2) !== 2 ? { guidance: profile.eval.guidance } : {}),
      }));
      return join(dir, `${name}-${key.slice(0, 12)}.jsonl`);
    };
    const models = [
      { checkpoint: options.generatorDir, name: "base" },
      ...options.runs.map((r) => ({ checkpoint: r.dir, name: `${r.method}-s${r.seed}` })),
    ];
    const caches = await Promise.all(models.map((m) => cacheOf(m.checkpoint, m.name)));
    const jobs = options.jobs ?? defaultJobs();
    const expected = profile.eval.prompts * profile.eval.seeds.length;
    if (jobs > 1) {
      const todo = [];
      for (const [i, m] of models.entries()) {
        if ((await readJsonLines(caches[i])).length < expected) {
          todo.push({ ...m, cache: caches[i] });
        }
      }
      log(`  evaluating ${todo.length} of ${models.length} models, ${jobs} at a time`);
      await runJobs(
        todo.map((m) => ({
          kind: "evaluate",
          generatorDir: String(m.checkpoint),
          evaluatorDir: String(options.evaluatorDir),
          prmDir: String(options.prmDir),
          options: { ...profile.eval, cache: m.cache },
        })),
        {
          concurrency: jobs,
          entry: JOBS_ENTRY,
          onDone: (job, s) =>
            log(
              `  evaluated ${modelName(String(job.generatorDir))} in ${s.toFixed(0)} s`,
            ),
        },
      );
    }
    const evaluate = async (index: number): Promise<ClipEvaluation[]> => {
      const { generator } = await loadGenerator(models[index].checkpoint);
      try {
        return await evaluateModel(generator, {
          evaluator,
          prm,
          ...profile.eval,
          cache: caches[index],
          label: `evaluate ${models[index].name}`,
          quiet: options.quiet,
        });
      } finally {
        disposeGenerator(generator);
      }
    };
    const base = await evaluate(0);
    const methods: Partial<Record<PostTrainMethod, ClipEvaluation[][]>> = {};
    for (const [i, run] of options.runs.entries()) {
      (methods[run.method] ??= []).push(await evaluate(i + 1));
    }
    const results = haloResults({ base, methods }, {
      config: {
        profile: profile.name,
        evaluator: modelName(options.evaluatorDir),
        prm: modelName(options.prmDir),
        generator: modelName(options.generatorDir),
        eval: profile.eval,
        pairs: profile.pairs,
        postTrain: profile.postTrain,
        ...options.config,
      },
    });
    log(formatResults(results).split("\n").map((l) => "  " + l).join("\n"));
    return { results, clips: { base, methods } };
  } finally {
    disposeRewardModel(evaluator);
    disposeRewardModel(prm);
  }
}

/** Options of {@linkcode comparisonSheet}. */
export interface ComparisonSheetOptions {
  /** Held-out test prompts (rows of the sheet, one block per prompt). Default 6. */
  prompts?: number;
  /** Frames per row. Default 8. */
  frames?: number;
  /** DDIM steps. Default 20. */
  steps?: number;
}

/**
 * A before/after picture: for each of a few held-out test prompts, one row per
 * model (in `models` order), every model sampled from the same initial noise,
 * so the rows differ only by post-training. Resolves to PNG bytes.
 *
 * @example
 * ```ts
 * import { comparisonSheet, shipped } from "@halo/kit";
 * const png = await comparisonSheet([{ name: "Base", dir: shipped.generator }], { prompts: 1, frames: 2, steps: 2 });
 * console.log(png.length > 0); // true
 * ```
 */
export async function comparisonSheet(
  models: ReadonlyArray<{ name: string; dir: ModelRef }>,
  options: ComparisonSheetOptions = {},
): Promise<Uint8Array> {
  const prompts = testPromptSample(options.prompts ?? 6, 0);
  const seeds = prompts.map((_, i) => 1000 + i);
  const rows: Video[][] = [];
  for (const m of models) {
    const { generator } = await loadGenerator(m.dir);
    try {
      rows.push(await sampleClips(generator, prompts, { steps: options.steps ?? 20, seeds }));
    } finally {
      disposeGenerator(generator);
    }
  }
  const clips = prompts.flatMap((_, i) => rows.map((r) => r[i]));
  return videoSheet(clips, { frames: options.frames ?? 8, scale: 2, gap: 2 });
}

/** The pictures and per-clip values the report shows beside the table (`lib/report/report_inputs.ts`). */
export interface EvaluationPictures {
  /** Before/after sample sheets. */
  sheets: Array<{ title: string; path: string }>;
  /** HALO's clips with the most defective patches, as defect heatmaps. */
  worstClips: Array<{
    title: string;
    video: string;
    grid: string;
    patches: PatchLabel[];
    labels: PatchLabel[];
    scorer: string;
  }>;
  /**
   * Base vs HALO (first training seed) from the same noise: the clips where HALO fixed most of
   * Base's defective patches, each side saved as a GIF with the judge's labels.
   */
  fixedPairs: Array<{
    title: string;
    grid: string;
    base: { name: string; video: string; labels: PatchLabel[] };
    method: { name: string; video: string; labels: PatchLabel[] };
  }>;
  /** Per-clip evaluator scores and defective-patch shares of every method. */
  distributions: Array<{ metric: string; name: string; values: number[] }>;
}

/**
 * The before/after sheet (Base and the first seed of each method from the same
 * noise), HALO's three clips with the most defective patches by the judge
 * (sampled again from their seeds, saved as GIFs, with the judge's labels and
 * the training PRM's scores), the three clips where HALO fixed most of Base's
 * defective patches (Base and HALO from the same noise, `fixedPairs`), and the
 * per-clip distributions.
 */
export async function evaluationPictures(options: {
  dir: string;
  generatorDir: ModelRef;
  runs: ReadonlyArray<Pick<ExperimentRun, "method" | "seed" | "dir">>;
  clips: EvaluationRun["clips"];
  prmDir: ModelRef;
  profile: HaloProfile;
  worst?: number;
}): Promise<EvaluationPictures> {
  const { dir, profile } = options;
  const firsts = EXPERIMENT_METHODS.map((m) => options.runs.find((r) => r.method === m))
    .filter((r) => r !== undefined);
  const sheet = join(dir, "samples.png");
  await writeFileAtomic(
    sheet,
    await comparisonSheet([
      { name: "Base", dir: options.generatorDir },
      ...firsts.map((r) => ({ name: r.method, dir: r.dir })),
    ], { prompts: profile.eval.prompts >= 6 ? 6 : 2, steps: profile.eval.steps }),
  );
  const rows = ["Base", ...firsts.map((r) => RESULT_METHODS[r.method])].join(", ");
  const sheets = [{
    title: `Held-out prompts from the same noise; per prompt, rows ${rows} (training seed ${
      firsts[0]?.seed ?? 0
    })`,
    path: sheet,
  }];
  const worstClips: EvaluationPictures["worstClips"] = [];
  const halo = options.runs.find((r) => r.method === "grandpo");
  const haloClips = options.clips.methods.grandpo?.[0];
  if (halo && haloClips) {
    const worst = [...haloClips].sort((a, b) => b.defectivePatches - a.defectivePatches)
      .slice(0, options.worst ?? 3);
    const { generator } = await loadGenerator(halo.dir);
    const prm = (await loadRewardModel(options.prmDir)).model;
    try {
      for (const [k, clip] of worst.entries()) {
        const video = await evaluationClip(generator, clip, {
          steps: profile.eval.steps,
          guidance: profile.eval.guidance,
        });
        const path = join(dir, `worst-${k}.gif`);
        await saveVideo(video, path);
        const [scores] = await scoreRewards(prm, [{ video, prompt: clip.prompt }]);
        worstClips.push({
          title: `HALO seed ${halo.seed}: "${clip.prompt}" (sampling seed ${clip.seed}), ${
            Math.round(clip.defectivePatches * 64)
          } of 64 patches defective by the judge`,
          video: path,
          grid: prm.config.grid,
          patches: rewardPatchLabels(prm, scores),
          labels: shapesBench(video, clip.prompt).judgement.patches,
          scorer: "training PRM (mean over aspects)",
        });
      }
    } finally {
      disposeGenerator(generator);
      disposeRewardModel(prm);
    }
  }
  const fixedPairs: EvaluationPictures["fixedPairs"] = [];
  if (halo && haloClips) {
    const top = mostFixedClips(options.clips.base, haloClips, options.worst ?? 3);
    const sides = [["base", options.generatorDir], ["halo", halo.dir]] as const;
    const videos: Video[][] = [];
    for (const [, dirOf] of sides) {
      const { generator } = await loadGenerator(dirOf);
      try {
        const list: Video[] = [];
        for (const p of top) {
          list.push(
            await evaluationClip(generator, p.base, {
              steps: profile.eval.steps,
              guidance: profile.eval.guidance,
            }),
          );
        }
        videos.push(list);
      } finally {
        disposeGenerator(generator);
      }
    }
    for (const [k, p] of top.entries()) {
      const side = async (i: number, name: string) => {
        const path = join(dir, `fixed-${k}-${sides[i][0]}.gif`);
        await saveVideo(videos[i][k], path);
        const labels = shapesBench(videos[i][k], p.base.prompt).judgement.patches;
        return { name, video: path, labels };
      };
      const d = p.defects;
      fixedPairs.push({
        title:
          `"${p.base.prompt}" (sampling seed ${p.base.seed}): HALO fixed ${d.fixed.length} of ` +
          `Base's ${d.baseDefective} defective patches and broke ${d.introduced.length}`,
        grid: "4x4x4",
        base: await side(0, "Base"),
        method: await side(1, `HALO seed ${halo.seed}`),
      });
    }
  }
  const distributions: EvaluationPictures["distributions"] = [];
  const named: Array<[string, ClipEvaluation[]]> = [
    [RESULT_METHODS.base, options.clips.base],
    ...Object.entries(options.clips.methods).map(([m, runs]) =>
      [RESULT_METHODS[m as PostTrainMethod], runs!.flat()] as [string, ClipEvaluation[]]
    ),
  ];
  for (const metric of ["evaluator", "defectivePatches"] as const) {
    for (const [name, clips] of named) {
      distributions.push({ metric, name, values: clips.map((c) => c[metric]) });
    }
  }
  return { sheets, worstClips, fixedPairs, distributions };
}

/** Writes `results.json` and `results.md` into `dir` (atomically). */
export async function writeResults(dir: string, results: HaloResults): Promise<string[]> {
  const json = join(dir, "results.json"), md = join(dir, "results.md");
  await writeFileAtomic(json, JSON.stringify(results, null, 2) + "\n");
  await writeFileAtomic(md, formatResults(results));
  return [json, md];
}
