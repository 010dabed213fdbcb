import assert from "node:assert/strict";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { labelVideos } from "../lib/labels/label.ts";
import { LabelCache, labelCacheKey, type LabelRecord } from "../lib/labels/cache.ts";
import { createVideo, saveVideo } from "../lib/videos/video.ts";
import { parsePrompt, renderClip, samplePrompt } from "../lib/videos/world.ts";
import { createRng } from "../lib/core/_rng.ts";
import { FAKE_KEY, GRID } from "./_label_fixtures.ts";
import { MAIN, TASK_PERMISSIONS } from "./_helpers.ts";
import { withTempDir } from "./_helpers.ts";

const TEXT = "one green square moving up slowly on a navy background";

Deno.test("cache key covers pixels, prompt, grid and model, and survives 8-bit re-quantisation", async () => {
  const { video } = renderClip(parsePrompt(TEXT), { seed: 3 });
  const parts = { prompt: TEXT, grid: GRID, model: "gpt-4o" };
  const key = await labelCacheKey(video, parts);
  const requantised = createVideo({
    ...video,
    frames: video.frames.map((v) => Math.round(v * 255) / 255),
  });
  assert.equal(await labelCacheKey(requantised, parts), key);
  const changed = new Float32Array(video.frames);
  changed[100] = changed[100] > 0.5 ? 0 : 1;
  assert.notEqual(await labelCacheKey({ ...video, frames: changed }, parts), key);
  assert.notEqual(await labelCacheKey(video, { ...parts, prompt: TEXT + "!" }), key);
  assert.notEqual(await labelCacheKey(video, { ...parts, grid: { ...GRID, rows: 2 } }), key);
  assert.notEqual(await labelCacheKey(video, { ...parts, model: "gpt-4o-mini" }), key);
});

Deno.test("a rerun makes zero API calls; a torn last line is dropped and repaired", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0 });
    try {
      const path = `${dir}/labels.jsonl`;
      const items = [1, 2, 3].map((seed) => ({
        video: renderClip(parsePrompt(TEXT), { seed }).video,
        prompt: TEXT,
      }));
      const options = { baseURL: server.url, apiKey: FAKE_KEY, cache: path, quiet: true };
      const first = await labelVideos(items, options);
      assert.equal(first.labelled, 3);
      assert.equal(server.stats.chat, 3);
      const second = await labelVideos(items, options);
      assert.equal(second.cached, 3);
      assert.equal(second.calls, 0);
      assert.equal(server.stats.chat, 3);
      assert.deepEqual(second.results.map((r) => r.labels), first.results.map((r) => r.labels));
      // A crash mid-append leaves a torn line: it is ignored and cut off on the next append.
      await Deno.writeTextFile(path, '{"key":"torn', { append: true });
      const cache = await LabelCache.open(path);
      assert.equal(cache.size, 3);
      const extra = [{ video: renderClip(parsePrompt(TEXT), { seed: 9 }).video, prompt: TEXT }];
      await labelVideos(extra, { ...options, cache });
      const lines = (await Deno.readTextFile(path)).trim().split("\n");
      assert.equal(lines.length, 4);
      lines.forEach((l) => JSON.parse(l));
    } finally {
      await server.close();
    }
  });
});

Deno.test("a run killed with SIGKILL resumes, never pays twice, and ends with the uninterrupted cache", async () => {
  await withTempDir(async (dir) => {
    const rng = createRng(77);
    const n = 8;
    const entries = [];
    for (let i = 0; i < n; i++) {
      const prompt = samplePrompt(rng);
      const file = `clip${i}.gif`;
      await saveVideo(renderClip(prompt, { seed: i }).video, `${dir}/${file}`);
      entries.push({ file, prompt: prompt.text });
    }
    await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify({ videos: entries }));
    const server = startJudgeServer({ port: 0, latencyMs: 400 });
    const run = (out: string): Deno.ChildProcess =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...TASK_PERMISSIONS,
          MAIN,
          "label",
          "--videos",
          dir,
          "--out",
          out,
          "--base-url",
          server.url,
          "--concurrency",
          "2",
          "--quiet",
        ],
        env: { OPENAI_API_KEY: FAKE_KEY },
        stdout: "null",
        stderr: "null",
      }).spawn();
    try {
      const killed = `${dir}/killed.jsonl`;
      const child = run(killed);
      // Kill once a few labels are on disk.
      const deadline = Date.now() + 40_000;
      let lines = 0;
      while (Date.now() < deadline) {
        lines = await Deno.readTextFile(killed).then((t) => t.split("\n").length - 1).catch(() =>
          0
        );
        if (lines >= 3) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill("SIGKILL");
      await child.status;
      assert.ok(lines >= 3 && lines < n, `killed after ${lines} labels`);
      const cachedAtKill = (await LabelCache.open(killed)).size;
      const callsBefore = server.stats.chat;
      assert.ok((await run(killed).status).success);
      const resumedCalls = server.stats.chat - callsBefore;
      assert.equal(resumedCalls, n - cachedAtKill, "the resumed run asks only for what is missing");
      assert.ok(
        callsBefore <= cachedAtKill + 2,
        "at most the in-flight requests were lost at the kill",
      );

      const clean = `${dir}/clean.jsonl`;
      assert.ok((await run(clean).status).success);
      const asMap = async (path: string): Promise<Map<string, unknown>> => {
        const records: LabelRecord[] = (await LabelCache.open(path)).records();
        return new Map(
          records.map((r) => [r.key, { labels: r.labels, prompt: r.prompt, source: r.source }]),
        );
      };
      const a = await asMap(killed), b = await asMap(clean);
      assert.equal(a.size, n);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
      for (const [key, value] of a) assert.deepEqual(value, b.get(key));
    } finally {
      await server.close();
    }
  });
});

Deno.test("putMany appends only new records, in one write, and they read back", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/labels.jsonl`;
    const cache = await LabelCache.open(path);
    const labels = {
      video: { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 },
      patches: [],
    };
    const record = (key: string) => ({
      key,
      protocol: "p",
      model: "m",
      grid: "1x1x1",
      prompt: "x",
      source: "s",
      labels,
      usage: { promptTokens: 1, completionTokens: 1 },
      costUsd: 0,
    });
    await cache.put(record("a"));
    await cache.putMany([record("a"), record("b"), record("c"), record("b")]);
    assert.equal(cache.size, 3);
    const text = await Deno.readTextFile(path);
    assert.equal(text.split("\n").length - 1, 3);
    assert.deepEqual((await LabelCache.open(path)).records().map((r) => r.key), ["a", "b", "c"]);
  });
});
