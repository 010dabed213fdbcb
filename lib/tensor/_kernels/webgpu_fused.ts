/**
 * Fused ops with their gradients on the webgpu backend (issue 13): each is a
 * `tf.customGrad` over WGSL programs run with `runWebGPUProgram`, used only
 * when the backend is webgpu and the kit's kernels are on; elsewhere the
 * callers compose the same formula from tfjs ops.
 *
 * - adaLN's modulated layer norm, LN(x)·(1 + scale) + shift: one dispatch
 *   forward and four backward (tfjs: about 10 kernels forward and 25 for the
 *   gradient), 9 times a generator step. One thread per row of `D` values —
 *   the kit's rows are short (D = 96), so a workgroup-wide reduction would buy
 *   nothing. Each row's sums are taken in order (tfjs' reductions sum in
 *   another order: ~1e-7 relative).
 * - Linear layers: the bias added in the matmul's shader (tfjs' fused matmul).
 * - Attention from the fused qkv projection: one dispatch forward, two backward.
 * - GELU (tanh approximation): one dispatch forward and one backward (tfjs:
 *   about 8 and 14), 5 times a step. tanh is computed as tfjs-webgpu does,
 *   sign(a)·(1 − e^(−2|a|))/(1 + e^(−2|a|)), which cannot overflow.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { fastWebGpuKernelsEnabled, program, type WebGpuBackendLike, WG } from "./webgpu.ts";

const UNIFORMS = "rows : i32, n : i32, d : i32, eps : f32,";
/** The uniforms of the elementwise programs (GELU): only tfjs' own `size`. */
const NO_UNIFORMS = "";

/** Row statistics in WGSL: mean and 1/σ of row `row` of X. */
const STATS = `
  fn rowStats(row : i32) -> vec2<f32> {
    let base = row * uniforms.d;
    var mean = 0.0;
    for (var k = 0; k < uniforms.d; k++) { mean = mean + X[base + k]; }
    mean = mean / f32(uniforms.d);
    var v = 0.0;
    for (var k = 0; k < uniforms.d; k++) { let c = X[base + k] - mean; v = v + c * c; }
    return vec2<f32>(mean, inverseSqrt(v / f32(uniforms.d) + uniforms.eps));
  }`;

const forwardCode = `${STATS}
  fn main(row : i32) {
    if (row >= uniforms.rows) { return; }
    let s = rowStats(row);
    let base = row * uniforms.d;
    let m = (row / uniforms.n) * uniforms.d;
    for (var k = 0; k < uniforms.d; k++) {
      result[base + k] = (X[base + k] - s.x) * s.y * (1.0 + SC[m + k]) + SH[m + k];
    }
  }`;

const statsCode = `${STATS}
  fn main(row : i32) {
    if (row >= uniforms.rows) { return; }
    let s = rowStats(row);
    result[2 * row] = s.x;
    result[2 * row + 1] = s.y;
  }`;

const dxCode = `
  fn main(row : i32) {
    if (row >= uniforms.rows) { return; }
    let base = row * uniforms.d;
    let m = (row / uniforms.n) * uniforms.d;
    let mean = S[2 * row];
    let rstd = S[2 * row + 1];
    var m1 = 0.0;
    var m2 = 0.0;
    for (var k = 0; k < uniforms.d; k++) {
      let g = DY[base + k] * (1.0 + SC[m + k]);
      m1 = m1 + g;
      m2 = m2 + g * (X[base + k] - mean) * rstd;
    }
    m1 = m1 / f32(uniforms.d);
    m2 = m2 / f32(uniforms.d);
    for (var k = 0; k < uniforms.d; k++) {
      let g = DY[base + k] * (1.0 + SC[m + k]);
      result[base + k] = rstd * (g - m1 - (X[base + k] - mean) * rstd * m2);
    }
  }`;

/** dshift (scaled = 0) or dscale (scaled = 1) at (r, k): a sum over the n rows of group r. */
const dModCode = `
  fn main(index : i32) {
    if (index >= uniforms.rows) { return; }
    let r = index / uniforms.d;
    let k = index % uniforms.d;
    var sum = 0.0;
    for (var j = 0; j < uniforms.n; j++) {
      let row = r * uniforms.n + j;
      let dy = DY[row * uniforms.d + k];
      if (uniforms.scaled == 1) {
        sum = sum + dy * (X[row * uniforms.d + k] - S[2 * row]) * S[2 * row + 1];
      } else {
        sum = sum + dy;
      }
    }
    result[index] = sum;
  }`;

