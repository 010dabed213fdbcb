/**
 * Tiny transformer building blocks made only of matmuls and elementwise ops
 * (the wasm backend has no convolution gradients, DESIGN §6): parameters as a
 * named map of `tf.Variable`, seeded initialisation independent of tfjs' global
 * RNG, linear / layer norm / multi-head attention / MLP / transformer block with
 * optional adaLN modulation, and an Adam optimiser whose state is a named map
 * too, so checkpoints can save and restore it exactly. The generator and the
 * reward models share these.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, fail } from "../core/_errors.ts";
import { createRng, type Rng } from "../core/_rng.ts";
import {
  webgpuAttention,
  webgpuGelu,
  webgpuLinear,
  webgpuModulatedLayerNorm,
} from "./_kernels/webgpu_fused.ts";

/** Named trainable tensors. Names are stable across processes (checkpoints key on them). */
export type Params = Map<string, tf.Variable>;

let instanceCounter = 0;

/**
 * Creates an empty parameter map. tfjs variable names must be unique per
 * process, so each map gets a private prefix for the engine while callers only
 * ever see the plain names.
 *
 * @example
 * ```ts
 * import { addParam, createParams, countParams, disposeParams } from "@halo/kit/tensor";
 * import assert from "node:assert/strict";
 * const params = createParams();
 * addParam(params, "w", [3, 4], { init: "normal", seed: 1 });
 * assert.equal(countParams(params), 12);
 * disposeParams(params);
 * ```
 */
export function createParams(): Params {
  const params: Params = new Map();
  Object.defineProperty(params, "__prefix", { value: `p${instanceCounter++}`, enumerable: false });
  return params;
}

function prefixOf(params: Params): string {
  return (params as unknown as { __prefix?: string }).__prefix ?? `p${instanceCounter++}`;
}

/** How {@linkcode addParam} fills a new parameter. */
export type InitKind = "zeros" | "ones" | "normal" | "glorot";

/** Options for {@linkcode addParam}. */
export interface AddParamOptions {
  /** Initialiser. Default "glorot" (normal with std sqrt(2/(fanIn+fanOut)), fans from the last two dims). */
  init?: InitKind;
  /** Standard deviation for "normal". Default 0.02. */
  std?: number;
  /** Seed of the initial values (a fresh generator) or an Rng to draw from. Default 0. */
  seed?: number | Rng;
  /** Whether optimisers may update it. Default true. */
  trainable?: boolean;
  /** Exact initial values (overrides `init`). */
  values?: Float32Array;
}

/**
 * Adds a parameter `name` of `shape` to `params` and returns it; throws if the
 * name is taken.
 *
 * @example
 * ```ts
 * import { addParam, createParams, disposeParams } from "@halo/kit/tensor";
 * const params = createParams();
 * const b = addParam(params, "bias", [4], { init: "zeros" });
 * console.log(b.shape);
 * disposeParams(params);
 * ```
 */
export function addParam(
  params: Params,
  name: string,
  shape: number[],
  options: AddParamOptions = {},
): tf.Variable {
  const where = `addParam(${name})`;
  if (params.has(name)) fail(where, "a new parameter name", name);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    fail(where, "a shape of positive integers", shape);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  let values: Float32Array;
  if (options.values) {
    if (options.values.length !== size) fail(where, `${size} values`, options.values.length);
    values = Float32Array.from(options.values);
  } else {
    const init = options.init ?? "glorot";
    values = new Float32Array(size);
    if (init === "ones") values.fill(1);
    else if (init === "normal" || init === "glorot") {
      const rng = typeof options.seed === "object" ? options.seed : createRng(options.seed ?? 0);
      const fanIn = shape.length >= 2 ? shape[shape.length - 2] : shape[0];
      const fanOut = shape[shape.length - 1];
      const std = init === "normal" ? (options.std ?? 0.02) : Math.sqrt(2 / (fanIn + fanOut));
      for (let i = 0; i < size; i++) values[i] = rng.normal() * std;
    } else if (init !== "zeros") fail(where, "init zeros, ones, normal or glorot", init);
  }
  // A variable shares its initial tensor's data; the initial tensor itself is freed here so
  // that creating and disposing a model leaves no tensor behind.
  const initial = tf.tensor(values, shape, "float32");
  const variable = tf.variable(initial, options.trainable ?? true, `${prefixOf(params)}/${name}`);
  initial.dispose();
  params.set(name, variable);
  return variable;
}

