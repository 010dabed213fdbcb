/**
 * Per-patch diffusion errors: how well a generator denoises each patch of a
 * clip at a timestep, the quantity Diffusion-DPO and Gran-DPO compare between
 * a policy and its frozen reference (DESIGN §2).
 *
 * **The error and its per-timestep weighting.** A DPO loss on diffusion models
 * compares denoising errors; which error is a choice the paper does not make
 * for us. Our generator predicts x0, and its ε-error is its x0-error times the
 * signal-to-noise ratio SNR(t) = ᾱ/(1−ᾱ) — up to 10⁴ near t = 0, under 10⁻³
 * near t = T — so an ε-error DPO is decided almost entirely by the few
 * lowest-noise steps, where the clips of a pair differ least. Three weightings
 * `w(t)` of the squared x0-error are offered:
 *
 * - `"x0"`: w = 1, the plain x0-error (the loss the shipped generator was
 *   pretrained with; every noise level counts alike);
 * - `"eps"`: w = SNR(t), exactly the ε-error of Wallace et al.'s ε-models;
 * - `"min-snr"`: w = min(SNR(t), γ), Min-SNR-γ (Hang et al. 2023): the ε-error
 *   clipped where SNR > γ, so low noise cannot dominate.
 *
 * `DEFAULT_WEIGHTING` is `"min-snr"` (γ = 5), chosen on validation prompts
 * (README, "How the settings were chosen"): with the same pairs, seed and
 * steps, Gran-DPO on the plain x0-error lost the prompt's colour (objects turned
 * into dim grey smudges the PRM does not penalise; judge colour accuracy
 * 0.76 → 0.57) while min-SNR kept it (0.69) and cut defective patches from
 * 0.47 to 0.34; the ε-error did about as well as min-SNR (0.36 defective,
 * colour kept). The x0-error puts as much weight on the high-noise steps, where
 * the network decides the global colour and layout, as on the low-noise ones,
 * where the local defects are; min-SNR and ε move the preference to the latter.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkNumber, fail } from "../core/_errors.ts";
import { type Generator, type GeneratorConfig, predictNoiseAndClean } from "../generator/model.ts";
import { addNoise, alphaBars, type DiffusionBatch } from "../generator/diffusion.ts";
import {
  checkGrid,
  DEFAULT_GRID,
  numPatches,
  type PatchGrid,
  reducePatches,
} from "../videos/patch.ts";

/** How a timestep's squared x0-error is weighted (see the module doc). */
export type ErrorWeighting = "x0" | "eps" | "min-snr";

/** The weightings, for validation and command lines. */
export const ERROR_WEIGHTINGS: readonly ErrorWeighting[] = Object.freeze(["x0", "eps", "min-snr"]);

/** The default weighting of the DPO errors. */
export const DEFAULT_WEIGHTING: ErrorWeighting = "min-snr";

/** The default γ of `"min-snr"`. */
export const DEFAULT_MIN_SNR_GAMMA = 5;

/** Options of the error weighting. */
export interface ErrorWeightingOptions {
  /** Weighting of the squared x0-error. Default {@linkcode DEFAULT_WEIGHTING}. */
  weighting?: ErrorWeighting;
  /** γ of `"min-snr"`. Default {@linkcode DEFAULT_MIN_SNR_GAMMA}. */
  gamma?: number;
}

/**
 * The weight w(t) of the squared x0-error at each timestep in `t`.
 *
 * @example
 * ```ts
 * import { DEFAULT_GENERATOR_CONFIG } from "@halo/kit";
 * import { errorWeights } from "@halo/kit/dpo";
 * const w = errorWeights(DEFAULT_GENERATOR_CONFIG, [0, 500, 999], { weighting: "min-snr", gamma: 5 });
 * console.log(w[0], w[1] < 5, w[2] < 1e-3); // 5 true true
 * ```
 */
export function errorWeights(
  config: GeneratorConfig,
  t: readonly number[],
  options: ErrorWeightingOptions = {},
): Float32Array {
  const where = "errorWeights";
  const weighting = checkWeighting(where, options.weighting);
  const gamma = checkNumber(where, "gamma", options.gamma ?? DEFAULT_MIN_SNR_GAMMA, 1e-6);
  const ab = alphaBars(config.timesteps, config.schedule, config.scheduleShift);
  return Float32Array.from(t, (step) => {
    if (!Number.isInteger(step) || step < 0 || step >= config.timesteps) {
      fail(where, `timesteps in [0, ${config.timesteps})`, step);
    }
    const snr = ab[step] / (1 - ab[step]);
    return weighting === "x0" ? 1 : weighting === "eps" ? snr : Math.min(snr, gamma);
  });
}

/**
 * Validates a weighting name (undefined → the default).
 *
 * @example
 * ```ts
 * import { checkWeighting } from "@halo/kit/dpo";
 * console.log(checkWeighting("demo", undefined), checkWeighting("demo", "eps")); // "min-snr" "eps"
 * ```
 */
