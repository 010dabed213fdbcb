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
import { fail } from "./_errors.ts";
import { readJsonLines, writeFileAtomic } from "./_atomic.ts";
import { defaultJobs, runJobs } from "./_jobs.ts";
import { sha256Hex } from "./_hash.ts";
import { disposeGenerator, loadGenerator } from "./generator.ts";
import { buildPairs, type BuildPairsOptions } from "./pairs.ts";
import { postTrain, type PostTrainMethod, type PostTrainOptions } from "./post_train.ts";
import { checkIndependentEvaluator, type ClipEvaluation, evaluateModel } from "./eval.ts";
import { formatResults, type HaloResults, haloResults } from "./results.ts";
import { disposeRewardModel } from "./reward.ts";
import { loadRewardModel } from "./reward_train.ts";
import { readCheckpointManifest } from "./checkpoint.ts";

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
  /** Preference pairs. */
  pairs: Pick<BuildPairsOptions, "prompts" | "candidates" | "steps" | "pairing" | "margin">;
  /** Post-training (every method and seed). */
  postTrain: Omit<PostTrainOptions, "out" | "pairs" | "method" | "seed" | "generatorDir"> & {
    seeds: number[];
  };
  /** Evaluation. */
  eval: { prompts: number; seeds: number[]; steps: number };
}

/** The methods trained, in table order. */
export const EXPERIMENT_METHODS: readonly PostTrainMethod[] = ["dpo", "patch-only", "grandpo"];

/** The profiles of `deno task reproduce --profile`. */
export const HALO_PROFILES: Readonly<Record<"tiny" | "default", HaloProfile>> = Object.freeze({
  default: {
    name: "default",
    reward: { train: 1000, heldOut: 96, videoSteps: 600, patchSteps: 800, evalEvery: 10 },
    generatorPrompts: 32,
    pairs: { prompts: 256, candidates: 4, steps: 20, pairing: "best-worst", margin: 0.1 },
    postTrain: {
      seeds: [0, 1, 2],
      steps: 300,
      batchSize: 8,
      learningRate: 2e-5,
      checkpointEvery: 50,
    },
    eval: { prompts: 64, seeds: [0, 1], steps: 20 },
  },
  tiny: {
    name: "tiny",
    reward: { train: 48, heldOut: 16, videoSteps: 20, patchSteps: 20, evalEvery: 10 },
    generatorPrompts: 4,
    pairs: { prompts: 8, candidates: 2, steps: 4, pairing: "best-worst", margin: 0 },
    postTrain: { seeds: [0, 1], steps: 4, batchSize: 2, learningRate: 2e-5, checkpointEvery: 2 },
    eval: { prompts: 4, seeds: [0], steps: 4 },
  },
});

/** Looks a profile up by name, with a clear error. */
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
  generatorDir: string;
  /** The training PRM. */
  prmDir: string;
  /** Profile. */
  profile: HaloProfile;
  /** Seed of the pairs. Default 0. */
  seed?: number;
  /** Line printer. */
  log?: (line: string) => void;
  /** No progress bars. */
  quiet?: boolean;
  /** Runs trained at once, in child processes (`lib/_jobs.ts`). Default: the CPU count. */
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
      onDone: (job, seconds) =>
        log(
          `  ${(job as { options: PostTrainOptions }).options.out} done in ${seconds.toFixed(0)} s`,
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
  /** Base generator. */
  generatorDir: string;
  /** The post-training runs to evaluate. */
  runs: ReadonlyArray<Pick<ExperimentRun, "method" | "seed" | "dir">>;
  /** The independent evaluator RM. */
  evaluatorDir: string;
  /** The training PRM (refused as evaluator; used for its worst-patch precision). */
  prmDir: string;
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

/**
 * Evaluates Base and every run on the same test prompts and noise, and builds
 * the results table with the paper's claims checked. Per-clip records are
 * cached, so a killed evaluation resumes.
 */
export async function runEvaluation(options: RunEvaluationOptions): Promise<HaloResults> {
  const { dir, profile } = options;
  const log = options.log ?? (() => {});
  checkIndependentEvaluator(
    { dir: options.evaluatorDir, manifest: await readCheckpointManifest(options.evaluatorDir) },
    { dir: options.prmDir, manifest: await readCheckpointManifest(options.prmDir) },
  );
  const evaluatorLoaded = await loadRewardModel(options.evaluatorDir);
  const prmLoaded = await loadRewardModel(options.prmDir);
  const evaluator = evaluatorLoaded.model, prm = prmLoaded.model;
  try {
    // The per-clip cache is keyed by everything that determines a clip's numbers.
    const cacheOf = async (checkpoint: string, name: string) => {
      const manifest = await readCheckpointManifest(checkpoint).catch(() =>
        fail("eval", `a checkpoint at ${checkpoint} (run the dpo stage first)`, "none")
      );
      const key = await sha256Hex(JSON.stringify({
        generator: manifest.weights.sha256,
        evaluator: evaluatorLoaded.manifest.weights.sha256,
        prm: prmLoaded.manifest.weights.sha256,
        steps: profile.eval.steps,
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
          generatorDir: m.checkpoint,
          evaluatorDir: options.evaluatorDir,
          prmDir: options.prmDir,
          options: { ...profile.eval, cache: m.cache },
        })),
        {
          concurrency: jobs,
          onDone: (job, s) =>
            log(
              `  evaluated ${job.kind === "evaluate" ? job.generatorDir : ""} in ${s.toFixed(0)} s`,
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
        evaluator: options.evaluatorDir,
        prm: options.prmDir,
        generator: options.generatorDir,
        eval: profile.eval,
        pairs: profile.pairs,
        postTrain: profile.postTrain,
        ...options.config,
      },
    });
    log(formatResults(results).split("\n").map((l) => "  " + l).join("\n"));
    return results;
  } finally {
    disposeRewardModel(evaluator);
    disposeRewardModel(prm);
  }
}

/** Writes `results.json` and `results.md` into `dir` (atomically). */
export async function writeResults(dir: string, results: HaloResults): Promise<string[]> {
  const json = join(dir, "results.json"), md = join(dir, "results.md");
  await writeFileAtomic(json, JSON.stringify(results, null, 2) + "\n");
  await writeFileAtomic(md, formatResults(results));
  return [json, md];
}
