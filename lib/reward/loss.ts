/**
 * The loss options of the reward-model trainer ({@linkcode RewardLossWeights}): the weights of
 * stage 2's terms and the pairwise loss variant, with their defaults in one place
 * ({@linkcode REWARD_LOSS_DEFAULTS}) and their validation ({@linkcode resolveRewardLoss}). The
 * loss itself is `rewardLoss` in `train.ts`, which re-exports these.
 * @module
 */

import { checkNumber, fail } from "../core/_errors.ts";

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
   * Our reconstruction, like the contrast. Default 1 (every pair).
   */
  swapGate?: number;
}

/** The defaults of {@linkcode RewardLossWeights}. */
export const REWARD_LOSS_DEFAULTS: Readonly<Required<RewardLossWeights>> = Object.freeze({
  videoWeight: 0.5,
  consistencyWeight: 0.2,
  pairLoss: "none",
  pairWeight: 0.5,
  pairScale: 2,
  swapWeight: 0,
  swapGate: 1,
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
    pairScale,
    swapWeight: checkNumber(where, "swapWeight", options.swapWeight ?? d.swapWeight, 0),
    swapGate: checkNumber(where, "swapGate", options.swapGate ?? d.swapGate, 1, 4),
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
  const { videoWeight, consistencyWeight, pairLoss, pairWeight, pairScale, swapWeight, swapGate } =
    options;
  return { videoWeight, consistencyWeight, pairLoss, pairWeight, pairScale, swapWeight, swapGate };
}
