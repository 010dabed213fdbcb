/**
 * The forward diffusion process of the generator and its training data: the noise schedule
 * (ᾱ), noising clean clips, deterministic ε draws, and training batches rendered from
 * ShapesWorld prompts. The model that learns to reverse it is in `model.ts`, its training step
 * in `train_step.ts`.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import type { Rng } from "../core/_rng.ts";
import { renderClip, type ShapesPrompt } from "../videos/world.ts";
import { tokenizeBatch } from "./prompt.ts";

/**
 * The settings of a generator's config (`GeneratorConfig`, `model.ts`) that the forward process
 * and its training batches read; any generator config is one.
 */
export interface DiffusionConfig {
  /** Frames per clip. */
  frames: number;
  /** Frame height and width in pixels. */
  size: number;
  /** Diffusion steps T. */
  timesteps: number;
  /** Noise schedule of ᾱ. */
  schedule: "cosine" | "linear";
  /** Every SNR of the schedule divided by shift² (default 1). */
  scheduleShift?: number;
}

/**
 * ᾱ(t) for t = 0..T-1 of a schedule. Cosine is Nichol & Dhariwal's (s = 0.008,
 * ᾱ clipped to keep the last step finite); linear is DDPM's β from 1e-4 to 0.02. `shift`
 * (`GeneratorConfig.scheduleShift`, default 1) divides every SNR by shift².
 *
 * @example
 * ```ts
 * import { alphaBars } from "@halo/kit/generator";
 * const ab = alphaBars(1000, "cosine");
 * console.log(ab[0] > 0.99, ab[999] < 0.01);
 * ```
 */
export function alphaBars(
  timesteps: number,
  schedule: "cosine" | "linear",
  shift = 1,
): Float64Array {
  checkInt("alphaBars", "timesteps", timesteps, 2);
  checkNumber("alphaBars", "shift", shift, 0.01, 100);
  const out = new Float64Array(timesteps);
  if (schedule === "linear") {
    let prod = 1;
    for (let i = 0; i < timesteps; i++) {
      prod *= 1 - (1e-4 + (0.02 - 1e-4) * i / (timesteps - 1));
      out[i] = prod;
    }
  } else {
    if (schedule !== "cosine") fail("alphaBars", 'schedule "cosine" or "linear"', schedule);
    const f = (u: number) => Math.cos(((u + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (let i = 0; i < timesteps; i++) {
      out[i] = Math.min(0.9999, Math.max(1e-4, f((i + 1) / timesteps) / f(0)));
    }
  }
  if (shift !== 1) {
    for (let i = 0; i < timesteps; i++) out[i] = out[i] / (out[i] + shift * shift * (1 - out[i]));
  }
  return out;
}

/** Scales video pixels from [0, 1] to the model's [-1, 1]. */
export function toModelSpace(frames: tf.Tensor): tf.Tensor {
  return tf.tidy(() => frames.mul(2).sub(1));
}

/** A training batch: clean clips in model space `[B, T, H, W, 3]` and their prompt tokens `[B, L]`. */
export interface DiffusionBatch {
  /** Clean videos, pixels in [-1, 1]. */
  x0: tf.Tensor;
  /** Prompt token ids. */
  tokens: tf.Tensor2D;
  /**
   * Optional `[B, K, T, H, W, 3]`: K more clean clips of each row's prompt (other object
   * positions), the reference set of the x0 head's stable targets (`makeBatch`'s `refs`).
   */
  refs?: tf.Tensor;
}

/** Noises clean clips: x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε. */
export function addNoise(
  config: DiffusionConfig,
  x0: tf.Tensor,
  t: tf.Tensor1D,
  noise: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => {
    const a = alphaBarAt(config, t);
    const shape = [-1, 1, 1, 1, 1];
    return x0.mul(a.sqrt().reshape(shape)).add(noise.mul(tf.sub(1, a).sqrt().reshape(shape)));
  });
}

const alphaBarCache = new Map<string, tf.Tensor1D>();

/**
 * ᾱ at the steps `t` of `config`'s schedule (the table is built once per schedule and backend and
 * kept), as a `[B]` tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { DEFAULT_GENERATOR_CONFIG } from "@halo/kit";
 * import { alphaBarAt } from "@halo/kit/generator";
 * const t = tf.tensor1d([0, 999], "int32");
 * const ab = alphaBarAt(DEFAULT_GENERATOR_CONFIG, t);
 * const [first, last] = ab.dataSync();
 * console.log(first > 0.99, last < 0.01); // true true
 * tf.dispose([t, ab]);
 * ```
 */
export function alphaBarAt(config: DiffusionConfig, t: tf.Tensor1D): tf.Tensor1D {
  const key = `${config.schedule}:${config.timesteps}:${
    config.scheduleShift ?? 1
  }:${tf.getBackend()}`;
  let table = alphaBarCache.get(key);
  if (!table || table.isDisposed) {
    table = tf.keep(
      tf.tensor1d(
        Float32Array.from(alphaBars(config.timesteps, config.schedule, config.scheduleShift)),
      ),
    );
    alphaBarCache.set(key, table);
  }
  return tf.tidy(() => tf.gather(table, t.toInt()));
}

/** `n` standard normal draws from `rng` (deterministic on every backend, unlike tf.randomNormal). */
export function normalArray(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rng.next();
    const v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Options for {@linkcode makeBatch}. */
export interface MakeBatchOptions {
  /** Seed of object positions, one per prompt or a base seed (default: index). */
  seeds?: readonly number[];
  /**
   * Also render this many other clips of each prompt (seeds derived from the row's) as the
   * batch's `refs`, for the x0 head's stable targets (`pretrain --stable-targets`). Default 0.
   */
  refs?: number;
}

/** Renders prompts to a training batch (`x0` in [-1, 1] and tokens). The caller disposes it. */
export function makeBatch(
  config: DiffusionConfig,
  prompts: readonly ShapesPrompt[],
  options: MakeBatchOptions = {},
): DiffusionBatch {
  const n = config.frames * config.size * config.size * 3;
  const k = checkInt("makeBatch", "refs", options.refs ?? 0, 0, 1024);
  const data = new Float32Array(prompts.length * n);
  const refs = new Float32Array(prompts.length * k * n);
  const render = (p: ShapesPrompt, seed: number, out: Float32Array, at: number) => {
    const { video } = renderClip(p, { frames: config.frames, size: config.size, seed });
    for (let j = 0; j < n; j++) out[at + j] = video.frames[j] * 2 - 1;
  };
  const shape = [config.frames, config.size, config.size, 3];
  prompts.forEach((p, i) => {
    const seed = options.seeds?.[i] ?? i;
    render(p, seed, data, i * n);
    for (let r = 0; r < k; r++) {
      render(p, (seed * 0x9e3779b1 + (r + 1) * 0x85ebca6b) >>> 0, refs, (i * k + r) * n);
    }
  });
  return {
    x0: tf.tensor(data, [prompts.length, ...shape]),
    tokens: tokenizeBatch(prompts),
    ...(k ? { refs: tf.tensor(refs, [prompts.length, k, ...shape]) } : {}),
  };
}
