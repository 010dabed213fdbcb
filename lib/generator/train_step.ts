/**
 * The generator's training step (DESIGN §3): sample t and ε, predict from x_t,
 * the weighted MSE, one Adam update; on webgpu in passes that fit the adapter's
 * bindings when the batch does not.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import type { Rng } from "../core/_rng.ts";
import { paramGrads } from "../tensor/nn.ts";
import type { Adam } from "../tensor/adam.ts";
import { webgpuBindingLimit } from "../tensor/_kernels/webgpu.ts";
import {
  addNoise,
  alphaBars,
  type DiffusionBatch,
  type Generator,
  type GeneratorConfig,
  normalArray,
  predictNoise,
  predictNoiseAndClean,
} from "./model.ts";
import { stableTarget } from "./_stable_target.ts";

/** Options for {@linkcode trainStep}. */
export interface TrainStepOptions {
  /** Source of t, ε and prompt dropout for this step. */
  rng: Rng;
  /** Probability of replacing the prompt with the null prompt (for CFG). Default 0.1. */
  promptDropout?: number;
  /**
   * Cap of the per-clip loss weight min(1/ᾱ_t, maxWeight) that lifts the high-noise
   * steps (1 = the plain ε-MSE of DDPM). Default 10. Why: under ε-MSE an error
   * in the clean estimate counts SNR = ᾱ/(1−ᾱ) times, almost nothing at high
   * noise, where this small model must learn the layout of the clip; weight
   * 1/ᾱ makes it count SNR + 1 (the v-prediction weighting), capped so the
   * last steps, whose error cannot be reduced, do not dominate.
   */
  maxWeight?: number;
  /**
   * With prediction "x0": the per-clip weight of the x0-MSE. "uniform" (default): 1, the plain
   * x0-MSE. "snr+1": min(1 + SNR_t, maxWeight), the weight v-prediction's loss puts on the clean
   * estimate (‖v − v̂‖² = (1 + SNR)·‖x0 − x̂0‖²), capped: it lifts the low and middle noise
   * levels, where corners and small motions are visible in x_t, without lowering the high-noise
   * steps that teach the prompt's colours and layout. Reconstruction: the paper names no
   * pretraining loss; both are standard choices. Batch weights are normalised to mean 1.
   */
  x0Weighting?: "uniform" | "snr+1";
  /**
   * Clips per forward/backward pass; the passes' gradients are summed before
   * the one Adam update (the same update up to summation order). Default: the
   * whole batch at once, except on webgpu where the adapter cannot bind the
   * per-pixel decoder's activations of the whole batch in one buffer (128 MiB
   * on many adapters: 64 default-size clips), which gets the largest pass that
   * fits, and on wasm, which gets passes of the same size.
   */
  microBatch?: number;
}

/** Bytes of one activation tensor the wasm backend is given at most per pass (see below). */
const WASM_PASS_BYTES = 128 * 2 ** 20;

/**
 * Clips of config `c` a pass takes by default: those whose per-pixel
 * activations (the decoder's widest, about max(pixelHidden, pixelContext + 8)
 * values a pixel) fit one WebGPU binding on webgpu, or 128 MiB on wasm, whose
 * 32-bit heap cannot hold a whole 256-clip step of the default config ("memory
 * access out of bounds"; 64 clips do); the whole batch on other backends.
 */
function defaultMicroBatch(c: GeneratorConfig, batch: number): number {
  const limit = webgpuBindingLimit() ?? (tf.getBackend() === "wasm" ? WASM_PASS_BYTES : undefined);
  if (limit === undefined) return batch;
  const bytesPerClip = 4 * c.frames * c.size * c.size * Math.max(c.pixelHidden, c.pixelContext + 8);
  return Math.max(1, Math.min(batch, Math.floor(limit / bytesPerClip)));
}

/**
 * One DDPM training step: sample t and ε, predict ε from x_t, take the
 * (weighted, see {@linkcode TrainStepOptions.maxWeight}) MSE and one Adam
 * update. With prediction "x0" and a batch with `refs`, the x0 head is trained toward the
 * stable target (Xu et al., 2023): the posterior-weighted mean of the row's clip and its
 * references, which at high noise averages K + 1 clips of the prompt (a lower-variance
 * estimate of the prompt's mean clip, where a sample's layout and direction are decided). Resolves to the plain, unweighted ε-MSE (x0-MSE with prediction "x0") of the step,
 * whatever the weighting
 * (a number, so nothing leaks). The loss is the only value read back, asynchronously, so the
 * step also runs on backends without synchronous reads (WebGPU in Deno).
 */
