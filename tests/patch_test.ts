import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  checkGrid,
  formatGrid,
  gridImage,
  gridImageRgb,
  numPatches,
  parseGrid,
  parsePatchId,
  patchBox,
  patchCoords,
  patchId,
  patchIds,
  patchify,
  patchIndex,
  patchMeans,
  reducePatches,
  unpatchify,
} from "../lib/videos/patch.ts";
import { decodePng } from "../lib/core/png.ts";
import { type BackendName, initBackend, probeWebGpu } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { randomVideo } from "./_helpers.ts";

const CASES = [
  { t: 16, h: 32, w: 32, grid: "4x4x4" },
  { t: 8, h: 64, w: 64, grid: "4x4x2" },
  { t: 6, h: 20, w: 30, grid: "2x3x3" },
  { t: 16, h: 320, w: 512, grid: "4x4x4" },
  { t: 3, h: 7, w: 5, grid: "7x5x1" },
];

Deno.test("patchify → unpatchify is bit-exact on random videos of several sizes, single and batched", () => {
  const rng = createRng(7);
  for (const { t, h, w, grid: spec } of CASES) {
    const grid = parseGrid(spec);
    const values = Float32Array.from({ length: 2 * t * h * w * 3 }, () => rng.normal());
    tf.tidy(() => {
      const batch = tf.tensor5d(values, [2, t, h, w, 3]);
      const tokens = patchify(batch, grid);
      assert.deepEqual(tokens.shape, [
        2,
        numPatches(grid, t),
        grid.framesPerPatch * (h / grid.rows) * (w / grid.cols) * 3,
      ]);
      const back = unpatchify(tokens, grid, { numFrames: t, height: h, width: w, channels: 3 });
      assert.deepEqual(back.dataSync(), batch.dataSync(), spec);
      const single = batch.slice([1], [1]).squeeze([0]);
      const singleBack = unpatchify(patchify(single, grid), grid, {
        numFrames: t,
        height: h,
        width: w,
        channels: 3,
      });
      assert.deepEqual(singleBack.dataSync(), single.dataSync());
    });
  }
});

Deno.test("patch tokens hold exactly the pixels of their patch box", () => {
  const video = randomVideo(8, 16, 24, 3);
  const grid = parseGrid("2x3x4");
  tf.tidy(() => {
    const tokens = patchify(tf.tensor4d(video.frames, [8, 16, 24, 3]), grid)
      .arraySync() as number[][];
    for (const index of [0, 5, 7, 11]) {
      const box = patchBox(grid, video, index);
      const expected: number[] = [];
      for (let f = box.frameStart; f < box.frameEnd; f++) {
        for (let y = box.top; y < box.bottom; y++) {
          for (let x = box.left; x < box.right; x++) {
            for (let c = 0; c < 3; c++) {
              expected.push(video.frames[((f * 16 + y) * 24 + x) * 3 + c]);
            }
          }
        }
      }
      assert.deepEqual(
        Float32Array.from(tokens[index]),
        Float32Array.from(expected),
        `patch ${patchId(grid, index)}`,
      );
    }
  });
});

Deno.test("a grid that does not divide the video names both sizes", () => {
  assert.throws(
    () => checkGrid(parseGrid("5x4x4"), { numFrames: 16, height: 32, width: 32 }),
    /PatchGrid 5x4x4: Expected .* but found 16 frames of 32×32/,
  );
  assert.throws(
    () => patchify(tf.zeros([10, 32, 32, 3]), parseGrid("4x4x4")),
    /4x4x4.*10 frames of 32×32/,
  );
  assert.throws(
    () => patchify(tf.zeros([32, 32, 3]), parseGrid("4x4x4")),
    /patchify: Expected tensor 'x' of rank 4 or 5/,
  );
  assert.throws(
    () =>
      unpatchify(tf.zeros([16, 10]), parseGrid("2x2x4"), {
        numFrames: 16,
        height: 8,
        width: 8,
        channels: 3,
      }),
    /unpatchify: Expected tensor 'tokens' of shape \[16, 192\]/,
  );
  assert.throws(() => parseGrid("4x4"), /Expected a grid "ROWSxCOLSxFRAMES"/);
  assert.throws(() => parseGrid("0x4x4"), /rows to be an integer/);
});

Deno.test("patch ids, coordinates and boxes agree", () => {
  const grid = parseGrid("3x4x2");
  assert.equal(formatGrid(grid), "3x4x2");
  const ids = patchIds(grid, 8);
  assert.equal(ids.length, 4 * 12);
  assert.equal(new Set(ids).size, ids.length);
  ids.forEach((id, i) => {
    assert.equal(parsePatchId(grid, id), i);
    assert.equal(patchIndex(grid, patchCoords(grid, i)), i);
  });
  assert.deepEqual(
    patchBox(
      grid,
      { numFrames: 8, height: 30, width: 40 },
      patchIndex(grid, { segment: 2, row: 1, col: 3 }),
    ),
    {
      frameStart: 4,
      frameEnd: 6,
      top: 10,
      bottom: 20,
      left: 30,
      right: 40,
    },
  );
  assert.throws(() => parsePatchId(grid, "s0r3c0"), /row < 3/);
  assert.throws(() => parsePatchId(grid, "r0c0"), /patch id like/);
  assert.throws(
    () => patchBox(grid, { numFrames: 8, height: 30, width: 40 }, 48),
    /patch index in \[0, 48\)/,
  );
});

