/**
 * `deno task reproduce`: runs the HALO reproduction stage by stage, in the
 * same order as the notebooks, calling the same stage functions. Each stage
 * writes `out/reproduce/<stage>/result.json` atomically when it finishes, so
 * a killed run resumes at the first unfinished stage. Stages whose issue has
 * not landed yet are listed as "not built yet" instead of being faked.
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { pathExists, writeFileAtomic } from "../core/_atomic.ts";
import { formatSeconds } from "../core/_progress.ts";
import {
  evaluationPictures,
  type HaloProfile,
  haloProfile,
  runEvaluation,
  runPostTraining,
  writeResults,
} from "../eval/experiment.ts";
import { fail } from "../core/_errors.ts";
import { type ModelRef, shipped } from "../core/shipped.ts";
import { initBackend } from "../tensor/backend.ts";
import { checkGrid, gridImage, parseGrid, patchify, unpatchify } from "../videos/patch.ts";
import { videoSheet } from "../videos/sheet.ts";
import { loadVideo, type Video, videoToTensor } from "../videos/video.ts";
import { defectCases, topKHit } from "../videos/defect_cases.ts";
import { disposeGenerator } from "../generator/model.ts";
import { loadGenerator } from "../generator/io.ts";
import { evaluateGenerator } from "../generator/quick_eval.ts";
import { startJudgeServer } from "../labels/judge_server/server.ts";
import { labelVideos } from "../labels/label.ts";
import { labelFolder } from "../labels/folder.ts";
import { pickTestPrompts, sampleGrid } from "../generator/samples.ts";
import { formatRewardReport } from "../reward/experiment.ts";
import { formatEfficiency, trainRewardSeeds } from "../reward/seeds.ts";
import { promptSplits, renderClip, type ShapesPrompt } from "../videos/world.ts";
import { readPromptManifest } from "../labels/folder.ts";
import { RESULT_COLUMNS } from "../eval/results.ts";
import { writeReport } from "../report/report.ts";
import * as tf from "@tensorflow/tfjs";

/** What every stage receives. */
export interface StageContext {
  /** Output directory of this stage. */
  dir: string;
  /** Output root of the whole run (other stages' folders live here). */
  root: string;
  /** Generator checkpoint to post-train and evaluate. */
  generatorDir: ModelRef;
  /** The independent evaluator reward model of the eval stage. */
  evaluatorDir: ModelRef;
  /** Directory of real videos with a `prompts.json` manifest. */
  videosDir: string;
  /** Seed for everything random. */
  seed: number;
  /** Sizes of every stage (`--profile`). */
  profile: HaloProfile;
  /** Print a line of progress. */
  log: (line: string) => void;
}

/** One step of the reproduction. */
export interface Stage {
  /** Short name, also the output folder. */
  name: string;
  /** What the stage does, in a line. */
  summary: string;
  /** Runs the stage and returns a JSON-able summary; absent while the stage is not built yet. */
  run?: (context: StageContext) => Promise<Record<string, unknown>>;
}

/** Stage "videos": loads the real videos, draws their patch grids, and checks patchify round-trips. */
export async function videosStage(context: StageContext): Promise<Record<string, unknown>> {
  const grid = parseGrid("4x4x4");
  const entries = await readPromptManifest(context.videosDir);
  const videos: Record<string, unknown>[] = [];
  for (const entry of entries) {
    const path = join(context.videosDir, entry.file);
    const video: Video = await loadVideo(path, { frames: 16 });
    checkGrid(grid, video);
    const png = join(context.dir, `${basename(entry.file).replace(/\.[^.]+$/, "")}_grid.png`);
    await writeFileAtomic(png, gridImage(video, grid));
    const same = tf.tidy(() => {
      const x = videoToTensor(video);
      const back = unpatchify(patchify(x, grid), grid, { ...video, channels: 3 });
      return x.equal(back).all();
    });
    let exact: boolean;
    try {
      exact = (await same.data())[0] === 1;
    } finally {
      same.dispose();
    }
    if (!exact) {
      throw new Error(
        `videos stage: Expected patchify→unpatchify to be exact but ${entry.file} changed`,
      );
    }
    context.log(
      `  ${entry.file}: ${video.numFrames} frames ${video.width}×${video.height} @ ${video.fps} fps → ${png}`,
    );
    videos.push({
      file: entry.file,
      prompt: entry.prompt,
      frames: video.numFrames,
      width: video.width,
      height: video.height,
      fps: video.fps,
      gridImage: png,
      patchifyExact: exact,
    });
  }
  return { grid: "4x4x4", videos };
}