export async function trainStep(
  gen: Generator,
  adam: Adam,
  batch: DiffusionBatch,
  options: TrainStepOptions,
): Promise<number> {
  const c = gen.config;
  const b = batch.x0.shape[0];
  const drop = checkNumber("trainStep", "promptDropout", options.promptDropout ?? 0.1, 0, 1);
  const rng = options.rng;
  const tVals = Int32Array.from({ length: b }, () => rng.int(c.timesteps));
  const keepVals = Float32Array.from({ length: b }, () => (rng.next() < drop ? 0 : 1));
  const noiseVals = normalArray(rng, batch.x0.size);
  const cap = checkNumber("trainStep", "maxWeight", options.maxWeight ?? 10, 1);
  const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
  const x0 = c.prediction === "x0";
  const x0Weighting = options.x0Weighting ?? "uniform";
  if (x0Weighting !== "uniform" && x0Weighting !== "snr+1") {
    fail("trainStep", 'x0Weighting "uniform" or "snr+1"', x0Weighting);
  }
  // 1 + SNR = 1/(1 − ᾱ); the ε head's min(1/ᾱ, cap) on the ε-MSE is the same family.
  const x0Weight = (t: number) => x0Weighting === "uniform" ? 1 : Math.min(1 / (1 - ab[t]), cap);
  const weights = Float32Array.from(tVals, (t) => x0 ? x0Weight(t) : Math.min(1 / ab[t], cap));
  const weightSum = weights.reduce((x, y) => x + y, 0);
  const chunk = checkInt(
    "trainStep",
    "microBatch",
    options.microBatch ?? defaultMicroBatch(c, b),
    1,
  );
  const loss = tf.tidy(() => {
    const t = tf.tensor1d(tVals, "int32");
    const keep = tf.tensor1d(keepVals);
    const noise = tf.tensor(noiseVals, batch.x0.shape);
    const w = tf.tensor1d(weights.map((v) => v * b / weightSum));
    const xt = addNoise(c, batch.x0, t, noise);
    const target = x0 && batch.refs
      ? stableTarget(batch.x0, batch.refs, {
        xt,
        alphaBar: tf.tensor1d(Float32Array.from(tVals, (v) => ab[v])),
        keep,
      })
      : batch.x0;
    // each clip's MSE over the clips `part` picks (all of them, or one pass)
    const perClipOf = (part: <T extends tf.Tensor>(x: T) => T) => {
      const inputs = { xt: part(xt), t: part(t), tokens: part(batch.tokens) };
      if (!x0) {
        const error = predictNoise(gen, inputs, { keep: part(keep) }).sub(part(noise));
        const mse = error.square().mean([1, 2, 3, 4]);
        return { mse, plain: mse };
      }
      const clean = predictNoiseAndClean(gen, inputs, { keep: part(keep) }).clean;
      const mse = clean.sub(part(target)).square().mean([1, 2, 3, 4]);
      // the reported loss stays the plain x0-MSE against the row's own clip
      const plain = target === batch.x0
        ? mse
        : clean.sub(part(batch.x0)).square().mean([1, 2, 3, 4]);
      return { mse, plain };
    };
    if (chunk >= b) {
      let plain: tf.Scalar | undefined;
      const { value, grads } = paramGrads(gen.params, () => {
        const perClip = perClipOf((x) => x);
        plain = tf.keep(perClip.plain.mean() as tf.Scalar);
        return perClip.mse.mul(w).mean() as tf.Scalar;
      });
      adam.apply(grads);
      value.dispose();
      return plain!;
    }
    // passes of `chunk` clips: each contributes its share of the batch means
    let sums: Record<string, tf.Tensor> = {};
    let plain = tf.scalar(0);
    for (let start = 0; start < b; start += chunk) {
      const n = Math.min(chunk, b - start);
      const part = <T extends tf.Tensor>(x: T) => x.slice(start, n) as T;
      const { value, grads } = paramGrads(gen.params, () => {
        const perClip = perClipOf(part);
        const before = plain;
        plain = tf.keep(before.add(perClip.plain.sum().div(b)) as tf.Scalar);
        before.dispose();
        return perClip.mse.mul(part(w)).sum().div(b) as tf.Scalar;
      });
      value.dispose();
      const previous = sums;
      sums = Object.fromEntries(
        Object.entries(grads).map((
          [name, g],
        ) => [name, previous[name] ? previous[name].add(g) : g]),
      );
      tf.dispose([...Object.values(previous), ...Object.keys(previous).map((k) => grads[k])]);
    }
    adam.apply(sums);
    return plain;
  });
  try {
    return (await loss.data())[0];
  } finally {
    loss.dispose();
  }
}
