/**
 * The loss of the reward-model trainer: its options ({@linkcode RewardLossWeights}: the weights of
 * stage 2's terms and the pairwise loss variant, with their defaults in one place,
 * {@linkcode REWARD_LOSS_DEFAULTS}, and their validation, {@linkcode resolveRewardLoss}) and the loss
 * of a stage on a batch ({@linkcode rewardLoss}; its exact form is in `train.ts`'s module doc).
 * `train.ts` re-exports these.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkNumber, fail } from "../core/_errors.ts";
import { ASPECTS } from "../videos/scores.ts";
import { rewardForward, type RewardModel } from "./model.ts";
import { bradleyTerryLoss } from "./pair_loss.ts";

/** The loss variants of the pairwise term (see `RewardLossWeights.pairLoss`). */
export type RewardPairLoss = "none" | "bradley-terry";

/** Loss weights and variants of both stages (see `train.ts`). */
export interface RewardLossWeights {
  /** α: weight of the video loss in stage 2. Default 0.5. */
  videoWeight?: number;
  /** γ: weight of the consistency term. Default 0.2. */
  consistencyWeight?: number;
  /**
   * A pairwise term on the video head, in both stages: `"bradley-terry"` adds
   * `pairWeight · L_BT` over the same-prompt pairs of each batch (`pair_loss.ts`), and the
   * batches are drawn so that every second clip shares the previous clip's prompt when the
   * training set has another clip of it (`clipsPerPrompt` of the dataset). Default `"none"`.
   */
  pairLoss?: RewardPairLoss;
  /** Weight of the pairwise term. Default 0.5. */
  pairWeight?: number;
  /**
   * Weight of a pairwise term on the **patch** head, in stage 2 only: the Bradley–Terry loss
   * (scale `pairScale`) over the same-prompt pairs of each batch, patch by patch and aspect by
   * aspect where the two clips' patch labels differ — `−log σ(s · y · (p̂_i,k,a − p̂_j,k,a))`. It
   * compares patch k of one clip with patch k of the other, so it means something where a
   * prompt's clips share their noise and patch k is the same place in both (the candidates of
   * `deno task pairs --shared-noise`, which Gran-DPO's patch terms compare the same way); a
   * prompt-swap negative (`swapped`), another clip's noise, takes no part. Batches are drawn in
   * same-prompt pairs as for `pairLoss`. Our reconstruction: the paper trains the PRM
   * by regression only; the term targets a patch head that orders two patches by how many object
   * pixels they hold (`data/reward/candidates.md`, twelfth round). Default 0 (off).
   */
  patchPairWeight?: number;
  /** Logit per score point of the pairwise term. Default 2. */
  pairScale?: number;
  /**
   * Weight of the prompt-swap contrast, in both stages: `swapWeight · L_swap`, the Bradley–Terry
   * loss (scale `pairScale`) that a clip's text-alignment video score under its own prompt is
   * above the same clip's under a prompt of another colour, shape or count (the dataset's
   * prompt-swap negatives, `swapRate`). A prior, not a label: it holds for every render and for
   * generator samples that show their prompt; clips rendered from a mismatched prompt are left
   * out. Batches then pair every second clip with its swap partner. Our reconstruction: the
   * paper names no such term; it is the fix for a text head blind to a wrong shape or
   * count, whose labels move by less than their noise. Default 0 (off).
   */
  swapWeight?: number;
  /**
   * The swap contrast only on pairs whose own clip's labelled text-alignment video score is at
   * least this (1–4; 1: every pair). The contrast's prior "own prompt above swapped" holds for a
   * clip that shows its prompt; a generator sample often shows another shape or count, and a
   * swap to what it shows is then no worse. The labels, not the judge, say which clips qualify.
   * Applied where the batch is built (`makeRewardBatch`'s `swapGate` leaves the pairs below the
   * gate out of `RewardBatch.swapPairs`); {@linkcode rewardLoss} contrasts every pair it is given. Our
   * reconstruction, like the contrast. Default 1 (every pair).
   */
  swapGate?: number;
  /**
   * Which aspects a prompt-swap negative's labels train, in the regression and the pairwise
   * term: all three (`"all"`), or text alignment only (`"text"`). The judge grades a clip's
   * visual quality and motion against the objects its prompt names, so under a swapped colour
   * those labels read the clip's own pixels as off-palette (visual quality 1.7 points lower on
   * average in the tenth round's 10000-sample labels, temporal consistency unchanged): `"text"`
   * keeps the quality aspects to clips under their own prompt and lets the swaps teach what only they can,
   * whether the clip shows its prompt. Our reconstruction, like the swaps; measured in
   * `data/reward/candidates.md` (eleventh round). Default `"all"`.
   */
  swapLabels?: RewardSwapLabels;
}

