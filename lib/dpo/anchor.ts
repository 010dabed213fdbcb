/**
 * An anchoring term toward the reference on the winners, added to every DPO
 * loss of `loss.ts` when asked for (`anchor`, `anchorWeight`; off by default,
 * so the losses without it are unchanged to the last bit). A guard against the
 * preference loss drifting the policy away from what it could already do —
 * the drift README's "How the settings were chosen" describes at small β.
 *
 * Both variants are our reconstruction; the HALO paper has no anchor. With
 * e_θ,k(x_w) and e_ref,k(x_w) the policy's and the reference's (weighted)
 * denoising error on patch k of the chosen clip, at the pair's t and ε:
 *
 * - **"sft"**: L_anchor = mean over (pair, patch) of e_θ,k(x_w), the plain
 *   denoising loss on the winner. This is the SFT / negative-log-likelihood
 *   term of DPO+SFT and RPO (Pang et al. 2024, "Iterative Reasoning Preference
 *   Optimization"; Liu et al. 2024, "Provably Mitigating Overoptimization in
 *   RLHF"): for a diffusion model the denoising error is the ELBO's stand-in
 *   for −log p(x_w). It keeps the winner's likelihood from falling while the
 *   DPO term only widens the gap to the loser.
 * - **"kl"**: L_anchor = mean over (pair, patch) of (√e_θ,k(x_w) − √e_ref,k(x_w))²,
 *   which is zero at the reference and grows with the drift on the winner.
 *   Why this form: the KL divergence between the policy's and the reference's
 *   Gaussian reverse steps p(x_{t−1} | x_t) is, up to a weight of t, the
 *   squared gap ‖x̂0_θ − x̂0_ref‖² between their clean estimates (Ho et al.
 *   2020; the same step Wallace et al. 2023 take to reach Diffusion-DPO). The
 *   losses only see errors, not the estimates, but by the reverse triangle
 *   inequality |‖x̂0_θ − x0‖ − ‖x̂0_ref − x0‖| ≤ ‖x̂0_θ − x0 − (x̂0_ref − x0)‖, so
 *   (√e_θ,k − √e_ref,k)² is a lower bound of patch k's (equally weighted) mean
 *   squared gap, that is of the step's KL on that patch: a divergence proxy that
 *   the error maps already give. The plain difference e_θ − e_ref is not one
 *   (it is negative wherever the policy got better), and its square has the
 *   units of an error squared, so its weight would depend on the error's size.
 * - **"dpop"**: L_anchor = mean over (pair, patch) of max(0, e_θ,k(x_w) − e_ref,k(x_w)),
 *   zero wherever the policy denoises the winner's patch at least as well as the
 *   reference and rising linearly where it does worse. After DPO-Positive (Pal et
 *   al. 2024, "Smaug: Fixing Failure Modes of Preference Optimisation with
 *   DPO-Positive"), which shows that DPO lowers the preferred answer's likelihood
 *   when the two answers of a pair differ in a few tokens — as candidates drawn
 *   from the same noise differ in a few patches — and adds λ · max(0, log π_ref(y_w)
 *   − log π_θ(y_w)). Two departures, both ours: the penalty is added to the loss
 *   like the other anchors rather than inside the sigmoid (so it works with every
 *   loss type, IPO included), and it is taken per patch rather than per clip, so a
 *   small object's few patches cannot be erased while the clip's mean holds. Unlike
 *   "kl", whose square is flat near the reference, its pull is first order: w from
 *   the first step the winner's patch gets worse.
 *
 * L = L_DPO + anchorWeight · L_anchor, in each method (Diffusion-DPO, patch-only,
 * Gran-DPO), reported as the metric `loss/anchor` (unweighted). The default
 * weight is a guess, not a measurement: at the start the DPO term pulls the
 * chosen clip's mean error with β/2 · σ(0) = 1250 (β = 5000), so 1000 makes
 * the "sft" anchor's pull of the same order, and the DPO pull fades as its
 * loss saturates while the anchor's stays.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkNumber, fail } from "../core/_errors.ts";

/**
 * Which anchoring term a DPO loss adds: none, the winner's SFT term, a KL proxy on the winner,
 * or DPO-Positive's hinge on the winner's patches.
 */
