/**
 * Stable targets for the x0 head (Xu, Tong & Jaakkola, "Stable Target Field for Reduced
 * Variance Score Estimation in Diffusion Models", ICLR 2023), internal to the training step.
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/**
 * The x0 target of each row under the stable target field: instead of the row's own clean
 * clip, the posterior-weighted mean of its clip and K other clean clips of the same prompt,
 * with weights softmax_k(−‖x_t − √ᾱ·x0_k‖² / (2(1 − ᾱ))) (log-sum-exp inside the softmax).
 * At low noise the weights fall on the row's own clip (the plain target); at high noise
 * they spread over all K + 1, so the target tends to the prompt's mean clip, whose
 * variance is K + 1 times smaller than one clip's. Rows with `keep` 0 (prompt dropped for
 * CFG) keep their own clip: the references are of their prompt, not of the null prompt.
 *
 * `x0` `[B, ...]`, `refs` `[B, K, ...]`, `xt` `[B, ...]`, `alphaBar` and `keep` `[B]`.
 * No gradient flows through it (every input is data). Call inside `tf.tidy`.
 */
export function stableTarget(
  x0: tf.Tensor,
  refs: tf.Tensor,
  inputs: { xt: tf.Tensor; alphaBar: tf.Tensor1D; keep: tf.Tensor1D },
): tf.Tensor {
  const b = x0.shape[0];
  const k = refs.shape[1]!;
  const all = tf.concat([x0.expandDims(1), refs], 1).reshape([b, k + 1, -1]); // [B, K+1, D]
  const a = inputs.alphaBar.reshape([b, 1, 1]);
  const dist = inputs.xt.reshape([b, 1, -1]).sub(all.mul(a.sqrt())).square().sum(2); // [B, K+1]
  const logits = dist.div(tf.sub(1, a.reshape([b, 1])).mul(-2));
  // dropped rows: logits [0, −1e9, …], all weight on their own clip
  const ownOnly = tf.oneHot(tf.zeros([b], "int32"), k + 1).sub(1).mul(1e9);
  const keep = inputs.keep.reshape([b, 1]);
  const masked = logits.mul(keep).add(ownOnly.mul(tf.sub(1, keep)));
  const w = tf.softmax(masked, 1); // softmax subtracts the row max: log-sum-exp safe
  return w.expandDims(1).matMul(all).reshape(x0.shape);
}
