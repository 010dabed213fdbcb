/**
 * The pairwise (Bradley–Terry) loss of the reward models' video head on same-prompt pairs,
 * trained beside the score regression when `pairLoss: "bradley-terry"` (`train.ts`).
 *
 * For clips `i`, `j` of one prompt in a batch and an aspect `a` whose labels differ,
 * `y = sign(label_i,a − label_j,a)` and
 *
 * ```
 * L_BT = mean_{i,j,a: same prompt, labels differ} −log σ(s · y · (v̂_i,a − v̂_j,a))
 * ```
 *
 * with `s` the scale per score point (`pairScale`). `−log σ(x)` is computed as `softplus(−x)`,
 * finite for any finite logit, with the gradient `−σ(−x)`. Our reconstruction: the paper trains
 * its reward models by score regression only; a pairwise term is the issue's candidate for the
 * video direction of same-prompt pairs, which is what Gran-DPO consumes.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkNumber, fail } from "../core/_errors.ts";
import { logSigmoid } from "../tensor/nn.ts";

/** The tensors of {@linkcode bradleyTerryLoss}. */
export interface BradleyTerryInputs {
  /** `[B, aspects]` model scores. */
  scores: tf.Tensor2D;
  /** `[B, aspects]` labels; only their order within a pair is used. */
  labels: tf.Tensor2D;
  /** `[B, B]` 1 where clips `i` and `j` form a pair (each pair once, e.g. `i < j`), else 0. */
  mask: tf.Tensor2D;
  /** `[B, aspects]` weight of each item's aspects; a pair's weight is their product. Default: all 1. */
  weights?: tf.Tensor2D;
}

/** Options for {@linkcode bradleyTerryLoss}. */
export interface BradleyTerryOptions {
  /** Logit per score point of the score difference. Default 2. */
  scale?: number;
}

/**
 * The mean Bradley–Terry loss over the masked pairs and the aspects whose labels differ (0 when
 * there is none). Differentiable; call inside `tf.tidy` or a gradient function.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { bradleyTerryLoss } from "@halo/kit/reward";
 * const scores = tf.tensor2d([[3.5], [1.5]]), labels = tf.tensor2d([[4], [1]]);
 * const mask = tf.tensor2d([[0, 1], [0, 0]]);
 * const loss = bradleyTerryLoss({ scores, labels, mask }, { scale: 2 });
 * console.log(loss.dataSync()[0].toFixed(4)); // 0.0181 = softplus(−4)
 * tf.dispose([scores, labels, mask, loss]);
 * ```
 */
export function bradleyTerryLoss(
  inputs: BradleyTerryInputs,
  options: BradleyTerryOptions = {},
): tf.Scalar {
  const where = "bradleyTerryLoss";
  const { scores, labels, mask, weights } = inputs ?? {};
  if (!(scores instanceof tf.Tensor) || scores.rank !== 2) {
    fail(where, "scores of shape [B, aspects]", scores?.shape ?? scores);
  }
  const [b, na] = scores.shape;
  if (!(labels instanceof tf.Tensor) || labels.shape[0] !== b || labels.shape[1] !== na) {
    fail(where, `labels of shape [${b}, ${na}]`, labels?.shape ?? labels);
  }
  if (!(mask instanceof tf.Tensor) || mask.shape[0] !== b || mask.shape[1] !== b) {
    fail(where, `mask of shape [${b}, ${b}]`, mask?.shape ?? mask);
  }
  if (
    weights !== undefined &&
    !(weights instanceof tf.Tensor && weights.shape[0] === b && weights.shape[1] === na)
  ) {
    fail(where, `weights of shape [${b}, ${na}]`, (weights as tf.Tensor | null)?.shape ?? weights);
  }
  const scale = checkNumber(where, "scale", options.scale ?? 2, 0);
  if (!(scale > 0)) fail(where, "scale > 0", scale);
  return tf.tidy(() => {
    const diff = scores.expandDims(1).sub(scores.expandDims(0)); // [B, B, A]: v̂_i − v̂_j
    const direction = tf.sign(labels.expandDims(1).sub(labels.expandDims(0)));
    let weight = direction.abs().mul(mask.toFloat().expandDims(2));
    if (weights) weight = weight.mul(weights.expandDims(1).mul(weights.expandDims(0)));
    const nll = logSigmoid(diff.mul(direction).mul(scale)).neg();
    return nll.mul(weight).sum().div(tf.maximum(weight.sum(), 1)) as tf.Scalar;
  });
}
