import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { addParam, createParams, disposeParams, paramGrads } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";

await initBackend();

Deno.test("Adam matches tf.train.adam when clipping is off", () => {
  const ours = createParams();
  const w0 = Float32Array.from([0.5, -1.5, 2, 0.1]);
  const w = addParam(ours, "w", [4], { values: w0 });
  const adam = createAdam(ours, { learningRate: 0.05, clipNorm: 0 });
  const ref = tf.variable(tf.tensor1d(w0));
  const opt = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
  const target = tf.tensor1d([1, 2, -1, 0]);
  for (let i = 0; i < 10; i++) {
    const { value, grads } = paramGrads(
      ours,
      () => w.sub(target).square().sum().mul(w.sum().square()) as tf.Scalar,
    );
    adam.apply(grads);
    tf.dispose([value, ...Object.values(grads)]);
    opt.minimize(() => ref.sub(target).square().sum().mul(ref.sum().square()) as tf.Scalar);
  }
  const [a, b] = [w.dataSync(), ref.dataSync()];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-4, `${i}: ${v} vs ${b[i]}`));
  assert.equal(adam.step, 10);
  tf.dispose([ref, target]);
  opt.dispose();
  adam.dispose();
  disposeParams(ours);
});