/** Stage "world": ShapesWorld's prompt splits and a picture of renders of held-out test prompts. */
export async function worldStage(context: StageContext): Promise<Record<string, unknown>> {
  const splits = promptSplits({ seed: 0 });
  const prompts = pickTestPrompts(8, context.seed);
  const clips = prompts.map((p, i) => renderClip(p, { seed: context.seed * 1000 + i }).video);
  const png = join(context.dir, "test_prompts.png");
  await writeFileAtomic(png, videoSheet(clips, { frames: 8, scale: 2 }));
  context.log(
    `  ${splits.train.length} train / ${splits.validation.length} validation / ${splits.test.length} test prompts → ${png}`,
  );
  const combos = (list: readonly ShapesPrompt[]) =>
    [...new Set(list.map((p) => `${p.color} ${p.shape}`))].sort();
  return {
    splits: {
      train: splits.train.length,
      validation: splits.validation.length,
      test: splits.test.length,
    },
    heldOutCombinations: combos(splits.test),
    prompts: prompts.map((p) => p.text),
    picture: png,
  };
}

/** Stage "generator": the shipped pretrained DiT, its samples on held-out prompts, and how recognisable they are. */
export async function generatorStage(context: StageContext): Promise<Record<string, unknown>> {
  const { generator, step, manifest } = await loadGenerator(context.generatorDir);
  try {
    const prompts = pickTestPrompts(8, context.seed);
    const png = join(context.dir, "samples.png");
    await writeFileAtomic(
      png,
      await sampleGrid(generator, prompts, { seed: context.seed, withReference: true }),
    );
    context.log(`  samples of 8 held-out prompts (sample above its render) → ${png}`);
    const count = context.profile.generatorPrompts;
    const evaluation = await evaluateGenerator(generator, { count, seed: context.seed });
    context.log(
      `  object colour accuracy on ${count} held-out prompts: ${
        (evaluation.objectColorAccuracy * 100).toFixed(1)
      }%`,
    );
    return {
      checkpoint: context.generatorDir,
      step,
      config: manifest.config,
      prompts: prompts.map((p) => p.text),
      picture: png,
      evaluation,
    };
  } finally {
    disposeGenerator(generator);
  }
}

/**
 * Stage "labels": the patch labeller through the `openai` client against the judge server on
 * loopback — how well its labels find injected defects, and the real videos labelled end to end.
 */
export async function labelsStage(context: StageContext): Promise<Record<string, unknown>> {
  const server = startJudgeServer({ port: 0, noise: 0.6, seed: context.seed });
  try {
    const cases = defectCases(4, { seed: context.seed + 11 });
    const report = await labelVideos(cases.map((c) => ({ video: c.video, prompt: c.prompt })), {
      baseURL: server.url,
      cache: join(context.dir, "defects.jsonl"),
      progressLabel: "label defects",
    });
    const hits: Record<string, number[]> = {};
    report.results.forEach((r, i) => {
      if (r.labels) (hits[cases[i].kind] ??= []).push(topKHit(r.labels.patches, cases[i].affected));
    });
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const byKind = Object.fromEntries(Object.entries(hits).map(([k, v]) => [k, mean(v)]));
    const overall = mean(Object.values(hits).flat());
    context.log(
      `  top-k hit rate of the distilled labels on ${cases.length} damaged clips: ${
        overall.toFixed(3)
      }`,
    );
    const real = await labelFolder(context.videosDir, {
      out: join(context.dir, "real_videos.jsonl"),
      baseURL: server.url,
      frames: 16,
      progressLabel: "label real videos",
    });
    context.log(`  real videos: ${real.labelled + real.cached} labelled, ${real.failed} failed`);
    return {
      judgeNoise: 0.6,
      defects: {
        clips: cases.length,
        topKHitRate: overall,
        byKind,
        calls: report.calls,
        failed: report.failed,
      },
      realVideos: { labelled: real.labelled + real.cached, failed: real.failed, calls: real.calls },
      estimatedCostAtGpt4oUsd: report.costUsd + real.costUsd,
    };
  } finally {
    await server.close();
  }
}