/** Looks up a parameter, with an error naming it when missing. */
export function getParam(params: Params, name: string): tf.Variable {
  const v = params.get(name);
  if (!v) fail("getParam", `a parameter named "${name}"`, `none (have ${params.size})`);
  return v;
}

/**
 * Total number of scalar values in `params`.
 *
 * @example
 * ```ts
 * import { createParams, addParam, countParams, disposeParams } from "@halo/kit/tensor";
 * const params = createParams();
 * addParam(params, "w", [2, 5], { init: "zeros" });
 * console.log(countParams(params)); // 10
 * disposeParams(params);
 * ```
 */
export function countParams(params: Params): number {
  let n = 0;
  for (const v of params.values()) n += v.size;
  return n;
}

/** Disposes every variable of `params` and empties it. */
export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
  params.clear();
}

/** Options for {@linkcode cloneParams}. */
export interface CloneParamsOptions {
  /** Whether the copies are trainable. Default false (a frozen reference). */
  trainable?: boolean;
}

/**
 * Deep-copies a parameter map (e.g. the frozen reference model of DPO).
 *
 * @example
 * ```ts
 * import { addParam, cloneParams, createParams, disposeParams } from "@halo/kit/tensor";
 * const a = createParams();
 * addParam(a, "w", [2, 2], { seed: 3 });
 * const b = cloneParams(a);
 * console.log(b.get("w")!.trainable); // false
 * disposeParams(a);
 * disposeParams(b);
 * ```
 */
export function cloneParams(params: Params, options: CloneParamsOptions = {}): Params {
  const out = createParams();
  for (const [name, v] of params) {
    const initial = v.clone();
    out.set(name, tf.variable(initial, options.trainable ?? false, `${prefixOf(out)}/${name}`));
    initial.dispose();
  }
  return out;
}

/**
 * Reads every parameter's values (sorted by name) for saving. Asynchronous, so
 * that it also works where a backend cannot read synchronously (WebGPU in Deno).
 *
 * @example
 * ```ts
 * import { addParam, createParams, disposeParams, readParams } from "@halo/kit/tensor";
 * const params = createParams();
 * addParam(params, "w", [2, 3], { init: "ones" });
 * const [w] = await readParams(params);
 * console.log(w.name, w.shape, w.values.length); // w [ 2, 3 ] 6
 * disposeParams(params);
 * ```
 */
export async function readParams(
  params: Params,
): Promise<Array<{ name: string; shape: number[]; values: Float32Array }>> {
  const names = [...params.keys()].sort();
  const values = await Promise.all(names.map((name) => params.get(name)!.data()));
  return names.map((name, i) => ({
    name,
    shape: [...params.get(name)!.shape],
    values: values[i] as Float32Array,
  }));
}

/**
 * Overwrites parameters from saved values; every name and shape must match.
 * Validates everything before assigning anything.
 */
export function writeParams(
  params: Params,
  saved: ReadonlyArray<{ name: string; shape: readonly number[]; values: Float32Array }>,
  where = "writeParams",
): void {
  const byName = checkSavedParams(params, saved, where);
  for (const [name, v] of params) {
    const s = byName.get(name)!;
    tf.tidy(() => v.assign(tf.tensor(s.values, v.shape, "float32")));
  }
}

/**
 * Checks that saved values match `params` name for name and shape for shape; throws otherwise.
 * Only the length of `values` is looked at.
 */
export function checkSavedParams<
  T extends { name: string; shape: readonly number[]; values: { readonly length: number } },
