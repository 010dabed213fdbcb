import assert from "node:assert/strict";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import OpenAI from "openai";
import { ShardStore } from "../lib/labels/_batch_state.ts";
import { labelVideos, requestVariant } from "../lib/labels/label.ts";
import { labelBatch } from "../lib/labels/batch.ts";
import { BATCH_REQUEST_DEFAULTS, withBatchDefaults } from "../lib/labels/batch_plan.ts";
import { LabelCache, labelCacheKey } from "../lib/labels/cache.ts";
import { buildLabelRequest, PROTOCOL_VERSION } from "../lib/labels/protocol.ts";
import { renderClip, samplePrompt } from "../lib/videos/world.ts";
import { createRng } from "../lib/core/_rng.ts";
import { FAKE_KEY } from "./_label_fixtures.ts";
import { withTempDir } from "./_helpers.ts";
import { runBatchDrill } from "./_batch_drill.ts";

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
      // The same requests on the direct path: same labels, twice the price.
      const online = await labelVideos(work, {
        ...BATCH_REQUEST_DEFAULTS,
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
      await assert.rejects(Deno.stat(`${path}.batches`));
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
      const state = JSON.parse(await Deno.readTextFile(`${path}.batches/s000001.json`));
      assert.match(state.batchId, /^batch_/);
      assert.ok(!JSON.stringify(state).includes(FAKE_KEY));
      assert.ok(!(await Deno.readTextFile(`${path}.batches/s000001.jsonl`)).includes(FAKE_KEY));
      const resumed = await labelBatch(work, options);
      assert.equal(resumed.labelled, 3);
      assert.equal(server.stats.batches, 1);
      assert.equal(server.stats.files, 1);
    } finally {
      await server.close();
    }
  });
});

const TINY = { size: 16, frames: 4 } as const;
const TINY_GRID = { rows: 2, cols: 2, framesPerPatch: 4 };

function tinyItems(n: number, seed = 21) {
  const rng = createRng(seed);
  return Array.from({ length: n }, (_, i) => {
    const prompt = samplePrompt(rng);
    return { video: renderClip(prompt, { seed: i, ...TINY }).video, prompt: prompt.text };
  });
}

function tinyOptions(server: { url: string }, cache: string) {
  return {
    baseURL: server.url,
    apiKey: FAKE_KEY,
    cache,
    grid: TINY_GRID,
    frameSide: 32,
    pollMs: 10,
    quiet: true,
  };
}