/** The aspects a prompt-swap negative's labels train (see {@linkcode RewardLossWeights.swapLabels}). */
export type RewardSwapLabels = "all" | "text";

/** The defaults of {@linkcode RewardLossWeights}. */
export const REWARD_LOSS_DEFAULTS: Readonly<Required<RewardLossWeights>> = Object.freeze({
  videoWeight: 0.5,
  consistencyWeight: 0.2,
  pairLoss: "none",
  pairWeight: 0.5,
  patchPairWeight: 0,
  pairScale: 2,
  swapWeight: 0,
  swapGate: 1,
  swapLabels: "all",
});

/**
 * Fills the defaults of {@linkcode RewardLossWeights} and validates them; errors name the
 * field.
 *
 * @example
 * ```ts
 * import { resolveRewardLoss } from "@halo/kit/reward";
 * console.log(resolveRewardLoss({ pairLoss: "bradley-terry" }).pairWeight); // 0.5
 * ```
 */
export function resolveRewardLoss(
  options: RewardLossWeights = {},
  where = "rewardLoss",
): Required<RewardLossWeights> {
  const d = REWARD_LOSS_DEFAULTS;
  const pairLoss = options.pairLoss ?? d.pairLoss;
  if (pairLoss !== "none" && pairLoss !== "bradley-terry") {
    fail(where, 'pairLoss "none" or "bradley-terry"', pairLoss);
  }
  const swapLabels = options.swapLabels ?? d.swapLabels;
  if (swapLabels !== "all" && swapLabels !== "text") {
    fail(where, 'swapLabels "all" or "text"', swapLabels);
  }
  const pairScale = checkNumber(where, "pairScale", options.pairScale ?? d.pairScale, 0);
  if (!(pairScale > 0)) fail(where, "pairScale > 0", pairScale);
  return {
    videoWeight: checkNumber(where, "videoWeight", options.videoWeight ?? d.videoWeight, 0),
    consistencyWeight: checkNumber(
      where,
      "consistencyWeight",
      options.consistencyWeight ?? d.consistencyWeight,
      0,
    ),
    pairLoss,
    pairWeight: checkNumber(where, "pairWeight", options.pairWeight ?? d.pairWeight, 0),
    patchPairWeight: checkNumber(
      where,
      "patchPairWeight",
      options.patchPairWeight ?? d.patchPairWeight,
      0,
    ),
    pairScale,
    swapWeight: checkNumber(where, "swapWeight", options.swapWeight ?? d.swapWeight, 0),
    swapGate: checkNumber(where, "swapGate", options.swapGate ?? d.swapGate, 1, 4),
    swapLabels,
  };
}

/**
 * The {@linkcode RewardLossWeights} fields of a trainer's options (to hand on to each stage).
 *
 * @example
 * ```ts
 * import { rewardLossOf } from "@halo/kit/reward";
 * console.log(rewardLossOf({ pairLoss: "bradley-terry", out: "x" } as never).pairLoss); // "bradley-terry"
 * ```
 */
export function rewardLossOf(options: RewardLossWeights): RewardLossWeights {
  // every field the defaults name, so a new loss option is handed on without touching this
  const keys = Object.keys(REWARD_LOSS_DEFAULTS) as (keyof RewardLossWeights)[];
  return Object.fromEntries(keys.map((k) => [k, options[k]])) as RewardLossWeights;
}

