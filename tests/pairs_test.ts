import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import { listPrompts, pairPrompts } from "../lib/pairs/prompts.ts";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { promptSplits } from "../lib/videos/world.ts";
import { withTempDir } from "./_helpers.ts";
import { tinyPairsOptions as tinyOptions, tinyPairsSetup } from "./_dpo_fixtures.ts";

await initBackend();

Deno.test("buildPairs writes the documented schema; clips are content-addressed and verified", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    assert.equal(r.candidates, 9);
    assert.equal(r.sampled, 9);
    assert.equal(r.pairs, 3); // best vs worst of each prompt (margin 0)
    const pairs = await readPairs(r.file, { shape: [4, 16, 16, 3], patches: 8 });
    for (const q of pairs) {
      assert.match(q.id, /^p\d{4}-c\d-c\d$/);
      assert.equal(q.grid, "2x2x2");
      assert.deepEqual(q.shape, [4, 16, 16, 3]);
      assert.ok(q.video_gap > 0);
      assert.ok(Math.abs(q.chosen.video_score - q.rejected.video_score - q.video_gap) < 1e-4);
      q.patch_gaps.forEach((g, k) =>
        assert.ok(Math.abs(g - (q.chosen.patch_scores[k] - q.rejected.patch_scores[k])) < 1e-4)
      );
      assert.match(q.chosen.clip, /^clips\/[0-9a-f]{64}\.rgb$/);
      const clip = await readClip(join(dir, "pairs", q.chosen.clip), q.shape, q.chosen.sha256);
      assert.equal(clip.frames.length, 4 * 16 * 16 * 3);
    }
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, "pairs/pairs.manifest.json")));
    assert.equal(manifest.counts.pairs, 3);
    assert.ok(manifest.diagnostics.judgeAgreesWithVideoDirection >= 0);
    // every train-split prompt: the sample is seeded and distinct
    const picked = pairPrompts(3, 0).map((p) => p.prompt.text);
    assert.deepEqual(pairs.map((q) => q.prompt).sort(), [...picked].sort());
    assert.equal(new Set(pairPrompts(50, 1).map((p) => p.index)).size, 50);
    assert.ok(pairPrompts(5, 1).every((p) => promptSplits().train[p.index].text === p.prompt.text));
  });
});

Deno.test("a rerun samples nothing; a run killed mid-way resumes with only the missing clips", async () => {
  await withTempDir(async (dir) => {
    const first = await tinyPairsSetup(dir);
    const options = { ...tinyOptions(dir), out: `${dir}/pairs` };
    const again = await buildPairs(options);
    assert.equal(again.sampled, 0);
    assert.equal(await Deno.readTextFile(again.file), await Deno.readTextFile(first.file));
    // a kill after 4 clips: the log keeps 4 records and a torn fifth line
    const log = join(dir, "pairs/candidates.jsonl");
    const lines = (await Deno.readTextFile(log)).split("\n").filter(Boolean);
    await Deno.writeTextFile(log, lines.slice(0, 4).join("\n") + "\n" + lines[4].slice(0, 20));
    const resumed = await buildPairs(options);
    assert.equal(resumed.sampled, 5);
    assert.equal(await Deno.readTextFile(resumed.file), await Deno.readTextFile(first.file));
    assert.equal((await readJsonLines(log)).length, 9);
    // another pairing of the same candidates, beside the first, samples nothing
    const all = await buildPairs({ ...options, pairing: "all", name: "pairs-all" });
    assert.equal(all.sampled, 0);
    assert.ok(all.pairs >= 3 && all.pairs <= 9, `${all.pairs} pairs`);
    assert.ok(await Deno.stat(join(dir, "pairs/pairs-all.manifest.json")));
    // a margin above every gap leaves no pair
    const none = await buildPairs({ ...options, margin: 10, name: "none" });
    assert.equal(none.pairs, 0);
    assert.equal(none.manifest.counts.skippedBelowMargin, 3);
  });
});

