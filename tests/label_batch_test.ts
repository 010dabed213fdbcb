import assert from "node:assert/strict";
import { startJudgeServer } from "../lib/judge_server.ts";
import { labelVideos } from "../lib/label.ts";
import { labelBatch } from "../lib/label_batch.ts";
import { LabelCache } from "../lib/label_cache.ts";
import { renderClip, samplePrompt } from "../lib/world.ts";
import { createRng } from "../lib/_rng.ts";
import { FAKE_KEY } from "./_label_fixtures.ts";
import { withTempDir } from "./_helpers.ts";

function items(n: number, seed = 5) {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const prompt = samplePrompt(rng);
    return { video: renderClip(prompt, { seed: i }).video, prompt: prompt.text };
  });
}

Deno.test("batch labelling uploads, polls, downloads, validates and fills the cache like online labelling", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, batchStepMs: 10 });
    try {
      const work = items(5);
      const path = `${dir}/batch.jsonl`;
      const report = await labelBatch(work, {
        baseURL: server.url,
        apiKey: FAKE_KEY,
        cache: path,
        pollMs: 20,
        quiet: true,
      });
      assert.equal(report.labelled, 5);
      assert.equal(report.failed, 0);
      assert.equal(server.stats.batches, 1);
      assert.equal(server.stats.chat, 0);
      assert.ok(report.costUsd > 0);
      const online = await labelVideos(work, {
        baseURL: server.url,
        apiKey: FAKE_KEY,
        quiet: true,
      });
      assert.deepEqual(report.results.map((r) => r.labels), online.results.map((r) => r.labels));
      // Online costs twice the batch price for the same tokens.
      assert.ok(Math.abs(online.costUsd - 2 * report.costUsd) < 1e-9);
      // Rerun: everything cached, no batch.
      const again = await labelBatch(work, {
        baseURL: server.url,
        apiKey: FAKE_KEY,
        cache: path,
        pollMs: 20,
        quiet: true,
      });
      assert.equal(again.cached, 5);
      assert.equal(server.stats.batches, 1);
      await assert.rejects(Deno.stat(`${path}.batch.json`));
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch: invalid answers become per-item errors; a rerun sends only those", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({
      port: 0,
      batchStepMs: 10,
      faults: { script: ["ok", "missing_patch", "ok", "malformed"] },
    });
    try {
      const work = items(4, 9);
      const path = `${dir}/batch.jsonl`;
      const options = {
        baseURL: server.url,
        apiKey: FAKE_KEY,
        cache: path,
        pollMs: 20,
        quiet: true,
      };
      const first = await labelBatch(work, options);
      assert.equal(first.failed, 2);
      assert.match(first.results[1].error!, /Expected all 64 patch ids/);
      assert.match(first.results[3].error!, /invalid JSON/);
      assert.equal((await LabelCache.open(path)).size, 2);
      const second = await labelBatch(work, options);
      assert.equal(second.failed, 0);
      assert.equal(second.cached, 2);
      assert.equal(second.labelled, 2);
      assert.equal(server.stats.batches, 2);
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch: a run that stops while polling resumes the same batch instead of paying again", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, batchStepMs: 300 });
    try {
      const work = items(3, 13);
      const path = `${dir}/batch.jsonl`;
      const options = {
        baseURL: server.url,
        apiKey: FAKE_KEY,
        cache: path,
        pollMs: 20,
        quiet: true,
      };
      await assert.rejects(labelBatch(work, { ...options, maxWaitMs: 1 }), /rerun to resume/);
      const state = JSON.parse(await Deno.readTextFile(`${path}.batch.json`));
      assert.match(state.batchId, /^batch_/);
      assert.ok(!JSON.stringify(state).includes(FAKE_KEY));
      const resumed = await labelBatch(work, options);
      assert.equal(resumed.labelled, 3);
      assert.equal(server.stats.batches, 1);
      assert.equal(server.stats.files, 1);
    } finally {
      await server.close();
    }
  });
});