/** Which loss a stage trains. */
export type RewardStage = "video" | "patch";

/** A training batch as tensors. */
export interface RewardBatch {
  /** `[B, T, H, W, 3]` in [0, 1]. */
  x: tf.Tensor;
  /** `[B, PROMPT_LENGTH]` token ids. */
  tokens: tf.Tensor2D;
  /** `[B, aspects]` video labels. */
  videoLabels: tf.Tensor2D;
  /** `[B, patches, aspects]` patch labels. */
  patchLabels: tf.Tensor3D;
  /** `[B]` prompt keep mask (prompt dropout). */
  keep: tf.Tensor1D;
  /**
   * Per item, the index of its prompt among the batch's distinct prompts, or -1 when it is
   * scored with the null prompt (dropped, or not a ShapesWorld sentence): the same-prompt
   * pairs of the pairwise term. Plain numbers, nothing to dispose. Default: no pairs.
   */
  groups?: readonly number[];
  /**
   * Pairs `[own, swapped]` of batch items: a clip under its own prompt and the same clip under a
   * swapped prompt (a prompt-swap negative), both scored with their prompt: the pairs of the
   * swap contrast (`swapWeight`). Default: none.
   */
  swapPairs?: ReadonlyArray<readonly [number, number]>;
  /**
   * Per item, whether it is a prompt-swap negative (plain booleans): the items whose quality
   * aspects `swapLabels: "text"` leaves untrained. Default: none.
   */
  swapped?: readonly boolean[];
}

/**
 * The loss of a stage on a batch, with its parts (the exact form is in `train.ts`'s module
 * doc). Call inside `tf.tidy` or a gradient function.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { judgeVideo, parsePrompt, renderClip } from "@halo/kit";
 * import {
 *   createRewardModel,
 *   disposeRewardModel,
 *   makeRewardBatch,
 *   rewardGrid,
 *   rewardLoss,
 * } from "@halo/kit/reward";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const prompt = "one red circle moving right slowly on a black background";
 * const { video } = renderClip(parsePrompt(prompt), { seed: 1 });
 * const { video: scores, patches } = judgeVideo(video, prompt, rewardGrid(model.config));
 * const example = { video, prompt, origin: "clean" as const, defects: [], labels: { video: scores, patches } };
 * const batch = makeRewardBatch(model, [example]);
 * const loss = tf.tidy(() => rewardLoss(model, batch, { stage: "video" }).total.dataSync()[0]);
 * console.log(loss >= 0); // true
 * tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
 * disposeRewardModel(model);
 * ```
 */
export function rewardLoss(
  model: RewardModel,
  batch: RewardBatch,
  options: RewardLossWeights & { stage: RewardStage },
): {
  total: tf.Scalar;
  video: tf.Scalar;
  patch: tf.Scalar;
  consistency: tf.Scalar;
  pair: tf.Scalar;
  patchPair: tf.Scalar;
  swap: tf.Scalar;
} {
  const w = resolveRewardLoss(options);
  const out = rewardForward(model, batch, { keep: batch.keep });
  // [B, aspects] weight of each item's labels: 1, or text alignment only for a swap under "text"
  const aspects = w.swapLabels === "text" && batch.swapped?.some((s) => s)
    ? tf.tensor2d(
      batch.swapped.map((s) => ASPECTS.map((a) => !s || a === "text_alignment" ? 1 : 0)),
    )
    : undefined;
  const mse = (error: tf.Tensor, weight?: tf.Tensor) =>
    (weight
      ? error.square().mul(weight).sum().div(weight.sum().mul(error.size / weight.size))
      : error.square().mean()) as tf.Scalar;
  const video = mse(out.video.sub(batch.videoLabels), aspects);
  const patch = mse(out.patches.sub(batch.patchLabels), aspects?.expandDims(1));
  const consistency = out.patches.mean(1).sub(stopGradient(out.video)).square()
    .mean() as tf.Scalar;
  const pair = w.pairLoss === "bradley-terry"
    ? bradleyTerryLoss(
      { scores: out.video, labels: batch.videoLabels, mask: pairMask(batch), weights: aspects },
      { scale: w.pairScale },
    )
    : tf.scalar(0);
  const swap = w.swapWeight > 0 && batch.swapPairs?.length
    ? swapContrast(out.video, batch.swapPairs, w.pairScale)
    : tf.scalar(0);
  const extra = pair.mul(w.pairLoss === "none" ? 0 : w.pairWeight).add(swap.mul(w.swapWeight));
  if (options.stage === "video") {
    // the patch head takes no part in stage 1; ×0 keeps its gradients defined (zeros)
    const total = video.add(extra).add(out.patches.mean().mul(0)) as tf.Scalar;
    return { total, video, patch, consistency, pair, patchPair: tf.scalar(0), swap };
  }
  const patchPair = w.patchPairWeight > 0
    ? patchPairLoss(out.patches, batch, aspects, w.pairScale)
    : tf.scalar(0);
  const total = patch.add(video.mul(w.videoWeight)).add(consistency.mul(w.consistencyWeight))
    .add(extra).add(patchPair.mul(w.patchPairWeight)) as tf.Scalar;
  return { total, video, patch, consistency, pair, patchPair, swap };
}

