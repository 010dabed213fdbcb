/**
 * The reward model's prompt as word tokens: the kit's prompt encoder (the parameters
 * `initPromptEncoder` made under a prefix) run to its per-token outputs, for
 * `RewardConfig.promptInput: "tokens"`. Internal.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { linear, type Params } from "../tensor/nn.ts";
import { encodeWordStates, withNullPrompt } from "../generator/_prompt_encoder.ts";

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
    let words = linear(params, `${prefix}.proj`, encodeWordStates(params, prefix, tokens, options));
    let pooled = words.mean(1);
    if (options.keep) {
      pooled = withNullPrompt(params, prefix, pooled, options.keep);
      words = withNullPrompt(params, prefix, words, options.keep);
    }
    return { pooled, words } as unknown as tf.TensorContainer;
  }) as unknown as { pooled: tf.Tensor2D; words: tf.Tensor3D };
}
