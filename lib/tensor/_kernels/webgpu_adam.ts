/**
 * Adam on the webgpu backend (issue 13). tfjs composes one Adam update of one
 * parameter from about a dozen dispatches (scale, two moment updates, square,
 * root, division, subtraction) plus three for the clipping norm: about 1,000
 * a generator step. Here the moments live flat — one buffer for m and one for
 * v over every parameter, in `createAdam`'s order — so a step is: the
 * gradients concatenated (tfjs' concat, 7 inputs a dispatch), their sum of
 * squares (one workgroup), m and v updated in place (one dispatch each, the
 * clip scale read on the device), and one in-place dispatch per parameter
 * (tfjs' `runWebGPUProgram` writes into a given output). The arithmetic is
 * the per-tensor rule of `createAdam` term for term; only the order of the
 * norm's summation differs.
 *
 * The flat moments are the truth while webgpu trains; `syncWebGpuMoments`
 * writes them back into Adam's per-parameter moments (checkpoints, another
 * backend), `dropWebGpuMoments` forgets them (a loaded state, dispose).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { fastWebGpuKernelsEnabled, program, type WebGpuBackendLike, WG } from "./webgpu.ts";

/** Named variables (the shape of `Params` in lib/tensor/nn.ts). */
type Params = Map<string, tf.Variable>;

/** What {@linkcode webgpuAdamApply} needs from `createAdam`. */
export interface AdamUpdate {
  /** The trainable parameters' names, in order. */
  names: readonly string[];
  /** The parameters. */
  params: Params;
  /** The moments, keyed `<name>/m` and `<name>/v`. */
  moments: Params;
  /** Gradients by name. */
  grads: Record<string, tf.Tensor>;
  /** β1, β2, ε and the clipping norm (0 = off). */
  beta1: number;
  beta2: number;
  epsilon: number;
  clipNorm: number;
  /** The bias-corrected step size of this update. */
  lr: number;
}

interface Flat {
  m: tf.Tensor1D;
  v: tf.Tensor1D;
  names: readonly string[];
  offsets: number[];
}

const flats = new WeakMap<Params, Flat>();

const sumSquaresCode = `
  var<workgroup> part: array<f32, ${WG}>;
  fn main(index : i32) {
    let i = i32(localIndex);
    var s = 0.0;
    for (var j = i; j < uniforms.n; j = j + ${WG}) { let x = G[j]; s = s + x * x; }
    part[i] = s;
    workgroupBarrier();
    if (i == 0) {
      var t = 0.0;
      for (var q = 0; q < ${WG}; q++) { t = t + part[q]; }
      result[0] = t;
    }
  }`;

const momentCode = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      var scale = 1.0;
      if (uniforms.clip > 0.0) { scale = min(1.0, uniforms.clip / sqrt(S[0])); }
      let g = G[index] * scale;
      var x = g;
      if (uniforms.square == 1) { x = g * g; }
      result[index] = result[index] * uniforms.beta + x * uniforms.oneMinusBeta;
    }
  }`;

const paramCode = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let k = uniforms.offset + index;
      result[index] = result[index] - (M[k] * uniforms.lr) / (sqrt(V[k]) + uniforms.eps);
    }
  }`;

/** The flat moments of `moments`, built from its per-parameter tensors on first use. */
function flatMoments(moments: Params, names: readonly string[]): Flat {
  const known = flats.get(moments);
  if (known && known.names === names) return known;
  if (known) dropWebGpuMoments(moments);
  const offsets: number[] = [];
  let total = 0;
  for (const name of names) {
    offsets.push(total);
    total += moments.get(`${name}/m`)!.size;
  }
  // a fresh buffer each (add(0): tf.concat of one tensor would share its input's buffer)
  const flat = (key: string) =>
    tf.keep(
      tf.tidy(() => tf.concat(names.map((n) => moments.get(`${n}/${key}`)!.reshape([-1]))).add(0)),
    ) as tf.Tensor1D;
  const made = { m: flat("m"), v: flat("v"), names, offsets };
  flats.set(moments, made);
  return made;
}

