/**
 * Quick measurements of a generator: how recognisable its samples are (object
 * colour, and the reference judge's colour / shape / count / direction checks)
 * and how fast it trains and samples (for `deno task bench`).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, fail } from "../core/_errors.ts";
import { bootstrapInterval } from "../core/agreement.ts";
import { createRng } from "../core/_rng.ts";
import { createAdam } from "../tensor/adam.ts";
import {
  createGenerator,
  disposeGenerator,
  type Generator,
  type GeneratorConfig,
  generatorFlops,
  resolveGeneratorConfig,
} from "./model.ts";
import { makeBatch } from "./diffusion.ts";
import { trainStep } from "./train_step.ts";
import { SAMPLE_DEFAULTS, sampleClips, type SampleOptions } from "./sampler.ts";
import { loadGenerator } from "./io.ts";
import { modelName, type ModelRef, shipped } from "../core/shipped.ts";
import { judgeVideo } from "../videos/judge.ts";
import { DEFECT_SCORE, shapesBench } from "../videos/shapes_bench.ts";
import type { Video } from "../videos/video.ts";
import {
  BACKGROUNDS,
  type ColorName,
  PALETTE,
  promptSplits,
  type ShapesPrompt,
} from "../videos/world.ts";

/** Objects found in a clip and how many have the prompt's colour. */
export interface ObjectColorResult {
  /** Blobs found, summed over frames. */
  objects: number;
  /** Blobs whose mean colour is nearest to the prompt's palette colour. */
  correct: number;
}

/** Options for {@linkcode objectColors}. */
export interface ObjectColorOptions {
  /** RGB distance from the background colour above which a pixel is foreground. Default 0.25. */
  threshold?: number;
  /** Smallest blob, in pixels. Default 4. */
  minArea?: number;
}

/**
 * Finds the objects of each frame without using any ground truth (pixels far
 * from the prompt's background colour, grouped into 4-connected blobs) and
 * classifies each blob by the palette colour nearest to its mean colour.
 *
 * @example
 * ```ts
 * import { objectColors } from "@halo/kit/generator";
 * import { parsePrompt, renderClip } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const prompt = parsePrompt("two red circles moving left quickly on a gray background");
 * const { video } = renderClip(prompt, { seed: 1 });
 * const r = objectColors(video, prompt);
 * assert.equal(r.objects, 2 * 16);
 * assert.equal(r.correct, r.objects);
 * ```
 */
export function objectColors(
  video: Video,
  prompt: ShapesPrompt,
  options: ObjectColorOptions = {},
): ObjectColorResult {
  const threshold = options.threshold ?? 0.25;
  const minArea = options.minArea ?? 4;
  const { numFrames: T, height: H, width: W, frames } = video;
  const bg = BACKGROUNDS[prompt.background];
  const names = Object.keys(PALETTE) as ColorName[];
  let objects = 0;
  let correct = 0;
  const label = new Int32Array(H * W);
  const stack: number[] = [];
  for (let t = 0; t < T; t++) {
    const base = t * H * W;
    const fg = (i: number) => {
      const p = (base + i) * 3;
      return Math.hypot(frames[p] - bg[0], frames[p + 1] - bg[1], frames[p + 2] - bg[2]) >
        threshold;
    };
    label.fill(0);
    let next = 0;
    for (let i = 0; i < H * W; i++) {
      if (label[i] !== 0 || !fg(i)) continue;
      next++;
      let area = 0;
      const sum = [0, 0, 0];
      stack.push(i);
      label[i] = next;
      while (stack.length) {
        const j = stack.pop()!;
        area++;
        for (let c = 0; c < 3; c++) sum[c] += frames[(base + j) * 3 + c];
        const y = Math.floor(j / W);
        const x = j % W;
        const around = [
          y > 0 ? j - W : -1,
          y < H - 1 ? j + W : -1,
          x > 0 ? j - 1 : -1,
          x < W - 1 ? j + 1 : -1,
        ];
        for (const k of around) {
          if (k >= 0 && label[k] === 0 && fg(k)) {
            label[k] = next;
            stack.push(k);
          }
        }
      }
      if (area < minArea) continue;
      const mean = sum.map((s) => s / area);
      let best = names[0];
      let bestDist = Infinity;
      for (const name of names) {
        const c = PALETTE[name];
        const d = Math.hypot(mean[0] - c[0], mean[1] - c[1], mean[2] - c[2]);
        if (d < bestDist) [best, bestDist] = [name, d];
      }
      objects++;
      if (best === prompt.color) correct++;
    }
  }
  return { objects, correct };
}