/**
 * Stage "reward": distils labels of ShapesWorld renders (with injected defects) and generator
 * samples into the VRM, continues it into the PRM, trains the from-scratch ablation, and reports
 * agreement with the reference judge on held-out clips, plus the continual-vs-scratch curves
 * (drawn in the report). One seed, to keep the run short; `deno task train-rm --seeds` runs several.
 */
export async function rewardStage(context: StageContext): Promise<Record<string, unknown>> {
  const r = context.profile.reward;
  const { runs, summary } = await trainRewardSeeds({
    out: context.dir,
    seeds: [context.seed],
    evalEvery: r.evalEvery,
    videoSteps: r.videoSteps,
    patchSteps: r.patchSteps,
    data: { generatorDir: context.generatorDir, train: r.train, heldOut: r.heldOut },
  });
  const report = runs[0].report;
  const text = formatRewardReport(report) + "\n" + formatEfficiency(summary);
  await writeFileAtomic(join(context.dir, "report.md"), text);
  context.log(text.split("\n").map((l) => "  " + l).join("\n"));
  return {
    report: join(context.dir, "report.md"),
    agreement: report.agreement,
    targets: report.targets,
    distributions: report.distributions,
    efficiency: summary,
  };
}

/** The training PRM the reward stage made (`<root>/reward/seed-<seed>/prm`). */
export function stagePrmDir(context: StageContext): string {
  return join(context.root, "reward", `seed-${context.seed}`, "prm");
}

/**
 * Stage "dpo": preference pairs from the base generator scored by the reward stage's PRM, then
 * Diffusion-DPO, Gran-DPO patch-only and HALO (Gran-DPO) with every seed of the profile.
 */
export async function dpoStage(context: StageContext): Promise<Record<string, unknown>> {
  const prmDir = stagePrmDir(context);
  if (!(await pathExists(join(prmDir, "config.json")))) {
    fail("dpo stage", `the reward stage's PRM at ${prmDir} (run the reward stage first)`, "none");
  }
  const { pairs, runs } = await runPostTraining({
    dir: context.dir,
    generatorDir: context.generatorDir,
    prmDir,
    profile: context.profile,
    seed: context.seed,
    log: context.log,
  });
  return { profile: context.profile.name, prm: prmDir, pairs, runs };
}

/**
 * Stage "eval": Base and every post-training run on held-out test prompts, by ShapesBench (the
 * reference judge) and the independent evaluator RM (`data/reward/evaluator`), with the
 * patch-defect analysis; writes `results.json` and `results.md` beside the run's output root.
 */