function run(
  key: string,
  code: string,
  outputShape: number[],
  threads: number,
  inputs: Record<string, tf.Tensor>,
  uniforms: Array<{ type: string; data: number[] }>,
  header = UNIFORMS,
): tf.Tensor {
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const info = backend.runWebGPUProgram(
    program(key, outputShape, Object.keys(inputs), header, code, [
      Math.ceil(threads / WG),
      1,
      1,
    ]),
    Object.values(inputs),
    "float32",
    uniforms,
  );
  return tf.engine().makeTensorFromTensorInfo(info);
}

const dims = (rows: number, n: number, d: number, eps: number) => [
  { type: "int32", data: [rows] },
  { type: "int32", data: [n] },
  { type: "int32", data: [d] },
  { type: "float32", data: [eps] },
];

type Fused = (x: tf.Tensor3D, shift: tf.Tensor, scale: tf.Tensor) => tf.Tensor3D;

/** The fused op for one ε (customGrad takes tensors only, so ε is closed over). */
function fusedOp(eps: number): Fused {
  return tf.customGrad((...args) => {
    const [x, shift, scale, save] = args as [
      tf.Tensor3D,
      tf.Tensor,
      tf.Tensor,
      (saved: tf.Tensor[]) => void,
    ];
    const [r, n, d] = x.shape;
    const rows = dims(r * n, n, d, eps);
    save([x, scale]);
    const value = run(
      "halo_mln_fwd",
      forwardCode,
      [r, n, d],
      r * n,
      { X: x, SH: shift, SC: scale },
      rows,
    );
    return {
      value: value as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, sc] = saved;
        const stats = run("halo_mln_stats", statsCode, [r * n, 2], r * n, { X: xs }, rows);
        const dx = run(
          "halo_mln_dx",
          dxCode,
          [r, n, d],
          r * n,
          { DY: dy, X: xs, SC: sc, S: stats },
          rows,
        );
        const dMod = (scaled: number) =>
          run(
            "halo_mln_dmod",
            dModCode,
            [r, 1, d],
            r * d,
            { DY: dy, X: xs, S: stats },
            [...dims(r * d, n, d, eps), { type: "int32", data: [scaled] }],
            UNIFORMS + "scaled : i32,",
          );
        const grads = [dx, dMod(0), dMod(1)];
        stats.dispose();
        return grads;
      },
    };
  }) as unknown as Fused;
}

const fusedByEps = new Map<number, Fused>();

/**
 * LN(x)·(1 + scale) + shift over the last axis of `x` [R, N, D], with `shift`
 * and `scale` [R, 1, D], as the kit's fused WGSL programs; undefined when the
 * backend is not webgpu or the kit's kernels are off (the caller composes it).
 */
export function webgpuModulatedLayerNorm(
  x: tf.Tensor3D,
  shift: tf.Tensor,
  scale: tf.Tensor,
  eps: number,
): tf.Tensor3D | undefined {
  if (!fastWebGpuKernelsEnabled() || tf.getBackend() !== "webgpu") return undefined;
  const [r, , d] = x.shape;
  const modShape = [r, 1, d];
  if (!tf.util.arraysEqual(shift.shape, modShape) || !tf.util.arraysEqual(scale.shape, modShape)) {
    return undefined;
  }
  let op = fusedByEps.get(eps);
  if (!op) fusedByEps.set(eps, op = fusedOp(eps));
  return op(x, shift, scale);
}

/** GELU's pieces in WGSL: the safe tanh and the inner argument √(2/π)·(x + 0.044715·x³). */
const GELU = `
  fn safeTanh(a : f32) -> f32 {
    let e = exp(-2.0 * abs(a));
    return sign(a) * (1.0 - e) / (1.0 + e);
  }
  fn inner(x : f32) -> f32 { return (x + x * x * x * 0.044715) * ${Math.sqrt(2 / Math.PI)}; }`;

const geluCode = `${GELU}
  fn main(index : i32) {
    if (index < uniforms.size) {
      let x = X[index];
      result[index] = x * 0.5 * (safeTanh(inner(x)) + 1.0);
    }
  }`;

const geluGradCode = `${GELU}
  fn main(index : i32) {
    if (index < uniforms.size) {
      let x = X[index];
      let t = safeTanh(inner(x));
      let dInner = ${Math.sqrt(2 / Math.PI)} * (1.0 + 3.0 * 0.044715 * x * x);
      result[index] = DY[index] * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dInner);
    }
  }`;

const fusedGelu = tf.customGrad((...args) => {
  const [x, save] = args as [tf.Tensor, (saved: tf.Tensor[]) => void];
  save([x]);
  const flat = (code: string, key: string, inputs: Record<string, tf.Tensor>) =>
    run(key, code, [...x.shape], x.size, inputs, [], NO_UNIFORMS);
  return {
    value: flat(geluCode, "halo_gelu_fwd", { X: x }),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      flat(geluGradCode, "halo_gelu_bwd", { DY: dy, X: saved[0] }),
  };
});

