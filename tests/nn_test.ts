import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  addParam,
  attention,
  cloneParams,
  countParams,
  createParams,
  disposeParams,
  initAttention,
  initLinear,
  initTransformerBlock,
  layerNorm,
  linear,
  logSigmoid,
  paramGrads,
  readParams,
  transformerBlock,
  writeParams,
} from "../lib/tensor/nn.ts";
import { createRng } from "../lib/core/_rng.ts";

await initBackend();

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `${i}: ${a[i]} vs ${b[i]}`);
  }
}

Deno.test("initialisation is seeded and independent of tfjs' RNG", () => {
  const a = createParams();
  const b = createParams();
  addParam(a, "w", [8, 4], { seed: 7 });
  addParam(b, "w", [8, 4], { seed: 7 });
  assert.deepEqual(a.get("w")!.dataSync(), b.get("w")!.dataSync());
  assert.throws(() => addParam(a, "w", [1]), /Expected a new parameter name but found "w"/);
  disposeParams(a);
  disposeParams(b);
});

Deno.test("linear is x·W + b on any leading shape", () => {
  const params = createParams();
  initLinear(params, "l", { in: 3, out: 2 }, { seed: 1 });
  const x = tf.tensor3d([[[1, 2, 3]], [[-1, 0, 0.5]]]);
  const y = linear(params, "l", x);
  assert.deepEqual(y.shape, [2, 1, 2]);
  const w = params.get("l.w")!.arraySync() as number[][];
  const expect = [[1, 2, 3], [-1, 0, 0.5]].flatMap((row) =>
    [0, 1].map((j) => row.reduce((s, v, i) => s + v * w[i][j], 0))
  );
  close(y.dataSync(), expect);
  assert.throws(() => linear(params, "l", tf.ones([2, 4])), /input with last axis 3/);
  tf.dispose([x, y]);
  disposeParams(params);
});

Deno.test("layerNorm normalises the last axis", () => {
  const x = tf.tensor2d([[1, 2, 3, 4], [10, 10, 10, 30]]);
  const y = layerNorm(x);
  const rows = y.arraySync() as number[][];
  for (const r of rows) {
    const m = r.reduce((a, b) => a + b) / r.length;
    const v = r.reduce((a, b) => a + (b - m) ** 2, 0) / r.length;
    assert.ok(Math.abs(m) < 1e-5 && Math.abs(v - 1) < 1e-3);
  }
  tf.dispose([x, y]);
});

Deno.test("attention is permutation-equivariant over tokens", () => {
  const params = createParams();
  initAttention(params, "a", 8, createRng(3));
  const x = tf.tensor3d(Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i)), [1, 5, 8]);
  const perm = [4, 2, 0, 1, 3];
  const y = attention(params, "a", x, 2);
  const yp = attention(params, "a", tf.gather(x, perm, 1) as tf.Tensor3D, 2);
  close(yp.dataSync(), tf.gather(y, perm, 1).dataSync(), 1e-5);
  assert.throws(() => attention(params, "a", x, 3), /divisible by 3 heads/);
  disposeParams(params);
});

Deno.test("adaLN-zero block starts as the identity and gets gradients into the modulation", () => {
  const params = createParams();
  initTransformerBlock(params, "b", { dim: 8, condDim: 4, seed: 2 });
  const x = tf.randomNormal([6, 3, 8], 0, 1, "float32", 1) as tf.Tensor3D;
  const cond = tf.randomNormal([2, 4], 0, 1, "float32", 2) as tf.Tensor2D;
  const y = transformerBlock(params, "b", x, { heads: 2, cond });
  close(y.dataSync(), x.dataSync(), 0);
  const { value, grads } = paramGrads(
    params,
    () => transformerBlock(params, "b", x, { heads: 2, cond }).square().sum() as tf.Scalar,
  );
  assert.ok(grads["b.ada.w"].abs().sum().dataSync()[0] > 0);
  assert.throws(
    () => transformerBlock(params, "b", x, { heads: 2, cond: tf.ones([4, 4]) as tf.Tensor2D }),
    /multiple of cond rows 4/,
  );
  tf.dispose([x, cond, y, value, ...Object.values(grads)]);
  disposeParams(params);
});

Deno.test("clone, read and write parameters; mismatches are clear errors", async () => {
  const a = createParams();
  addParam(a, "x", [2, 3], { seed: 1 });
  addParam(a, "y", [3], { seed: 2 });
  const b = cloneParams(a);
  assert.equal(countParams(b), 9);
  assert.equal(b.get("x")!.trainable, false);
  a.get("x")!.assign(tf.zeros([2, 3]));
  assert.notDeepEqual(b.get("x")!.dataSync(), a.get("x")!.dataSync());
  const saved = await readParams(b);
  writeParams(a, saved);
  assert.deepEqual(a.get("x")!.dataSync(), b.get("x")!.dataSync());
  assert.throws(
    () => writeParams(a, [{ ...saved[0], shape: [3, 2] }, saved[1]]),
    /parameter "x" of shape \[2, 3\] but found "\[3, 2\]"/,
  );
  assert.throws(() => writeParams(a, [saved[0]]), /a saved parameter "y"/);
  disposeParams(a);
  disposeParams(b);
});

Deno.test("logSigmoid is stable for large inputs", () => {
  const x = tf.tensor1d([-200, 0, 200]);
  const y = logSigmoid(x).dataSync();
  close(y, [-200, Math.log(0.5), 0], 1e-4);
  x.dispose();
});

Deno.test("creating, cloning and disposing parameters leaves no tensor behind", () => {
  const before = tf.memory().numTensors;
  const params = createParams();
  addParam(params, "w", [4, 3], { seed: 1 });
  addParam(params, "b", [3], { init: "zeros" });
  const copy = cloneParams(params);
  assert.deepEqual(copy.get("w")!.dataSync(), params.get("w")!.dataSync());
  disposeParams(params);
  assert.equal(copy.get("w")!.dataSync().length, 12, "the clone outlives its source");
  disposeParams(copy);
  assert.equal(tf.memory().numTensors, before);
});