Deno.test("promptList: the candidates of the listed prompts; a text outside the grammar or a repeat is refused", async () => {
  await withTempDir(async (dir) => {
    await tinyPairsSetup(dir);
    const texts = promptSplits().test.slice(0, 2).map((p) => p.text);
    const r = await buildPairs({ ...tinyOptions(dir), out: `${dir}/listed`, promptList: texts });
    assert.equal(r.candidates, 6);
    assert.deepEqual(
      [...new Set((await readPairs(r.file)).map((q) => q.prompt))].sort(),
      [...texts].sort(),
    );
    assert.equal(r.manifest.settings.promptList, true);
    assert.equal(r.manifest.counts.prompts, 2);
    await assert.rejects(
      buildPairs({ ...tinyOptions(dir), out: `${dir}/bad`, promptList: ["one red blob"] }),
      /blob/,
    );
    assert.throws(
      () => listPrompts([texts[0], texts[0]]),
      /distinct prompts \(item 1 repeats one\)/,
    );
    assert.throws(() => listPrompts([]), /Expected a non-empty list of prompt texts/);
  });
});

Deno.test("candidates sampled in two child processes equal those sampled in-process", async () => {
  await withTempDir(async (dir) => {
    const serial = await tinyPairsSetup(dir);
    const options = tinyOptions(dir);
    const parallel = await buildPairs({
      ...options,
      out: `${dir}/parallel`,
      jobs: 2,
      batchSize: 2,
    });
    assert.equal(parallel.sampled, 9);
    assert.equal(await Deno.readTextFile(parallel.file), await Deno.readTextFile(serial.file));
    const shards = [...Deno.readDirSync(`${dir}/parallel`)].map((e) => e.name)
      .filter((n) => n.startsWith("candidates.")).sort();
    assert.deepEqual(shards, ["candidates.0.jsonl", "candidates.1.jsonl"]);
    const again = await buildPairs({ ...options, out: `${dir}/parallel`, jobs: 2, batchSize: 2 });
    assert.equal(again.sampled, 0);
  });
});

Deno.test("a scorer replaces the PRM's scores: pairs follow it, the manifest names it, bad scores are refused", async () => {
  await withTempDir(async (dir) => {
    await tinyPairsSetup(dir);
    const options = {
      ...tinyOptions(dir),
      out: `${dir}/pairs`,
      pairing: "all" as const,
      margin: 0,
    };
    // brighter is better, and patch k scores k / 10 brighter than the clip
    const brightness = (v: { frames: Float32Array }) =>
      v.frames.reduce((a, b) => a + b, 0) / v.frames.length;
    const scorer = {
      name: "brightness",
      score: (items: ReadonlyArray<{ video: { frames: Float32Array } }>) =>
        Promise.resolve({
          video: items.map((x) => brightness(x.video)),
          patches: items.map((x) =>
            Array.from({ length: 8 }, (_, k) => brightness(x.video) + k / 10)
          ),
        }),
    };
    const r = await buildPairs({ ...options, scorer, name: "bright" });
    assert.equal(r.sampled, 0);
    assert.equal(r.manifest.settings.prm, "brightness");
    const pairs = await readPairs(r.file, { shape: [4, 16, 16, 3], patches: 8 });
    assert.ok(pairs.length > 0);
    for (const q of pairs) {
      const [a, b] = await Promise.all(
        [q.chosen, q.rejected].map((s) => readClip(join(dir, "pairs", s.clip), q.shape)),
      );
      assert.ok(brightness(a) > brightness(b));
      assert.ok(Math.abs(q.chosen.patch_scores[7] - q.chosen.video_score - 0.7) < 1e-4);
    }
    const short = { name: "short", score: () => Promise.resolve({ video: [1], patches: [[1]] }) };
    await assert.rejects(
      () => buildPairs({ ...options, scorer: short, name: "short" }),
      /scorer short: Expected 9 video/,
    );
    await assert.rejects(
      () => buildPairs({ ...options, scorer: { name: "x" } as never }),
      /scorer with a name and a score function/,
    );
  });
});

Deno.test("buildPairs validates its options before any work", async () => {
  await assert.rejects(() => buildPairs({ out: "" }), /output folder/);
  await assert.rejects(
    () => buildPairs({ out: "x", candidates: 1 }),
    /candidates to be an integer in \[2, 64\]/,
  );
  await assert.rejects(() => buildPairs({ out: "x", pairing: "some" as never }), /pairing/);
  await assert.rejects(() => buildPairs({ out: "x", name: "../up" }), /a file name/);
});
