/**
 * Faster kernels for tfjs' wasm backend, registered over the stock ones
 * (see bench/NOTES.md for the profile behind them). The stock wasm
 * `BatchMatMul` only takes XNNPACK's fast path when neither operand is
 * transposed; with `transposeA`/`transposeB` — every weight and input
 * gradient of a linear layer — it falls back to a scalar loop about 10×
 * slower. The stock `Transpose` walks ranks ≥ 3 with per-element index
 * arithmetic at about 50 ns per value; `Tile` is as slow, and `Sum` over
 * leading axes (every bias gradient) transposes first. Here transposed matmuls first
 * materialise the transposed operand and then call the stock kernel
 * untransposed, and transposes are a strided copy in JavaScript over the
 * wasm heap after merging axes that stay adjacent; tiles are row copies and
 * leading-axis sums one pass over the rows; integer powers (GELU's x³) are
 * products instead of `powf` calls; slices of rank ≥ 5 (a per-value
 * TensorBuffer walk in the stock kernel, ~90 ms for one channel of 16 clips)
 * concatenations and splits (the gradient of a concatenation) are row
 * copies. Results are the same
 * values (transposes are exact copies; matmuls differ from the stock kernel
 * only in summation order, ~1e-7 relative). Installed on import; set
 * `HALO_WASM_KERNELS=stock` to keep tfjs' own kernels, or call
 * {@linkcode setFastWasmKernels}.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { fail } from "../../core/_errors.ts";

/** The part of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId): boolean;
}

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: WasmBackendLike;
  attrs: Record<string, unknown>;
};
type KernelImpl = (args: KernelArgs) => tf.TensorInfo;

/** Names of the kernels this module replaces. */
export const FAST_WASM_KERNELS: readonly string[] = Object.freeze([
  "Transpose",
  "BatchMatMul",
  "Tile",
  "Sum",
  "Pow",
  "Slice",
  "Concat",
  "SplitV",
]);

let active = new Set<string>(readEnv() ? FAST_WASM_KERNELS : []);
const stock = new Map<string, KernelImpl>();

function readEnv(): boolean {
  try {
    return Deno.env.get("HALO_WASM_KERNELS") !== "stock";
  } catch {
    return true;
  }
}

/**
 * Switches between the kit's wasm kernels (`true`, the default) and tfjs'
 * stock ones (`false`), or enables only the named ones (for A/B timing);
 * returns the previous setting. Only the wasm backend is affected.
 *
 * @example
 * ```ts
 * import { setFastWasmKernels } from "@halo/kit/tensor";
 * const before = setFastWasmKernels(false); // stock tfjs kernels from here on
 * setFastWasmKernels(before);
 * ```
 */
export function setFastWasmKernels(on: boolean | readonly string[]): boolean | string[] {
  const before = active.size === FAST_WASM_KERNELS.length
    ? true
    : active.size
    ? [...active]
    : false;
  if (Array.isArray(on)) {
    for (const name of on) {
      if (!FAST_WASM_KERNELS.includes(name)) {
        fail("setFastWasmKernels", `kernel names among ${FAST_WASM_KERNELS.join(", ")}`, name);
      }
    }
  }
  active = new Set(on === true ? FAST_WASM_KERNELS : on === false ? [] : on as readonly string[]);
  return before;
}

/** Whether the kit's wasm kernels are active (see {@linkcode setFastWasmKernels}). */
export function fastWasmKernelsEnabled(): boolean {
  return active.size > 0;
}

/**
 * Shape and permutation with size-1 axes dropped and runs of input axes that
 * stay adjacent and in order in the output merged into one axis.
 */
export function simplifyTranspose(
  shape: readonly number[],
  perm: readonly number[],
): { shape: number[]; perm: number[] } {
  const keep = shape.map((d) => d !== 1);
  const remap: number[] = [];
  let k = 0;
  for (let i = 0; i < shape.length; i++) remap.push(keep[i] ? k++ : -1);
  let s = shape.filter((d) => d !== 1);
  let p = perm.filter((a) => keep[a]).map((a) => remap[a]);
  // merge input axes a, a+1 that appear as consecutive output axes
  for (let changed = true; changed;) {
    changed = false;
    for (let j = 0; j + 1 < p.length; j++) {
      if (p[j + 1] === p[j] + 1) {
        const a = p[j];
        s = [...s.slice(0, a), s[a] * s[a + 1], ...s.slice(a + 2)];
        p = [...p.slice(0, j + 1), ...p.slice(j + 2)].map((x) => (x > a ? x - 1 : x));
        changed = true;
        break;
      }
    }
  }
  return { shape: s, perm: p };
}