/** Writes the flat moments back into `moments`' per-parameter tensors (no-op without them). */
export function syncWebGpuMoments(moments: Params): void {
  const flat = flats.get(moments);
  if (!flat) return;
  tf.tidy(() => {
    flat.names.forEach((name, i) => {
      for (const key of ["m", "v"] as const) {
        const target = moments.get(`${name}/${key}`)!;
        target.assign(flat[key].slice(flat.offsets[i], target.size).reshape(target.shape));
      }
    });
  });
}

/** Forgets the flat moments of `moments`, writing them back first when `sync`. */
export function dropWebGpuMoments(moments: Params, sync = false): void {
  const flat = flats.get(moments);
  if (!flat) return;
  if (sync) syncWebGpuMoments(moments);
  tf.dispose([flat.m, flat.v]);
  flats.delete(moments);
}

/**
 * One Adam update on the webgpu backend, written in place into the
 * parameters and the flat moments. Returns false (and does nothing) when the
 * backend is not webgpu or the kit's kernels are off, so the caller runs the
 * tensor-op update (after `dropWebGpuMoments(moments, true)`).
 */
export function webgpuAdamApply(u: AdamUpdate): boolean {
  if (!fastWebGpuKernelsEnabled() || tf.getBackend() !== "webgpu" || u.names.length === 0) {
    return false;
  }
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  // tfjs shares buffers between tensors (a clone, a variable made from a tensor: a frozen
  // reference's weights); a parameter about to be written in place gets a buffer of its own.
  for (const name of u.names) {
    const v = u.params.get(name)!;
    if (backend.refCount(v.dataId) > 1) {
      const copy = tf.tidy(() => v.add(0));
      v.assign(copy);
      copy.dispose();
    }
  }
  const flat = flatMoments(u.moments, u.names);
  const g = tf.tidy(() => tf.concat(u.names.map((n) => u.grads[n].reshape([-1])))) as tf.Tensor1D;
  // one workgroup of 128 threads sums the squares; past 4 M values tfjs' reduction (256 threads):
  // llvmpipe stops a thread's loop after about 65,000 iterations
  const oneWorkgroup = g.size <= 4 * 2 ** 20;
  const norm = oneWorkgroup ? tf.zeros([1]) : tf.tidy(() => g.square().sum().reshape([1]));
  try {
    if (oneWorkgroup) {
      backend.runWebGPUProgram(
        program("halo_adam_sumsq", [1], ["G"], "n : i32,", sumSquaresCode, [1, 1, 1]),
        [g],
        "float32",
        [{ type: "int32", data: [g.size] }],
        norm,
      );
    }
    for (const [target, beta, square] of [[flat.m, u.beta1, 0], [flat.v, u.beta2, 1]] as const) {
      backend.runWebGPUProgram(
        program(
          "halo_adam_moment",
          [g.size],
          ["G", "S"],
          "beta : f32, oneMinusBeta : f32, clip : f32, square : i32,",
          momentCode,
        ),
        [g, norm],
        "float32",
        [
          { type: "float32", data: [beta] },
          { type: "float32", data: [1 - beta] },
          { type: "float32", data: [u.clipNorm] },
          { type: "int32", data: [square] },
        ],
        target,
      );
    }
    u.names.forEach((name, i) => {
      const p = u.params.get(name)!;
      backend.runWebGPUProgram(
        program(
          "halo_adam_param",
          [...p.shape],
          ["M", "V"],
          "lr : f32, eps : f32, offset : i32,",
          paramCode,
        ),
        [flat.m, flat.v],
        "float32",
        [
          { type: "float32", data: [u.lr] },
          { type: "float32", data: [u.epsilon] },
          { type: "int32", data: [flat.offsets[i]] },
        ],
        p,
      );
    });
  } finally {
    tf.dispose([g, norm]);
  }
  return true;
}
