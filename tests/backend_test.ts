import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { type BackendName, gpuDecision, initBackend, probeWebGpu } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";

/** A matmul + softmax forward and backward pass on the active backend (async reads: WebGPU has no sync read-back in Deno). */
async function forwardBackward(
  x: Float32Array,
  w: Float32Array,
  target: Float32Array,
): Promise<Float32Array[]> {
  const outputs = tf.tidy(() => {
    const xt = tf.tensor2d(x, [16, 32]);
    const wt = tf.tensor2d(w, [32, 24]);
    const tt = tf.tensor2d(target, [16, 24]);
    const loss = (a: tf.Tensor, b: tf.Tensor) =>
      tf.softmax(tf.matMul(a, b)).mul(tt).sum().neg() as tf.Scalar;
    const { value, grads } = tf.valueAndGrads(loss)([xt, wt]);
    const out = tf.softmax(tf.matMul(xt, wt));
    return [value, out, grads[0], grads[1]];
  });
  const data = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outputs);
  return data;
}

function relativeError(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

Deno.test("matmul + softmax forward/backward agree across cpu, wasm and webgpu (relative error < 1e-4)", async () => {
  const rng = createRng(11);
  const x = Float32Array.from({ length: 16 * 32 }, () => rng.normal());
  const w = Float32Array.from({ length: 32 * 24 }, () => rng.normal() * 0.3);
  const target = Float32Array.from({ length: 16 * 24 }, () => rng.next());
  await initBackend({ backend: "cpu" });
  const reference = await forwardBackward(x, w, target);
  const backends: BackendName[] = ["wasm"];
  const webgpu = await probeWebGpu();
  if (webgpu.available) backends.push("webgpu");
  else if (Deno.env.get("CI")) {
    assert.fail(`CI installs lavapipe, so a WebGPU adapter must exist: ${webgpu.description}`);
  }
  for (const name of backends) {
    const choice = await initBackend({ backend: name });
    assert.equal(choice.name, name);
    assert.equal(tf.getBackend(), name);
    const result = await forwardBackward(x, w, target);
    ["loss", "softmax", "dL/dx", "dL/dw"].forEach((label, i) => {
      const err = relativeError(result[i], reference[i]);
      assert.ok(err < 1e-4, `${name} ${label}: relative error ${err}`);
    });
  }
  await initBackend({ backend: "wasm" });
});

Deno.test("HALO_BACKEND overrides the automatic choice and rejects unknown names", async () => {
  const saved = Deno.env.get("HALO_BACKEND");
  try {
    Deno.env.set("HALO_BACKEND", "cpu");
    const choice = await initBackend();
    assert.deepEqual([choice.name, choice.reason], ["cpu", "forced by HALO_BACKEND"]);
    Deno.env.set("HALO_BACKEND", "tpu");
    await assert.rejects(
      () => initBackend(),
      /HALO_BACKEND: Expected one of tensorflow, webgpu, wasm, cpu but found "tpu"/,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("HALO_BACKEND");
    else Deno.env.set("HALO_BACKEND", saved);
  }
  await initBackend({ backend: "wasm" });
});

Deno.test("the automatic choice follows a given CPU ranking and explains itself", async () => {
  const saved = Deno.env.get("HALO_BACKEND");
  Deno.env.delete("HALO_BACKEND");
  try {
    // a forced backend first, so the automatic path is taken afresh below
    await initBackend({ backend: "cpu" });
    const probe = await probeWebGpu();
    if (probe.available && !probe.fallback) return; // a real GPU wins over any CPU ranking
    const script = `
      import { initBackend } from "${new URL("../lib/tensor/backend.ts", import.meta.url).href}";
      const choice = await initBackend({ cpuRanking: ["cpu", "wasm"] });
      console.log(JSON.stringify(choice));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      env: { HALO_BACKEND: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    const choice = JSON.parse(text);
    assert.equal(choice.name, "cpu");
    assert.match(choice.reason, /fastest CPU route.*cpu > wasm/);
    await assert.rejects(
      () => initBackend({ backend: "tensorflow" }),
      /tfjs-node-gpu or @tensorflow\/tfjs-node in \.\/node_modules/,
    );
  } finally {
    if (saved !== undefined) Deno.env.set("HALO_BACKEND", saved);
    await initBackend({ backend: "wasm" });
  }
});

/** Whether a GPU device node exists (Linux), the kit's sign that a WebGPU adapter may be a GPU. */
function gpuNodeExists(): boolean {
  return ["/dev/dri", "/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg"].some((node) => {
    try {
      Deno.statSync(node);
      return true;
    } catch {
      return false;
    }
  });
}

Deno.test({
  name:
    "without a GPU device node the automatic choice creates no WebGPU adapter (one per runtime otherwise)",
  ignore: Deno.build.os !== "linux" || gpuNodeExists(),
  fn: async () => {
    // Deno drops each runtime's adapters with it (a test module, a worker); hundreds of them in one
    // process crashed it at exit. Count requestAdapter calls around the kit's import and choice.
    const script = `
      const gpu = navigator.gpu;
      const ask = gpu.requestAdapter.bind(gpu);
      let calls = 0;
      Object.defineProperty(gpu, "requestAdapter", { value: (...a) => (calls++, ask(...a)) });
      const { initBackend, probeWebGpu } = await import("${
      new URL("../lib/tensor/backend.ts", import.meta.url).href
    }");
      const auto = await initBackend();
      const afterAuto = calls;
      const ranked = await initBackend({ cpuRanking: ["webgpu", "wasm"] });
      await probeWebGpu();
      console.log(JSON.stringify({ auto: auto.name, afterAuto, ranked: ranked.name, calls }));`;
    const dir = await Deno.makeTempDir({ prefix: "halo-test-" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--quiet",
          "--config",
          new URL("../deno.json", import.meta.url).pathname,
          script,
        ],
        cwd: dir, // no out/bench/backend.json here: the default ranking
        env: { HALO_BACKEND: "" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const seen = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
      assert.deepEqual([seen.auto, seen.afterAuto], ["wasm", 0]);
      // a ranking that reaches webgpu asks once, and later probes reuse that answer
      const webgpu = seen.ranked === "webgpu";
      assert.equal(seen.calls, webgpu ? 2 : 1, JSON.stringify(seen)); // tfjs' factory asks again
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("probeWebGpu tells a CPU fallback adapter from a GPU", async () => {
  const probe = await probeWebGpu();
  assert.equal(typeof probe.description, "string");
  if (probe.available && /llvmpipe|lavapipe/i.test(probe.description)) {
    assert.equal(probe.fallback, true);
  }
});

Deno.test("gpuDecision: a real GPU trains unless the bench measured a CPU backend faster on that very adapter", () => {
  const bench = {
    bench: "generator train step (Adam) B=8",
    cpuRanking: ["wasm", "cpu"] as BackendName[],
    adapter: "NVIDIA H200",
    medians: { webgpu: 543, wasm: 245, cpu: 3400 },
  };
  const slower = gpuDecision("NVIDIA H200", bench);
  assert.equal(slower.useGpu, false);
  assert.match(
    slower.reason,
    /webgpu on NVIDIA H200 measured 543 ms a training step, slower than wasm's 245 ms/,
  );
  const faster = gpuDecision("NVIDIA H200", {
    ...bench,
    medians: { ...bench.medians, webgpu: 40 },
  });
  assert.equal(faster.useGpu, true);
  assert.match(
    faster.reason,
    /real GPU adapter: NVIDIA H200, a training step in 40 ms vs 245 ms on wasm/,
  );
  // measured on another adapter, or never: the GPU is presumed faster and the reason says so
  for (const other of [gpuDecision("RTX 4090", bench), gpuDecision("RTX 4090", undefined)]) {
    assert.equal(other.useGpu, true);
    assert.match(other.reason, /not measured against the CPU route on this machine/);
  }
});