export async function evalStage(context: StageContext): Promise<Record<string, unknown>> {
  const dpo = JSON.parse(
    await Deno.readTextFile(join(context.root, "dpo", "result.json")).catch(
      () => fail("eval stage", "the dpo stage's result.json (run the dpo stage first)", "none"),
    ),
  );
  const { results, clips } = await runEvaluation({
    dir: context.dir,
    generatorDir: context.generatorDir,
    runs: dpo.runs,
    evaluatorDir: context.evaluatorDir,
    prmDir: dpo.prm,
    profile: context.profile,
    log: context.log,
  });
  const files = await writeResults(dirname(resolve(context.root)), results);
  context.log(`  results → ${files.join(", ")}`);
  const pictures = await evaluationPictures({
    dir: context.dir,
    generatorDir: context.generatorDir,
    runs: dpo.runs,
    clips,
    prmDir: dpo.prm,
    profile: context.profile,
  });
  context.log(`  ${pictures.sheets[0].title} → ${pictures.sheets[0].path}`);
  return {
    results: files,
    claims: results.claims.map((c) => ({ claim: c.claim, holds: c.holds })),
    lowerIsBetter: RESULT_COLUMNS.filter((c) => c.lower).map((c) => c.key),
    ...pictures,
  };
}

/** The reproduction, in order. Stages without `run` are not built yet. */
export const STAGES: readonly Stage[] = [
  {
    name: "videos",
    summary: "load real text-to-video outputs, draw patch grids, patchify round-trip",
    run: videosStage,
  },
  {
    name: "world",
    summary: "ShapesWorld prompt splits and renders of held-out prompts",
    run: worldStage,
  },
  {
    name: "generator",
    summary: "the pretrained video DiT: samples and recognisability on held-out prompts",
    run: generatorStage,
  },
  {
    name: "labels",
    summary: "distil patch labels through the openai client and the judge server",
    run: labelsStage,
  },
  {
    name: "reward",
    summary: "VRM, then continual training into the PRM, with the from-scratch ablation",
    run: rewardStage,
  },
  {
    name: "dpo",
    summary: "preference pairs; Diffusion-DPO, Gran-DPO patch-only and HALO post-training",
    run: dpoStage,
  },
  {
    name: "eval",
    summary: "ShapesBench, the evaluator RM and the patch-defect analysis; results table",
    run: evalStage,
  },
];

/** The defaults of {@linkcode ReproduceOptions} (`deno task reproduce` shows the same). */
export const REPRODUCE_DEFAULTS: Readonly<{
  outDir: string;
  videosDir: string;
  seed: number;
  profile: "tiny" | "default";
  sharedNoise: boolean;
}> = Object.freeze({
  outDir: "out/reproduce",
  videosDir: "../shared/videos",
  seed: 0,
  profile: "default",
  sharedNoise: false,
});

/** Options for {@linkcode reproduce}; defaults in {@linkcode REPRODUCE_DEFAULTS}. */
export interface ReproduceOptions {
  /** Output root. Default `out/reproduce`. */
  outDir?: string;
  /** Real videos with a manifest. Default `../shared/videos`. */
  videosDir?: string;
  /** Seed. Default 0. */
  seed?: number;
  /** Generator checkpoint. Default: the shipped one ({@linkcode shipped}). */
  generatorDir?: ModelRef;
  /** The independent evaluator RM. Default: the shipped one ({@linkcode shipped}). */
  evaluatorDir?: ModelRef;
  /** Sizes of the stages. Default "default". */
  profile?: "tiny" | "default";
  /**
   * Draw each prompt's candidate clips from one x_T (DDIM η 0.5, `buildPairs`' `sharedNoise`), so
   * a pair differs in local detail rather than layout: the "HALO + shared noise" setting, chosen on
   * the validation prompts (README). Default false, the paper-faithful independent candidates.
   */
  sharedNoise?: boolean;
  /** Re-run stages that already finished. Default false. */
  force?: boolean;
  /** Run only these stages. Default: all. */
  only?: readonly string[];
  /** Line printer. Default `console.log`. */
  log?: (line: string) => void;
}

/** Status of one stage after {@linkcode reproduce}. */
export interface StageOutcome {
  /** Stage name. */
  name: string;
  /** What happened. */
  status: "done" | "cached" | "not built yet";
  /** Seconds it ran (0 when cached or not built). */
  seconds: number;
}

