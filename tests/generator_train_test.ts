import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../lib/tensor/backend.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { readParams } from "../lib/tensor/nn.ts";
import { createRng } from "../lib/core/_rng.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { makeBatch } from "../lib/generator/diffusion.ts";
import { trainStep } from "../lib/generator/train_step.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { haveWebGpu, TINY_GENERATOR } from "./_helpers.ts";

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
];

/** Three training steps of the tiny generator on 5 clips, in passes of `microBatch` clips. */
async function threeSteps(microBatch?: number) {
  const gen = createGenerator({ ...TINY_GENERATOR, prediction: "x0" }, { seed: 1 });
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const prompts = [0, 1, 0, 1, 0].map((i) => parsePrompt(PROMPTS[i]));
  const batch = makeBatch(gen.config, prompts, { seeds: [1, 2, 3, 4, 5] });
  try {
    const losses = [];
    for (let i = 0; i < 3; i++) {
      losses.push(await trainStep(gen, adam, batch, { rng: createRng(2 + i), microBatch }));
    }
    return { losses, params: await readParams(gen.params) };
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
  }
}

Deno.test("trainStep in passes of 2 clips (summed gradients, one Adam step) equals the whole batch at once", async () => {
  const backends: BackendName[] = ["cpu", "wasm"];
  if (await haveWebGpu()) backends.push("webgpu");
  try {
    for (const backend of backends) {
      await initBackend({ backend });
      const whole = await threeSteps(), passes = await threeSteps(2);
      passes.losses.forEach((loss, i) => {
        assert.ok(
          Math.abs(loss - whole.losses[i]) < 1e-6,
          `${backend} step ${i + 1}: ${loss} vs ${whole.losses[i]}`,
        );
      });
      whole.params.forEach((p, i) => {
        const worst = p.values.reduce(
          (m, v, j) => Math.max(m, Math.abs(v - passes.params[i].values[j])),
          0,
        );
        assert.ok(worst < 1e-5, `${backend} ${p.name}: differs by ${worst}`);
      });
    }
    await assert.rejects(() => threeSteps(0), /trainStep: Expected microBatch/);
  } finally {
    await initBackend({ backend: "wasm" });
  }
});
