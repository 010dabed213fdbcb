/**
 * The kit's Adam optimiser over named parameters: state keyed by parameter
 * name so checkpoints save and resume it exactly, global-norm clipping on the
 * device, and on webgpu an in-place update in a few WGSL dispatches
 * (lib/tensor/_kernels/webgpu_adam.ts).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { fail } from "../core/_errors.ts";
import { addParam, createParams, disposeParams, type Params, writeParams } from "./nn.ts";
import { dropWebGpuMoments, syncWebGpuMoments, webgpuAdamApply } from "./_kernels/webgpu_adam.ts";

/** Options for {@linkcode createAdam}. */
export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  learningRate?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
  /** Clip the global gradient norm to this value (0 = off). Default 1. */
  clipNorm?: number;
}

/** What a checkpoint saves and restores of an optimiser (an {@linkcode Adam}, or one with an EMA). */
export interface OptimizerState {
  /** Named state tensors plus the step, for checkpoints. */
  state(): { step: number; tensors: Params };
  /** Restores state saved by `state()`. */
  load(
    step: number,
    saved: ReadonlyArray<{ name: string; shape: readonly number[]; values: Float32Array }>,
  ): void;
}

/** An Adam optimiser over a {@linkcode Params} map, with savable state. */
export interface Adam extends OptimizerState {
  /** Settings in use. */
  readonly options: Required<AdamOptions>;
  /** Number of updates applied so far. */
  readonly step: number;
  /**
   * Applies one update from gradients keyed by parameter name. Everything,
   * gradient clipping included, stays on the device: nothing is read back.
   */
  apply(grads: Record<string, tf.Tensor>): void;
  /** Sets the learning rate for later updates (schedules). */
  setLearningRate(lr: number): void;
  /** First/second moments by `<name>/m` and `<name>/v`, plus the step, for checkpoints. */
  state(): { step: number; tensors: Params };
  /** Restores state saved by {@linkcode Adam.state}. */
  load(
    step: number,
    saved: ReadonlyArray<{ name: string; shape: readonly number[]; values: Float32Array }>,
  ): void;
  /** Frees the moment tensors. */
  dispose(): void;
}

/**
 * Creates an Adam optimiser for the trainable parameters of `params`. Own
 * implementation rather than `tf.train.adam` so that its state is keyed by our
 * stable parameter names and can be checkpointed and resumed exactly.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { addParam, createAdam, createParams, disposeParams } from "@halo/kit/tensor";
 * const params = createParams();
 * const w = addParam(params, "w", [1], { init: "ones" });
 * const adam = createAdam(params, { learningRate: 0.1 });
 * const { grads } = tf.variableGrads(() => w.square().sum() as tf.Scalar, [w]);
 * adam.apply({ w: grads[w.name] });
 * console.log((await w.data())[0]); // ≈ 0.9
 * tf.dispose(grads);
 * adam.dispose();
 * disposeParams(params);
 * ```
 */
export function createAdam(params: Params, options: AdamOptions = {}): Adam {
  const opts: Required<AdamOptions> = {
    learningRate: options.learningRate ?? 1e-3,
    beta1: options.beta1 ?? 0.9,
    beta2: options.beta2 ?? 0.999,
    epsilon: options.epsilon ?? 1e-8,
    clipNorm: options.clipNorm ?? 1,
  };
  const moments = createParams();
  const names = [...params.keys()].filter((n) => params.get(n)!.trainable);
  for (const name of names) {
    const shape = [...params.get(name)!.shape];
    addParam(moments, `${name}/m`, shape, { init: "zeros", trainable: false });
    addParam(moments, `${name}/v`, shape, { init: "zeros", trainable: false });
  }
  let step = 0;
  const adam: Adam = {
    options: opts,
    get step() {
      return step;
    },
    apply(grads) {
      for (const name of names) {
        if (!grads[name]) fail("Adam.apply", `a gradient for "${name}"`, "none");
      }
      step++;
      const { beta1, beta2, epsilon, clipNorm } = opts;
      const lr = opts.learningRate * Math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step);
      // On webgpu: flat moments, one in-place dispatch per parameter (lib/tensor/_kernels/webgpu_adam.ts).
      if (webgpuAdamApply({ names, params, moments, grads, beta1, beta2, epsilon, clipNorm, lr })) {
        return;
      }
      dropWebGpuMoments(moments, true); // back from webgpu: its moments first
      tf.tidy(() => {
        // Clip on the device: reading the norm back would stall a GPU every step, and Deno's
        // WebGPU cannot read synchronously at all. min(1, c/‖g‖) is one correctly rounded f32
        // division, so the update equals the former host-side rule bit for bit on cpu and wasm.
        // The squared norms are summed by a chain of adds, not tf.addN: tfjs-webgpu 4.22 binds
        // every AddN input as a storage buffer, so beyond 7 inputs (WebGPU's default limit of 8
        // per shader stage) its pipeline is invalid and the sum silently stale. The chain adds in
        // AddN's order (left to right), so cpu and wasm results stay bit-identical.
        const scale = clipNorm > 0 && names.length > 0
          ? tf.minimum(
            1,
            tf.div(
              clipNorm,
              names.map((n) => grads[n].square().sum()).reduce((a, b) => a.add(b)).sqrt(),
            ),
          )
          : undefined;
        for (const name of names) {
          const g = scale ? grads[name].mul(scale) : grads[name];
          const m = moments.get(`${name}/m`)!;
          const v = moments.get(`${name}/v`)!;
          m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
          v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
          const p = params.get(name)!;
          p.assign(p.sub(m.mul(lr).div(v.sqrt().add(epsilon))));
        }
      });
    },
    setLearningRate(lr) {
      opts.learningRate = lr;
    },
    state() {
      syncWebGpuMoments(moments);
      return { step, tensors: moments };
    },
    load(savedStep, saved) {
      dropWebGpuMoments(moments);
      writeParams(moments, saved, "Adam.load");
      step = savedStep;
    },
    dispose() {
      dropWebGpuMoments(moments);
      disposeParams(moments);
    },
  };
  return adam;
}