/**
 * GELU (tanh approximation) as the kit's fused WGSL programs; undefined when
 * the backend is not webgpu or the kit's kernels are off.
 */
export function webgpuGelu(x: tf.Tensor): tf.Tensor | undefined {
  if (!fastWebGpuKernelsEnabled() || tf.getBackend() !== "webgpu") return undefined;
  return fusedGelu(x);
}

/** Longest token row the fused attention keeps in a thread's local arrays. */
const MAX_TOKENS = 128;

const ATTN_UNIFORMS = "b : i32, n : i32, h : i32, dh : i32, scale : f32,";

/**
 * Attention's pieces in WGSL over the qkv projection laid out [b, n, 3, h, dh]:
 * `at(bb, t, part, hh)` is where token t's q (part 0), k (1) or v (2) of head hh
 * starts; `score` is q_i·k_j·scale.
 */
const ATTN = `
  fn at(bb : i32, t : i32, part : i32, hh : i32) -> i32 {
    return ((bb * uniforms.n + t) * 3 + part) * uniforms.h * uniforms.dh + hh * uniforms.dh;
  }
  fn score(bb : i32, i : i32, j : i32, hh : i32) -> f32 {
    let q = at(bb, i, 0, hh);
    let k = at(bb, j, 1, hh);
    var s = 0.0;
    for (var c = 0; c < uniforms.dh; c++) { s = s + QKV[q + c] * QKV[k + c]; }
    return s * uniforms.scale;
  }
  // the probabilities of query row i
  fn probs(bb : i32, i : i32, hh : i32) -> array<f32, ${MAX_TOKENS}> {
    var p : array<f32, ${MAX_TOKENS}>;
    var mx = -3.402823e+38;
    for (var j = 0; j < uniforms.n; j++) { p[j] = score(bb, i, j, hh); mx = max(mx, p[j]); }
    var sum = 0.0;
    for (var j = 0; j < uniforms.n; j++) { p[j] = exp(p[j] - mx); sum = sum + p[j]; }
    for (var j = 0; j < uniforms.n; j++) { p[j] = p[j] / sum; }
    return p;
  }
  // (batch, query row, head) of thread \`index\` over b·n·h threads
  fn query(index : i32) -> vec3<i32> {
    return vec3<i32>(index / (uniforms.h * uniforms.n), (index / uniforms.h) % uniforms.n, index % uniforms.h);
  }`;

/** The start of a (batch, query row, head) thread's main: bounds check, then bb, i, hh. */
const QUERY_THREAD = `if (index >= uniforms.b * uniforms.n * uniforms.h) { return; }
    let q = query(index);
    let bb = q.x;
    let i = q.y;
    let hh = q.z;`;

const attentionCode = `${ATTN}
  fn main(index : i32) {
    ${QUERY_THREAD}
    let p = probs(bb, i, hh);
    let o = ((bb * uniforms.n + i) * uniforms.h + hh) * uniforms.dh;
    for (var c = 0; c < uniforms.dh; c++) {
      var acc = 0.0;
      for (var j = 0; j < uniforms.n; j++) { acc = acc + p[j] * QKV[at(bb, j, 2, hh) + c]; }
      result[o + c] = acc;
    }
  }`;

/** dO_i·v_j for head hh, in WGSL (dO laid out [b, n, h, dh]). */
const DP = `
  fn dout(bb : i32, i : i32, hh : i32) -> i32 {
    return ((bb * uniforms.n + i) * uniforms.h + hh) * uniforms.dh;
  }
  fn dp(bb : i32, i : i32, j : i32, hh : i32) -> f32 {
    let o = dout(bb, i, hh);
    let v = at(bb, j, 2, hh);
    var s = 0.0;
    for (var c = 0; c < uniforms.dh; c++) { s = s + DO[o + c] * QKV[v + c]; }
    return s;
  }
  fn psRow(bb : i32, hh : i32, i : i32) -> i32 {
    return ((bb * uniforms.h + hh) * uniforms.n + i) * 2 * uniforms.n;
  }`;

/**
 * Backward, first pass: one thread per (query row i, head) writes row i of P and of
 * dS = P ⊙ (dO·vᵀ − Σ_k P_ik dO_i·v_k) into PS [b·h·n, 2n]. (Two short passes, not one
 * long one: lavapipe cut a single pass's loops short past some 50,000 iterations.)
 */
const attentionRowsCode = `${ATTN}${DP}
  fn main(index : i32) {
    ${QUERY_THREAD}
    let p = probs(bb, i, hh);
    var g : array<f32, ${MAX_TOKENS}>;
    var delta = 0.0;
    for (var j = 0; j < uniforms.n; j++) { g[j] = dp(bb, i, j, hh); delta = delta + p[j] * g[j]; }
    let r = psRow(bb, hh, i);
    for (var j = 0; j < uniforms.n; j++) {
      result[r + j] = p[j];
      result[r + uniforms.n + j] = p[j] * (g[j] - delta);
    }
  }`;

