/**
 * Internal: the shape word of a tokenized prompt, dropped in training (`pretrain
 * --shape-word-dropout`) so the model also learns prompts that leave the shape open, and in the
 * sampler's shape guidance (`SampleOptions.shapeGuidance`), which pushes a sample away from what
 * the rest of the prompt alone would draw.
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** Position of the shape word in a tokenized prompt: the grammar's third word ("one red *circle* …"). */
export const SHAPE_WORD = 2;

/**
 * `tokens` `[B, L]` with the shape word set to padding (id 0) in the rows where `rows` is true
 * (in every row without `rows`). The caller disposes the result.
 */
export function withoutShapeWord(tokens: tf.Tensor2D, rows?: readonly boolean[]): tf.Tensor2D {
  const [b, l] = tokens.shape;
  const mask = new Int32Array(b * l).fill(1);
  for (let i = 0; i < b; i++) if (!rows || rows[i]) mask[i * l + SHAPE_WORD] = 0;
  return tf.tidy(() => tokens.mul(tf.tensor2d(mask, [b, l], "int32")) as tf.Tensor2D);
}
