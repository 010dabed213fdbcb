import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { sampleClips, sampleVideos } from "../lib/generator/sampler.ts";
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