/** Recognisability of a generator's samples. */
export interface GeneratorEvaluation {
  /** Prompts sampled. */
  prompts: number;
  /** Share of blobs (all frames) with the prompt's colour ({@linkcode objectColors}). */
  objectColorAccuracy: number;
  /** Share of videos whose colour the reference judge accepts. */
  judgeColorAccuracy: number;
  /** Share of videos whose shape the reference judge accepts. */
  judgeShapeAccuracy: number;
  /** Share of videos whose object count the reference judge accepts. */
  judgeCountAccuracy: number;
  /** Share of videos whose motion direction the reference judge accepts. */
  judgeDirectionAccuracy: number;
  /** Mean blobs per frame against the mean prompt count (over- or under-generation). */
  blobsPerFrame: number;
  /** Mean objects per prompt. */
  promptCount: number;
  /** Share of clips with at least one patch the reference judge finds defective (worst patch ≤ DEFECT_SCORE). */
  defectiveClips: number;
  /** Share of all patches the reference judge finds defective. */
  defectivePatches: number;
  /** Mean ShapesBench overall score (0..1). */
  shapesBench: number;
  /** Clips judged: prompts × sampling seeds. */
  clips: number;
  /**
   * 95% percentile-bootstrap interval `[lo, hi]` of each rate, resampling
   * prompts (both sampling seeds of a prompt stay together; 1000 resamples).
   */
  intervals: Record<typeof INTERVAL_METRICS[number], [number, number]>;
  /**
   * Where the judge's checks fail, by what the prompt asked: for each asked shape, count
   * and direction, the clips, how many the judge accepts, and what it found instead
   * (`detected`: the best-fitting shape, the objects tracked, the sign of the motion;
   * "none" where it found no object).
   */
  breakdown: Record<"shape" | "count" | "direction", Record<string, AskedBreakdown>>;
}

/** One asked value's row of {@linkcode GeneratorEvaluation.breakdown}. */
export interface AskedBreakdown {
  /** Clips whose prompt asked for it. */
  clips: number;
  /** Of them, clips the reference judge accepts for this attribute. */
  ok: number;
  /** What the judge found, with how many clips. */
  detected: Record<string, number>;
}

/** Options for {@linkcode evaluateGenerator}. */
export interface EvaluateGeneratorOptions extends SampleOptions {
  /** Prompts to sample; default: `count` prompts of `split`. */
  prompts?: readonly ShapesPrompt[];
  /** Number of prompts when `prompts` is not given. Default 32. */
  count?: number;
  /**
   * Which prompts when `prompts` is not given: "test" (held-out colour/shape
   * combinations, for reporting) or "validation" (training combinations held
   * out, for choosing settings). Default "test".
   */
  split?: "test" | "validation";
  /** Sampling seeds per prompt (`seed`, `seed + 1`, …). Default 1. */
  sampleSeeds?: number;
}

/**
 * Samples held-out test prompts (colour/shape combinations never trained on)
 * and measures how recognisable the clips are.
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator, evaluateGenerator } from "@halo/kit";
 * const gen = createGenerator({ frames: 4, size: 16, dim: 16, depth: 1, heads: 2, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } });
 * const e = await evaluateGenerator(gen, { count: 2, steps: 2 });
 * console.log(e.prompts, e.objectColorAccuracy >= 0); // 2 true
 * disposeGenerator(gen);
 * ```
 */
