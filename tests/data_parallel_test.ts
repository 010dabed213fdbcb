import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { readParams } from "../lib/tensor/nn.ts";
import { createRng } from "../lib/core/_rng.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { makeBatch } from "../lib/generator/diffusion.ts";
import { trainStep, type X0Loss } from "../lib/generator/train_step.ts";
import { pretrain } from "../lib/generator/pretrain.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { startGradientPool } from "../lib/generator/_data_parallel.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

await initBackend({ backend: "wasm" });

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
];

/** Three steps on 6 clips: in passes of 3 in this process, or 3 here and 3 in a worker. */
async function threeSteps(mode: "passes" | "worker", x0Loss: X0Loss = "mse") {
  const gen = createGenerator({ ...TINY_GENERATOR, prediction: "x0" }, { seed: 1 });
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const prompts = [0, 1, 0, 1, 0, 1].map((i) => parsePrompt(PROMPTS[i]));
  const batch = makeBatch(gen.config, prompts, { seeds: [1, 2, 3, 4, 5, 6] });
  const pool = mode === "worker"
    ? await startGradientPool(gen, { workers: 1, batch: 6, x0Loss })
    : undefined;
  try {
    const losses = [];
    for (let i = 0; i < 3; i++) {
      const rng = createRng(2 + i);
      const options = { rng, microBatch: 3, parallel: pool, x0Loss };
      losses.push(await trainStep(gen, adam, batch, options));
    }
    return { losses, params: await readParams(gen.params) };
  } finally {
    pool?.close();
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
  }
}

Deno.test("a step shared with a gradient worker equals the step in passes, bit for bit, and leaks no tensor", async () => {
  const passes = await threeSteps("passes");
  const before = tf.memory().numTensors;
  const shared = await threeSteps("worker");
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(shared.losses, passes.losses);
  shared.params.forEach((p, i) => {
    assert.equal(p.name, passes.params[i].name);
    assert.deepEqual(p.values, passes.params[i].values, p.name);
  });
});

Deno.test("x0Loss l1: the worker trains the same loss, which is not the MSE; the reported loss stays the x0-MSE", async () => {
  const mse = await threeSteps("passes");
  const passes = await threeSteps("passes", "l1");
  const shared = await threeSteps("worker", "l1");
  assert.deepEqual(shared.losses, passes.losses);
  shared.params.forEach((p, i) => assert.deepEqual(p.values, passes.params[i].values, p.name));
  // the first step reports the loss before any update: the same x0-MSE whatever is trained
  assert.equal(passes.losses[0], mse.losses[0]);
  assert.notDeepEqual(passes.params.map((p) => p.values), mse.params.map((p) => p.values));
  const gen = createGenerator({ ...TINY_GENERATOR, prediction: "x0" }, { seed: 1 });
  const adam = createAdam(gen.params);
  const batch = makeBatch(gen.config, [parsePrompt(PROMPTS[0])], { seeds: [1] });
  try {
    await assert.rejects(
      () => trainStep(gen, adam, batch, { rng: createRng(1), x0Loss: "huber" as X0Loss }),
      /trainStep: Expected x0Loss "mse" or "l1" but found "?huber/,
    );
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
  }
});

Deno.test("pretrain with 2 workers: killed and resumed equals one go, and stays within float rounding of 1 process", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const base = {
      batchSize: 4,
      config: TINY_GENERATOR,
      quiet: true,
      checkpointEvery: 2,
      steps: 4,
    };
    const first = await pretrain({ ...base, out: `${dir}/a`, workers: 2, steps: 2 });
    assert.equal(first.step, 2);
    const again = await pretrain({ ...base, out: `${dir}/a`, workers: 2 });
    assert.ok(again.resumed && again.step === 4 && Number.isFinite(again.loss));
    await pretrain({ ...base, out: `${dir}/b`, workers: 2 });
    await pretrain({ ...base, out: `${dir}/c`, workers: 1 });
    const read = async (name: string) => {
      const { generator } = await loadGenerator(`${dir}/${name}`);
      try {
        return await readParams(generator.params);
      } finally {
        disposeGenerator(generator);
      }
    };
    const [resumed, oneGo, single] = [await read("a"), await read("b"), await read("c")];
    resumed.forEach((p, i) => {
      assert.deepEqual(p.values, oneGo[i].values, p.name);
      const worst = p.values.reduce((m, v, j) => Math.max(m, Math.abs(v - single[i].values[j])), 0);
      assert.ok(worst < 1e-5, `${p.name}: 2 workers and 1 process differ by ${worst}`);
    });
    await assert.rejects(
      () => pretrain({ ...base, out: `${dir}/d`, steps: 1, batchSize: 1, workers: 2 }),
      /Expected workers to be an integer in \[1, 1\]/,
    );
    await assert.rejects(
      () =>
        pretrain({
          ...base,
          out: `${dir}/d`,
          workers: 2,
          stableTargets: 2,
          config: { ...TINY_GENERATOR, prediction: "x0" },
        }),
      /Expected stableTargets 0 with workers > 1/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a gradient pool refuses a batch it cannot split, another batch size, and use after close", async () => {
  const gen = createGenerator({ ...TINY_GENERATOR, prediction: "x0" }, { seed: 1 });
  const batch = makeBatch(gen.config, [parsePrompt(PROMPTS[0]), parsePrompt(PROMPTS[1])]);
  try {
    await assert.rejects(
      () => startGradientPool(gen, { workers: 2, batch: 2 }),
      /startGradientPool: Expected a batch of ≥ 3 clips/,
    );
    const pool = await startGradientPool(gen, { workers: 1, batch: 4 });
    const draw = {
      t: new Int32Array(2),
      keep: new Float32Array(2),
      noise: new Float32Array(batch.x0.size),
      w: new Float32Array(2),
    };
    assert.throws(() => pool.grads(batch, draw), /Expected a batch of 4 clips but found 2/);
    pool.close();
    assert.throws(() => pool.grads(batch, draw), /Expected an open pool/);
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    disposeGenerator(gen);
  }
});