>(
  params: Params,
  saved: ReadonlyArray<T>,
  where = "checkSavedParams",
): Map<string, T> {
  const byName = new Map(saved.map((s) => [s.name, s]));
  for (const [name, v] of params) {
    const s = byName.get(name);
    if (!s) fail(where, `a saved parameter "${name}"`, "none");
    if (s.shape.length !== v.shape.length || s.shape.some((d, i) => d !== v.shape[i])) {
      fail(
        where,
        `parameter "${name}" of shape [${v.shape.join(", ")}]`,
        `[${s.shape.join(", ")}]`,
      );
    }
    if (s.values.length !== v.size) fail(where, `${v.size} values for "${name}"`, s.values.length);
  }
  for (const name of byName.keys()) {
    if (!params.has(name)) fail(where, "only parameters the model has", name);
  }
  return byName;
}

/** Options for {@linkcode initLinear}. */
export interface InitLinearOptions {
  /** Add a bias. Default true. */
  bias?: boolean;
  /** Initialiser of the weight. Default "glorot"; "zeros" for adaLN-zero / output layers. */
  init?: InitKind;
  /** Std for init "normal". */
  std?: number;
  /** Seed source. */
  seed?: number | Rng;
}

/** Adds `<name>.w` `[inDim, outDim]` and `<name>.b` `[outDim]`. */
export function initLinear(
  params: Params,
  name: string,
  dims: { in: number; out: number },
  options: InitLinearOptions = {},
): void {
  checkInt(`initLinear(${name})`, "in", dims.in);
  checkInt(`initLinear(${name})`, "out", dims.out);
  addParam(params, `${name}.w`, [dims.in, dims.out], {
    init: options.init ?? "glorot",
    std: options.std,
    seed: options.seed,
  });
  if (options.bias ?? true) addParam(params, `${name}.b`, [dims.out], { init: "zeros" });
}

/**
 * Applies linear layer `name` to the last axis of `x` (any rank ≥ 2), as one matmul.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createParams, disposeParams, initLinear, linear } from "@halo/kit/tensor";
 * const params = createParams();
 * initLinear(params, "proj", { in: 3, out: 5 }, { seed: 1 });
 * const y = linear(params, "proj", tf.ones([2, 4, 3]));
 * console.log(y.shape); // [2, 4, 5]
 * disposeParams(params);
 * ```
 */
export function linear(params: Params, name: string, x: tf.Tensor): tf.Tensor {
  const w = getParam(params, `${name}.w`);
  const b = params.get(`${name}.b`);
  const [inDim, outDim] = w.shape as number[];
  if (x.shape[x.rank - 1] !== inDim) {
    fail(`linear(${name})`, `input with last axis ${inDim}`, `shape [${x.shape.join(", ")}]`);
  }
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, inDim]) as tf.Tensor2D;
    // on webgpu the bias rides in the matmul's shader (lib/tensor/_kernels/webgpu_fused.ts)
    let y = b ? webgpuLinear(x2, w, b) : undefined;
    if (!y) {
      y = tf.matMul(x2, w);
      if (b) y = y.add(b);
    }
    return y.reshape([...lead, outDim]);
  });
}

/** Adds a layer norm's `<name>.g` (ones) and `<name>.b` (zeros) of size `dim`. */
export function initLayerNorm(params: Params, name: string, dim: number): void {
  addParam(params, `${name}.g`, [dim], { init: "ones" });
  addParam(params, `${name}.b`, [dim], { init: "zeros" });
}

/**
 * Layer norm over the last axis; with `name` applies that norm's gain and
 * bias, without it is the affine-free norm used before adaLN modulation.
 */
export function layerNorm(x: tf.Tensor, params?: Params, name?: string, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const mean = x.mean(-1, true);
    const centered = x.sub(mean);
    const variance = centered.square().mean(-1, true);
    let y = centered.mul(variance.add(eps).rsqrt());
    if (params && name) y = y.mul(getParam(params, `${name}.g`)).add(getParam(params, `${name}.b`));
    return y;
  });
}

