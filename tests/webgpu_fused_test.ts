import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  attention,
  createParams,
  disposeParams,
  gelu,
  initAttention,
  modulatedLayerNorm,
  paramGrads,
} from "../lib/tensor/nn.ts";
import { createRng } from "../lib/core/_rng.ts";
import { countLaunches } from "../bench/_launches.ts";
import { haveWebGpu } from "./_helpers.ts";

const R = 12, N = 5, D = 96;
const wave = (n: number, s: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 3);
const X = wave(R * N * D, 1),
  SHIFT = wave(R * D, 2),
  SCALE = wave(R * D, 3),
  W = wave(R * N * D, 4);

/** The modulated layer norm and the gradients of Σ w·y on the active backend, and its launches. */
async function forwardBackward() {
  const x = tf.tensor3d(X, [R, N, D]);
  const shift = tf.tensor3d(SHIFT, [R, 1, D]), scale = tf.tensor3d(SCALE, [R, 1, D]);
  const w = tf.tensor3d(W, [R, N, D]);
  const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
    modulatedLayerNorm(a as tf.Tensor3D, b, c).mul(w).sum() as tf.Scalar;
  try {
    const before = tf.memory().numTensors;
    const outs = tf.tidy(
      () => [modulatedLayerNorm(x, shift, scale), ...tf.grads(loss)([x, shift, scale])],
    );
    const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(outs);
    const grew = tf.memory().numTensors - before;
    const launches = await countLaunches(async () => {
      const y = tf.tidy(() => modulatedLayerNorm(x, shift, scale));
      await y.data();
      y.dispose();
    });
    const gradLaunches = await countLaunches(async () => {
      const g = tf.tidy(() =>
        tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          modulatedLayerNorm(a as tf.Tensor3D, b, c).sum() as tf.Scalar
        )([x, shift, scale])
      );
      await g[0].data();
      tf.dispose(g);
    });
    return { values, grew, launches, gradLaunches };
  } finally {
    tf.dispose([x, shift, scale, w]);
  }
}

/** `run` on the cpu backend and then on webgpu (back to wasm after). */
async function cpuThenWebGpu<T>(run: () => Promise<T>): Promise<{ cpu: T; gpu: T }> {
  try {
    await initBackend({ backend: "cpu" });
    const cpu = await run();
    await initBackend({ backend: "webgpu" });
    return { cpu, gpu: await run() };
  } finally {
    await initBackend({ backend: "wasm" });
  }
}

Deno.test("modulatedLayerNorm on webgpu (one fused dispatch, four for its gradient) equals the cpu composition", async () => {
  if (!(await haveWebGpu())) return;
  const { cpu, gpu } = await cpuThenWebGpu(forwardBackward);
  assert.equal(gpu.grew, 0, "tensors left behind");
  ["y", "dL/dx", "dL/dshift", "dL/dscale"].forEach((name, i) => {
    let diff = 0, size = 0;
    cpu.values[i].forEach((v, j) => {
      diff = Math.max(diff, Math.abs(v - gpu.values[i][j]));
      size = Math.max(size, Math.abs(v));
    });
    assert.ok(diff / size < 1e-5, `${name}: max difference ${diff} at scale ${size}`);
  });
  assert.deepEqual(gpu.launches.byProgram, { halo_mln: 1 });
  assert.equal(gpu.gradLaunches.byProgram?.halo_mln, 5, JSON.stringify(gpu.gradLaunches.byProgram));
});

Deno.test("gelu on webgpu (one fused dispatch forward, one backward) equals the cpu composition, large inputs included", async () => {
  if (!(await haveWebGpu())) return;
  // wide range: tanh's argument overflows a naive exp formula past |x| ≈ 10
  const values = Float32Array.from({ length: 4001 }, (_, i) => (i - 2000) / 40);
  const run = async () => {
    const x = tf.tensor1d(values);
    const outs = tf.tidy(() => [gelu(x), tf.grad((a: tf.Tensor) => gelu(a).mul(a.cos()).sum())(x)]);
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    const launches = await countLaunches(async () => {
      const g = tf.tidy(() => tf.grad((a: tf.Tensor) => gelu(a).sum())(x));
      await g.data();
      g.dispose();
    });
    tf.dispose([...outs, x]);
    return { data, launches };
  };
  const { cpu, gpu } = await cpuThenWebGpu(run);
  ["gelu", "gradient"].forEach((name, i) => {
    gpu.data[i].forEach((v, j) => {
      const want = cpu.data[i][j];
      assert.ok(Number.isFinite(v), `${name}(${values[j]}) = ${v}`);
      assert.ok(
        Math.abs(v - want) <= 1e-5 * Math.max(1, Math.abs(want)),
        `${name}(${values[j]}): ${v} vs ${want}`,
      );
    });
  });
  assert.equal(gpu.launches.byProgram?.halo_gelu, 2, JSON.stringify(gpu.launches.byProgram));
});

Deno.test("attention on webgpu (one fused dispatch forward, one backward) equals the cpu composition", async () => {
  if (!(await haveWebGpu())) return;
  // 65 tokens: the reward model's rows (a prompt token and 64 patches)
  const [b, n, d, heads] = [3, 65, 32, 2];
  const x = wave(b * n * d, 5), w = wave(b * n * d, 6);
  const run = async () => {
    const params = createParams();
    initAttention(params, "a", d, createRng(3));
    const xt = tf.tensor3d(x, [b, n, d]), wt = tf.tensor3d(w, [b, n, d]);
    const loss = () => attention(params, "a", xt, heads).mul(wt).sum() as tf.Scalar;
    const outs = tf.tidy(() => {
      const { value, grads } = paramGrads(params, loss);
      const dx = tf.grad((a: tf.Tensor) =>
        attention(params, "a", a as tf.Tensor3D, heads).mul(wt).sum()
      )(xt);
      return [attention(params, "a", xt, heads), value, dx, ...Object.values(grads)];
    });
    const data = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
    const launches = await countLaunches(async () => {
      const y = tf.tidy(() => attention(params, "a", xt, heads));
      await y.data();
      y.dispose();
    });
    tf.dispose([...outs, xt, wt]);
    disposeParams(params);
    return { data, launches };
  };
  const { cpu, gpu } = await cpuThenWebGpu(run);
  gpu.data.forEach((values, i) => {
    let diff = 0, size = 0;
    values.forEach((v, j) => {
      diff = Math.max(diff, Math.abs(v - cpu.data[i][j]));
      size = Math.max(size, Math.abs(cpu.data[i][j]));
    });
    assert.ok(
      diff <= 1e-5 * Math.max(1, size),
      `output ${i}: max difference ${diff} at scale ${size}`,
    );
  });
  assert.equal(gpu.launches.byProgram?.halo_attn, 1, JSON.stringify(gpu.launches.byProgram));
});
