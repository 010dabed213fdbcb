import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  setFastWasmKernels,
  simplifyTranspose,
  transposeArray,
} from "../lib/tensor/_kernels/wasm.ts";
import { createRng } from "../lib/core/_rng.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import {
  createGenerator,
  DEFAULT_GENERATOR_CONFIG,
  disposeGenerator,
  type Generator,
  predictNoise,
} from "../lib/generator/model.ts";
import { addNoise, makeBatch, normalArray } from "../lib/generator/diffusion.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { samplePrompt } from "../lib/videos/world.ts";

await initBackend({ backend: "wasm" });

function naiveTranspose(src: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((a) => shape[a]);
  const out = new Float32Array(src.length);
  const idx = new Array(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let q = 0;
    for (let d = 0; d < rank; d++) q += idx[d] * strides[perm[d]];
    out[o] = src[q];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Deno.test("simplifyTranspose drops unit axes and merges axes that stay adjacent", () => {
  assert.deepEqual(simplifyTranspose([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
  assert.deepEqual(simplifyTranspose([2, 1, 3, 4], [3, 1, 0, 2]), { shape: [6, 4], perm: [1, 0] });
  assert.deepEqual(simplifyTranspose([5, 2, 3, 4], [2, 3, 0, 1]), {
    shape: [10, 12],
    perm: [1, 0],
  });
});

Deno.test("transposeArray equals a naive transpose for random shapes and permutations", () => {
  const rng = createRng(5);
  for (let trial = 0; trial < 200; trial++) {
    const rank = 1 + rng.int(6);
    const shape = Array.from({ length: rank }, () => 1 + rng.int(4));
    const perm = Array.from({ length: rank }, (_, i) => i);
    for (let i = rank - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const src = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
    const out = new Float32Array(src.length);
    transposeArray(src, out, shape, perm);
    assert.deepEqual(out, naiveTranspose(src, shape, perm), `${shape} by ${perm}`);
  }
});

function withKernels<T>(on: boolean, fn: () => T): T {
  const before = setFastWasmKernels(on);
  try {
    return fn();
  } finally {
    setFastWasmKernels(before);
  }
}

Deno.test("wasm: transposes are exact and transposed matmuls match the stock kernels", () => {
  const x = tf.randomNormal([3, 4, 2, 5, 2, 6], 0, 1, "float32", 1);
  const perms = [[0, 2, 4, 1, 3, 5], [5, 4, 3, 2, 1, 0], [1, 0, 2, 3, 5, 4]];
  for (const perm of perms) {
    const fast = withKernels(true, () => x.transpose(perm).dataSync());
    const stock = withKernels(false, () => x.transpose(perm).dataSync());
    assert.deepEqual(fast, stock, `perm ${perm}`);
  }
  const a = tf.randomNormal([2, 37, 19], 0, 1, "float32", 2);
  const b = tf.randomNormal([2, 37, 23], 0, 1, "float32", 3);
  const c = tf.randomNormal([2, 23, 19], 0, 1, "float32", 4);
  const d = tf.randomNormal([2, 19, 23], 0, 1, "float32", 5);
  const cases: Array<() => tf.Tensor> = [
    () => tf.matMul(a, b, true, false),
    () => tf.matMul(b, c, false, false),
    () => tf.matMul(a, c, false, true),
    () => tf.matMul(d, a, true, true),
    () => tf.matMul(a.reshape([74, 19]), c.reshape([46, 19]), false, true),
  ];
  for (const [i, f] of cases.entries()) {
    const fast = withKernels(true, () => f().dataSync());
    const stock = withKernels(false, () => f().dataSync());
    assert.equal(fast.length, stock.length);
    for (let j = 0; j < fast.length; j++) {
      assert.ok(Math.abs(fast[j] - stock[j]) < 1e-5 * (1 + Math.abs(stock[j])), `case ${i}`);
    }
  }
  tf.dispose([x, a, b, c, d]);
});

Deno.test("wasm: tiles are exact and leading-axis sums match the stock kernels", () => {
  const x = tf.randomNormal([3, 1, 4, 5], 0, 1, "float32", 6);
  for (const reps of [[1, 16, 1, 1], [2, 3, 1, 2], [1, 1, 1, 1], [4, 2, 3, 1]]) {
    const fast = withKernels(true, () => tf.tile(x, reps).dataSync());
    const stock = withKernels(false, () => tf.tile(x, reps).dataSync());
    assert.deepEqual(fast, stock, `reps ${reps}`);
  }
  const ints = tf.tensor2d([1, 2, 3, 4], [2, 2], "int32");
  assert.deepEqual(
    withKernels(true, () => tf.tile(ints, [2, 1]).dataSync()),
    Int32Array.from([1, 2, 3, 4, 1, 2, 3, 4]),
  );
  const y = tf.randomNormal([37, 6, 11], 0, 1, "float32", 7);
  const sums: Array<[number | number[], boolean]> = [
    [0, false],
    [[0, 1], false],
    [[1, 0], true],
    [-1, false],
    [[0, 2], false],
    [[0, 1, 2], false],
  ];
  for (const [axis, keepDims] of sums) {
    const fast = withKernels(true, () => y.sum(axis, keepDims));
    const stock = withKernels(false, () => y.sum(axis, keepDims));
    assert.deepEqual(fast.shape, stock.shape, `axis ${axis}`);
    const f = fast.dataSync();
    const s = stock.dataSync();
    for (let j = 0; j < f.length; j++) {
      assert.ok(Math.abs(f[j] - s[j]) < 1e-5 * (1 + Math.abs(s[j])), `axis ${axis}`);
    }
    tf.dispose([fast, stock]);
  }
  tf.dispose([x, ints, y]);
});

Deno.test("wasm: rank-5 slices, concatenations and splits are exact", () => {
  const x = tf.randomNormal([3, 4, 5, 6, 4], 0, 1, "float32", 9);
  const boxes: Array<[number[], number[]]> = [
    [[0, 0, 0, 0, 1], [3, 4, 5, 6, 1]],
    [[1, 1, 2, 0, 0], [2, 3, 3, 6, 4]],
    [[0, 2, 0, 3, 1], [-1, 2, -1, 3, 3]],
    [[2, 3, 4, 5, 3], [1, 1, 1, 1, 1]],
  ];
  for (const [begin, size] of boxes) {
    const fast = withKernels(true, () => x.slice(begin, size));
    const stock = withKernels(false, () => x.slice(begin, size));
    assert.deepEqual(fast.shape, stock.shape);
    assert.deepEqual(fast.dataSync(), stock.dataSync(), `slice ${begin} ${size}`);
    tf.dispose([fast, stock]);
  }
  const parts = [x, x.slice([0, 0, 0, 0, 0], [3, 4, 5, 6, 1]), x.mul(2)];
  for (const axis of [0, 2, 4, -1]) {
    const others = axis === 4 || axis === -1 ? parts : [x, x.mul(2)];
    const fast = withKernels(true, () => tf.concat(others, axis));
    const stock = withKernels(false, () => tf.concat(others, axis));
    assert.deepEqual(fast.shape, stock.shape);
    assert.deepEqual(fast.dataSync(), stock.dataSync(), `concat axis ${axis}`);
    tf.dispose([fast, stock]);
  }
  for (const [spec, axis] of [[2, -1], [[1, 3], -1], [[2, -1, 1], 1], [3, 0]] as const) {
    const fast = withKernels(true, () => tf.split(x, spec as number | number[], axis));
    const stock = withKernels(false, () => tf.split(x, spec as number | number[], axis));
    assert.equal(fast.length, stock.length);
    fast.forEach((f, i) => {
      assert.deepEqual(f.shape, stock[i].shape);
      assert.deepEqual(f.dataSync(), stock[i].dataSync(), `split ${spec} axis ${axis}`);
    });
    tf.dispose([...fast, ...stock]);
  }
  tf.dispose([x, ...parts.slice(1)]);
});

Deno.test("wasm: integer powers match the stock kernel to rounding", () => {
  const x = tf.randomNormal([7, 33], 0, 3, "float32", 8);
  for (const e of [2, 3, -1, 0, 4, 2.5]) {
    const base = e === 2.5 ? x.abs() : x;
    const fast = withKernels(true, () => base.pow(e).dataSync());
    const stock = withKernels(false, () => base.pow(e).dataSync());
    for (let j = 0; j < fast.length; j++) {
      assert.ok(Math.abs(fast[j] - stock[j]) <= 2e-7 * Math.abs(stock[j]), `x^${e}`);
    }
  }
  x.dispose();
});

function lossAndGradNorm(gen: Generator, seed: number): [number, number] {
  const rng = createRng(seed);
  const prompts = Array.from({ length: 4 }, () => samplePrompt(rng));
  const batch = makeBatch(gen.config, prompts, { seeds: [1, 2, 3, 4] });
  const out = tf.tidy(() => {
    const t = tf.tensor1d([10, 300, 600, 990], "int32");
    const noise = tf.tensor(normalArray(rng, batch.x0.size), batch.x0.shape);
    const xt = addNoise(gen.config, batch.x0, t, noise);
    const { value, grads } = paramGrads(
      gen.params,
      () =>
        predictNoise(gen, { xt, t, tokens: batch.tokens }).sub(noise).square().mean() as tf.Scalar,
    );
    const norm = tf.addN(Object.values(grads).filter((g) => g).map((g) => g.square().sum())).sqrt();
    return [value.dataSync()[0], norm.dataSync()[0]] as [number, number];
  });
  tf.dispose([batch.x0, batch.tokens]);
  return out;
}

Deno.test("wasm: the default generator's loss and gradient norm are the same with the kit's kernels", () => {
  const gen = createGenerator(DEFAULT_GENERATOR_CONFIG, { seed: 3 });
  // give the zero-initialised output layers weights so every matmul matters
  for (const name of ["final.out.w", "final.ada.w", "layer0.space.ada.w", "layer1.time.ada.w"]) {
    const v = gen.params.get(name)!;
    v.assign(tf.randomNormal(v.shape, 0, 0.05, "float32", name.length));
  }
  const [lossFast, normFast] = withKernels(true, () => lossAndGradNorm(gen, 7));
  const [lossStock, normStock] = withKernels(false, () => lossAndGradNorm(gen, 7));
  assert.ok(Math.abs(lossFast - lossStock) <= 1e-5 * lossStock, `${lossFast} vs ${lossStock}`);
  assert.ok(Math.abs(normFast - normStock) <= 1e-4 * normStock, `${normFast} vs ${normStock}`);
  disposeGenerator(gen);
});

const SHIPPED = new URL("../data/generator/", import.meta.url).pathname;
const shipped = await Deno.stat(`${SHIPPED}config.json`).then(() => true, () => false);

Deno.test({
  name: "wasm: the shipped generator checkpoint gives the same loss with the kit's kernels",
  ignore: !shipped,
  fn: async () => {
    const { generator } = await loadGenerator(SHIPPED);
    const [lossFast] = withKernels(true, () => lossAndGradNorm(generator, 11));
    const [lossStock] = withKernels(false, () => lossAndGradNorm(generator, 11));
    assert.ok(Math.abs(lossFast - lossStock) <= 1e-5 * lossStock, `${lossFast} vs ${lossStock}`);
    disposeGenerator(generator);
  },
});

Deno.test("wasm Slice of rank ≥ 5 takes a number or a short begin/size like tfjs' own kernel", async () => {
  const x = tf.range(0, 2 * 3 * 2 * 2 * 2 * 2).reshape([2, 3, 2, 2, 2, 2]);
  const full = x.slice([1, 0, 0, 0, 0, 0], [1, 3, 2, 2, 2, 2]);
  const number = x.slice(1, 1), short = x.slice([1], [-1]);
  const [f, n, s] = await Promise.all([full, number, short].map((t) => t.data()));
  assert.deepEqual(Array.from(n), Array.from(f));
  assert.deepEqual(Array.from(s), Array.from(f));
  tf.dispose([x, full, number, short]);
});
