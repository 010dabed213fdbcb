/**
 * The reward model's prompt as word tokens: the kit's prompt encoder (the parameters
 * `initPromptEncoder` made under a prefix) run to its per-token outputs, for
 * `RewardConfig.promptInput: "tokens"`. Internal.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { getParam, layerNorm, linear, type Params, transformerBlock } from "../tensor/nn.ts";

/**
 * Encodes token ids `[B, L]` into one vector per word `[B, L, dim]` and the pooled vector
 * `[B, dim]`. The pooled vector is the mean of the word vectors, which equals
 * `encodePrompt`'s output (its projection is affine, so it commutes with the mean). `keep`
 * `[B]` (1 keep, 0 drop) puts the learned null prompt in place of the pooled vector and of
 * every word of a dropped row.
 */
export function encodePromptTokens(
  params: Params,
  prefix: string,
  tokens: tf.Tensor2D,
  options: { layers: number; heads: number; keep?: tf.Tensor1D },
): { pooled: tf.Tensor2D; words: tf.Tensor3D } {
  return tf.tidy(() => {
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
    let words = linear(
      params,
      `${prefix}.proj`,
      layerNorm(x, params, `${prefix}.ln`),
    ) as tf.Tensor3D;
    let pooled = words.mean(1) as tf.Tensor2D;
    if (options.keep) {
      const keep = options.keep.reshape([b, 1]).toFloat();
      const nul = getParam(params, `${prefix}.null`).reshape([1, dim]);
      pooled = pooled.mul(keep).add(nul.mul(tf.sub(1, keep))) as tf.Tensor2D;
      words = words.mul(keep.reshape([b, 1, 1])).add(
        nul.reshape([1, 1, dim]).mul(tf.sub(1, keep).reshape([b, 1, 1])),
      ) as tf.Tensor3D;
    }
    return { pooled, words } as unknown as tf.TensorContainer;
  }) as unknown as { pooled: tf.Tensor2D; words: tf.Tensor3D };
}
