/**
 * WebGPU work the kit does itself instead of through tfjs' stock kernels
 * (issue 13; the profile behind it is in bench/NOTES.md, "The GPU route").
 *
 * - **Adam** lives in lib/tensor/_kernels/webgpu_adam.ts (flat moments, in-place updates),
 *   fused ops with gradients in lib/tensor/_kernels/webgpu_fused.ts; both build on the
 *   program type, `program()`, defined here.
 * - **Sums over leading axes** (every bias and modulation gradient): one
 *   column-sum dispatch up to 16,384 rows, where tfjs transposes and reduces.
 * - **Dispatch limits**: WebGPU allows at most 65,535 workgroups per
 *   dimension, and tfjs-webgpu 4.22 lays some programs out in two or three
 *   dimensions, which fail past that ("Dispatch size exceeds WebGPU limits in
 *   Y or Z dimension"): the 2-D transpose (tiles of 16 rows, so past 1,048,560
 *   rows — the per-pixel decoder's rows at batch 64) and the matmuls (tiles of
 *   up to 32 rows of the left operand, past about 2 million rows: batch 128+).
 *   The `Transpose`, `BatchMatMul` and reduction kernels registered here route
 *   those shapes to layouts that fit (a rank-3 transpose, which tfjs lays out
 *   flat; the left operand's rows folded into the batch dimension) and pass
 *   every other call to tfjs' own kernel. `Softmax`, one workgroup per row,
 *   runs past 65,535 rows (attention at batch 256) in chunks: tfjs' 2-D
 *   spread of the rows would write past the last one.
 * - **Bindings**: a tensor larger than the adapter's
 *   `maxStorageBufferBindingSize` (128 MiB on lavapipe: the per-pixel decoder's
 *   activations past batch 64) cannot be bound; WebGPU only reports it as an
 *   uncaptured error and the result is garbage, so the kit throws first.
 *
 * Installed when the webgpu backend is activated (lib/tensor/backend.ts);
 * `HALO_WEBGPU_KERNELS=stock` keeps tfjs' own kernels, Adam and ops.
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** The part of tfjs-backend-webgpu's `WebGPUBackend` used here. */
export interface WebGpuBackendLike {
  runWebGPUProgram(
    program: unknown,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: Array<{ type: string; data: number[] }>,
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  disposeData(dataId: tf.DataId): boolean;
  refCount(dataId: tf.DataId): number;
  device: {
    limits: { maxComputeWorkgroupsPerDimension: number; maxStorageBufferBindingSize: number };
  };
}

type KernelArgs = {
  inputs: Record<string, tf.TensorInfo>;
  backend: WebGpuBackendLike;
  attrs: Record<string, unknown>;
};
type KernelImpl = (args: KernelArgs) => tf.TensorInfo;

let enabled = readEnv();

function readEnv(): boolean {
  try {
    return Deno.env.get("HALO_WEBGPU_KERNELS") !== "stock";
  } catch {
    return true;
  }
}

/**
 * Whether the kit's WebGPU kernels and in-place Adam are on (the default), and
 * switches them (`HALO_WEBGPU_KERNELS=stock` starts with them off); returns the
 * previous setting. Only the webgpu backend is affected.
 *
 * @example
 * ```ts
 * import { setFastWebGpuKernels } from "@halo/kit/tensor";
 * const before = setFastWebGpuKernels(false); // tfjs' own kernels and Adam from here on
 * setFastWebGpuKernels(before);
 * ```
 */
export function setFastWebGpuKernels(on: boolean): boolean {
  const before = enabled;
  enabled = on;
  return before;
}

/** Whether the kit's WebGPU kernels and in-place Adam are on. */
export function fastWebGpuKernelsEnabled(): boolean {
  return enabled;
}

/** Workgroup size of the flat programs below. */
export const WG = 128;

/** A minimal tfjs-webgpu program: flat layout over `outputShape`, user code in WGSL. */
export function program(
  key: string,
  outputShape: number[],
  variableNames: string[],
  uniforms: string,
  code: string,
  dispatch?: [number, number, number],
) {
  const size = outputShape.reduce((a, b) => a * b, 1);
  return {
    variableNames,
    outputShape,
    shaderKey: key,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: dispatch ?? [Math.ceil(size / WG), 1, 1],
    workgroupSize: [WG, 1, 1],
    size: true,
    uniforms,
    getUserCode: () => code,
  };
}

/** Largest row count whose tiles of `rowsPerTile` rows fit one dispatch dimension. */
function maxRows(backend: WebGpuBackendLike, rowsPerTile: number): number {
  return backend.device.limits.maxComputeWorkgroupsPerDimension * rowsPerTile;
}

/** The reductions that transpose a leading axis to the end first. */
const REDUCTIONS = ["Sum", "Mean", "Max", "Min"];

/** The stock kernels the overrides fall back to. */
const stock = new Map<string, KernelImpl>();

function reshapeInfo(backend: WebGpuBackendLike, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return (stock.get("Reshape")!)({ inputs: { x }, backend, attrs: { shape } });
}

const transposeKernel: KernelImpl = (args) => {
  const { inputs: { x }, backend, attrs } = args;
  const perm = attrs.perm as number[];
  // The 2-D path (TransposeSharedProgram) tiles 16×16 and lays rows on Y.
  if (
    !enabled || x.shape.length !== 2 || perm[0] !== 1 ||
    Math.max(x.shape[0], x.shape[1]) <= maxRows(backend, 16)
  ) {
    return stock.get("Transpose")!(args);
  }
  const x3 = reshapeInfo(backend, x, [1, x.shape[0], x.shape[1]]);
  const y3 = stock.get("Transpose")!({ inputs: { x: x3 }, backend, attrs: { perm: [0, 2, 1] } });
  const y = reshapeInfo(backend, y3, [x.shape[1], x.shape[0]]);
  backend.disposeData(x3.dataId);
  backend.disposeData(y3.dataId);
  return y;
};

/** Rows a thread of {@linkcode leadingSum} adds up (lavapipe stops loops past ~65k iterations). */
const COLUMN_SUM_ROWS = 16_384;

const columnSumCode = `
  fn main(index : i32) {
    if (index < uniforms.size) {
      var s = 0.0;
      for (var r = 0; r < uniforms.rows; r++) { s = s + X[r * uniforms.size + index]; }
      result[index] = s;
    }
  }`;

/**
 * A sum over the leading axes (every bias and modulation gradient): one
 * column-sum dispatch where tfjs transposes and then reduces (two). Undefined
 * when the axes are not the leading ones or the rows are too many for one
 * thread's loop.
 */
function leadingSum(
  backend: WebGpuBackendLike,
  x: tf.TensorInfo,
  axes: number[],
  keepDims: boolean,
): tf.TensorInfo | undefined {
  const k = axes.length;
  if (k === 0 || k === x.shape.length || !axes.every((a, i) => a === i) || x.shape.length > 6) {
    return undefined;
  }
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(k);
  const cols = inner.reduce((a, b) => a * b, 1);
  if (rows > COLUMN_SUM_ROWS || cols === 0) return undefined;
  const shape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...inner] : inner;
  return backend.runWebGPUProgram(
    program("halo_colsum", shape.length ? shape : [1], ["X"], "rows : i32,", columnSumCode),
    [x],
    "float32",
    [{ type: "int32", data: [rows] }],
  );
}