export async function evaluateGenerator(
  gen: Generator,
  options: EvaluateGeneratorOptions = {},
): Promise<GeneratorEvaluation> {
  const where = "evaluateGenerator";
  const split = options.split ?? "test";
  if (split !== "test" && split !== "validation") {
    fail(where, 'split "test" or "validation"', split);
  }
  const seed = options.seed ?? 0;
  const prompts = options.prompts ??
    promptSample(checkInt(where, "count", options.count ?? 32, 1), seed, split);
  const sampleSeeds = checkInt(where, "sampleSeeds", options.sampleSeeds ?? 1, 1, 64);
  // per clip, grouped by prompt (the bootstrap resamples prompts)
  const byPrompt: ClipMeasures[][] = prompts.map(() => []);
  for (let s = 0; s < sampleSeeds; s++) {
    const clips = await sampleClips(gen, prompts, { ...options, seed: seed + s });
    clips.forEach((clip, i) => {
      const r = objectColors(clip, prompts[i]);
      const checks = judgeVideo(clip, prompts[i].text, JUDGE_GRID).checks;
      const b = shapesBench(clip, prompts[i].text);
      byPrompt[i].push({
        objects: r.objects,
        correct: r.correct,
        frames: clip.numFrames,
        color: checks?.colorOk ? 1 : 0,
        shape: checks?.shapeOk ? 1 : 0,
        count: checks?.countOk ? 1 : 0,
        direction: checks?.directionOk ? 1 : 0,
        defective: b.judgeWorst <= DEFECT_SCORE ? 1 : 0,
        defectivePatches: b.defectivePatches,
        bench: b.bench.overall,
        found: {
          shape: checks?.shape ?? "none",
          count: `${checks?.count ?? 0}`,
          direction: motionWord(prompts[i], checks?.velocity ?? 0),
        },
      });
    });
  }
  const summarise = (
    idx: ArrayLike<number>,
  ): Omit<GeneratorEvaluation, "intervals" | "breakdown"> => {
    const clips = Array.from(idx, (i) => byPrompt[i]).flat();
    const sum = (f: (c: ClipMeasures) => number) => clips.reduce((t, c) => t + f(c), 0);
    const n = clips.length;
    const objects = sum((c) => c.objects);
    return {
      prompts: idx.length,
      clips: n,
      objectColorAccuracy: objects ? sum((c) => c.correct) / objects : 0,
      judgeColorAccuracy: sum((c) => c.color) / n,
      judgeShapeAccuracy: sum((c) => c.shape) / n,
      judgeCountAccuracy: sum((c) => c.count) / n,
      judgeDirectionAccuracy: sum((c) => c.direction) / n,
      blobsPerFrame: objects / sum((c) => c.frames),
      promptCount: Array.from(idx, (i) => prompts[i].count).reduce((t, v) => t + v, 0) /
        idx.length,
      defectiveClips: sum((c) => c.defective) / n,
      defectivePatches: sum((c) => c.defectivePatches) / n,
      shapesBench: sum((c) => c.bench) / n,
    };
  };
  const all = summarise(Int32Array.from(prompts, (_, i) => i));
  const breakdown: GeneratorEvaluation["breakdown"] = { shape: {}, count: {}, direction: {} };
  prompts.forEach((p, i) => {
    for (const clip of byPrompt[i]) {
      for (const key of ["shape", "count", "direction"] as const) {
        const row = breakdown[key][`${p[key]}`] ??= { clips: 0, ok: 0, detected: {} };
        row.clips++;
        row.ok += clip[key];
        row.detected[clip.found[key]] = (row.detected[clip.found[key]] ?? 0) + 1;
      }
    }
  });
  const intervals = {} as GeneratorEvaluation["intervals"];
  for (const key of INTERVAL_METRICS) {
    const ci = bootstrapInterval(prompts.length, (idx) => summarise(idx)[key], { seed: 0 });
    intervals[key] = [ci.lo, ci.hi];
  }
  return { ...all, intervals, breakdown };
}