export function checkWeighting(where: string, weighting: unknown): ErrorWeighting {
  const w = weighting ?? DEFAULT_WEIGHTING;
  if (!ERROR_WEIGHTINGS.includes(w as ErrorWeighting)) {
    fail(where, `weighting among ${ERROR_WEIGHTINGS.join(", ")}`, w);
  }
  return w as ErrorWeighting;
}

/** Options for {@linkcode pixelErrors} and {@linkcode patchErrors}. */
export interface DiffusionErrorOptions extends ErrorWeightingOptions {
  /** Integer timesteps, one per clip. */
  t: readonly number[];
  /** Noise ε `[B, T, H, W, 3]`. */
  noise: tf.Tensor;
}

/**
 * The generator's clean estimate x̂0 of `batch` noised at `options.t` with `options.noise`,
 * `[B, T, H, W, 3]` in model space: the x0 head's output, or the estimate implied by ε̂ for an ε
 * head (the x̂0 {@linkcode pixelErrors} scores). `keep` (per clip: 1 the prompt, 0 the null prompt)
 * gives classifier-free guidance's unconditional branch. Differentiable with respect to the
 * generator's weights.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createGenerator, disposeGenerator } from "@halo/kit";
 * import { cleanEstimates } from "@halo/kit/dpo";
 * import { tokenizeBatch } from "@halo/kit/generator";
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2, frames: 4, size: 16, prediction: "x0", tokenGrid: { rows: 4, cols: 4, framesPerPatch: 2 } });
 * const batch = { x0: tf.zeros([1, 4, 16, 16, 3]), tokens: tokenizeBatch(["one red circle moving up slowly on a black background"]) };
 * const x0Hat = cleanEstimates(gen, batch, { t: [500], noise: tf.randomNormal([1, 4, 16, 16, 3], 0, 1, "float32", 1), keep: tf.tensor1d([0]) });
 * console.log(x0Hat.shape); // [1, 4, 16, 16, 3]
 * disposeGenerator(gen);
 * ```
 */
export function cleanEstimates(
  gen: Generator,
  batch: DiffusionBatch,
  options: { t: readonly number[]; noise: tf.Tensor; keep?: tf.Tensor1D },
): tf.Tensor {
  const where = "cleanEstimates";
  const c = gen.config;
  const b = batch.x0.shape[0];
  if (options.t.length !== b) fail(where, `${b} timesteps (one per clip)`, options.t);
  if (options.noise.shape.join() !== batch.x0.shape.join()) {
    fail(
      where,
      `noise of shape [${batch.x0.shape.join(", ")}]`,
      `[${options.noise.shape.join(", ")}]`,
    );
  }
  const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
  return tf.tidy(() => {
    const t = tf.tensor1d(Int32Array.from(options.t), "int32");
    const xt = addNoise(c, batch.x0, t, options.noise);
    const out = predictNoiseAndClean(gen, { xt, t, tokens: batch.tokens }, { keep: options.keep });
    if (c.prediction === "x0") return out.clean;
    const a = tf.tensor1d(Float32Array.from(options.t, (s) => ab[s])).reshape([b, 1, 1, 1, 1]);
    return xt.sub(out.eps.mul(tf.sub(1, a).sqrt())).div(a.sqrt());
  });
}

/**
 * The weighted squared x0-error w(t)·‖x̂0 − x0‖² of clean estimates `x0Hat` (from
 * {@linkcode cleanEstimates} with the same `options.t`) against `x0`, averaged over channels:
 * `[B, T, H, W]`.
 */
export function estimateErrors(
  config: GeneratorConfig,
  estimates: { x0Hat: tf.Tensor; x0: tf.Tensor },
  options: ErrorWeightingOptions & { t: readonly number[] },
): tf.Tensor4D {
  const b = estimates.x0.shape[0];
  const w = errorWeights(config, options.t, options);
  return tf.tidy(() =>
    estimates.x0Hat.sub(estimates.x0).square().mean(-1).mul(tf.tensor1d(w).reshape([b, 1, 1, 1]))
  ) as tf.Tensor4D;
}

/**
 * The weighted squared x0-error w(t)·‖x̂0 − x0‖² of a generator on `batch`,
 * averaged over channels: `[B, T, H, W]`. x̂0 is the x0 head's output, or the
 * estimate implied by ε̂ for an ε head, so `"eps"` is the ε-error on both.
 * Differentiable with respect to the generator's weights.
 */
export function pixelErrors(
  gen: Generator,
  batch: DiffusionBatch,
  options: DiffusionErrorOptions,
): tf.Tensor4D {
  if (options.t.length !== batch.x0.shape[0]) {
    fail("pixelErrors", `${batch.x0.shape[0]} timesteps (one per clip)`, options.t);
  }
  errorWeights(gen.config, options.t, options); // validates before the forward pass
  return tf.tidy(() =>
    estimateErrors(
      gen.config,
      { x0Hat: cleanEstimates(gen, batch, options), x0: batch.x0 },
      options,
    )
  );
}