/**
 * adaLN's modulated layer norm: LN(x)·(1 + scale) + shift over the last axis
 * of `x` [R, N, D], with `shift` and `scale` [R, 1, D] (no affine weights of
 * its own). On webgpu it is one fused WGSL program forward and four backward
 * (lib/tensor/_kernels/webgpu_fused.ts); elsewhere exactly `layerNorm(x).mul(scale.add(1)).add(shift)`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { modulatedLayerNorm } from "@halo/kit/tensor";
 * const y = modulatedLayerNorm(tf.tensor3d([[[1, 2, 3]]]), tf.fill([1, 1, 3], 0.5), tf.zeros([1, 1, 3]));
 * console.log(Array.from(await y.data()).map((v) => v.toFixed(2))); // ["-0.72", "0.50", "1.72"]
 * ```
 */
export function modulatedLayerNorm(
  x: tf.Tensor3D,
  shift: tf.Tensor,
  scale: tf.Tensor,
): tf.Tensor3D {
  return webgpuModulatedLayerNorm(x, shift, scale, 1e-5) ??
    tf.tidy(() => layerNorm(x).mul(scale.add(1)).add(shift) as tf.Tensor3D);
}

/** Adds the weights of multi-head self-attention `name` of width `dim` (fused qkv + output). */
export function initAttention(params: Params, name: string, dim: number, seed: Rng): void {
  initLinear(params, `${name}.qkv`, { in: dim, out: 3 * dim }, { seed });
  initLinear(params, `${name}.out`, { in: dim, out: dim }, { seed });
}

/**
 * Multi-head self-attention over the middle axis of `x` `[B, N, dim]`:
 * batched matmuls and a softmax, no convolutions.
 */
export function attention(
  params: Params,
  name: string,
  x: tf.Tensor3D,
  heads: number,
): tf.Tensor3D {
  const [b, n, d] = x.shape;
  if (d % heads !== 0) fail(`attention(${name})`, `width divisible by ${heads} heads`, d);
  const dh = d / heads;
  return tf.tidy(() => {
    const projected = linear(params, `${name}.qkv`, x) as tf.Tensor3D; // [B, N, 3·d]
    // on webgpu one fused program each way (lib/tensor/_kernels/webgpu_fused.ts)
    const merged = webgpuAttention(projected, heads) ?? tf.tidy(() => {
      const qkv = projected.reshape([b, n, 3, heads, dh]).transpose([2, 0, 3, 1, 4]); // [3, B, h, N, dh]
      const [q, k, v] = tf.unstack(qkv, 0).map((t) => t.reshape([b * heads, n, dh]));
      const scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(dh));
      const mixed = tf.matMul(tf.softmax(scores), v); // [B*h, N, dh]
      return mixed.reshape([b, heads, n, dh]).transpose([0, 2, 1, 3]).reshape([b, n, d]);
    });
    return linear(params, `${name}.out`, merged) as tf.Tensor3D;
  });
}

/** Adds a two-layer MLP `name` (`dim → hidden → dim`, GELU). */
export function initMlp(
  params: Params,
  name: string,
  dims: { dim: number; hidden: number },
  seed: Rng,
): void {
  initLinear(params, `${name}.fc1`, { in: dims.dim, out: dims.hidden }, { seed });
  initLinear(params, `${name}.fc2`, { in: dims.hidden, out: dims.dim }, { seed });
}

/** The two-layer MLP with a tanh-approximated GELU. */
export function mlp(params: Params, name: string, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => linear(params, `${name}.fc2`, gelu(linear(params, `${name}.fc1`, x))));
}

/**
 * GELU, tanh approximation (tfjs has no fused GELU with a gradient on every
 * backend; on webgpu the kit's own: lib/tensor/_kernels/webgpu_fused.ts).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return webgpuGelu(x) ?? tf.tidy(() => {
    const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(0.5).mul(tf.tanh(inner).add(1));
  });
}

/** Numerically safe log σ(x) = −softplus(−x). */
export function logSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.softplus(x.neg()).neg());
}

/** Options for {@linkcode initTransformerBlock}. */
export interface TransformerBlockInit {
  /** Token width. */
  dim: number;
  /** MLP hidden width. Default 4·dim. */
  hidden?: number;
  /**
   * Width of an adaLN conditioning vector; when set, the block's norms are
   * affine-free and shift/scale/gate come from the conditioning (adaLN-zero:
   * gates start at 0 so the block starts as the identity). Default: none.
   */
  condDim?: number;
  /** Seed source. */
  seed?: number | Rng;
}