Deno.test("reducePatches (tensor) and patchMeans (array) compute the same per-patch means", () => {
  const video = randomVideo(8, 16, 16, 9);
  const grid = parseGrid("4x2x4");
  const fromArray = patchMeans(video.frames, { ...video, channels: 3 }, grid);
  const before = tf.memory().numTensors;
  const fromTensor = tf.tidy(() =>
    reducePatches(tf.tensor5d(video.frames, [1, 8, 16, 16, 3]), grid).dataSync()
  );
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  assert.equal(fromTensor.length, numPatches(grid, 8));
  fromArray.forEach((v, i) => assert.ok(Math.abs(v - fromTensor[i]) < 1e-6, `patch ${i}`));
  // A map that is 1 inside one patch only reduces to 1 there and 0 elsewhere.
  const map = new Float32Array(8 * 16 * 16);
  const box = patchBox(grid, video, 9);
  for (let f = box.frameStart; f < box.frameEnd; f++) {
    for (let y = box.top; y < box.bottom; y++) {
      for (let x = box.left; x < box.right; x++) map[(f * 16 + y) * 16 + x] = 1;
    }
  }
  const means = patchMeans(map, { ...video, channels: 1 }, grid);
  assert.deepEqual(Array.from(means).map((v, i) => (v === 1 ? i : -1)).filter((i) => i >= 0), [9]);
  assert.equal(means.reduce((a, b) => a + b, 0), 1);
  assert.throws(
    () => patchMeans(new Float32Array(5), { ...video, channels: 1 }, grid),
    /map of length/,
  );
});

Deno.test("gridImage draws the grid over the chosen frames as a decodable PNG", () => {
  const video = randomVideo(8, 32, 32, 2);
  const grid = parseGrid("4x4x4");
  const image = decodePng(gridImage(video, grid));
  const raw = gridImageRgb(video, grid);
  assert.deepEqual(image, raw);
  assert.equal(raw.height, 256 + 8 * 2, "32 px frames are upscaled ×8 with a label header");
  assert.equal(raw.width, 2 * 256 + 4, "one frame per segment, 4 px apart");
  // the top-left pixel of the first frame lies on a grid line: magenta
  const header = raw.height - 256;
  assert.deepEqual(
    Array.from(raw.rgb.subarray(header * raw.width * 3, header * raw.width * 3 + 3)),
    [255, 0, 255],
  );
  const plain = gridImageRgb(video, grid, {
    frames: [0, 1, 2],
    scale: 2,
    labels: false,
    lineColor: [0, 255, 0],
  });
  assert.deepEqual([plain.width, plain.height], [3 * 64 + 2 * 4, 64]);
  assert.throws(() => gridImage(video, grid, { frames: [8] }), /frame indices in \[0, 8\)/);
  // a highlighted patch gets a red outline on its own segment's frame only
  const lit = gridImageRgb(video, grid, { labels: false, scale: 8, highlight: [16 + 5] });
  const red = (x: number, y: number) =>
    Array.from(lit.rgb.subarray((y * lit.width + x) * 3, (y * lit.width + x) * 3 + 3));
  assert.deepEqual(
    red(256 + 4 + 8 * 8 + 2, 8 * 8 + 20),
    [255, 32, 32],
    "segment 1, row 1, col 1: left edge",
  );
  assert.notDeepEqual(red(8 * 8 + 2, 8 * 8 + 20), [255, 32, 32], "not on segment 0");
});

Deno.test("patchify, unpatchify and reducePatches run on cpu, wasm and webgpu (whose transpose stops at rank 6)", async () => {
  const backends = ["cpu", "wasm"] as BackendName[];
  if ((await probeWebGpu()).available) backends.push("webgpu");
  const grid = parseGrid("4x4x4");
  const video = randomVideo(8, 16, 16, 5);
  const expected = patchMeans(video.frames, { ...video, channels: 3 }, grid);
  try {
    for (const backend of backends) {
      await initBackend({ backend });
      const x = tf.tensor5d(video.frames, [1, 8, 16, 16, 3]);
      const back = unpatchify(patchify(x, grid), grid, {
        numFrames: 8,
        height: 16,
        width: 16,
        channels: 3,
      });
      assert.deepEqual(await back.data(), video.frames, backend);
      const means = reducePatches(x, grid);
      const got = await means.data();
      expected.forEach((v, i) => assert.ok(Math.abs(v - got[i]) < 1e-5, `${backend} patch ${i}`));
      tf.dispose([x, back, means]);
    }
  } finally {
    await initBackend({ backend: "wasm" });
  }
});
