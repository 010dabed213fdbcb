/**
 * The evaluation of post-trained generators (DESIGN §4), on held-out test
 * prompts (the split's held-out colour/shape combinations) and several
 * sampling seeds, by two methods and the patch-defect analysis:
 *
 * 1. **ShapesBench** (VBench-like), computed by the reference judge per clip,
 *    every dimension a share in [0, 1] where higher is better:
 *    `color`, `shape`, `count`, `direction` (the judge's whole-video checks),
 *    `temporal` (share of patches without noticeable flicker), `background`
 *    (share of object-free pixels that keep the prompt's background colour),
 *    `artefacts` (1 − the share of defective patches); `overall` is their
 *    unweighted mean.
 * 2. **Evaluator RM** (VideoScore-like): the video score (mean over aspects,
 *    1–4) of a reward model trained with another seed on other data than the
 *    one that made the preference pairs (`data/reward/evaluator`). It is never
 *    the training RM: {@linkcode checkIndependentEvaluator} refuses that.
 * 3. **Patch defects**: a patch is *defective* when the reference judge scores
 *    any aspect ≤ {@linkcode DEFECT_SCORE} (it then gives a reason). The defect
 *    share is the share of clips whose evaluator score is at or above the base
 *    model's median and whose worst patch is defective (DESIGN §4);
 *    `hiddenDefects` is the share of defective patches within those clips (a
 *    ratio: defective patches of high-scoring clips over their patches), and
 *    `defectivePatches` the share of defective patches of all clips. When every
 *    clip has some defective patch, the first can only grow with the evaluator
 *    score; the second still shows whether the clips that look good globally
 *    carry fewer local defects. `prmPrecision` is the
 *    share of clips whose worst patch by the training PRM is defective by the
 *    judge, so "patch defects exist and the PRM finds them" rests on the judge.
 *
 * Clips are sampled with one seed per (prompt, sampling seed), so every model
 * is evaluated on the same initial noise and differences are paired.
 * Intervals are 95% percentile bootstraps over prompts, and over training
 * seeds when a method has several (both resampled in every replicate).
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { appendJsonLines, readJsonLines } from "../core/_atomic.ts";
import { createRng } from "../core/_rng.ts";
import { Progress } from "../core/_progress.ts";
import type { Interval } from "../core/agreement.ts";
import type { Generator } from "../generator/model.ts";
import { sampleClips } from "../generator/sampler.ts";
import {
  DEFECT_SCORE,
  shapesBench,
  SHAPESBENCH_DIMENSIONS,
  type ShapesBenchDimension,
} from "../videos/shapes_bench.ts";
import { ASPECTS } from "../videos/scores.ts";
import { rewardGrid, type RewardModel } from "../reward/model.ts";
import { flattenPatchScores, scoreRewards } from "../reward/score.ts";
import { testPromptSample } from "../generator/quick_eval.ts";
import type { CheckpointManifest } from "../tensor/checkpoint.ts";
import { parsePrompt, promptSplits, type ShapesPrompt } from "../videos/world.ts";
import type { Video } from "../videos/video.ts";

/** Everything measured on one evaluated clip. */
export interface ClipEvaluation {
  /** Test prompt. */
  prompt: string;
  /** Index of the prompt in the evaluation set. */
  promptIndex: number;
  /** Sampling seed (of the evaluation's list). */
  seed: number;
  /** ShapesBench dimensions and `overall`. */
  bench: Record<ShapesBenchDimension | "overall", number>;
  /** Evaluator RM video score (mean over aspects, 1–4). */
  evaluator: number;
  /** Lowest judge score of any patch and aspect. */
  judgeWorst: number;
  /** Share of patches the judge finds defective. */
  defectivePatches: number;
  /** Whether the judge finds the training PRM's worst patch defective (null without a PRM). */
  prmWorstDefective: boolean | null;
}

/**
 * Refuses an evaluator that is the training RM: same weights (SHA-256) or the
 * same directory. The evaluation must not grade a model with the reward it
 * was optimised against.
 *
 * @example
 * ```ts
 * import { checkIndependentEvaluator } from "@halo/kit";
 * const m = (sha256: string) => ({ weights: { sha256 } }) as never;
 * checkIndependentEvaluator({ dir: "a", manifest: m("1") }, { dir: "b", manifest: m("2") }); // fine
 * ```
 */