/** Adds a pre-norm transformer block `name` (attention + MLP). */
export function initTransformerBlock(
  params: Params,
  name: string,
  init: TransformerBlockInit,
): void {
  const dim = checkInt(`initTransformerBlock(${name})`, "dim", init.dim);
  const rng = typeof init.seed === "object" ? init.seed : createRng(init.seed ?? 0);
  initAttention(params, `${name}.attn`, dim, rng);
  initMlp(params, `${name}.mlp`, { dim, hidden: init.hidden ?? 4 * dim }, rng);
  if (init.condDim) {
    initLinear(params, `${name}.ada`, { in: init.condDim, out: 6 * dim }, { init: "zeros" });
  } else {
    initLayerNorm(params, `${name}.ln1`, dim);
    initLayerNorm(params, `${name}.ln2`, dim);
  }
}

/** Options for {@linkcode transformerBlock}. */
export interface TransformerBlockOptions {
  /** Attention heads. */
  heads: number;
  /** Conditioning `[B, condDim]` for adaLN blocks; `x` is then `[B·G, N, dim]` with G groups per item. */
  cond?: tf.Tensor2D;
}

/**
 * Applies a pre-norm transformer block to `x` `[B, N, dim]` (attention over N).
 * With adaLN, `cond` may have fewer rows than `x` when `x` packs several
 * sequences per batch item (e.g. one per frame): rows are repeated to match.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createParams, disposeParams, initTransformerBlock, transformerBlock } from "@halo/kit/tensor";
 * const params = createParams();
 * initTransformerBlock(params, "block0", { dim: 8, seed: 1 });
 * const y = transformerBlock(params, "block0", tf.ones([2, 5, 8]), { heads: 2 });
 * console.log(y.shape); // [2, 5, 8]
 * disposeParams(params);
 * ```
 */
export function transformerBlock(
  params: Params,
  name: string,
  x: tf.Tensor3D,
  options: TransformerBlockOptions,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [rows, , dim] = x.shape;
    if (!options.cond) {
      const h = x.add(
        attention(
          params,
          `${name}.attn`,
          layerNorm(x, params, `${name}.ln1`) as tf.Tensor3D,
          options.heads,
        ),
      );
      return h.add(mlp(params, `${name}.mlp`, layerNorm(h, params, `${name}.ln2`))) as tf.Tensor3D;
    }
    const cond = options.cond;
    const groups = rows / cond.shape[0];
    if (!Number.isInteger(groups)) {
      fail(`transformerBlock(${name})`, `x rows a multiple of cond rows ${cond.shape[0]}`, rows);
    }
    // [B, 6, dim] → per-row [rows, 1, dim] chunks
    let mod = linear(params, `${name}.ada`, tf.sigmoid(cond).mul(cond)).reshape([
      cond.shape[0],
      1,
      6,
      dim,
    ]);
    if (groups > 1) mod = tf.tile(mod, [1, groups, 1, 1]).reshape([rows, 1, 6, dim]);
    else mod = mod.reshape([rows, 1, 6, dim]);
    const [shift1, scale1, gate1, shift2, scale2, gate2] = tf.unstack(mod, 2);
    const a = modulatedLayerNorm(x, shift1, scale1);
    const h = x.add(attention(params, `${name}.attn`, a, options.heads).mul(gate1)) as tf.Tensor3D;
    const m = modulatedLayerNorm(h, shift2, scale2);
    return h.add(mlp(params, `${name}.mlp`, m).mul(gate2)) as tf.Tensor3D;
  });
}

/**
 * Gradients of `loss` with respect to the trainable parameters, keyed by
 * parameter name (tfjs keys them by its internal variable names).
 */
export function paramGrads(
  params: Params,
  loss: () => tf.Scalar,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const entries = [...params].filter(([, v]) => v.trainable);
  const { value, grads } = tf.variableGrads(loss, entries.map(([, v]) => v));
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of entries) out[name] = grads[v.name];
  return { value, grads: out };
}
