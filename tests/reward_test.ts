import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { readParams } from "../lib/tensor/nn.ts";
import { patchId } from "../lib/videos/patch.ts";
import { tokenizeBatch } from "../lib/generator/prompt.ts";
import {
  createRewardModel,
  disposeRewardModel,
  resolveRewardConfig,
  rewardFlops,
  rewardForward,
  rewardParamCount,
} from "../lib/reward/model.ts";
import {
  flattenPatchScores,
  resampleVideo,
  rewardPatchLabels,
  scorePatches,
  scoreRewards,
  scoreVideo,
} from "../lib/reward/score.ts";
import { loadRewardModel, saveRewardModel } from "../lib/reward/io.ts";
import { loadVideo, type Video } from "../lib/videos/video.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { SHARED_VIDEOS, withTempDir } from "./_helpers.ts";

await initBackend();

const PROMPT = "two red circles moving left quickly on a gray background";
const clip = (seed: number): Video => renderClip(parsePrompt(PROMPT), { seed }).video;

Deno.test("default reward model: 64 tokens, under 200k parameters, FLOPs counted", () => {
  const model = createRewardModel({}, { seed: 1 });
  try {
    assert.equal(model.config.grid, "4x4x4");
    assert.ok(rewardParamCount(model) < 200_000, `${rewardParamCount(model)}`);
    assert.ok(rewardFlops(model.config, 2) === 2 * rewardFlops(model.config, 1));
    assert.ok(rewardFlops(model.config, 1) > 5e6);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("rewardPatchLabels: labeller-style labels in flat patch order", async () => {
  const model = createRewardModel({ dim: 16, depth: 1, heads: 2 }, { seed: 3 });
  try {
    const [scores] = await scoreRewards(model, [{ video: clip(1), prompt: PROMPT }]);
    const labels = rewardPatchLabels(model, scores);
    const flat = flattenPatchScores(scores.patches);
    assert.equal(labels.length, 64);
    labels.forEach((l, k) => {
      assert.equal(l.index, k);
      assert.equal(l.id, patchId({ rows: 4, cols: 4, framesPerPatch: 4 }, k));
      assert.deepEqual(Object.values(l.scores), flat[k]);
    });
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("shapes of every output, on the 1–4 scale, patch order shared by both layouts", async () => {
  const model = createRewardModel({ dim: 16, depth: 1, heads: 2 }, { seed: 2 });
  try {
    const x = tf.randomUniform([3, 16, 32, 32, 3]);
    const tokens = tokenizeBatch([PROMPT, PROMPT, PROMPT]);
    const out = rewardForward(model, { x, tokens });
    assert.deepEqual(out.video.shape, [3, 3]);
    assert.deepEqual(out.patches.shape, [3, 64, 3]);
    const all = [...(await out.video.data()), ...(await out.patches.data())];
    assert.ok(all.every((v) => v >= 1 && v <= 4));
    tf.dispose([x, tokens, out.video, out.patches]);

    const items = [0, 1, 2, 3, 4].map((s) => ({ video: clip(s), prompt: PROMPT }));
    const both = await scoreRewards(model, items, { batchSize: 2 });
    const videos = await scoreVideo(model, items);
    const patches = await scorePatches(model, items);
    assert.equal(both.length, 5);
    assert.deepEqual(Object.keys(videos[0]), [
      "visual_quality",
      "temporal_consistency",
      "text_alignment",
    ]);
    // [rows, cols, segments, aspects]
    const p = patches[4];
    assert.deepEqual([p.length, p[0].length, p[0][0].length, p[0][0][0].length], [4, 4, 4, 3]);
    // batching does not change scores
    for (let i = 0; i < 5; i++) {
      for (const a of Object.keys(videos[i]) as Array<keyof typeof videos[0]>) {
        assert.ok(Math.abs(videos[i][a] - both[i].video[a]) < 1e-5);
      }
    }
    // flattening follows patch ids: index k = (segment·rows + row)·cols + col
    const flat = flattenPatchScores(p);
    const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
    assert.equal(patchId(grid, 1 * 16 + 2 * 4 + 3), "s1r2c3");
    assert.deepEqual(flat[1 * 16 + 2 * 4 + 3], p[2][3][1]);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("no tensor leak across 20 scoring calls", async () => {
  const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
  try {
    const items = [{ video: clip(1), prompt: PROMPT }, { video: clip(2), prompt: PROMPT }];
    await scoreRewards(model, items); // warm-up (kernels, lazily created constants)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      if (i % 2) await scoreVideo(model, items);
      else await scorePatches(model, items, { batchSize: 1 });
    }
    assert.equal(tf.memory().numTensors, before);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("a checkpoint round-trips exactly (weights and scores)", async () => {
  await withTempDir(async (dir) => {
    const model = createRewardModel({ dim: 16, depth: 1, heads: 2 }, { seed: 3 });
    const { model: back, step, manifest } = await (async () => {
      await saveRewardModel(`${dir}/rm`, model, { step: 11, meta: { note: "x" } });
      return await loadRewardModel(`${dir}/rm`);
    })();
    try {
      assert.equal(step, 11);
      assert.equal(manifest.kind, "reward");
      assert.deepEqual(back.config, model.config);
      const a = await readParams(model.params), b = await readParams(back.params);
      assert.deepEqual(a.map((p) => p.name), b.map((p) => p.name));
      a.forEach((p, i) => assert.deepEqual(p.values, b[i].values, p.name));
      const items = [{ video: clip(4), prompt: PROMPT }];
      assert.deepEqual(await scoreRewards(model, items), await scoreRewards(back, items));
    } finally {
      disposeRewardModel(model);
      disposeRewardModel(back);
    }
    await assert.rejects(loadRewardModel(`${dir}/nope`), /config\.json.*no such file/);
  });
});

Deno.test("bad input: wrong size, grid that does not fit, NaN frames — errors name the item", async () => {
  const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
  try {
    const small = renderClip(parsePrompt(PROMPT), { seed: 1, size: 30, frames: 10 }).video;
    await assert.rejects(
      scoreVideo(model, [{ video: clip(1), prompt: PROMPT }, { video: small, prompt: PROMPT }]),
      (e: Error) =>
        /score item 1 \("shapesworld.*Expected a video of 16 frames of 32×32 \(the reward model's grid 4x4x4.*but found "10 frames of 30×30"/
          .test(e.message),
    );
    assert.throws(() => resolveRewardConfig({ size: 30 }), /4x4x4.*30×30/);
    const frames = Float32Array.from(clip(2).frames);
    frames[5 * 32 * 32 * 3 + 7] = NaN;
    const nan: Video = { ...clip(2), frames, source: "broken.mp4" };
    await assert.rejects(
      scorePatches(model, [{ video: nan, prompt: PROMPT }]),
      /score item 0 \("broken\.mp4"\): Expected finite pixel values but found "NaN in frame 5/,
    );
    // resampling is opt-in and says so
    const notes: string[] = [];
    const [s] = await scoreVideo(model, [{ video: small, prompt: PROMPT }], {
      resample: true,
      note: (m) => notes.push(m),
    });
    assert.ok(s.visual_quality >= 1 && s.visual_quality <= 4);
    assert.match(notes[0], /resampled 10 frames of 30×30 to the model's 16 frames of 32×32/);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("resampleVideo keeps the mean colour and spaces frames evenly", () => {
  const v = clip(3);
  const r = resampleVideo(v, { frames: 8, size: 16 });
  assert.equal(r.frames.length, 8 * 16 * 16 * 3);
  const mean = (f: Float32Array, from: number, n: number) => {
    let s = 0;
    for (let i = from; i < from + n; i++) s += f[i];
    return s / n;
  };
  // first frame of the resampled clip is the source's first frame, box-filtered
  assert.ok(Math.abs(mean(r.frames, 0, 16 * 16 * 3) - mean(v.frames, 0, 32 * 32 * 3)) < 1e-5);
});

Deno.test("scores real videos from files (resampled, null prompt) with notes", async () => {
  const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
  try {
    const index = JSON.parse(await Deno.readTextFile(`${SHARED_VIDEOS}prompts.json`));
    const { file, prompt } = index.videos[0] as { file: string; prompt: string };
    const video = await loadVideo(`${SHARED_VIDEOS}${file}`);
    const notes: string[] = [];
    const [p] = await scorePatches(model, [{ video, prompt }], {
      resample: true,
      note: (m) => notes.push(m),
    });
    assert.equal(p.length, 4);
    assert.ok(p.flat(3).every((v) => Number.isFinite(v) && v >= 1 && v <= 4));
    assert.ok(notes.some((n) => /resampled/.test(n)));
    assert.ok(notes.some((n) => /null prompt/.test(n)));
  } finally {
    disposeRewardModel(model);
  }
});
