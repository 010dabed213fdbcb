import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { sampleClips, sampleVideos } from "../lib/generator/sampler.ts";
import { VOCAB } from "../lib/generator/prompt.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

await initBackend();

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
  "three yellow triangles moving down slowly on a navy background",
];

/** A tiny generator whose zero-initialised output head is perturbed, so samples are not trivial. */
function tinyGenerator(seed: number) {
  const gen = createGenerator(TINY_GENERATOR, { seed });
  const w = gen.params.get("pixel.clean.w")!;
  w.assign(tf.randomNormal(w.shape, 0, 0.5, "float32", 9));
  return gen;
}

Deno.test("DDIM with the same seed is deterministic; another seed differs", () => {
  const gen = tinyGenerator(4);
  const a = sampleVideos(gen, PROMPTS, { steps: 4, seed: 11, batchSize: 2 });
  const b = sampleVideos(gen, PROMPTS, { steps: 4, seed: 11 });
  const c = sampleVideos(gen, PROMPTS, { steps: 4, seed: 12 });
  assert.deepEqual(a.shape, [3, 4, 16, 16, 3]);
  assert.deepEqual(a.dataSync(), b.dataSync());
  assert.notDeepEqual(a.dataSync(), c.dataSync());
  assert.ok(a.dataSync().every((v) => v >= 0 && v <= 1));
  tf.dispose([a, b, c]);
  assert.throws(
    () => sampleVideos(gen, ["one purple circle moving up slowly on a black background"]),
    /"purple"/,
  );
  assert.throws(() => sampleVideos(gen, PROMPTS, { steps: 0 }), /Expected steps/);
  disposeGenerator(gen);
});

Deno.test("per-clip seeds: a clip does not depend on its batch or neighbours", async () => {
  const gen = tinyGenerator(5);
  const options = { steps: 3, eta: 0.5 };
  const together = await sampleClips(gen, PROMPTS, { ...options, seeds: [7, 8, 9] });
  const alone = await sampleClips(gen, PROMPTS.slice(1, 2), { ...options, seeds: [8] });
  const batched = await sampleClips(gen, PROMPTS, { ...options, seeds: [7, 8, 9], batchSize: 1 });
  assert.deepEqual(together[1].frames, alone[0].frames);
  assert.deepEqual(together[2].frames, batched[2].frames);
  assert.notDeepEqual(together[0].frames, together[1].frames);
  assert.match(alone[0].source, /seed=8$/);
  assert.throws(() => sampleVideos(gen, PROMPTS, { seeds: [1, 2] }), /one seed per prompt \(3\)/);
  assert.throws(() => sampleVideos(gen, PROMPTS, { seeds: [1, 2, -3] }), /seeds\[2\]/);
  disposeGenerator(gen);
});

Deno.test("sampling leaks no tensors", async () => {
  const gen = tinyGenerator(6);
  const before = tf.memory().numTensors;
  await sampleClips(gen, PROMPTS, { steps: 2, seeds: [1, 2, 3], batchSize: 2 });
  sampleVideos(gen, PROMPTS.slice(0, 1), { steps: 2 }).dispose();
  assert.equal(tf.memory().numTensors, before);
  disposeGenerator(gen);
});

Deno.test("guidanceFrom: steps below it run unguided; from 0 is plain CFG, from T is no guidance", () => {
  const gen = tinyGenerator(5);
  // lift adaLN-zero so the prompt (and the null prompt) change the output
  for (const [name, p] of gen.params) {
    if (/ada/.test(name)) p.assign(tf.randomNormal(p.shape, 0, 0.3, "float32", 3));
  }
  const run = (o: { guidance: number; guidanceFrom?: number }) =>
    tf.tidy(() => sampleVideos(gen, PROMPTS, { steps: 4, seed: 2, ...o }).dataSync());
  const plain = run({ guidance: 1 });
  const cfg = run({ guidance: 3, guidanceFrom: 0 });
  const never = run({ guidance: 3, guidanceFrom: 1000 });
  const high = run({ guidance: 3, guidanceFrom: 500 });
  assert.notDeepEqual(cfg, plain, "guidance changes the samples");
  assert.deepEqual(never, plain);
  assert.notDeepEqual(high, plain);
  assert.notDeepEqual(high, cfg);
  assert.throws(() => sampleVideos(gen, PROMPTS, { guidanceFrom: 1001 }), /Expected guidanceFrom/);
  disposeGenerator(gen);
});

