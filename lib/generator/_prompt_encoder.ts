/**
 * The prompt encoder's shared body, internal: the per-word hidden states that
 * `encodePrompt` pools and the reward models' word-token input reads, and the
 * mix that puts the learned null prompt in place of dropped rows.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { getParam, layerNorm, type Params, transformerBlock } from "../tensor/nn.ts";

/**
 * Token ids `[B, L]` → the final-norm hidden state of each word `[B, L, dim]`
 * (embeddings + positions, `layers` transformer blocks, layer norm; before the
 * output projection). Call inside `tf.tidy`.
 */
export function encodeWordStates(
  params: Params,
  prefix: string,
  tokens: tf.Tensor2D,
  options: { layers: number; heads: number },
): tf.Tensor3D {
  const [b, l] = tokens.shape;
  const embed = getParam(params, `${prefix}.embed`);
  const dim = embed.shape[1] as number;
  // one-hot matmul rather than gather: gather's gradient has no wasm kernel
  const oneHot = tf.oneHot(tokens.reshape([-1]).toInt(), embed.shape[0] as number);
  let x = tf.matMul(oneHot, embed).reshape([b, l, dim])
    .add(getParam(params, `${prefix}.pos`).slice([0, 0], [l, dim])) as tf.Tensor3D;
  for (let i = 0; i < options.layers; i++) {
    x = transformerBlock(params, `${prefix}.block${i}`, x, { heads: options.heads });
  }
  return layerNorm(x, params, `${prefix}.ln`) as tf.Tensor3D;
}

/**
 * `v` `[B, ..., dim]` with the rows whose `keep` `[B]` is 0 replaced by the
 * learned null prompt (every position of the row). Call inside `tf.tidy`.
 */
export function withNullPrompt<T extends tf.Tensor>(
  params: Params,
  prefix: string,
  v: T,
  keep: tf.Tensor1D,
): T {
  const ones = v.shape.slice(1, -1).map(() => 1);
  const k = keep.reshape([v.shape[0], ...ones, 1]).toFloat();
  const nul = getParam(params, `${prefix}.null`).reshape([1, ...ones, v.shape.at(-1)!]);
  return v.mul(k).add(nul.mul(tf.sub(1, k))) as T;
}