/** Writes the transpose of `src` (of `shape`) by `perm` into `dst`, in output order. */
export function transposeArray(
  src: ArrayLike<number>,
  dst: { [i: number]: number; length: number },
  shape: readonly number[],
  perm: readonly number[],
): void {
  const simple = simplifyTranspose(shape, perm);
  const rank = simple.shape.length;
  if (rank <= 1) {
    for (let i = 0; i < dst.length; i++) dst[i] = src[i];
    return;
  }
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * simple.shape[i + 1];
  const outShape = simple.perm.map((a) => simple.shape[a]);
  const st = simple.perm.map((a) => inStrides[a]);
  const n = outShape[rank - 1];
  const s = st[rank - 1];
  const total = dst.length;
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  let o = 0;
  while (o < total) {
    if (s === 1) {
      for (let j = 0; j < n; j++) dst[o++] = src[base + j];
    } else {
      for (let j = 0, q = base; j < n; j++, q += s) dst[o++] = src[q];
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      base += st[d];
      if (idx[d] < outShape[d]) break;
      base -= st[d] * outShape[d];
      idx[d] = 0;
    }
  }
}

function transposeInfo(
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  perm: readonly number[],
): tf.TensorInfo {
  const outShape = perm.map((a) => x.shape[a]);
  const out = backend.makeOutput(outShape, x.dtype);
  // makeOutput may grow the heap, so views are taken after it
  transposeArray(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), x.shape, perm);
  return out;
}

const JS_DTYPES = new Set(["float32", "int32", "bool"]);

function transposeKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const perm = args.attrs.perm as number[];
  if (
    !active.has("Transpose") || !JS_DTYPES.has(x.dtype) ||
    simplifyTranspose(x.shape, perm).shape.length < 3
  ) {
    // identity and 2-D transposes are fast in the stock kernel
    return stock.get("Transpose")!(args);
  }
  return transposeInfo(args.backend, x, perm);
}

function lastTwoSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function batchMatMulKernel(args: KernelArgs): tf.TensorInfo {
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const run = stock.get("BatchMatMul")!;
  if (!active.has("BatchMatMul") || (!transposeA && !transposeB)) return run(args);
  const { a, b } = args.inputs;
  const backend = args.backend;
  const temps: tf.TensorInfo[] = [];
  const flip = (x: tf.TensorInfo) => {
    const t = transposeInfo(backend, x, lastTwoSwapped(x.shape.length));
    temps.push(t);
    return t;
  };
  try {
    return run({
      inputs: { a: transposeA ? flip(a) : a, b: transposeB ? flip(b) : b },
      backend,
      attrs: { ...args.attrs, transposeA: false, transposeB: false },
    });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

function install(name: string, impl: KernelImpl): void {
  const config = tf.getKernel(name, "wasm");
  if (!config || stock.has(name)) return;
  stock.set(name, config.kernelFunc as unknown as KernelImpl);
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({
    ...config,
    kernelFunc: impl as unknown as tf.KernelFunc,
  });
}

/** Writes `src` (of `shape`) tiled `reps` times along each axis into `dst`. */
export function tileArray(
  src: ArrayLike<number>,
  dst: { [i: number]: number; length: number },
  shape: readonly number[],
  reps: readonly number[],
): void {
  const rank = shape.length;
  if (rank === 0) {
    for (let i = 0; i < dst.length; i++) dst[i] = src[0];
    return;
  }
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  const outShape = shape.map((d, i) => d * reps[i]);
  const n = shape[rank - 1];
  const rowReps = reps[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  let o = 0;
  while (o < dst.length) {
    for (let r = 0; r < rowReps; r++) {
      for (let j = 0; j < n; j++) dst[o++] = src[base + j];
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      base += inStrides[d];
      if (idx[d] % shape[d] === 0) base -= inStrides[d] * shape[d];
      if (idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
}

function tileKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const reps = args.attrs.reps as number[];
  if (!active.has("Tile") || !JS_DTYPES.has(x.dtype) || reps.length !== x.shape.length) {
    return stock.get("Tile")!(args);
  }
  const out = args.backend.makeOutput(x.shape.map((d, i) => d * reps[i]), x.dtype);
  const backend = args.backend;
  tileArray(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), x.shape, reps);
  return out;
}

/**
 * Sums `src` viewed as `[outer, inner]` over its first axis into `dst`
 * (length `inner`), in float32 like the stock kernel.
 */
export function sumLeadingArray(
  src: ArrayLike<number>,
  dst: { [i: number]: number; length: number },
  outer: number,
  inner: number,
): void {
  for (let j = 0; j < inner; j++) dst[j] = 0;
  for (let i = 0, q = 0; i < outer; i++) {
    for (let j = 0; j < inner; j++, q++) dst[j] += src[q];
  }
}

function sumKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const rank = x.shape.length;
  const raw = args.attrs.axis as number | number[];
  const axes = [...new Set((Array.isArray(raw) ? raw : [raw]).map((a) => (a < 0 ? a + rank : a)))]
    .sort((a, b) => a - b);
  // only reductions over leading axes (bias gradients: [rows, features] → [features]);
  // the stock kernel transposes those to the end first, which is the slow part
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (!active.has("Sum") || x.dtype !== "float32" || !leading) return stock.get("Sum")!(args);
  const outer = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const kept = x.shape.slice(axes.length);
  const shape = args.attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const backend = args.backend;
  const out = backend.makeOutput(shape, "float32");
  const inner = kept.reduce((a, b) => a * b, 1);
  sumLeadingArray(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), outer, inner);
  return out;
}

function powKernel(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs;
  const backend = args.backend;
  const scalar = b.shape.reduce((x, y) => x * y, 1) === 1 && b.shape.length <= a.shape.length;
  const e = scalar && b.dtype === "float32" ? backend.typedArrayFromHeap(b)[0] : NaN;
  // integer powers (GELU's x³ and its gradient's x²): the stock kernel calls powf per value
  if (
    !active.has("Pow") || a.dtype !== "float32" || !Number.isInteger(e) || Math.abs(e) > 4
  ) {
    return stock.get("Pow")!(args);
  }
  const out = backend.makeOutput([...a.shape], "float32");
  const src = backend.typedArrayFromHeap(a);
  const dst = backend.typedArrayFromHeap(out);
  const n = dst.length;
  if (e === 2) { for (let i = 0; i < n; i++) dst[i] = src[i] * src[i]; }
  else if (e === 3) { for (let i = 0; i < n; i++) dst[i] = src[i] * src[i] * src[i]; }
  else for (let i = 0; i < n; i++) dst[i] = Math.pow(src[i], e);
  return out;
}

/** Copies the box `begin`…`begin+size` of `src` (of `shape`) into `dst`, row by row. */
export function sliceArray(
  src: ArrayLike<number>,
  dst: { [i: number]: number; length: number },
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  // the innermost run: trailing axes taken whole, plus the first partial one
  let d = rank - 1;
  while (d > 0 && size[d] === shape[d]) d--;
  const run = size[d] * strides[d];
  let base = 0;
  for (let i = 0; i <= d; i++) base += begin[i] * strides[i];
  const idx = new Array<number>(d).fill(0);
  let o = 0;
  while (o < dst.length) {
    for (let j = 0; j < run; j++) dst[o++] = src[base + j];
    for (let a = d - 1; a >= 0; a--) {
      idx[a]++;
      base += strides[a];
      if (idx[a] < size[a]) break;
      base -= strides[a] * size[a];
      idx[a] = 0;
    }
  }
}

function sliceKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x;
  const rank = x.shape.length;
  if (!active.has("Slice") || !JS_DTYPES.has(x.dtype) || rank < 5) {
    // ranks ≤ 4 have unrolled loops in the stock kernel; ≥ 5 go through a per-value TensorBuffer
    return stock.get("Slice")!(args);
  }
  // begin and size may be numbers (axis 0) or shorter than the rank: tfjs' own parsing
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as tf.Tensor,
    args.attrs.begin as number | number[],
    args.attrs.size as number | number[],
  );
  if (begin.length !== rank || size.some((v) => v === 0)) return stock.get("Slice")!(args);
  const backend = args.backend;
  const out = backend.makeOutput(size, x.dtype);
  sliceArray(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), x.shape, begin, size);
  return out;
}