/**
 * A reduction whose axes are not innermost transposes first, calling tfjs'
 * transpose directly (not the registered kernel): route the 2-D case that
 * would overflow Y through {@linkcode transposeKernel}, then reduce inner axes.
 */
const reduceKernel = (name: string): KernelImpl => (args) => {
  const { inputs: { x }, backend, attrs } = args;
  const rank = x.shape.length;
  // Sum and Mean name their axes `axis`, Max and Min `reductionIndices`.
  const key = "axis" in attrs ? "axis" : "reductionIndices";
  const axes = tf.util.parseAxisParam(attrs[key] as number | number[], x.shape);
  if (enabled && name === "Sum" && x.dtype === "float32") {
    const summed = leadingSum(backend, x, axes, Boolean(attrs.keepDims));
    if (summed) return summed;
  }
  if (
    !enabled || rank !== 2 || axes.length !== 1 || axes[0] !== 0 ||
    Math.max(x.shape[0], x.shape[1]) <= maxRows(backend, 16)
  ) {
    return stock.get(name)!(args);
  }
  const xT = transposeKernel({ inputs: { x }, backend, attrs: { perm: [1, 0] } });
  const reduced = stock.get(name)!({
    inputs: { x: xT },
    backend,
    attrs: { [key]: [1], keepDims: false },
  });
  backend.disposeData(xT.dataId);
  if (!attrs.keepDims) return reduced;
  const y = reshapeInfo(backend, reduced, [1, x.shape[1]]);
  backend.disposeData(reduced.dataId);
  return y;
};

const batchMatMulKernel: KernelImpl = (args) => {
  const { inputs: { a, b }, backend, attrs } = args;
  const rank = a.shape.length;
  const rows = a.shape[rank - 2];
  const limit = maxRows(backend, 16);
  const batchA = a.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  if (!enabled || attrs.transposeA || rows <= limit || batchA !== 1 || batchB !== 1) {
    return stock.get("BatchMatMul")!(args);
  }
  // Fold the rows of A into the batch: [1, M, K] → [s, M/s, K] against B broadcast over s.
  let s = Math.ceil(rows / limit);
  while (rows % s !== 0) s++;
  if (s > backend.device.limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(
      `BatchMatMul (webgpu): Expected a left operand whose ${rows} rows split into at most ` +
        `${backend.device.limits.maxComputeWorkgroupsPerDimension} equal parts of ≤ ${limit} ` +
        `but found none (shape ${a.shape}); use a smaller batch`,
    );
  }
  const k = a.shape[rank - 1];
  const a3 = reshapeInfo(backend, a, [s, rows / s, k]);
  const b3 = reshapeInfo(backend, b, [1, b.shape[b.shape.length - 2], b.shape[b.shape.length - 1]]);
  const y3 = stock.get("BatchMatMul")!({ inputs: { a: a3, b: b3 }, backend, attrs });
  const cols = y3.shape[2];
  const y = reshapeInfo(backend, y3, [...a.shape.slice(0, -2), rows, cols]);
  for (const t of [a3, b3, y3]) backend.disposeData(t.dataId);
  return y;
};