/**
 * Backward, second pass: d(qkv), one thread per (token t, part, head): dq_t = scale·Σ_j
 * dS_tj k_j, dk_t = scale·Σ_i dS_it q_i, dv_t = Σ_i P_it dO_i.
 */
const attentionGradCode = `${ATTN}${DP}
  fn main(index : i32) {
    if (index >= uniforms.b * uniforms.n * 3 * uniforms.h) { return; }
    let hh = index % uniforms.h;
    let part = (index / uniforms.h) % 3;
    let t = (index / (3 * uniforms.h)) % uniforms.n;
    let bb = index / (3 * uniforms.h * uniforms.n);
    let out = at(bb, t, part, hh);
    for (var c = 0; c < uniforms.dh; c++) { result[out + c] = 0.0; }
    for (var u = 0; u < uniforms.n; u++) {
      var w = 0.0;
      var src = 0;
      if (part == 0) {
        w = PS[psRow(bb, hh, t) + uniforms.n + u] * uniforms.scale;
        src = at(bb, u, 1, hh);
      } else if (part == 1) {
        w = PS[psRow(bb, hh, u) + uniforms.n + t] * uniforms.scale;
        src = at(bb, u, 0, hh);
      } else {
        w = PS[psRow(bb, hh, u) + t];
      }
      for (var c = 0; c < uniforms.dh; c++) {
        var x = 0.0;
        if (part == 2) { x = DO[dout(bb, u, hh) + c]; } else { x = QKV[src + c]; }
        result[out + c] = result[out + c] + w * x;
      }
    }
  }`;

const fusedAttention = new Map<number, (qkv: tf.Tensor3D) => tf.Tensor3D>();

function attentionOp(heads: number): (qkv: tf.Tensor3D) => tf.Tensor3D {
  return tf.customGrad((...args) => {
    const [qkv, save] = args as [tf.Tensor3D, (saved: tf.Tensor[]) => void];
    const [b, n, d3] = qkv.shape;
    const d = d3 / 3, dh = d / heads;
    const uniforms = [b, n, heads, dh].map((v) => ({ type: "int32", data: [v] }))
      .concat({ type: "float32", data: [1 / Math.sqrt(dh)] });
    save([qkv]);
    const value = run(
      "halo_attn_fwd",
      attentionCode,
      [b, n, d],
      b * n * heads,
      { QKV: qkv },
      uniforms,
      ATTN_UNIFORMS,
    );
    return {
      value: value as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const inputs = { QKV: saved[0], DO: dy };
        const threads = b * n * heads;
        const ps = run(
          "halo_attn_rows",
          attentionRowsCode,
          [threads, 2 * n],
          threads,
          inputs,
          uniforms,
          ATTN_UNIFORMS,
        );
        const grad = run(
          "halo_attn_bwd",
          attentionGradCode,
          [b, n, d3],
          3 * threads,
          { ...inputs, PS: ps },
          uniforms,
          ATTN_UNIFORMS,
        );
        ps.dispose();
        return grad;
      },
    };
  }) as unknown as (qkv: tf.Tensor3D) => tf.Tensor3D;
}

/**
 * Multi-head self-attention from the fused qkv projection `qkv` [b, n, 3·d]
 * (laid out [b, n, 3, heads, d/heads]) to the heads' merged outputs [b, n, d],
 * as one WGSL dispatch forward and two backward; undefined when the backend is
 * not webgpu, the kit's kernels are off, or rows are longer than 128 tokens.
 */
export function webgpuAttention(qkv: tf.Tensor3D, heads: number): tf.Tensor3D | undefined {
  if (!fastWebGpuKernelsEnabled() || tf.getBackend() !== "webgpu") return undefined;
  if (qkv.shape[1] > MAX_TOKENS) return undefined;
  let op = fusedAttention.get(heads);
  if (!op) fusedAttention.set(heads, op = attentionOp(heads));
  return op(qkv);
}

/**
 * x·w + b with the bias added in the matmul's shader (tfjs' fused matmul: one
 * dispatch instead of two), for `x` [rows, in]; undefined when the backend is
 * not webgpu, the kit's kernels are off, or the rows are past what tfjs' fused
 * matmul can dispatch (it bypasses the kit's BatchMatMul, which folds them).
 */
export function webgpuLinear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor | undefined {
  if (!fastWebGpuKernelsEnabled() || tf.getBackend() !== "webgpu") return undefined;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  if (x.shape[0] > backend.device.limits.maxComputeWorkgroupsPerDimension * 16) return undefined;
  return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b });
}