export function checkIndependentEvaluator(
  evaluator: { dir: string; manifest: CheckpointManifest },
  training: { dir: string; manifest: CheckpointManifest },
): void {
  if (
    evaluator.manifest.weights.sha256 === training.manifest.weights.sha256 ||
    evaluator.dir.replace(/\/+$/, "") === training.dir.replace(/\/+$/, "")
  ) {
    fail(
      `evaluator ${evaluator.dir}`,
      `a reward model independent of the training RM ${training.dir}`,
      "the same weights",
    );
  }
}

/** Options for {@linkcode evaluateModel}. */
export interface EvaluateModelOptions {
  /** The evaluator RM (method 2). Required. */
  evaluator: RewardModel;
  /** The training PRM, for the precision of its worst patch. */
  prm?: RewardModel;
  /** Prompts. Default 64. */
  prompts?: number;
  /**
   * Where the prompts come from: the held-out "test" combinations (the reported numbers) or
   * the "validation" prompts (choosing settings without looking at the test set). Default "test".
   */
  split?: "test" | "validation";
  /** Sampling seeds. Default [0, 1]. */
  seeds?: readonly number[];
  /** DDIM steps. Default 20. */
  steps?: number;
  /** Classifier-free guidance. Default 2. */
  guidance?: number;
  /** Clips per sampling batch. Default 16. */
  batchSize?: number;
  /** JSONL of per-clip results: records found there are reused (a killed evaluation resumes). */
  cache?: string;
  /** Progress bar label. Default "evaluate". */
  label?: string;
  /** No progress bar. Default false. */
  quiet?: boolean;
}