/** The direction word of a measured velocity along the prompt's motion axis ("none" when still). */
function motionWord(prompt: ShapesPrompt, velocity: number): string {
  const horizontal = prompt.direction === "left" || prompt.direction === "right";
  if (velocity === 0) return "none";
  if (horizontal) return velocity > 0 ? "right" : "left";
  return velocity > 0 ? "down" : "up";
}

/** What one clip contributes to {@linkcode evaluateGenerator}'s metrics. */
interface ClipMeasures {
  objects: number;
  correct: number;
  frames: number;
  color: number;
  shape: number;
  count: number;
  direction: number;
  defective: number;
  defectivePatches: number;
  bench: number;
  found: Record<"shape" | "count" | "direction", string>;
}

/** The metrics {@linkcode GeneratorEvaluation.intervals} gives a 95% interval for. */
const INTERVAL_METRICS = [
  "objectColorAccuracy",
  "judgeColorAccuracy",
  "judgeShapeAccuracy",
  "judgeCountAccuracy",
  "judgeDirectionAccuracy",
  "blobsPerFrame",
  "defectiveClips",
  "defectivePatches",
  "shapesBench",
] as const;

/** The reference judge's grid (the reward models' 4×4×4). */
const JUDGE_GRID = Object.freeze({ rows: 4, cols: 4, framesPerPatch: 4 });

/** `n` distinct prompts of a split (held-out test, or validation), shuffled by `seed`. */
export function promptSample(
  n: number,
  seed: number,
  split: "test" | "validation" = "test",
): ShapesPrompt[] {
  const pool = [...promptSplits({ seed: 0 })[split]];
  const rng = createRng(seed);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, Math.min(n, pool.length));
}

/** `n` distinct held-out test prompts picked by `seed` ({@linkcode promptSample} of the test split). */
export function testPromptSample(n: number, seed: number): ShapesPrompt[] {
  return promptSample(n, seed, "test");
}

/** Throughput of a generator config on the current backend. */
export interface GeneratorBench {
  /** Training clips per second (forward + backward + Adam). */
  trainSamplesPerSec: number;
  /** Videos per second of DDIM sampling with the given steps (CFG doubles the work). */
  sampleVideosPerSec: number;
  /** Achieved GFLOP/s in training, from {@linkcode generatorFlops} × 3. */
  trainGflops: number;
  /** Achieved GFLOP/s in sampling. */
  sampleGflops: number;
  /** The config measured. */
  config: GeneratorConfig;
}

/** Options for {@linkcode benchGenerator}. */
export interface BenchGeneratorOptions {
  /** Clips per training step and per sampling batch. Default 8. */
  batchSize?: number;
  /** Timed training steps (after one warm-up step). Default 3. */
  trainSteps?: number;
  /** DDIM steps for the sampling measurement. Default 5. */
  sampleSteps?: number;
  /** CFG scale (≠ 1 doubles the forward passes). Default 2. */
  guidance?: number;
}

/**
 * Measures training samples/s, sampling videos/s and achieved GFLOP/s of a
 * freshly initialised generator of `config` on the active backend.
 *
 * @example
 * ```ts
 * import { benchGenerator } from "@halo/kit/generator";
 * const tiny = { frames: 4, size: 16, dim: 16, depth: 1, heads: 2, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } };
 * const r = await benchGenerator(tiny, { batchSize: 2, trainSteps: 1, sampleSteps: 1 });
 * console.log(r.trainSamplesPerSec > 0);
 * ```
 */