/**
 * Per-patch means of {@linkcode pixelErrors} on a label grid, flattened in
 * patch-index order (`(segment·rows + row)·cols + col`, as `patchId`): `[B, P]`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createGenerator, disposeGenerator, patchErrors } from "@halo/kit";
 * import { tokenizeBatch } from "@halo/kit/generator";
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2, frames: 4, size: 16, prediction: "x0", tokenGrid: { rows: 4, cols: 4, framesPerPatch: 2 } });
 * const batch = { x0: tf.zeros([1, 4, 16, 16, 3]), tokens: tokenizeBatch(["one red circle moving up slowly on a black background"]) };
 * const e = patchErrors(gen, batch, { t: [500], noise: tf.randomNormal([1, 4, 16, 16, 3], 0, 1, "float32", 1), grid: { rows: 2, cols: 2, framesPerPatch: 2 } });
 * console.log(e.shape); // [1, 8]
 * disposeGenerator(gen);
 * ```
 */
export function patchErrors(
  gen: Generator,
  batch: DiffusionBatch,
  options: DiffusionErrorOptions & { grid?: PatchGrid },
): tf.Tensor2D {
  const c = gen.config;
  const grid = options.grid ?? DEFAULT_GRID;
  checkGrid(grid, { numFrames: c.frames, height: c.size, width: c.size });
  return tf.tidy(() =>
    reducePatches(pixelErrors(gen, batch, options), grid).reshape([
      batch.x0.shape[0],
      numPatches(grid, c.frames),
    ])
  ) as tf.Tensor2D;
}

/** Per-pixel and per-patch diffusion errors of a policy and its frozen reference. */
export interface PatchLossMaps {
  /** Weighted squared error (see {@linkcode pixelErrors}), `[B, T, H, W]`. */
  policyPixels: tf.Tensor4D;
  /** The same for the reference model (no gradient), `[B, T, H, W]`. */
  referencePixels: tf.Tensor4D;
  /** Per-patch means of `policyPixels`, `[B, segments, rows, cols]`. */
  policyPatches: tf.Tensor4D;
  /** Per-patch means of `referencePixels`, `[B, segments, rows, cols]`. */
  referencePatches: tf.Tensor4D;
}

/** Options for {@linkcode patchLossMap}. */
export interface PatchLossMapOptions extends ErrorWeightingOptions {
  /** Integer timesteps `[B]`, shared by policy and reference. */
  t: tf.Tensor1D;
  /** Noise ε `[B, T, H, W, 3]`, shared by policy and reference. */
  noise: tf.Tensor;
  /** The reward/label patch grid the means are taken over. Default 4x4x4. */
  grid?: PatchGrid;
}

/**
 * The weighted per-pixel error and its per-patch means, for a policy and a
 * frozen reference, on the same x_t (same t and ε). Diffusion-DPO uses the
 * video means of `policy − reference`, Gran-DPO the patch means (DESIGN §2).
 * Differentiable with respect to the policy's weights; the reference's weights
 * are variables outside the policy's gradient list, so no gradient flows
 * there. The caller disposes the four tensors (or calls it inside `tf.tidy`).
 * The timesteps are read synchronously: on WebGPU pass them through
 * {@linkcode patchErrors} as numbers instead.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createGenerator, disposeGenerator, patchLossMap } from "@halo/kit";
 * import { freezeGenerator, tokenizeBatch } from "@halo/kit/generator";
 * const policy = createGenerator({ dim: 16, depth: 1, heads: 2, frames: 4, size: 16, tokenGrid: { rows: 4, cols: 4, framesPerPatch: 2 } });
 * const reference = freezeGenerator(policy);
 * const tokens = tokenizeBatch(["one red circle moving up slowly on a black background"]);
 * const x0 = tf.zeros([1, 4, 16, 16, 3]);
 * const maps = patchLossMap(policy, reference, { x0, tokens }, {
 *   t: tf.tensor1d([500], "int32"), noise: tf.randomNormal([1, 4, 16, 16, 3], 0, 1, "float32", 1),
 *   grid: { rows: 2, cols: 2, framesPerPatch: 2 },
 * });
 * console.log(maps.policyPatches.shape); // [1, 2, 2, 2]
 * disposeGenerator(policy);
 * disposeGenerator(reference);
 * ```
 */
export function patchLossMap(
  policy: Generator,
  reference: Generator,
  batch: DiffusionBatch,
  options: PatchLossMapOptions,
): PatchLossMaps {
  const grid = options.grid ?? DEFAULT_GRID;
  const c = policy.config;
  if (!sameGeneratorConfig(c, reference.config)) {
    fail("patchLossMap", "policy and reference with the same config", "different configs");
  }
  checkGrid(grid, { numFrames: c.frames, height: c.size, width: c.size });
  const t = Array.from(options.t.dataSync());
  const errorOptions = { ...options, t };
  return tf.tidy(() => {
    const policyPixels = pixelErrors(policy, batch, errorOptions);
    const referencePixels = pixelErrors(reference, batch, errorOptions);
    return {
      policyPixels,
      referencePixels,
      policyPatches: reducePatches(policyPixels, grid),
      referencePatches: reducePatches(referencePixels, grid),
    };
  });
}

/** Whether two generator configs are the same architecture and schedule. */
export function sameGeneratorConfig(a: GeneratorConfig, b: GeneratorConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
