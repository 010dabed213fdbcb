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
  type Generator,
  type GeneratorConfig,
  predictNoise,
  predictNoiseAndClean,
} from "./model.ts";
import { addNoise, alphaBars, type DiffusionBatch, normalArray } from "./diffusion.ts";
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
   * With prediction "x0": the per-pixel error of the clean estimate. "mse" (default): squared,
   * whose minimiser is the posterior mean (a blend of the layouts x_t allows: rounded corners
   * where a square and a circle are both possible). "l1": absolute, whose minimiser is the
   * per-pixel posterior median (sharper edges). The step's reported loss stays the plain
   * x0-MSE either way. Reconstruction: the paper names no pretraining loss.
   */
  x0Loss?: X0Loss;
  /**
   * Clips per forward/backward pass; the passes' gradients are summed before
   * the one Adam update (the same update up to summation order). Default: the
   * whole batch at once, except on webgpu where the adapter cannot bind the
   * per-pixel decoder's activations of the whole batch in one buffer (128 MiB
   * on many adapters: 64 default-size clips), which gets the largest pass that
   * fits, and on wasm, which gets passes of the same size.
   */
  microBatch?: number;
  /**
   * The step's t, ε, dropout mask and weights drawn beforehand with {@linkcode drawStep} (from
   * the same rng, in the same order, they are the draw the step would take). Default: drawn
   * from `rng` here.
   */
  draw?: StepDraw;
  /**
   * Data parallelism: the clips from `parallel.local` on are computed elsewhere (a gradient
   * worker of `pretrain --workers`) with the weights as they are before the update, and their
   * gradients summed after this process's. Default: all clips here.
   */
  parallel?: ParallelPart;
  /**
   * With `parallel`: called once this process's passes are done, before it waits for the
   * others' gradients (pretraining prepares the next batch there). Default: nothing.
   */
  whileWaiting?: () => void;
}

/** The per-pixel error of the x0 head's loss ({@linkcode TrainStepOptions.x0Loss}). */
export type X0Loss = "mse" | "l1";