export async function benchGenerator(
  config: Partial<GeneratorConfig> = {},
  options: BenchGeneratorOptions = {},
): Promise<GeneratorBench> {
  const c = resolveGeneratorConfig(config);
  const b = checkInt("benchGenerator", "batchSize", options.batchSize ?? 8, 1);
  const trainSteps = checkInt("benchGenerator", "trainSteps", options.trainSteps ?? 3, 1);
  const sampleSteps = checkInt("benchGenerator", "sampleSteps", options.sampleSteps ?? 5, 1);
  const guidance = options.guidance ?? 2;
  const gen = createGenerator(c, { seed: 0 });
  const adam = createAdam(gen.params);
  const rng = createRng(0);
  const prompts = testPromptSample(b, 0);
  const batch = makeBatch(c, prompts);
  try {
    await trainStep(gen, adam, batch, { rng });
    let t0 = performance.now();
    for (let i = 0; i < trainSteps; i++) await trainStep(gen, adam, batch, { rng });
    const trainSec = (performance.now() - t0) / 1000 / trainSteps;
    await sampleClips(gen, prompts.slice(0, 1), { steps: 1, guidance });
    t0 = performance.now();
    await sampleClips(gen, prompts, { steps: sampleSteps, guidance, batchSize: b });
    const sampleSec = (performance.now() - t0) / 1000;
    const passes = guidance === 1 ? 1 : 2;
    return {
      trainSamplesPerSec: b / trainSec,
      sampleVideosPerSec: b / sampleSec,
      trainGflops: 3 * generatorFlops(c, b) / trainSec / 1e9,
      sampleGflops: passes * sampleSteps * generatorFlops(c, b) / sampleSec / 1e9,
      config: c,
    };
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
  }
}

/** The defaults of {@linkcode evaluateCheckpoint} (the `eval-generator` task's flags show the same). */
export const EVAL_GENERATOR_DEFAULTS: Readonly<
  Required<
    Pick<
      EvaluateGeneratorOptions,
      | "count"
      | "split"
      | "sampleSeeds"
      | "seed"
      | "steps"
      | "guidance"
      | "guidanceFrom"
      | "guidanceBelow"
      | "shapeGuidance"
      | "eta"
    >
  >
> = Object.freeze({
  count: 64,
  split: "test",
  sampleSeeds: 2,
  seed: 0,
  steps: SAMPLE_DEFAULTS.steps,
  guidance: SAMPLE_DEFAULTS.guidance,
  guidanceFrom: SAMPLE_DEFAULTS.guidanceFrom,
  guidanceBelow: SAMPLE_DEFAULTS.guidanceBelow,
  shapeGuidance: SAMPLE_DEFAULTS.shapeGuidance,
  eta: SAMPLE_DEFAULTS.eta,
});

/** What {@linkcode evaluateCheckpoint} resolves to. */
export interface CheckpointEvaluation extends GeneratorEvaluation {
  /** The checkpoint's name ({@linkcode modelName}). */
  checkpoint: string;
  /** Wall seconds of sampling and judging. */
  seconds: number;
}

/**
 * {@linkcode evaluateGenerator} on a checkpoint: loads it (default: the shipped
 * generator), samples `count` held-out test prompts and judges them.
 *
 * @example
 * ```ts
 * import { evaluateCheckpoint, initBackend } from "@halo/kit";
 * await initBackend();
 * const e = await evaluateCheckpoint(undefined, { count: 1, steps: 2 });
 * console.log(e.checkpoint); // "data/generator"
 * ```
 */
export async function evaluateCheckpoint(
  checkpoint: ModelRef = shipped.generator,
  options: EvaluateGeneratorOptions = {},
): Promise<CheckpointEvaluation> {
  const { generator } = await loadGenerator(checkpoint);
  try {
    const t0 = performance.now();
    const result = await evaluateGenerator(generator, { ...EVAL_GENERATOR_DEFAULTS, ...options });
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    return { checkpoint: modelName(checkpoint), ...result, seconds };
  } finally {
    disposeGenerator(generator);
  }
}
