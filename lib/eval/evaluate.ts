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
 * 3. **Patch defects, paired by noise**: a patch is *defective* when the
 *    reference judge scores any aspect ≤ `DEFECT_SCORE` (it then
 *    names the defect). Each clip's record keeps the kind of every patch's
 *    defect (`patchDefects`), so against Base's clip from the same noise
 *    `defectsFixed` is the share of Base's defective patches that are clean
 *    and `defectsIntroduced` the share of Base's clean patches that became
 *    defective, in total and per kind (`defects.ts`); `defectivePatches` is the
 *    share of defective patches of all clips (per kind too: they add up).
 *    `hiddenDefects` is the share of defective patches within the clips whose
 *    evaluator score is at or above the Base median. `prmPrecision` is the
 *    share of clips whose worst patch by the training PRM is defective by the
 *    judge, so "patch defects exist and the PRM finds them" rests on the judge.
 *
 * Clips are sampled with one seed per (prompt, sampling seed), so every model
 * is evaluated on the same initial noise and differences are paired. The
 * table's statistics and intervals are in `summary.ts`.
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { appendJsonLines, readJsonLines } from "../core/_atomic.ts";
import { createRng } from "../core/_rng.ts";
import { clipSeed } from "./_clip_seed.ts";
import { Progress } from "../core/_progress.ts";
import type { Generator } from "../generator/model.ts";
import { SAMPLE_DEFAULTS, sampleClips } from "../generator/sampler.ts";
import { shapesBench, type ShapesBenchDimension } from "../videos/shapes_bench.ts";
import { ASPECTS } from "../videos/scores.ts";
import { rewardGrid, type RewardModel } from "../reward/model.ts";
import { flattenPatchScores, scoreRewards } from "../reward/score.ts";
import { testPromptSample } from "../generator/quick_eval.ts";
import type { CheckpointManifest } from "../tensor/checkpoint.ts";
import { parsePrompt, promptSplits, type ShapesPrompt } from "../videos/world.ts";
import type { Video } from "../videos/video.ts";
import type { PatchDefects } from "./defects.ts";

/** Everything measured on one evaluated clip. */
export interface ClipEvaluation {
  /** Test prompt. */
  prompt: string;
  /** Index of the prompt in the evaluation set. */
  promptIndex: number;
  /** Sampling seed (of the evaluation's list). */
  seed: number;
  /** DDIM η the clip was sampled with (records from before it was recorded: 0). */
  eta?: number;
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
  /**
   * Per patch of the judge's 4×4×4 grid (patch-index order): the kind of its defect, null
   * when clean — what the paired defect measure compares across models. Records written
   * before this field existed lack it: `evaluateModel` measures those clips again.
   */
  patchDefects?: PatchDefects;
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
  /** DDIM η. Default the sampler's ({@linkcode SAMPLE_DEFAULTS}); a cached clip of another η is sampled again. */
  eta?: number;
  /** Clips per sampling batch. Default 16. */
  batchSize?: number;
  /** JSONL of per-clip results: records found there are reused (a killed evaluation resumes). */
  cache?: string;
  /** Progress bar label. Default "evaluate". */
  label?: string;
  /** No progress bar. Default false. */
  quiet?: boolean;
}

/**
 * The prompts {@linkcode evaluateModel} samples, in its order: the first `n` held-out test prompts
 * (`testPromptSample(n, 0)`), or with `split` "validation" the first `n` validation prompts
 * (training combinations, prompts never trained on, shuffled by a fixed seed). With
 * {@linkcode evaluationClip} they give the very clips an evaluation scores.
 *
 * @example
 * ```ts
 * import { evaluationPrompts } from "@halo/kit/eval";
 * const test = evaluationPrompts(3);
 * const validation = evaluationPrompts(3, "validation");
 * console.log(test.length, validation.length, test[0].text !== validation[0].text); // 3 3 true
 * ```
 */
export function evaluationPrompts(
  n: number,
  split: "test" | "validation" = "test",
): ShapesPrompt[] {
  checkInt("evaluationPrompts", "n", n, 1);
  if (split !== "test" && split !== "validation") {
    fail("evaluationPrompts", 'split "test" or "validation"', split);
  }
  return split === "test" ? testPromptSample(n, 0) : validationPromptSample(n);
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

/** Options of {@linkcode evaluationClip}. */
export interface EvaluationClipOptions {
  /** DDIM steps (as evaluated). Default 20. */
  steps?: number;
  /** Classifier-free guidance (as evaluated). Default 2. */
  guidance?: number;
  /** DDIM η (as evaluated). Default the sampler's ({@linkcode SAMPLE_DEFAULTS}). */
  eta?: number;
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
    eta: options.eta ?? SAMPLE_DEFAULTS.eta,
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
  const eta = checkNumber(where, "eta", options.eta ?? SAMPLE_DEFAULTS.eta, 0, 1);
  const prompts = evaluationPrompts(nPrompts, options.split ?? "test");
  if (prompts.length < nPrompts) fail(where, `at most ${prompts.length} test prompts`, nPrompts);
  const jobs = prompts.flatMap((p, i) =>
    seeds.map((seed) => ({ prompt: p, promptIndex: i, seed }))
  );
  const key = (j: { promptIndex: number; seed: number }) => `${j.promptIndex}/${j.seed}`;
  const done = new Map<string, ClipEvaluation>();
  if (options.cache) {
    for (const r of await readJsonLines<ClipEvaluation>(options.cache)) {
      if (
        prompts[r.promptIndex]?.text === r.prompt && Array.isArray(r.patchDefects) &&
        (r.eta ?? 0) === eta
      ) {
        done.set(key(r), r);
      }
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
      eta,
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
        eta,
        bench: b.bench,
        evaluator: meanAspects(evaluatorScores[i].video as unknown as Record<string, number>),
        judgeWorst: b.judgeWorst,
        defectivePatches: b.defectivePatches,
        prmWorstDefective,
        patchDefects: b.kinds,
      };
    });
    if (options.cache) await appendJsonLines(options.cache, records);
    for (const r of records) done.set(key(r), r);
    progress.tick(chunk.length);
  }
  return jobs.map((j) => done.get(key(j))!);
}