/** `n` validation prompts (training combinations, prompts never trained on), shuffled by seed 0. */
function validationPromptSample(n: number): ShapesPrompt[] {
  const list = [...promptSplits({ seed: 0 }).validation];
  const rng = createRng(0x7a11d);
  for (let i = list.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list.slice(0, n);
}

/** The noise seed of (prompt, sampling seed): the same for every model evaluated. */
function clipSeed(promptIndex: number, seed: number): number {
  return createRng((promptIndex * 0x9e3779b1 + seed * 0x85ebca6b + 0xe7a1) >>> 0).seed();
}

/** Options of {@linkcode evaluationClip}. */
export interface EvaluationClipOptions {
  /** DDIM steps (as evaluated). Default 20. */
  steps?: number;
  /** Classifier-free guidance (as evaluated). Default 2. */
  guidance?: number;
}

/**
 * The very clip an evaluation measured (same prompt, same noise seed), sampled
 * again from `gen` — for pictures of the clips behind the numbers.
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator } from "@halo/kit";
 * import { evaluationClip } from "@halo/kit/eval";
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2 });
 * const clip = await evaluationClip(gen, { prompt: "one red circle moving up slowly on a black background", promptIndex: 0, seed: 0 }, { steps: 2 });
 * console.log(clip.numFrames); // 16
 * disposeGenerator(gen);
 * ```
 */
export async function evaluationClip(
  gen: Generator,
  clip: Pick<ClipEvaluation, "prompt" | "promptIndex" | "seed">,
  options: EvaluationClipOptions = {},
): Promise<Video> {
  const [video] = await sampleClips(gen, [parsePrompt(clip.prompt)], {
    steps: options.steps ?? 20,
    guidance: options.guidance ?? 2,
    seeds: [clipSeed(clip.promptIndex, clip.seed)],
  });
  return video;
}

/**
 * Samples the test prompts with every sampling seed and measures each clip
 * (ShapesBench, evaluator score, patch defects). Per-clip records are
 * appended to `cache` as they are made, so a rerun only samples what is missing.
 *
 * @example
 * ```ts
 * import { createGenerator, createRewardModel, disposeGenerator, disposeRewardModel, evaluateModel } from "@halo/kit";
 * const generator = createGenerator({ frames: 16, size: 32, dim: 16, depth: 1, heads: 2 });
 * const evaluator = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const clips = await evaluateModel(generator, { evaluator, prompts: 2, seeds: [0], steps: 2, quiet: true });
 * console.log(clips.length, clips[0].bench.overall >= 0); // 2 true
 * disposeGenerator(generator);
 * disposeRewardModel(evaluator);
 * ```
 */
export async function evaluateModel(
  gen: Generator,
  options: EvaluateModelOptions,
): Promise<ClipEvaluation[]> {
  const where = "evaluateModel";
  if (!options?.evaluator) fail(where, "an evaluator reward model", options?.evaluator);
  const nPrompts = checkInt(where, "prompts", options.prompts ?? 64, 1);
  const seeds = options.seeds ?? [0, 1];
  if (!Array.isArray(seeds) || seeds.length === 0) fail(where, "a non-empty list of seeds", seeds);
  seeds.forEach((s, i) => checkInt(where, `seeds[${i}]`, s, 0, 0xffffffff));
  const steps = checkInt(where, "steps", options.steps ?? 20, 1);
  const guidance = checkNumber(where, "guidance", options.guidance ?? 2, 0, 100);
  const batchSize = checkInt(where, "batchSize", options.batchSize ?? 16, 1);
  const split = options.split ?? "test";
  if (split !== "test" && split !== "validation") {
    fail(where, 'split "test" or "validation"', split);
  }
  const prompts = split === "test"
    ? testPromptSample(nPrompts, 0)
    : validationPromptSample(nPrompts);
  if (prompts.length < nPrompts) fail(where, `at most ${prompts.length} test prompts`, nPrompts);
  const jobs = prompts.flatMap((p, i) =>
    seeds.map((seed) => ({ prompt: p, promptIndex: i, seed }))
  );
  const key = (j: { promptIndex: number; seed: number }) => `${j.promptIndex}/${j.seed}`;
  const done = new Map<string, ClipEvaluation>();
  if (options.cache) {
    for (const r of await readJsonLines<ClipEvaluation>(options.cache)) {
      if (prompts[r.promptIndex]?.text === r.prompt) done.set(key(r), r);
    }
  }
  const todo = jobs.filter((j) => !done.has(key(j)));
  const progress = new Progress(jobs.length, {
    label: options.label ?? "evaluate",
    unit: "clips",
    initial: jobs.length - todo.length,
    quiet: options.quiet || todo.length === 0,
  });
  const meanAspects = (s: Record<string, number>) =>
    ASPECTS.reduce((t, a) => t + s[a], 0) / ASPECTS.length;
  for (let start = 0; start < todo.length; start += batchSize) {
    const chunk = todo.slice(start, start + batchSize);
    const clips = await sampleClips(gen, chunk.map((j) => j.prompt), {
      steps,
      guidance,
      batchSize,
      seeds: chunk.map((j) => clipSeed(j.promptIndex, j.seed)),
    });
    const items = clips.map((video, i) => ({ video, prompt: chunk[i].prompt.text }));
    const evaluatorScores = await scoreRewards(options.evaluator, items);
    const prmScores = options.prm ? await scoreRewards(options.prm, items) : null;
    const records = chunk.map((j, i): ClipEvaluation => {
      const b = shapesBench(clips[i], j.prompt.text);
      let prmWorstDefective: boolean | null = null;
      if (prmScores) {
        const grid = rewardGrid(options.prm!.config);
        if (grid.rows !== 4 || grid.cols !== 4 || grid.framesPerPatch !== 4) {
          fail(where, "a training PRM on the judge's 4x4x4 grid", options.prm!.config.grid);
        }
        const patch = flattenPatchScores(prmScores[i].patches).map((a) =>
          a.reduce((s, v) => s + v, 0) / a.length
        );
        let worst = 0;
        patch.forEach((v, k) => (v < patch[worst] ? (worst = k) : 0));
        prmWorstDefective = b.defective[worst];
      }
      return {
        prompt: j.prompt.text,
        promptIndex: j.promptIndex,
        seed: j.seed,
        bench: b.bench,
        evaluator: meanAspects(evaluatorScores[i].video as unknown as Record<string, number>),
        judgeWorst: b.judgeWorst,
        defectivePatches: b.defectivePatches,
        prmWorstDefective,
      };
    });
    if (options.cache) await appendJsonLines(options.cache, records);
    for (const r of records) done.set(key(r), r);
    progress.tick(chunk.length);
  }
  return jobs.map((j) => done.get(key(j))!);
}

/** The per-clip metrics of the results table, by column name. */
export function clipMetrics(
  clip: ClipEvaluation,
  baseMedian: number,
): Record<string, number> {
  const high = clip.evaluator >= baseMedian;
  const defective = clip.judgeWorst <= DEFECT_SCORE;
  return {
    ...Object.fromEntries(SHAPESBENCH_DIMENSIONS.map((d) => [d, clip.bench[d]])),
    shapesbench: clip.bench.overall,
    evaluator: clip.evaluator,
    defectShare: high && defective ? 1 : 0,
    highScoring: high ? 1 : 0,
    highDefectivePatches: high ? clip.defectivePatches : 0,
    defectivePatches: clip.defectivePatches,
    ...(clip.prmWorstDefective === null ? {} : { prmPrecision: clip.prmWorstDefective ? 1 : 0 }),
  };
}

/** Metrics that are ratios of two per-clip metrics' means. */
const RATIOS: Record<string, [string, string]> = {
  hiddenDefects: ["highDefectivePatches", "highScoring"],
};

/** The median of the base model's evaluator scores: the bar of the defect share. */
export function evaluatorMedian(clips: readonly ClipEvaluation[]): number {
  if (clips.length === 0) fail("evaluatorMedian", "at least one clip", 0);
  const s = clips.map((c) => c.evaluator).sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One method's evaluated clips: one list per training seed, on the same prompts and sampling seeds. */
export interface MethodEvaluation {
  /** Row name, e.g. "HALO (video + patch)". */
  method: string;
  /** Clips per training seed (the base model: one list). */
  runs: ClipEvaluation[][];
}

/** A results-table row: every metric with its interval. */
export interface ResultsRow {
  /** Method name. */
  method: string;
  /** Training seeds. */
  seeds: number;
  /** Metric → estimate with a 95% interval. */
  metrics: Record<string, Interval>;
}

/** A paired difference between two methods. */
export interface Comparison {
  /** "A − B". */
  name: string;
  /** Metric compared. */
  metric: string;
  /** Difference with its 95% interval. */
  difference: Interval;
  /** Relative difference (A − B)/B with its interval, for shares. */
  relative: Interval;
}

/** Options of {@linkcode summariseResults}. */
export interface SummariseOptions {
  /** Median evaluator score of the base model (the defect share's bar). */
  baseMedian: number;
  /** Bootstrap resamples. Default 1000. */
  resamples?: number;
  /** Bootstrap seed. Default 0. */
  seed?: number;
}

/** Per-(seed, prompt) means of each metric: `[seed][prompt] → metrics`. */
function cellMeans(
  m: MethodEvaluation,
  baseMedian: number,
  prompts: number,
): Array<Array<Record<string, number>>> {
  return m.runs.map((clips) => {
    const cells: Array<Record<string, number>[]> = Array.from({ length: prompts }, () => []);
    for (const c of clips) cells[c.promptIndex].push(clipMetrics(c, baseMedian));
    return cells.map((list) => {
      const out: Record<string, number> = {};
      for (const k of Object.keys(list[0] ?? {})) {
        out[k] = list.reduce((s, r) => s + r[k], 0) / list.length;
      }
      return out;
    });
  });
}

function checkRuns(methods: readonly MethodEvaluation[]): number {
  if (methods.length === 0) fail("summariseResults", "at least one method", 0);
  const ref = methods[0].runs[0];
  if (!ref?.length) fail("summariseResults", `clips for ${methods[0].method}`, ref);
  const layout = (clips: ClipEvaluation[]) => clips.map((c) => `${c.promptIndex}/${c.seed}`).join();
  for (const m of methods) {
    for (const run of m.runs) {
      if (layout(run) !== layout(ref)) {
        fail(
          "summariseResults",
          `${m.method} evaluated on the same prompts and sampling seeds as ${methods[0].method}`,
          `${run.length} clips in another layout`,
        );
      }
    }
  }
  return Math.max(...ref.map((c) => c.promptIndex)) + 1;
}

/**
 * The results table (one row per method, every metric with a 95% interval:
 * bootstrap over prompts and training seeds) and paired comparisons between
 * methods (each replicate resamples the same prompts for both methods).
 *
 * @example
 * ```ts
 * import { summariseResults } from "@halo/kit";
 * const clip = (evaluator: number, color: number) => ({
 *   prompt: "p", promptIndex: 0, seed: 0, evaluator, judgeWorst: 1, defectivePatches: 0.5, prmWorstDefective: true,
 *   bench: { color, shape: 0, count: 0, direction: 0, temporal: 1, background: 1, artefacts: 0.5, overall: 0.5 },
 * });
 * const t = summariseResults([{ method: "Base", runs: [[clip(3, 0)]] }, { method: "HALO", runs: [[clip(3.5, 1)]] }],
 *   { baseMedian: 3, resamples: 50 });
 * console.log(t.rows[1].metrics.color.estimate); // 1
 * ```
 */
export function summariseResults(
  methods: readonly MethodEvaluation[],
  options: SummariseOptions,
): { rows: ResultsRow[]; compare(a: string, b: string, metric: string): Comparison } {
  const baseMedian = checkNumber("summariseResults", "baseMedian", options.baseMedian);
  const resamples = checkInt("summariseResults", "resamples", options.resamples ?? 1000, 1);
  const prompts = checkRuns(methods);
  const cells = new Map(methods.map((m) => [m.method, cellMeans(m, baseMedian, prompts)]));
  const metricNames = [...Object.keys(cells.get(methods[0].method)![0][0]), ...Object.keys(RATIOS)];
  // One replicate = seeds of each method and prompts (shared) drawn with replacement.
  const draws: Array<{ prompts: Int32Array; seeds: Map<string, Int32Array> }> = [];
  const rng = createRng(options.seed ?? 0);
  for (let r = 0; r < resamples; r++) {
    const p = Int32Array.from({ length: prompts }, () => rng.int(prompts));
    const seeds = new Map(
      methods.map((m) => [m.method, Int32Array.from(m.runs, () => rng.int(m.runs.length))]),
    );
    draws.push({ prompts: p, seeds });
  }
  const allPrompts = Int32Array.from({ length: prompts }, (_, i) => i);
  const statistic = (method: string, metric: string, p: Int32Array, s: Int32Array): number => {
    const ratio = RATIOS[metric];
    if (ratio) return statistic(method, ratio[0], p, s) / statistic(method, ratio[1], p, s);
    const c = cells.get(method)!;
    let total = 0;
    for (const si of s) for (const pi of p) total += c[si][pi][metric];
    return total / (s.length * p.length);
  };
  const interval = (f: (p: Int32Array, s: (m: string) => Int32Array) => number): Interval => {
    const estimate = f(allPrompts, (m) => Int32Array.from(cells.get(m)!, (_, i) => i));
    const values = draws.map((d) => f(d.prompts, (m) => d.seeds.get(m)!)).filter(Number.isFinite)
      .sort((a, b) => a - b);
    const q = (x: number) => {
      const pos = x * (values.length - 1);
      const lo = Math.floor(pos), hi = Math.ceil(pos);
      return values[lo] + (values[hi] - values[lo]) * (pos - lo);
    };
    return { estimate, lo: q(0.025), hi: q(0.975), resamples: values.length };
  };
  const rows = methods.map((m) => ({
    method: m.method,
    seeds: m.runs.length,
    metrics: Object.fromEntries(
      metricNames.map((k) => [k, interval((p, s) => statistic(m.method, k, p, s(m.method)))]),
    ),
  }));
  const compare = (a: string, b: string, metric: string): Comparison => {
    for (const name of [a, b]) if (!cells.has(name)) fail("compare", "a method of the table", name);
    if (!metricNames.includes(metric)) fail("compare", `a metric among ${metricNames}`, metric);
    return {
      name: `${a} − ${b}`,
      metric,
      difference: interval((p, s) => statistic(a, metric, p, s(a)) - statistic(b, metric, p, s(b))),
      relative: interval((p, s) => {
        const base = statistic(b, metric, p, s(b));
        return (statistic(a, metric, p, s(a)) - base) / base;
      }),
    };
  };
  return { rows, compare };
}
