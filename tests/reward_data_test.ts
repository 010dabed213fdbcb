import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import type { VideoLabels } from "../lib/videos/scores.ts";
import { patchIds } from "../lib/videos/patch.ts";
import { buildRewardDataset } from "../lib/reward/data.ts";
import { checkVideoLabels, readLabelsFile } from "../lib/reward/label_file.ts";
import { withTempDir } from "./_helpers.ts";

await initBackend();

const GRID = { rows: 4, cols: 4, framesPerPatch: 4 };
const S = { visual_quality: 4, temporal_consistency: 3, text_alignment: 4 };

function fullLabels(): VideoLabels {
  return {
    video: S,
    patches: patchIds(GRID, 16).map((id, index) => ({ id, index, scores: { ...S }, reason: "" })),
  };
}

Deno.test("dataset: distilled labels for all, reference labels only held out, cached rerun", async () => {
  await withTempDir(async (dir) => {
    const options = {
      train: 10,
      heldOut: 4,
      cache: `${dir}/labels.jsonl`,
      quiet: true,
      defectRate: 0.6,
      mismatchRate: 0.2,
      generatorDir: `${dir}/no-generator`,
      seed: 3,
    };
    const data = await buildRewardDataset(options);
    assert.equal(data.train.length, 10);
    assert.equal(data.heldOut.length, 4);
    assert.equal(data.labelling.calls, 14);
    assert.ok(data.train.every((e) => e.reference === undefined));
    assert.ok(data.heldOut.every((e) => e.reference?.patches.length === 64));
    assert.ok(data.train.every((e) => e.labels.patches.length === 64));
    const origins = new Set(data.train.map((e) => e.origin));
    assert.ok(origins.has("defect"), [...origins].join());
    // injected defects are recorded with the patches they changed
    for (const e of data.train.filter((e) => e.origin === "defect")) {
      assert.ok(e.defects.length > 0 && e.defects.every((d) => d.patches.length > 0));
    }
    // held-out prompts are never training prompts
    const trainPrompts = new Set(data.train.map((e) => e.prompt));
    assert.ok(data.heldOut.every((e) => !trainPrompts.has(e.prompt)));
    // same seed: same clips, all labels from the cache
    const again = await buildRewardDataset(options);
    assert.equal(again.labelling.calls, 0);
    assert.equal(again.labelling.cached, 14);
    assert.deepEqual(again.train[3].video.frames, data.train[3].video.frames);
    // the cache file validates
    assert.equal((await readLabelsFile(`${dir}/labels.jsonl`)).length, 14);
  });
});

Deno.test("checkVideoLabels: missing, extra, duplicate patches and bad scores name the item", () => {
  checkVideoLabels(fullLabels(), { grid: GRID, numFrames: 16 });
  const missing = fullLabels();
  missing.patches.splice(17, 1);
  assert.throws(
    () => checkVideoLabels(missing, { grid: GRID, numFrames: 16, where: "clip-9" }),
    /clip-9: Expected all 64 patches of grid 4x4x4 but found "missing patch s1r0c1"/,
  );
  const extra = fullLabels();
  extra.patches.push({ id: "s4r0c0", index: 64, scores: S, reason: "" });
  assert.throws(
    () => checkVideoLabels(extra, { grid: GRID, numFrames: 16, where: "clip-9" }),
    /clip-9: Expected the 64 patches of grid 4x4x4 but found "an extra patch s4r0c0"/,
  );
  const twice = fullLabels();
  twice.patches[5] = { ...twice.patches[4] };
  assert.throws(
    () => checkVideoLabels(twice, { grid: GRID, numFrames: 16 }),
    /patch s0r1c0 twice/,
  );
  const bad = fullLabels();
  bad.patches[2].scores = { ...S, text_alignment: 5 };
  assert.throws(
    () => checkVideoLabels(bad, { grid: GRID, numFrames: 16, where: "clip-1" }),
    /clip-1 patch s0r0c2\.text_alignment: Expected an integer in \[1, 4\] but found 5/,
  );
});

Deno.test("readLabelsFile: a record with a missing or extra patch names file, line and video", async () => {
  await withTempDir(async (dir) => {
    const record = (source: string, labels: VideoLabels) => ({
      key: source,
      protocol: "halo-patch-label-v1",
      model: "gpt-4o",
      grid: "4x4x4",
      prompt: "p",
      source,
      labels,
    });
    const good = fullLabels();
    const missing = fullLabels();
    missing.patches.pop();
    const path = `${dir}/labels.jsonl`;
    await Deno.writeTextFile(
      path,
      [record("a.mp4", good), record("b.mp4", missing)].map((r) => JSON.stringify(r)).join("\n") +
        "\n",
    );
    await assert.rejects(
      readLabelsFile(path),
      (e: Error) =>
        e.message.includes(`${path} line 2 ("b.mp4")`) && /missing patch s3r3c3/.test(e.message),
    );
    const extra = fullLabels();
    extra.patches.push({ id: "s0r0c4", index: 64, scores: S, reason: "" });
    await Deno.writeTextFile(path, JSON.stringify(record("c.gif", extra)) + "\n");
    await assert.rejects(readLabelsFile(path), /line 1 \("c\.gif"\).*extra patch s0r0c4/);
    await assert.rejects(readLabelsFile(path, { grid: "2x2x4" }), /Expected grid 2x2x4/);
  });
});