/**
 * The patch head's Bradley–Terry term (`patchPairWeight`): each clip's `[patches, aspects]`
 * scores and labels flattened into one row, so that the video-level loss compares patch k and
 * aspect a of clip i with the same of clip j, for the same-prompt pairs of the batch.
 */
function patchPairLoss(
  patches: tf.Tensor,
  batch: RewardBatch,
  aspects: tf.Tensor2D | undefined,
  scale: number,
): tf.Scalar {
  const [b, n, a] = patches.shape;
  return bradleyTerryLoss({
    scores: patches.reshape([b, n * a]) as tf.Tensor2D,
    labels: batch.patchLabels.reshape([b, n * a]) as tf.Tensor2D,
    // a prompt-swap negative is another clip's noise: its patch k is not the same place and time
    mask: pairMask(batch, batch.swapped),
    weights: aspects ? aspects.tile([1, n]) as tf.Tensor2D : undefined,
  }, { scale });
}

const TEXT = ASPECTS.indexOf("text_alignment");

/** The swap contrast: Bradley–Terry with the known direction "own prompt above swapped" on text alignment. */
function swapContrast(
  video: tf.Tensor2D,
  pairs: ReadonlyArray<readonly [number, number]>,
  scale: number,
): tf.Scalar {
  const b = video.shape[0];
  const order = new Float32Array(b);
  const mask = new Float32Array(b * b);
  for (const [own, swapped] of pairs) {
    order[own] = 1;
    mask[Math.min(own, swapped) * b + Math.max(own, swapped)] = 1;
  }
  return bradleyTerryLoss({
    scores: video.slice([0, TEXT], [b, 1]) as tf.Tensor2D,
    labels: tf.tensor2d(order, [b, 1]),
    mask: tf.tensor2d(mask, [b, b]),
  }, { scale });
}

/** `[B, B]`: 1 where items `i < j` share a prompt (`batch.groups`) and neither is `skip`ped, else 0. */
function pairMask(batch: RewardBatch, skip: readonly boolean[] = []): tf.Tensor2D {
  const b = batch.x.shape[0];
  const g = batch.groups ?? [];
  const mask = new Float32Array(b * b);
  for (let i = 0; i < b; i++) {
    if (skip[i]) continue;
    for (let j = i + 1; j < b; j++) {
      if (g[i] >= 0 && g[i] === g[j] && !skip[j]) mask[i * b + j] = 1;
    }
  }
  return tf.tensor2d(mask, [b, b]);
}

/** Identity whose gradient is zero (tfjs has no stop-gradient op). */
const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  // deno-lint-ignore no-explicit-any
  (x: any) => ({ value: (x as tf.Tensor).clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }),
) as unknown as (x: tf.Tensor) => tf.Tensor;