/** Options for {@linkcode partGrads}. */
export interface PartGradsOptions {
  /** Clips in the whole batch (the loss is a mean over all of them). */
  batch: number;
  /** The x0 head's per-pixel error. Default "mse". */
  x0Loss?: X0Loss;
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
 * estimate of the prompt's mean clip, where a sample's layout and direction are decided).
 * Resolves to the plain, unweighted ε-MSE (x0-MSE with prediction "x0") of the step, whatever
 * the weighting (a number, so nothing leaks). With `parallel`, the clips from `parallel.local`
 * on are computed by a gradient worker (`pretrain --workers`). The loss is the only value read back, asynchronously, so the
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
  const draw = options.draw ?? drawStep(c, batch.x0.size, b, options);
  if (draw.t.length !== b || draw.noise.length !== batch.x0.size) {
    fail(
      "trainStep",
      `a draw of ${b} clips (${batch.x0.size} noise values)`,
      `${draw.t.length} clips (${draw.noise.length})`,
    );
  }
  const chunk = checkInt(
    "trainStep",
    "microBatch",
    options.microBatch ?? defaultMicroBatch(c, b),
    1,
  );
  const x0Loss = options.x0Loss ?? "mse";
  if (x0Loss !== "mse" && x0Loss !== "l1") fail("trainStep", 'x0Loss "mse" or "l1"', x0Loss);
  const parallel = options.parallel;
  // the clips this process takes: all of them, or the first `parallel.local`
  const local = parallel ? checkInt("trainStep", "parallel.local", parallel.local, 1, b - 1) : b;
  const remote = parallel?.grads(batch, draw);
  let loss: tf.Scalar | undefined;
  let sums: Record<string, tf.Tensor> = {};
  try {
    loss = tf.tidy(() => {
      const t = tf.tensor1d(draw.t, "int32");
      const keep = tf.tensor1d(draw.keep);
      const noise = tf.tensor(draw.noise, batch.x0.shape);
      const w = tf.tensor1d(draw.w);
      const xt = addNoise(c, batch.x0, t, noise);
      const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
      const target = c.prediction === "x0" && batch.refs
        ? stableTarget(batch.x0, batch.refs, {
          xt,
          alphaBar: tf.tensor1d(Float32Array.from(draw.t, (v) => ab[v])),
          keep,
        })
        : batch.x0;
      const inputs = { xt, noise, t, tokens: batch.tokens, keep, target, x0: batch.x0, w };
      if (chunk >= b && !parallel) {
        let plain: tf.Scalar | undefined;
        const { value, grads } = paramGrads(gen.params, () => {
          const perClip = perClipLoss(gen, inputs, x0Loss);
          plain = tf.keep(perClip.plain.mean() as tf.Scalar);
          return perClip.loss.mul(w).mean() as tf.Scalar;
        });
        adam.apply(grads);
        value.dispose();
        return plain!;
      }
      // passes of `chunk` clips: each contributes its share of the batch means
      let plain = tf.scalar(0);
      for (let start = 0; start < local; start += chunk) {
        const n = Math.min(chunk, local - start);
        const part = partGrads(gen, sliceInputs(inputs, start, n), { batch: b, x0Loss });
        const before = plain;
        plain = before.add(part.plain);
        tf.dispose([before, part.plain]);
        sums = addGrads(sums, part.grads);
      }
      return tf.keep(plain);
    }) as tf.Scalar;
    if (remote) {
      options.whileWaiting?.();
      // the other process's clips, summed in after this one's (the order of a pass loop)
      const other = await remote;
      sums = addGrads(sums, other.grads);
      const before = loss;
      loss = tf.tidy(() => before.add(other.plain));
      tf.dispose([before, other.plain]);
    }
    if (Object.keys(sums).length) adam.apply(sums);
    return (await loss.data())[0];
  } catch (error) {
    // the worker's answer to a step that failed here is dropped (its tensors freed)
    remote?.then((o) => tf.dispose([...Object.values(o.grads), o.plain]), () => {});
    throw error;
  } finally {
    loss?.dispose();
    tf.dispose(Object.values(sums));
  }
}

/** Everything a step draws from its rng before the forward pass, for every clip of the batch. */
export interface StepDraw {
  /** Diffusion step of each clip. */
  t: Int32Array;
  /** 1 where the clip keeps its prompt, 0 where it is dropped for CFG. */
  keep: Float32Array;
  /** ε for the whole batch, in the layout of `x0`. */
  noise: Float32Array;
  /** Each clip's loss weight, normalised to mean 1 over the batch. */
  w: Float32Array;
}

/**
 * The gradients of another process's share of a step (the data-parallel pretraining of
 * `lib/generator/_data_parallel.ts`): {@linkcode trainStep} takes the batch's first `local` clips
 * itself and sums in what `grads` resolves to for the rest. Internal to the kit's pretraining.
 */
export interface ParallelPart {
  /** Clips this process takes (the first ones); the rest are `grads`' share. */
  local: number;
  /**
   * Starts the batch's clips from `local` on elsewhere, with the parameters as they are now;
   * resolves to their gradients and share of the plain loss (see {@linkcode partGrads}).
   */
  grads(
    batch: DiffusionBatch,
    draw: StepDraw,
  ): Promise<{ grads: Record<string, tf.Tensor>; plain: tf.Scalar }>;
}

/**
 * Draws t, the prompt-dropout mask and ε of a batch of `b` clips (`size` values in all) from
 * `options.rng` in the order every run has drawn them, and the clips' normalised loss weights.
 */