/**
 * Softmax runs one workgroup per row; past 65,535 rows tfjs spreads the rows
 * over a 2-D grid with surplus workgroups that write past the last row (no
 * bounds check in its shader). Softmax the rows in chunks that fit instead.
 */
const softmaxKernel: KernelImpl = (args) => {
  const { inputs: { logits }, backend } = args;
  const cols = logits.shape[logits.shape.length - 1];
  const rows = logits.shape.reduce((a, b) => a * b, 1) / cols;
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  if (!enabled || rows <= limit) return stock.get("Softmax")!(args);
  const flat = reshapeInfo(backend, logits, [rows, cols]);
  const parts: tf.TensorInfo[] = [];
  for (let start = 0; start < rows; start += limit) {
    const n = Math.min(limit, rows - start);
    const part = stock.get("Slice")!({
      inputs: { x: flat },
      backend,
      attrs: { begin: [start, 0], size: [n, cols] },
    });
    parts.push(stock.get("Softmax")!({ inputs: { logits: part }, backend, attrs: { dim: 1 } }));
    backend.disposeData(part.dataId);
  }
  // Concat takes its inputs as an array
  const inputs = parts as unknown as Record<string, tf.TensorInfo>;
  const joined = stock.get("Concat")!({ inputs, backend, attrs: { axis: 0 } });
  const y = reshapeInfo(backend, joined, [...logits.shape]);
  for (const t of [flat, joined, ...parts]) backend.disposeData(t.dataId);
  return y;
};

/** The active webgpu adapter's `maxStorageBufferBindingSize` in bytes; undefined on other backends. */
export function webgpuBindingLimit(): number | undefined {
  if (tf.getBackend() !== "webgpu") return undefined;
  return (tf.backend() as unknown as WebGpuBackendLike).device.limits.maxStorageBufferBindingSize;
}

/**
 * Makes the active webgpu backend refuse a kernel whose input or output is
 * larger than the adapter lets one shader bind (`maxStorageBufferBindingSize`,
 * 128 MiB on lavapipe): WebGPU reports such a binding only as an uncaptured
 * validation error and the kernel's result is silently wrong. Called by
 * `initBackend` after it activates webgpu.
 */
export function guardWebGpuBindings(): void {
  const backend = tf.backend() as unknown as WebGpuBackendLike & { haloGuarded?: boolean };
  if (backend.haloGuarded) return;
  backend.haloGuarded = true;
  const original = backend.runWebGPUProgram;
  const limit = backend.device.limits.maxStorageBufferBindingSize;
  backend.runWebGPUProgram = function (this: unknown, program, inputs, dtype, uniforms, output) {
    const shapes = [
      (output ?? { shape: (program as { outputShape: number[] }).outputShape }).shape,
      ...inputs.map((t) => t.shape),
    ];
    for (const shape of shapes) {
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      if (bytes > limit) {
        const name = (program as { constructor: { name: string } }).constructor.name;
        throw new Error(
          `webgpu: Expected every tensor of a kernel to fit the adapter's maxStorageBufferBindingSize ` +
            `(${limit} bytes) but found [${shape}] (${bytes} bytes) in ${name}; use a smaller batch`,
        );
      }
    }
    return original.call(this, program, inputs, dtype, uniforms, output);
  };
}

/**
 * Registers the dispatch-limit kernels over tfjs' own for the webgpu backend
 * (once; they pass through when switched off). Called by `initBackend` when it
 * activates webgpu.
 */
export function installWebGpuKernels(): void {
  if (stock.size > 0) return;
  for (
    const name of [
      "Transpose",
      "BatchMatMul",
      "Softmax",
      "Reshape",
      "Slice",
      "Concat",
      ...REDUCTIONS,
    ]
  ) {
    const config = tf.getKernel(name, "webgpu");
    if (!config) throw new Error(`installWebGpuKernels: Expected tfjs' webgpu "${name}" kernel`);
    stock.set(name, config.kernelFunc as unknown as KernelImpl);
  }
  const overrides: Array<[string, KernelImpl]> = [
    ["Transpose", transposeKernel],
    ["BatchMatMul", batchMatMulKernel],
    ["Softmax", softmaxKernel],
    ...REDUCTIONS.map((name): [string, KernelImpl] => [name, reduceKernel(name)]),
  ];
  for (const [kernelName, kernelFunc] of overrides) {
    tf.unregisterKernel(kernelName, "webgpu");
    tf.registerKernel({ kernelName, backendName: "webgpu", kernelFunc: kernelFunc as never });
  }
}
