import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { addParam, createParams, disposeParams, type Params } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { createRng } from "../lib/core/_rng.ts";
import { countLaunches } from "../bench/_launches.ts";
import { haveWebGpu } from "./_helpers.ts";

/** Parameters of mixed shapes with seeded values, and gradients for `steps` steps. */
function adamCase(seed: number) {
  const rng = createRng(seed);
  const shapes = [[96, 192], [192], [3, 8, 5], [1], [31, 96], [7, 7], [96], [2, 3, 4, 5], [9]];
  const init = shapes.map((s) =>
    Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal())
  );
  const grads = (step: number) =>
    shapes.map((s) =>
      Float32Array.from(
        { length: s.reduce((a, b) => a * b, 1) },
        () => rng.normal() * (step % 3 + 0.5),
      )
    );
  return { shapes, init, grads };
}

async function runAdam(
  steps: number,
  clipNorm: number,
): Promise<
  {
    values: Float32Array[];
    tensorsGrew: number;
    launches?: { dispatches?: number; byProgram?: Record<string, number> };
  }
> {
  const { shapes, init, grads } = adamCase(5);
  const params: Params = createParams();
  shapes.forEach((s, i) =>
    addParam(params, `p${i}`, s, { init: "zeros" }).assign(tf.tensor(init[i], s))
  );
  const adam = createAdam(params, { learningRate: 0.01, clipNorm });
  const names = [...params.keys()];
  let launches;
  let before = 0;
  try {
    for (let step = 0; step < steps; step++) {
      if (step === 1) before = tf.memory().numTensors;
      const g = grads(step);
      const gt = Object.fromEntries(names.map((n, i) => [n, tf.tensor(g[i], shapes[i])]));
      const apply = () => Promise.resolve(adam.apply(gt));
      if (step === 2) launches = await countLaunches(apply);
      else await apply();
      tf.dispose(Object.values(gt));
    }
    const after = tf.memory().numTensors;
    const values = await Promise.all(
      [...names.map((n) => params.get(n)!), ...adam.state().tensors.values()]
        .map((t) => t.data() as Promise<Float32Array>),
    );
    return { values, tensorsGrew: after - before, launches };
  } finally {
    adam.dispose();
    disposeParams(params);
  }
}

Deno.test("webgpu: Adam in place matches the cpu backend's Adam over 10 steps, in 1 dispatch a parameter + 6", async () => {
  if (!(await haveWebGpu())) return;
  try {
    for (const clipNorm of [1, 0]) {
      await initBackend({ backend: "cpu" });
      const cpu = await runAdam(10, clipNorm);
      await initBackend({ backend: "webgpu" });
      const gpu = await runAdam(10, clipNorm);
      assert.equal(gpu.tensorsGrew, 0, "tensors left behind by Adam steps");
      gpu.values.forEach((v, i) => {
        let worst = 0;
        v.forEach((x, j) =>
          worst = Math.max(
            worst,
            Math.abs(x - cpu.values[i][j]) / Math.max(1e-3, Math.abs(cpu.values[i][j])),
          )
        );
        assert.ok(worst < 1e-4, `clip ${clipNorm}, tensor ${i}: relative difference ${worst}`);
      });
      // one dispatch a parameter, 3 for the norm and the flat moments, and tfjs' concat of the
      // gradients (7 a dispatch, then the pieces)
      const params = adamCase(5).shapes.length;
      assert.deepEqual(gpu.launches?.byProgram, { halo_adam: params + 3, concat: 2 });
    }
  } finally {
    await initBackend({ backend: "wasm" });
  }
});