function concatKernel(args: KernelArgs): tf.TensorInfo {
  const inputs = Object.values(args.inputs);
  const first = inputs[0];
  const rank = first?.shape.length ?? 0;
  const rawAxis = args.attrs.axis as number | number[];
  const axis0 = Array.isArray(rawAxis) ? rawAxis[0] : rawAxis;
  const axis = axis0 < 0 ? axis0 + rank : axis0;
  const ok = active.has("Concat") && inputs.length > 1 && JS_DTYPES.has(first.dtype) &&
    inputs.every((t) =>
      t.dtype === first.dtype && t.shape.length === rank &&
      t.shape.every((d, i) => d > 0 && (i === axis || d === first.shape[i]))
    );
  if (!ok) return stock.get("Concat")!(args);
  const outShape = [...first.shape];
  outShape[axis] = inputs.reduce((a, t) => a + t.shape[axis], 0);
  const backend = args.backend;
  const out = backend.makeOutput(outShape, first.dtype);
  const dst = backend.typedArrayFromHeap(out);
  const outer = first.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const srcs = inputs.map((t) => backend.typedArrayFromHeap(t));
  const inners = inputs.map((t) => t.shape.slice(axis).reduce((a, b) => a * b, 1));
  let o = 0;
  for (let r = 0; r < outer; r++) {
    for (let k = 0; k < srcs.length; k++) {
      const src = srcs[k];
      const n = inners[k];
      for (let j = 0, q = r * n; j < n; j++, q++) dst[o++] = src[q];
    }
  }
  return out;
}

function splitVKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = args.inputs.x;
  const rank = x.shape.length;
  const rawAxis = args.attrs.axis as number | number[];
  const axis0 = Array.isArray(rawAxis) ? rawAxis[0] : rawAxis;
  const axis = axis0 < 0 ? axis0 + rank : axis0;
  const spec = args.attrs.numOrSizeSplits as number | number[];
  const total = x.shape[axis];
  let sizes: number[];
  if (typeof spec === "number") sizes = new Array(spec).fill(total / spec);
  else {
    const known = spec.reduce((a, v) => (v === -1 ? a : a + v), 0);
    sizes = spec.map((v) => (v === -1 ? total - known : v));
  }
  const run = stock.get("SplitV") as unknown as (a: KernelArgs) => tf.TensorInfo[];
  if (
    !active.has("SplitV") || !JS_DTYPES.has(x.dtype) || sizes.some((v) => !(v > 0)) ||
    !Number.isInteger(sizes[0]) || sizes.reduce((a, v) => a + v, 0) !== total
  ) {
    return run(args);
  }
  // the stock kernel slices each part separately (last-axis parts: one tiny copy per row)
  const backend = args.backend;
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outs = sizes.map((size) => {
    const shape = [...x.shape];
    shape[axis] = size;
    return backend.makeOutput(shape, x.dtype);
  });
  const src = backend.typedArrayFromHeap(x);
  let offset = 0;
  outs.forEach((out, k) => {
    const dst = backend.typedArrayFromHeap(out);
    const n = sizes[k] * inner;
    for (let r = 0, o = 0; r < outer; r++) {
      const q = r * total * inner + offset;
      for (let j = 0; j < n; j++) dst[o++] = src[q + j];
    }
    offset += n;
  });
  return outs;
}

install("Transpose", transposeKernel);
install("BatchMatMul", batchMatMulKernel);
install("Tile", tileKernel);
install("Sum", sumKernel);
install("Pow", powKernel);
install("Slice", sliceKernel);
install("Concat", concatKernel);
install("SplitV", splitVKernel as unknown as KernelImpl);