export type DpoAnchor = "none" | "sft" | "kl" | "dpop";

/** Every anchor, for validation and command lines. */
export const DPO_ANCHORS: readonly DpoAnchor[] = Object.freeze(["none", "sft", "kl", "dpop"]);

/** The anchor weight used when an anchor is asked for without one (a guess: module doc). */
export const DEFAULT_ANCHOR_WEIGHT = 1000;

/**
 * Checks an anchor and its weight (`where` names the caller in the error):
 * the anchor one of {@linkcode DPO_ANCHORS}, the weight a finite number ≥ 0.
 *
 * @example
 * ```ts
 * import { checkDpoAnchor } from "@halo/kit/dpo";
 * console.log(checkDpoAnchor("mine", { anchor: "sft", anchorWeight: 10 })); // { anchor: "sft", anchorWeight: 10 }
 * ```
 */
export function checkDpoAnchor(
  where: string,
  options: { anchor?: DpoAnchor; anchorWeight?: number },
): { anchor: DpoAnchor; anchorWeight: number } {
  const anchor = options.anchor ?? "none";
  if (!DPO_ANCHORS.includes(anchor)) {
    fail(where, `anchor among ${DPO_ANCHORS.join(", ")}`, anchor);
  }
  const anchorWeight = checkNumber(
    where,
    "anchorWeight",
    options.anchorWeight ?? DEFAULT_ANCHOR_WEIGHT,
    0,
  );
  return { anchor, anchorWeight };
}

/**
 * The unweighted anchoring term of the module doc, a scalar, from the policy's
 * and the reference's error maps `[B, P]` on the chosen clips (differentiable
 * through the policy's). Call it inside `tf.tidy` or dispose the result; for
 * `"none"` it is 0.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { type DpoAnchor, dpoAnchorLoss } from "@halo/kit/dpo";
 * const policyChosen = tf.tensor2d([[0.09, 0.16]]), referenceChosen = tf.tensor2d([[0.04, 0.16]]);
 * const [sft, kl, dpop] = tf.tidy(() => ["sft", "kl", "dpop"].map((anchor) =>
 *   dpoAnchorLoss({ policyChosen, referenceChosen }, anchor as DpoAnchor).dataSync()[0]));
 * // mean of 0.09 and 0.16; of (0.3 − 0.2)² and (0.4 − 0.4)²; of max(0, 0.09 − 0.04) and 0
 * console.log(sft.toFixed(3), kl.toFixed(3), dpop.toFixed(3)); // "0.125" "0.005" "0.025"
 * tf.dispose([policyChosen, referenceChosen]);
 * ```
 */
export function dpoAnchorLoss(
  maps: { policyChosen: tf.Tensor2D; referenceChosen: tf.Tensor2D },
  anchor: DpoAnchor,
): tf.Scalar {
  if (!DPO_ANCHORS.includes(anchor)) {
    fail("dpoAnchorLoss", `anchor among ${DPO_ANCHORS.join(", ")}`, anchor);
  }
  return tf.tidy(() => {
    if (anchor === "none") return tf.scalar(0);
    if (anchor === "sft") return maps.policyChosen.mean() as tf.Scalar;
    if (anchor === "dpop") {
      return maps.policyChosen.sub(maps.referenceChosen).relu().mean() as tf.Scalar;
    }
    // 1e-12 keeps √'s gradient finite at an error of exactly 0; it is below float32's
    // resolution at any real error, so it changes no value.
    const root = (e: tf.Tensor) => e.add(1e-12).sqrt();
    return root(maps.policyChosen).sub(root(maps.referenceChosen)).square().mean() as tf.Scalar;
  });
}