Deno.test("guidanceBelow: the steps below guidanceFrom take their own scale", () => {
  const gen = tinyGenerator(5);
  for (const [name, p] of gen.params) {
    if (/ada/.test(name)) p.assign(tf.randomNormal(p.shape, 0, 0.3, "float32", 3));
  }
  const run = (o: { guidance: number; guidanceFrom?: number; guidanceBelow?: number }) =>
    tf.tidy(() => sampleVideos(gen, PROMPTS, { steps: 4, seed: 2, ...o }).dataSync());
  // one scale on both sides of guidanceFrom is plain CFG at that scale
  assert.deepEqual(run({ guidance: 3, guidanceFrom: 500, guidanceBelow: 3 }), run({ guidance: 3 }));
  // scale 1 above and 3 below guides only the low-noise steps
  assert.deepEqual(
    run({ guidance: 1, guidanceFrom: 1000, guidanceBelow: 3 }),
    run({ guidance: 3 }),
  );
  const split = run({ guidance: 2, guidanceFrom: 500, guidanceBelow: 4 });
  assert.notDeepEqual(split, run({ guidance: 2 }));
  assert.notDeepEqual(split, run({ guidance: 2, guidanceFrom: 500 }));
  assert.throws(() => sampleVideos(gen, PROMPTS, { guidanceBelow: -1 }), /Expected guidanceBelow/);
  disposeGenerator(gen);
});

Deno.test("shapeGuidance: a third pass without the shape word, and nothing else", () => {
  const gen = tinyGenerator(6);
  for (const [name, p] of gen.params) {
    if (/ada|prompt\.(proj|block)/.test(name)) {
      p.assign(tf.randomNormal(p.shape, 0, 0.3, "float32", 4));
    }
  }
  const run = (o: { guidance?: number; shapeGuidance?: number }) =>
    tf.tidy(() => sampleVideos(gen, PROMPTS, { steps: 4, seed: 2, ...o }).dataSync());
  const before = tf.memory().numTensors;
  const plain = run({});
  assert.deepEqual(run({ shapeGuidance: 0 }), plain);
  const guided = run({ shapeGuidance: 2 });
  assert.notDeepEqual(guided, plain);
  assert.notDeepEqual(run({ guidance: 1, shapeGuidance: 2 }), run({ guidance: 1 }));
  assert.equal(tf.memory().numTensors, before);
  // shape words embedded as padding: the pass without the shape word is the conditional pass
  const embed = gen.params.get("prompt.embed")!;
  const shapeRows = VOCAB.flatMap((w, i) => /^(circle|square|triangle)s?$/.test(w) ? [i] : []);
  assert.equal(shapeRows.length, 6);
  tf.tidy(() => {
    const rows = embed.arraySync() as number[][];
    for (const i of shapeRows) rows[i] = rows[0];
    embed.assign(tf.tensor2d(rows));
  });
  assert.deepEqual(run({ shapeGuidance: 2 }), run({}));
  assert.throws(() => sampleVideos(gen, PROMPTS, { shapeGuidance: -1 }), /Expected shapeGuidance/);
  disposeGenerator(gen);
});

Deno.test("noiseSeeds: clips from the same x_T differ only through η's step noise, and not at all with η = 0", async () => {
  const gen = tinyGenerator(5);
  const prompt = PROMPTS[0];
  const three = [prompt, prompt, prompt];
  const shared = { steps: 4, seeds: [1, 2, 3], noiseSeeds: [9, 9, 9] };
  const [a, b, c] = await sampleClips(gen, three, { ...shared, eta: 0.5 });
  assert.notDeepEqual(a.frames, b.frames, "another step-noise seed changes the clip");
  // same x_T, different step noise: closer to each other than to a clip from another x_T
  const [other] = await sampleClips(gen, [prompt], {
    steps: 4,
    seeds: [1],
    noiseSeeds: [10],
    eta: 0.5,
  });
  const dist = (p: Float32Array, q: Float32Array) => p.reduce((s, v, i) => s + (v - q[i]) ** 2, 0);
  assert.ok(dist(a.frames, b.frames) < dist(a.frames, other.frames));
  assert.match(c.source, /seed=3,noise=9$/);
  // with η = 0 DDIM is deterministic: the same x_T gives the same clip whatever the seeds
  const [d, e] = await sampleClips(gen, [prompt, prompt], {
    steps: 4,
    seeds: [1, 2],
    noiseSeeds: [9, 9],
  });
  assert.deepEqual(d.frames, e.frames);
  // seeds alone (no noiseSeeds) are unchanged: x_T and step noise both from the clip's seed
  const [f] = await sampleClips(gen, [prompt], { steps: 4, seeds: [1], eta: 0.5 });
  const [g] = await sampleClips(gen, [prompt], { steps: 4, seeds: [1], noiseSeeds: [1], eta: 0.5 });
  assert.notDeepEqual(f.frames, g.frames, "the step noise no longer follows x_T's draws");
  assert.throws(
    () => sampleVideos(gen, three, { noiseSeeds: [1, 1, 1] }),
    /seeds beside noiseSeeds/,
  );
  assert.throws(
    () => sampleVideos(gen, three, { seeds: [1, 2, 3], noiseSeeds: [1] }),
    /noiseSeeds with one seed per prompt \(3\)/,
  );
  disposeGenerator(gen);
});
