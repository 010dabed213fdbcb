/**
 * Prompt encoding for ShapesWorld: a tokenizer over the grammar's fixed
 * vocabulary (unknown words are rejected with an error that names them) and a
 * learned embedding + small transformer encoder that turns a prompt into one
 * conditioning vector. Shared by the generator and the reward models.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import {
  addParam,
  initLayerNorm,
  initLinear,
  initTransformerBlock,
  linear,
  type Params,
} from "../tensor/nn.ts";
import { encodeWordStates, withNullPrompt } from "./_prompt_encoder.ts";
import { GRAMMAR_WORDS, parsePrompt, type ShapesPrompt } from "../videos/world.ts";

/** Token id 0 pads; ids 1.. are the grammar words in {@linkcode GRAMMAR_WORDS} order. */
export const VOCAB: readonly string[] = Object.freeze(["<pad>", ...GRAMMAR_WORDS]);

/** Tokens per prompt: every grammar sentence has exactly 10 words. */
export const PROMPT_LENGTH = 10;

/**
 * Tokenizes a prompt of the grammar to {@linkcode PROMPT_LENGTH} ids. The text
 * is parsed first, so an unknown or misplaced word throws an error that names it.
 *
 * @example
 * ```ts
 * import { tokenizePrompt, VOCAB } from "@halo/kit/generator";
 * import assert from "node:assert/strict";
 * const ids = tokenizePrompt("one red circle moving up slowly on a black background");
 * assert.equal(VOCAB[ids[1]], "red");
 * assert.throws(() => tokenizePrompt("one teal circle moving up slowly on a black background"), /teal/);
 * ```
 */
export function tokenizePrompt(prompt: string | ShapesPrompt): Int32Array {
  const text = typeof prompt === "string" ? prompt : prompt?.text;
  if (typeof text !== "string") fail("tokenizePrompt", "prompt text or a ShapesPrompt", prompt);
  const canonical = parsePrompt(text).text;
  const ids = new Int32Array(PROMPT_LENGTH);
  canonical.split(" ").forEach((word, i) => (ids[i] = VOCAB.indexOf(word)));
  return ids;
}

/** Inverse of {@linkcode tokenizePrompt} (padding dropped). */
export function detokenizePrompt(ids: ArrayLike<number>): string {
  const words: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB.length) {
      fail("detokenizePrompt", `token ids in [0, ${VOCAB.length})`, id);
    }
    if (id !== 0) words.push(VOCAB[id]);
  }
  return words.join(" ");
}

/**
 * Tokenizes a batch of prompts into an int32 tensor `[B, PROMPT_LENGTH]` (the caller disposes it).
 *
 * @example
 * ```ts
 * import { tokenizeBatch } from "@halo/kit/generator";
 * const t = tokenizeBatch(["two red circles moving left quickly on a gray background"]);
 * console.log(t.shape); // [1, 10]
 * t.dispose();
 * ```
 */
export function tokenizeBatch(prompts: ReadonlyArray<string | ShapesPrompt>): tf.Tensor2D {
  if (!Array.isArray(prompts) || prompts.length === 0) {
    fail("tokenizeBatch", "a non-empty array of prompts", prompts);
  }
  const ids = new Int32Array(prompts.length * PROMPT_LENGTH);
  prompts.forEach((p, i) => ids.set(tokenizePrompt(p), i * PROMPT_LENGTH));
  return tf.tensor2d(ids, [prompts.length, PROMPT_LENGTH], "int32");
}

/** Shape of a prompt encoder. */
export interface PromptEncoderConfig {
  /** Width of the embeddings and of the output vector. */
  dim: number;
  /** Transformer blocks over the tokens. */
  layers: number;
  /** Attention heads. */
  heads: number;
}

/**
 * Adds a prompt encoder's parameters under `prefix`: token and position
 * embeddings, `layers` transformer blocks, a final norm and projection, and a
 * learned "null prompt" vector for classifier-free guidance.
 */
export function initPromptEncoder(
  params: Params,
  prefix: string,
  config: PromptEncoderConfig & { seed?: number },
): void {
  const where = "initPromptEncoder";
  const dim = checkInt(where, "dim", config.dim);
  const layers = checkInt(where, "layers", config.layers, 0, 16);
  const rng = createRng(config.seed ?? 0);
  addParam(params, `${prefix}.embed`, [VOCAB.length, dim], { init: "normal", std: 0.5, seed: rng });
  addParam(params, `${prefix}.pos`, [PROMPT_LENGTH, dim], { init: "normal", std: 0.1, seed: rng });
  for (let i = 0; i < layers; i++) {
    initTransformerBlock(params, `${prefix}.block${i}`, { dim, hidden: 2 * dim, seed: rng });
  }
  initLayerNorm(params, `${prefix}.ln`, dim);
  initLinear(params, `${prefix}.proj`, { in: dim, out: dim }, { seed: rng });
  addParam(params, `${prefix}.null`, [dim], { init: "normal", std: 0.5, seed: rng });
}

/**
 * Encodes token ids `[B, L]` to one vector per prompt `[B, dim]` (mean over
 * the encoded tokens). `keep` `[B]` (1 keep, 0 drop) swaps dropped rows for the
 * learned null prompt: prompt dropout in training, the unconditional branch of
 * classifier-free guidance in sampling.
 */
export function encodePrompt(
  params: Params,
  prefix: string,
  tokens: tf.Tensor2D,
  options: { layers: number; heads: number; keep?: tf.Tensor1D },
): tf.Tensor2D {
  return tf.tidy(() => {
    const v = linear(
      params,
      `${prefix}.proj`,
      encodeWordStates(params, prefix, tokens, options).mean(1),
    );
    return (options.keep ? withNullPrompt(params, prefix, v, options.keep) : v) as tf.Tensor2D;
  });
}