/** A finished dpo stage made its pairs with the same `sharedNoise` as this run asks for. */
async function checkCachedPairs(resultPath: string, sharedNoise: boolean): Promise<void> {
  const result = JSON.parse(await Deno.readTextFile(resultPath));
  const made = Boolean(result.pairs?.settings?.sharedNoise);
  if (made !== sharedNoise) {
    fail(
      "reproduce",
      `the finished dpo stage in ${
        dirname(resultPath)
      } to have pairs of sharedNoise ${sharedNoise}` +
        " (or --force, or another --out)",
      made,
    );
  }
}

/** Runs the reproduction stages in order, resuming past stages that already finished. */
export async function reproduce(options: ReproduceOptions = {}): Promise<StageOutcome[]> {
  const d = REPRODUCE_DEFAULTS;
  const outDir = options.outDir ?? d.outDir;
  const log = options.log ?? ((line: string) => console.log(line));
  const sharedNoise = options.sharedNoise ?? d.sharedNoise;
  const base = haloProfile(options.profile ?? d.profile);
  const profile = sharedNoise ? { ...base, pairs: { ...base.pairs, sharedNoise } } : base;
  const backend = await initBackend();
  log(
    `backend: ${backend.name} (${backend.reason}); profile ${profile.name}` +
      (sharedNoise ? ", candidates from shared noise" : ""),
  );
  const started = performance.now();
  for (const name of options.only ?? []) {
    if (!STAGES.some((s) => s.name === name)) {
      fail(
        "reproduce",
        `a stage among ${STAGES.map((s) => s.name).join(", ")}`,
        name,
      );
    }
  }
  const outcomes: StageOutcome[] = [];
  for (const stage of STAGES) {
    if (options.only && !options.only.includes(stage.name)) continue;
    const dir = join(outDir, stage.name);
    const resultPath = join(dir, "result.json");
    if (!stage.run) {
      log(`[${stage.name}] not built yet — ${stage.summary}`);
      outcomes.push({ name: stage.name, status: "not built yet", seconds: 0 });
      continue;
    }
    if (!options.force && await pathExists(resultPath)) {
      if (stage.name === "dpo") await checkCachedPairs(resultPath, sharedNoise);
      log(`[${stage.name}] already done (${resultPath}); --force re-runs it`);
      outcomes.push({ name: stage.name, status: "cached", seconds: 0 });
      continue;
    }
    log(`[${stage.name}] ${stage.summary}`);
    await Deno.mkdir(dir, { recursive: true });
    const start = performance.now();
    const result = await stage.run({
      dir,
      root: outDir,
      generatorDir: options.generatorDir ?? shipped.generator,
      evaluatorDir: options.evaluatorDir ?? shipped.evaluator,
      videosDir: options.videosDir ?? d.videosDir,
      seed: options.seed ?? d.seed,
      profile,
      log,
    });
    const seconds = (performance.now() - start) / 1000;
    await writeFileAtomic(
      resultPath,
      JSON.stringify({ stage: stage.name, seconds, ...result }, null, 2) + "\n",
    );
    log(`[${stage.name}] done in ${seconds.toFixed(1)} s → ${resultPath}`);
    outcomes.push({ name: stage.name, status: "done", seconds });
  }
  const missing = outcomes.filter((o) => o.status === "not built yet").map((o) => o.name);
  if (missing.length) {
    log(`Not built yet: ${missing.join(", ")}. Those stages land with their issues.`);
  }
  const wall = (performance.now() - started) / 1000;
  log(
    `Wall time: ${formatSeconds(wall)} (${wall.toFixed(0)} s) for profile ${profile.name}; ` +
      outcomes.map((o) =>
        `${o.name} ${o.status === "done" ? o.seconds.toFixed(0) + " s" : o.status}`
      )
        .join(", "),
  );
  const report = await writeReport(outDir);
  log(`report of ${report.stages.join(", ")} → ${report.html}`);
  return outcomes;
}
