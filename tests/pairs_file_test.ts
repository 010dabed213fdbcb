import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { type PreferencePair, readClip, readPairs } from "../lib/pairs/file.ts";
import { withTempDir } from "./_helpers.ts";
import { tinyPairsSetup } from "./_dpo_fixtures.ts";

await initBackend();

Deno.test("readPairs: a missing clip, a wrong patch count, NaN scores and bad paths are named", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
    const good = (await Deno.readTextFile(r.file)).split("\n").filter(Boolean);
    const q: PreferencePair = JSON.parse(good[1]);
    const write = async (pair: unknown) => {
      const file = join(dir, "pairs/bad.jsonl");
      await Deno.writeTextFile(file, good[0] + "\n" + JSON.stringify(pair) + "\n");
      return file;
    };
    await assert.rejects(
      async () => readPairs(await write({ ...q, chosen: { ...q.chosen, clip: "clips/gone.rgb" } })),
      new RegExp(`bad.jsonl:2 \\(pair "${q.id}"\\): Expected its clip file clips/gone.rgb`),
    );
    await assert.rejects(
      async () => readPairs(await write({ ...q, patch_gaps: q.patch_gaps.slice(1) })),
      /Expected patch_gaps with 8 numbers \(grid 2x2x2\)/,
    );
    const nanFile = join(dir, "pairs/nan.jsonl");
    await Deno.writeTextFile(
      nanFile,
      good[1].replace(/"video_gap":[0-9.e-]+/, '"video_gap":NaN') + "\n",
    );
    await assert.rejects(() => readPairs(nanFile), /nan.jsonl:1: Expected a JSON object/);
    await assert.rejects(
      async () =>
        readPairs(
          await write({
            ...q,
            rejected: { ...q.rejected, patch_scores: [null, ...q.patch_gaps.slice(1)] },
          }),
        ),
      /Expected finite rejected.patch_scores but found "null at patch 0"/,
    );
    await assert.rejects(
      async () =>
        readPairs(await write({ ...q, chosen: { ...q.chosen, clip: "../../etc/passwd" } })),
      /chosen.clip to be a path inside the pairs folder/,
    );
    await assert.rejects(
      async () => readPairs(await write({ ...q, prompt: "one purple circle" })),
      /Expected a ShapesWorld prompt/,
    );
    await assert.rejects(
      () => readPairs(r.file, { patches: 64 }),
      /Expected 64 patches per clip but found "8 \(grid 2x2x2\)"/,
    );
    await assert.rejects(() => readPairs(join(dir, "nope.jsonl")), /run `deno task pairs` first/);
    // a clip whose bytes changed is caught by its hash
    const path = join(dir, "pairs", q.chosen.clip);
    const bytes = await Deno.readFile(path);
    bytes[0] ^= 1;
    await Deno.writeFile(path, bytes);
    await assert.rejects(
      () => readClip(path, q.shape, q.chosen.sha256),
      /Expected bytes with SHA-256/,
    );
  });
});
