import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { setFastWebGpuKernels } from "../lib/tensor/_kernels/webgpu.ts";
import { haveWebGpu, TASK_PERMISSIONS } from "./_helpers.ts";

/** Rows past what tfjs' 2-D transpose (16-row tiles) and its matmuls (≤ 32-row tiles) can dispatch. */
const TRANSPOSE_ROWS = 65_535 * 16 + 17;
const MATMUL_ROWS = 65_535 * 32 + 64;

/** Small integers, so every sum below is exact in float32. */
function pattern(rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, i) => ((i * 7) % 11) - 5);
}

Deno.test("webgpu: transposes, leading-axis reductions and matmuls past the 65,535-workgroup limit", async () => {
  if (!(await haveWebGpu())) return;
  await initBackend({ backend: "webgpu" });
  try {
    const cols = 3;
    const values = pattern(TRANSPOSE_ROWS, cols);
    const x = tf.tensor2d(values, [TRANSPOSE_ROWS, cols]);
    const colSums = [0, 0, 0];
    values.forEach((v, i) => colSums[i % cols] += v);
    try {
      // tfjs' own kernels fail on exactly these shapes, so the cases below are the real ones
      setFastWebGpuKernels(false);
      assert.throws(() => tf.dispose(x.sum(0)), /Dispatch size exceeds WebGPU limits/);
      setFastWebGpuKernels(true);

      const t = tf.transpose(x);
      const tv = await t.data();
      assert.deepEqual(t.shape, [cols, TRANSPOSE_ROWS]);
      for (const i of [0, 1, 12345, TRANSPOSE_ROWS - 1]) {
        for (let j = 0; j < cols; j++) {
          assert.equal(tv[j * TRANSPOSE_ROWS + i], values[i * cols + j]);
        }
      }
      t.dispose();
      for (const keepDims of [false, true]) {
        const s = x.sum(0, keepDims);
        assert.deepEqual(s.shape, keepDims ? [1, cols] : [cols]);
        assert.deepEqual(Array.from(await s.data()), colSums);
        s.dispose();
      }
      const mean = x.mean(0);
      (await mean.data()).forEach((v, j) => {
        assert.ok(Math.abs(v - colSums[j] / TRANSPOSE_ROWS) < 1e-6, `mean ${j}: ${v}`);
      });
      const max = x.max(0);
      assert.deepEqual(Array.from(await max.data()), [5, 5, 5]);
      tf.dispose([mean, max]);
    } finally {
      setFastWebGpuKernels(true);
      x.dispose();
    }

    const k = 4;
    const a = tf.tensor2d(pattern(MATMUL_ROWS, k), [MATMUL_ROWS, k]);
    const w = tf.tensor2d([1, 0, 2, -1, 1, 0, 0, 2, 1, 3, -2, 1], [k, 3]);
    try {
      setFastWebGpuKernels(false);
      assert.throws(() => tf.dispose(tf.matMul(a, w)), /Dispatch size exceeds WebGPU limits/);
      setFastWebGpuKernels(true);
      const wv = await w.data();
      const av = await a.data();
      for (const transposeB of [false, true]) {
        const y = transposeB ? tf.matMul(a, w.transpose(), false, true) : tf.matMul(a, w);
        const yv = await y.data();
        assert.deepEqual(y.shape, [MATMUL_ROWS, 3]);
        for (const i of [0, 777, MATMUL_ROWS / 2, MATMUL_ROWS - 1]) {
          for (let j = 0; j < 3; j++) {
            let expected = 0;
            for (let q = 0; q < k; q++) expected += av[i * k + q] * wv[q * 3 + j];
            assert.equal(yv[i * 3 + j], expected, `row ${i} col ${j} (transposeB ${transposeB})`);
          }
        }
        y.dispose();
      }
    } finally {
      setFastWebGpuKernels(true);
      tf.dispose([a, w]);
    }
  } finally {
    await initBackend({ backend: "wasm" });
  }
});

Deno.test("webgpu: softmax past 65,535 rows (attention at batch 256) matches cpu; an unbindable tensor is refused by name", async () => {
  if (!(await haveWebGpu())) return;
  const rows = 65_535 + 7_777, cols = 16;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => ((i * 7) % 13) / 3);
  const softmax = async () => {
    const y = tf.tidy(() => tf.softmax(tf.tensor3d(values, [rows / 1, 1, cols])));
    const out = await y.data();
    y.dispose();
    return out;
  };
  try {
    await initBackend({ backend: "cpu" });
    const cpu = await softmax();
    await initBackend({ backend: "webgpu" });
    const gpu = await softmax();
    let worst = 0;
    gpu.forEach((v, i) => worst = Math.max(worst, Math.abs(v - cpu[i])));
    assert.ok(worst < 1e-6, `softmax differs from cpu by ${worst}`);
    const limit = (tf.backend() as unknown as { device: GPUDevice }).device.limits
      .maxStorageBufferBindingSize;
    const big = tf.zeros([Math.floor(limit / 4 / 16) + 1, 16]);
    try {
      assert.throws(
        () => big.mul(2),
        /webgpu: Expected every tensor of a kernel to fit the adapter's maxStorageBufferBindingSize \(\d+ bytes\) but found \[\d+,16\] \(\d+ bytes\) in BinaryOpProgram; use a smaller batch/,
      );
    } finally {
      big.dispose();
    }
  } finally {
    await initBackend({ backend: "wasm" });
  }
});

/** One default-config training step at `batch` in a child process on `backend`. */
async function bigBatchStep(
  backend: string,
  batch: number,
): Promise<{ backend: string; loss?: number; gpuErrors?: string[]; error?: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      new URL("./_big_batch_run.ts", import.meta.url).pathname,
      String(batch),
    ],
    env: { HALO_BACKEND: backend },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

/** One default-config training step at `batch` on webgpu and on wasm: the same loss, no GPU error. */
async function assertWasmLoss(batch: number): Promise<void> {
  const gpu = await bigBatchStep("webgpu", batch);
  const wasm = await bigBatchStep("wasm", batch);
  assert.equal(gpu.error, undefined, gpu.error);
  assert.deepEqual(gpu.gpuErrors, []);
  const rel = Math.abs(gpu.loss! - wasm.loss!) / wasm.loss!;
  assert.ok(
    rel < 1e-4,
    `batch ${batch}: webgpu ${gpu.loss} vs wasm ${wasm.loss} (relative ${rel})`,
  );
}

Deno.test("webgpu: the default generator trains at batch 64 (tfjs alone fails there) with wasm's loss", async () => {
  if (await haveWebGpu()) await assertWasmLoss(64);
});

Deno.test("webgpu: the default generator trains at batch 256 in passes that fit the adapter's bindings, with wasm's loss", async () => {
  // lavapipe binds 128 MiB: the 512 MiB decoder activations of 256 clips go in passes of 64 (about
  // 8 minutes there); wasm takes the same passes (its heap cannot hold 256 clips at once)
  if (await haveWebGpu()) await assertWasmLoss(256);
});