Deno.test("batch: items are split into input files under both limits, with a cap on batches in flight", async () => {
  await withTempDir(async (dir) => {
    // Slow status steps, so two batches are surely live at once even on a loaded machine.
    const server = startJudgeServer({
      port: 0,
      batchStepMs: 400,
      batchLimits: { maxRequestsPerFile: 7, maxBytesPerFile: 20_000 },
    });
    try {
      const work = tinyItems(30);
      const report = await labelBatch(work, {
        ...tinyOptions(server, `${dir}/labels.jsonl`),
        maxRequestsPerFile: 7,
        maxBytesPerFile: 20_000,
        maxInFlight: 2,
        pollMs: 50,
      });
      assert.equal(report.labelled, 30);
      assert.equal(report.failed, 0);
      // Each tiny request is ~3.5 kB: the byte limit, not the count, sets the split.
      assert.ok(report.files >= 6, `${report.files} files`);
      assert.equal(server.stats.files, report.files);
      assert.equal(server.stats.batches, report.batches);
      assert.equal(server.stats.batchLines, 30);
      assert.ok([...server.stats.billedIds.values()].every((n) => n === 1));
      assert.equal(server.stats.peakLive, 2);
      assert.equal((await LabelCache.open(`${dir}/labels.jsonl`)).size, 30);
      await assert.rejects(Deno.stat(`${dir}/labels.jsonl.batches`));
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch: an expired batch re-submits only its unanswered half; a failed one all of it", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, batchStepMs: 5, batchScript: ["expire", "fail"] });
    try {
      const work = tinyItems(12, 3);
      const report = await labelBatch(work, {
        ...tinyOptions(server, `${dir}/labels.jsonl`),
        maxRequestsPerFile: 6,
        maxInFlight: 1,
      });
      assert.equal(report.labelled, 12);
      assert.equal(report.failed, 0);
      // Batch 1 (6 items) expired after 3, batch 2 (6 items) failed: 3 + 6 sent again.
      assert.equal(report.resubmitted, 9);
      assert.equal(server.stats.batches, 4);
      assert.equal(server.stats.batchLines, 12);
      assert.ok([...server.stats.billedIds.values()].every((n) => n === 1));
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch: re-submission stops after maxResubmits with a clear per-item error", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, batchStepMs: 5, batchScript: ["fail", "fail"] });
    try {
      const report = await labelBatch(tinyItems(2), {
        ...tinyOptions(server, `${dir}/labels.jsonl`),
        maxResubmits: 1,
      });
      assert.equal(report.failed, 2);
      assert.match(report.results[0].error!, /ended with token_limit_exceeded: Enqueued token/);
      assert.equal(server.stats.batches, 2);
      assert.equal(server.stats.batchLines, 0);
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch: a batch created just before a kill (its id never saved) is found by its file, not paid again", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, batchStepMs: 5 });
    try {
      const work = tinyItems(3, 8);
      const cache = `${dir}/labels.jsonl`;
      const options = tinyOptions(server, cache);
      // What a killed run leaves: the shard saved with its uploaded file, the batch created.
      const keys = await Promise.all(work.map((it) =>
        labelCacheKey(it.video, {
          prompt: it.prompt,
          grid: TINY_GRID,
          model: "gpt-4o",
          variant: requestVariant(withBatchDefaults(options)),
        })
      ));
      const lines = work.map((it, i) =>
        JSON.stringify({
          custom_id: keys[i],
          method: "POST",
          url: "/v1/chat/completions",
          body: buildLabelRequest(it.video, it.prompt, TINY_GRID, withBatchDefaults(options)),
        })
      );
      const { store } = await ShardStore.open(`${cache}.batches`);
      const shard = {
        name: "s000001",
        round: 0,
        model: "gpt-4o",
        grid: "2x2x4",
        protocol: PROTOCOL_VERSION,
        items: work.map((it, i) => ({ key: keys[i], prompt: it.prompt, source: "x", frames: 4 })),
        bytes: 0,
      };
      await store.create(shard, lines);
      const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
      const file = await client.files.create({
        file: new File([lines.join("\n")], "a.jsonl"),
        purpose: "batch",
      });
      await store.save({ ...shard, inputFileId: file.id, uploadedAt: file.created_at });
      await client.batches.create({
        input_file_id: file.id,
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
      });
      const report = await labelBatch(work, options);
      assert.equal(report.labelled, 3);
      assert.equal(report.batches, 0);
      assert.equal(report.resumed, 1);
      assert.equal(server.stats.batches, 1);
      assert.equal(server.stats.batchLines, 3);
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch: a lazy source is read one item at a time; an unreadable or oversized item is a per-item error", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, batchStepMs: 5 });
    try {
      const work = tinyItems(4, 2);
      const big = tinyItems(1, 99)[0];
      const loaded: number[] = [];
      const source = {
        count: 6,
        load: (i: number) => {
          loaded.push(i);
          if (i === 5) {
            return Promise.reject(new Error("clip5.gif: Expected a video but found junk"));
          }
          return Promise.resolve(
            i < 4 ? work[i] : { ...big, prompt: big.prompt + " ".repeat(9000) },
          );
        },
      };
      const report = await labelBatch(source, {
        ...tinyOptions(server, `${dir}/labels.jsonl`),
        maxBytesPerFile: 12_000,
      });
      assert.deepEqual(loaded, [0, 1, 2, 3, 4, 5]);
      assert.equal(report.labelled, 4);
      assert.equal(report.failed, 2);
      assert.match(report.results[4].error!, /Expected a request line of at most maxBytesPerFile/);
      assert.match(report.results[5].error!, /clip5\.gif: Expected a video/);
    } finally {
      await server.close();
    }
  });
});

Deno.test("batch drill: `deno task label --batch` killed with SIGKILL and resumed labels every clip once", async () => {
  await withTempDir(async (dir) => {
    const r = await runBatchDrill({ clips: 240, maxRequestsPerFile: 40, dir, killAfter: 60 });
    assert.ok(r.cachedAtKill >= 60 && r.cachedAtKill < 240, `killed at ${r.cachedAtKill}`);
    assert.match(r.summary, /^labelled \d+, cached \d+, failed 0 /);
    assert.equal(r.labelled, 240); // no two of these 240 clips are identical
    assert.ok(r.files >= 6, `${r.files} input files`);
    // The server's own count: every request answered (paid) exactly once over both runs.
    assert.equal(r.billed, 240);
    assert.equal(r.distinctBilled, 240);
    assert.equal(r.maxBilledPerRequest, 1);
  });
});

Deno.test("batch requests use the batch defaults unless options say otherwise", () => {
  assert.deepEqual(withBatchDefaults({ frameSide: undefined, detail: "high" as const }), {
    frameSide: 96,
    detail: "high",
    sheetSide: 120,
  });
});
