import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createAdam } from "../lib/tensor/adam.ts";
import { createEma, withEma } from "../lib/tensor/ema.ts";
import { addParam, createParams, disposeParams } from "../lib/tensor/nn.ts";
import { loadCheckpoint, saveCheckpoint } from "../lib/tensor/checkpoint.ts";

function model(value: number) {
  const params = createParams();
  addParam(params, "a", [2, 3], { init: "zeros" });
  addParam(params, "b", [4], { init: "zeros" });
  for (const v of params.values()) v.assign(tf.fill(v.shape, value));
  return params;
}

Deno.test("EMA: warm-up decay min(d, (1+n)/(10+n)), then d; no tensors leak", () => {
  const params = model(0);
  const ema = createEma(params, { decay: 0.9 });
  params.get("a")!.assign(tf.fill([2, 3], 1));
  ema.update(params, 1); // d = 2/11
  const first = 1 - 2 / 11;
  assert.ok(Math.abs(ema.params.get("a")!.dataSync()[0] - first) < 1e-6);
  assert.equal(ema.params.get("b")!.dataSync()[0], 0);
  const before = tf.memory().numTensors;
  for (let n = 2; n < 50; n++) ema.update(params, 1000);
  assert.equal(tf.memory().numTensors, before);
  const expected = 1 - (1 - first) * 0.9 ** 48;
  assert.ok(Math.abs(ema.params.get("a")!.dataSync()[0] - expected) < 1e-5);
  // the model's weights are untouched, and the average is a copy, not a view
  assert.equal(params.get("a")!.dataSync()[0], 1);
  assert.throws(() => createEma(params, { decay: 1 }), /decay/);
  ema.dispose();
  disposeParams(params);
});

Deno.test("EMA saved with the optimiser state round-trips through a checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const params = model(2);
    const adam = createAdam(params);
    const ema = createEma(params);
    ema.params.get("b")!.assign(tf.tensor1d([1, 2, 3, 4]));
    await saveCheckpoint(`${dir}/c`, {
      kind: "demo",
      config: {},
      params,
      step: 7,
      optimizer: withEma(adam, ema),
    });
    const params2 = model(0);
    const adam2 = createAdam(params2);
    const ema2 = createEma(params2);
    await loadCheckpoint(`${dir}/c`, {
      kind: "demo",
      params: params2,
      optimizer: withEma(adam2, ema2),
    });
    assert.deepEqual([...ema2.params.get("b")!.dataSync()], [1, 2, 3, 4]);
    assert.deepEqual([...ema2.params.get("a")!.dataSync()], [2, 2, 2, 2, 2, 2]);
    // a checkpoint with an EMA cannot be resumed by a plain Adam (and the reverse)
    await assert.rejects(
      () => loadCheckpoint(`${dir}/c`, { kind: "demo", params: params2, optimizer: adam2 }),
      /only parameters the model has but found "ema\/a"/,
    );
    await saveCheckpoint(`${dir}/plain`, { kind: "demo", config: {}, params, optimizer: adam });
    await assert.rejects(
      () =>
        loadCheckpoint(`${dir}/plain`, {
          kind: "demo",
          params: params2,
          optimizer: withEma(adam2, ema2),
        }),
      /a saved parameter "ema\/a"/,
    );
    for (const x of [adam, adam2, ema, ema2]) x.dispose();
    disposeParams(params);
    disposeParams(params2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
