import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { saveGenerator } from "../lib/generator/io.ts";
import { sampleClips } from "../lib/generator/sampler.ts";
import { sampleDatasetClips, type SampleDatasetClipsOptions } from "../lib/reward/_samples.ts";
import { buildRewardDataset } from "../lib/reward/data.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

await initBackend();

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
  "three yellow triangles moving down slowly on a navy background",
];
const LIST = Array.from({ length: 20 }, (_, i) => PROMPTS[i % 3]);

/** A tiny generator whose output head is perturbed, so samples differ clip by clip. */
function tinyGenerator() {
  const gen = createGenerator(TINY_GENERATOR, { seed: 4 });
  const w = gen.params.get("pixel.clean.w")!;
  w.assign(tf.randomNormal(w.shape, 0, 0.5, "float32", 9));
  return gen;
}

/** A saved tiny generator in a temporary folder and the options every sampling call shares. */
async function withSavedGenerator(
  run: (
    dir: string,
    common: Omit<SampleDatasetClipsOptions, "cache">,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const gen = tinyGenerator();
  try {
    await saveGenerator(`${dir}/gen`, gen);
    await run(dir, {
      generator: gen,
      generatorDir: `${dir}/gen`,
      generatorSha256: "test",
      seed: 7,
      steps: 3,
      label: "samples",
      quiet: true,
    });
  } finally {
    disposeGenerator(gen);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("streamOffset: clips sampled in shards are the clips of one call", async () => {
  const gen = tinyGenerator();
  try {
    const whole = await sampleClips(gen, LIST, { steps: 3, seed: 7 });
    const head = await sampleClips(gen, LIST.slice(0, 8), { steps: 3, seed: 7 });
    const tail = await sampleClips(gen, LIST.slice(8), { steps: 3, seed: 7, streamOffset: 8 });
    assert.deepEqual([...head, ...tail].map((c) => c.frames), whole.map((c) => c.frames));
    // an offset off the batch grid still gives each clip its own noise
    const odd = await sampleClips(gen, LIST.slice(5, 7), { steps: 3, seed: 7, streamOffset: 5 });
    for (const [i, clip] of odd.entries()) {
      const diff = clip.frames.reduce(
        (m, v, j) => Math.max(m, Math.abs(v - whole[5 + i].frames[j])),
        0,
      );
      assert.ok(diff < 1e-5, `clip ${5 + i} differs by ${diff}`);
    }
    await assert.rejects(
      () => sampleClips(gen, PROMPTS, { streamOffset: 3, eta: 0.5 }),
      /Expected streamOffset only with one shared seed and η = 0/,
    );
    await assert.rejects(
      () => sampleClips(gen, PROMPTS, { streamOffset: 3, seeds: [1, 2, 3] }),
      /streamOffset only with one shared seed/,
    );
  } finally {
    disposeGenerator(gen);
  }
});

Deno.test("reward data samples: two processes make the clips one makes, cached by chunk", async () => {
  await withSavedGenerator(async (dir, shared) => {
    const whole = await sampleClips(shared.generator, LIST, { steps: 3, seed: 7 });
    const common = { ...shared, chunk: 8 };
    const serial = await sampleDatasetClips(LIST, { ...common, jobs: 1, cache: `${dir}/a` });
    const parallel = await sampleDatasetClips(LIST, { ...common, jobs: 2, cache: `${dir}/b` });
    assert.deepEqual(serial.map((c) => c.frames), whole.map((c) => c.frames));
    assert.deepEqual(parallel.map((c) => c.frames), whole.map((c) => c.frames));
    assert.equal(parallel[19].numFrames, 4);
    // three chunks cached; a half-written one (a killed child) is sampled again, the rest read back
    const files = [...Deno.readDirSync(`${dir}/b`)].map((e) => `${dir}/b/${e.name}`).sort();
    assert.equal(files.length, 3);
    await Deno.writeFile(files[0], new Uint8Array(10));
    const mtimes = files.map((f) => Deno.statSync(f).mtime!.getTime());
    const again = await sampleDatasetClips(LIST, { ...common, jobs: 1, cache: `${dir}/b` });
    assert.deepEqual(again.map((c) => c.frames), whole.map((c) => c.frames));
    assert.notEqual(Deno.statSync(files[0]).size, 10);
    assert.deepEqual(files.slice(1).map((f) => Deno.statSync(f).mtime!.getTime()), mtimes.slice(1));
    // another seed is another key
    const other = await sampleDatasetClips(LIST, {
      ...common,
      seed: 8,
      jobs: 1,
      cache: `${dir}/b`,
    });
    assert.notDeepEqual(other[0].frames, whole[0].frames);
  });
});

Deno.test("reward data samples: sharedNoise groups share x_T, chunks and processes agree", async () => {
  await withSavedGenerator(async (dir, common) => {
    // groups of four clips of one prompt
    const list = Array.from({ length: 24 }, (_, i) => PROMPTS[Math.floor(i / 4) % 3]);
    const maxDiff = (a: Float32Array, b: Float32Array) =>
      a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j])), 0);
    // η = 0: the only noise is x_T, so a group's clips are one clip and groups differ
    const still = await sampleDatasetClips(list, {
      ...common,
      jobs: 1,
      chunk: 24,
      cache: `${dir}/eta0`,
      sharedNoise: { group: 4, eta: 0 },
    });
    for (let i = 0; i < 24; i++) {
      assert.deepEqual(still[i].frames, still[i - (i % 4)].frames, `clip ${i}`);
    }
    assert.ok(maxDiff(still[0].frames, still[12].frames) > 1e-3, "groups 0 and 3 (one prompt)");
    // η > 0: clips of a group differ, less than clips of one prompt from other noise
    const options = { ...common, sharedNoise: { group: 4, eta: 0.5 } };
    const one = await sampleDatasetClips(list, {
      ...options,
      jobs: 1,
      chunk: 24,
      cache: `${dir}/a`,
    });
    const parallel = await sampleDatasetClips(list, {
      ...options,
      jobs: 2,
      chunk: 8,
      cache: `${dir}/b`,
    });
    assert.deepEqual(parallel.map((c) => c.frames), one.map((c) => c.frames));
    const meanDiff = (a: Float32Array, b: Float32Array) =>
      a.reduce((s, v, j) => s + Math.abs(v - b[j]), 0) / a.length;
    const within = meanDiff(one[0].frames, one[1].frames);
    assert.ok(within > 0, "clips of a group differ under η > 0");
    assert.ok(within < meanDiff(one[0].frames, one[12].frames), "within a group < across groups");
    // not the clips of one noise stream, and cached under their own key
    const plain = await sampleDatasetClips(list, {
      ...common,
      jobs: 1,
      chunk: 24,
      cache: `${dir}/a`,
    });
    assert.notDeepEqual(plain[1].frames, one[1].frames);
    assert.equal([...Deno.readDirSync(`${dir}/a`)].length, 2);
  });
});

Deno.test("buildRewardDataset: sharedNoise needs groups of clips", async () => {
  await assert.rejects(
    () => buildRewardDataset({ train: 2, heldOut: 0, sharedNoise: true }),
    /Expected clipsPerPrompt ≥ 2 with sharedNoise .* but found 1/,
  );
});