export function drawStep(
  c: GeneratorConfig,
  size: number,
  b: number,
  options: TrainStepOptions,
): StepDraw {
  const drop = checkNumber("trainStep", "promptDropout", options.promptDropout ?? 0.1, 0, 1);
  const rng = options.rng;
  const tVals = Int32Array.from({ length: b }, () => rng.int(c.timesteps));
  const keepVals = Float32Array.from({ length: b }, () => (rng.next() < drop ? 0 : 1));
  const noiseVals = normalArray(rng, size);
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
  return { t: tVals, keep: keepVals, noise: noiseVals, w: weights.map((v) => v * b / weightSum) };
}

/** The tensors of one pass: noised clips, steps, tokens, keep mask, x0 targets and weights. */
export interface PassInputs {
  xt: tf.Tensor;
  /** The ε that made `xt` (the ε head's target). */
  noise: tf.Tensor;
  t: tf.Tensor1D;
  tokens: tf.Tensor2D;
  keep: tf.Tensor1D;
  /** The x0 head's target (the clips, or their stable targets). */
  target: tf.Tensor;
  x0: tf.Tensor;
  w: tf.Tensor1D;
}

/** Rows [start, start + n) of every tensor of `inputs`. */
export function sliceInputs(inputs: PassInputs, start: number, n: number): PassInputs {
  const part = <T extends tf.Tensor>(x: T) => x.slice(start, n) as T;
  return {
    xt: part(inputs.xt),
    noise: part(inputs.noise),
    t: part(inputs.t),
    tokens: part(inputs.tokens),
    keep: part(inputs.keep),
    target: part(inputs.target),
    x0: part(inputs.x0),
    w: part(inputs.w),
  };
}

/** Each clip's training loss (`loss`: the MSE, or `x0Loss` with an x0 head) and its plain MSE against its own clip (`plain`). */
function perClipLoss(
  gen: Generator,
  p: PassInputs,
  x0Loss: X0Loss = "mse",
): { loss: tf.Tensor; plain: tf.Tensor } {
  const inputs = { xt: p.xt, t: p.t, tokens: p.tokens };
  if (gen.config.prediction !== "x0") {
    const mse = predictNoise(gen, inputs, { keep: p.keep }).sub(p.noise).square().mean([
      1,
      2,
      3,
      4,
    ]);
    return { loss: mse, plain: mse };
  }
  const clean = predictNoiseAndClean(gen, inputs, { keep: p.keep }).clean;
  const error = clean.sub(p.target);
  const loss = (x0Loss === "l1" ? error.abs() : error.square()).mean([1, 2, 3, 4]);
  // the reported loss stays the plain x0-MSE against the row's own clip
  const plain = p.target === p.x0 && x0Loss === "mse"
    ? loss
    : clean.sub(p.x0).square().mean([1, 2, 3, 4]);
  return { loss, plain };
}

/**
 * One pass of a step over some of its `b` clips: the gradients of the pass's share of the
 * batch's weighted mean loss (Σ w·loss / b) and its share of the plain loss (Σ mse / b).
 * The caller disposes both.
 */
export function partGrads(
  gen: Generator,
  inputs: PassInputs,
  options: PartGradsOptions,
): { grads: Record<string, tf.Tensor>; plain: tf.Scalar } {
  const b = options.batch;
  let plain: tf.Scalar | undefined;
  const { value, grads } = paramGrads(gen.params, () => {
    const perClip = perClipLoss(gen, inputs, options.x0Loss);
    plain = tf.keep(perClip.plain.sum().div(b) as tf.Scalar);
    return perClip.loss.mul(inputs.w).sum().div(b) as tf.Scalar;
  });
  value.dispose();
  return { grads, plain: plain! };
}

/** `sums` + `grads` by name (a name missing from `sums` takes `grads`' tensor); disposes both inputs' replaced tensors. */
function addGrads(
  sums: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
): Record<string, tf.Tensor> {
  const out = Object.fromEntries(
    Object.entries(grads).map(([name, g]) => [name, tf.keep(sums[name] ? sums[name].add(g) : g)]),
  );
  tf.dispose([...Object.values(sums), ...Object.keys(sums).map((k) => grads[k])]);
  return out;
}
