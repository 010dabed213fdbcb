import assert from "node:assert/strict";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import {
  classifyFailure,
  estimateCost,
  labelVideo,
  labelVideos,
  retryAfterMs,
  scrub,
} from "../lib/labels/label.ts";
import { labelFolder } from "../lib/labels/folder.ts";
import { LabelCache } from "../lib/labels/cache.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { defectCases, FAKE_KEY, GRID, topKHit } from "./_label_fixtures.ts";
import { MAIN, TASK_PERMISSIONS } from "./_helpers.ts";
import { SHARED_VIDEOS, withTempDir } from "./_helpers.ts";

const FAST = { baseDelayMs: 20, maxDelayMs: 2000 };

function clip(seed = 1, text = "two red circles moving left quickly on a gray background") {
  return { video: renderClip(parsePrompt(text), { seed }).video, prompt: text };
}

Deno.test("labeller through the openai client puts the worst patches on injected defects", async () => {
  const cases = defectCases(5);
  const server = startJudgeServer({ port: 0 });
  try {
    const report = await labelVideos(cases, {
      baseURL: server.url,
      apiKey: FAKE_KEY,
      grid: GRID,
      concurrency: 4,
      quiet: true,
    });
    assert.equal(report.failed, 0);
    const byKind = new Map<string, number[]>();
    report.results.forEach((r, i) => {
      const hit = topKHit(r.labels!.patches, cases[i].affected);
      byKind.set(cases[i].kind, [...(byKind.get(cases[i].kind) ?? []), hit]);
    });
    const all = [...byKind.values()].flat();
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const perKind = [...byKind].map(([k, v]) =>
      `${k}=${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(2)}`
    );
    console.log(
      `top-k hit rate over ${all.length} videos: ${mean.toFixed(3)} (${perKind.join(", ")})`,
    );
    assert.ok(mean >= 0.85, `top-k hit rate ${mean}`);
    for (const [kind, v] of byKind) {
      assert.ok(v.reduce((a, b) => a + b, 0) / v.length >= 0.5, `${kind} hit rate`);
    }
    assert.equal(server.stats.chat, cases.length);
    assert.ok(report.usage.promptTokens > 0 && report.costUsd > 0);
  } finally {
    await server.close();
  }
});

Deno.test("fault: a 429 burst is retried after Retry-After and ends in a valid label", async () => {
  const server = startJudgeServer({
    port: 0,
    faults: { script: ["429", "429", "429"], retryAfterS: 0.2 },
  });
  try {
    const started = performance.now();
    const report = await labelVideos([clip()], {
      baseURL: server.url,
      apiKey: FAKE_KEY,
      retry: FAST,
      quiet: true,
    });
    const elapsed = performance.now() - started;
    assert.equal(report.failed, 0);
    assert.equal(report.results[0].attempts, 4);
    assert.ok(elapsed >= 550, `waited ${elapsed} ms for 3 × Retry-After 0.2 s`);
    assert.equal(report.results[0].labels!.patches.length, 64);
  } finally {
    await server.close();
  }
});

Deno.test("fault: 500s, a missing patch id and invalid JSON are retried; other items are unaffected", async () => {
  const server = startJudgeServer({
    port: 0,
    faults: { script: ["500", "missing_patch", "malformed", "500"] },
  });
  try {
    const items = [clip(1), clip(2), clip(3)];
    const report = await labelVideos(items, {
      baseURL: server.url,
      apiKey: FAKE_KEY,
      retry: FAST,
      concurrency: 1,
      quiet: true,
    });
    assert.equal(report.failed, 0);
    assert.equal(report.calls, 7);
    assert.deepEqual(report.results.map((r) => r.attempts), [5, 1, 1]);
  } finally {
    await server.close();
  }
});

Deno.test("fault: a time-out is retried; exhausted retries give a clear per-item error, not a crash", async () => {
  const server = startJudgeServer({ port: 0, faults: { script: ["slow"], slowMs: 3000 } });
  try {
    const report = await labelVideos([clip(1)], {
      baseURL: server.url,
      apiKey: FAKE_KEY,
      retry: { ...FAST, timeoutMs: 300 },
      quiet: true,
    });
    assert.equal(report.failed, 0);
    assert.equal(report.results[0].attempts, 2);
  } finally {
    await server.close();
  }
  const broken = startJudgeServer({
    port: 0,
    faults: { script: ["missing_patch", "missing_patch", "ok"] },
  });
  await withTempDir(async (dir) => {
    try {
      const path = `${dir}/labels.jsonl`;
      const report = await labelVideos([clip(1), clip(2)], {
        baseURL: broken.url,
        apiKey: FAKE_KEY,
        retry: { ...FAST, maxAttempts: 2 },
        concurrency: 1,
        cache: path,
        quiet: true,
      });
      assert.equal(report.failed, 1);
      assert.match(
        report.results[0].error!,
        /label answer\.patches: Expected all 64 patch ids but found "1 missing \(s\d+r\dc\d\)"/,
      );
      assert.match(report.results[0].error!, /after 2 attempts/);
      assert.ok(report.results[1].labels);
      // The cache holds only the good label, every line valid JSON.
      const lines = (await Deno.readTextFile(path)).trim().split("\n");
      assert.equal(lines.length, 1);
      lines.forEach((l) => JSON.parse(l));
    } finally {
      await broken.close();
    }
  });
});

Deno.test("a 400 is never retried", async () => {
  const server = startJudgeServer({ port: 0 });
  try {
    const bad = await fetch(`${server.url}/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer x", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const { default: OpenAI } = await import("openai");
    const error = await new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 }).chat
      .completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] })
      .catch((e) => e);
    assert.equal(classifyFailure(error).retry, false);
  } finally {
    await server.close();
  }
});

Deno.test("Retry-After parsing, cost table and key scrubbing", () => {
  assert.equal(retryAfterMs(new Headers({ "retry-after": "2" })), 2000);
  assert.equal(retryAfterMs(new Headers({ "retry-after-ms": "150" })), 150);
  assert.equal(retryAfterMs(new Headers()), undefined);
  assert.equal(estimateCost("gpt-4o-mini", { promptTokens: 1e6, completionTokens: 1e6 }), 0.75);
  assert.equal(estimateCost("unknown-model", { promptTokens: 1e6, completionTokens: 1e6 }), 0);
  assert.equal(scrub(`bad key ${FAKE_KEY}!`, FAKE_KEY), "bad key [redacted]!");
  assert.doesNotMatch(scrub("Incorrect API key provided: sk-proj-****abcd"), /abcd/);
});

Deno.test("the API key never appears in the cache, logs, errors or reports", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({
      port: 0,
      faults: { script: ["500", "missing_patch", "missing_patch"] },
    });
    try {
      const out = `${dir}/labels.jsonl`;
      const logs: string[] = [];
      const report = await labelVideos([clip(1), clip(2)], {
        baseURL: server.url,
        apiKey: FAKE_KEY,
        retry: { ...FAST, maxAttempts: 2 },
        concurrency: 1,
        cache: out,
        progressLabel: "label",
        onItem: (r) => logs.push(JSON.stringify(r)),
      });
      assert.ok(report.failed >= 1, "one item must fail so an error message exists");
      await labelVideo(clip(5), {
        baseURL: "http://127.0.0.1:9/v1",
        apiKey: FAKE_KEY,
        retry: { maxAttempts: 1 },
      })
        .catch((e) => logs.push(String(e), (e as Error).stack ?? ""));
      // The CLI as a subprocess, with the key in its environment.
      const cmd = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...TASK_PERMISSIONS,
          MAIN,
          "label",
          "--videos",
          SHARED_VIDEOS,
          "--out",
          `${dir}/shared.jsonl`,
          "--base-url",
          "http://127.0.0.1:9/v1",
          "--concurrency",
          "2",
          "--max-attempts",
          "2",
        ],
        env: { OPENAI_API_KEY: FAKE_KEY },
        stdout: "piped",
        stderr: "piped",
      });
      const child = await cmd.output();
      const cliText = new TextDecoder().decode(child.stdout) +
        new TextDecoder().decode(child.stderr);
      assert.notEqual(child.code, 0);
      assert.match(cliText, /failed/);
      const everything = [
        await Deno.readTextFile(out),
        JSON.stringify(report),
        logs.join("\n"),
        cliText,
      ].join("\n");
      assert.ok(everything.length > 1000);
      assert.ok(!everything.includes(FAKE_KEY), "the key leaked");
      assert.ok(!everything.includes("DO-NOT-LEAK"), "part of the key leaked");
    } finally {
      await server.close();
    }
  });
});

Deno.test("labelling ../shared/videos (real GIFs) through the judge server works end to end", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0 });
    try {
      const out = `${dir}/labels.jsonl`;
      const report = await labelFolder(SHARED_VIDEOS, {
        out,
        baseURL: server.url,
        apiKey: FAKE_KEY,
        quiet: true,
      });
      assert.equal(report.failed, 0);
      assert.equal(report.labelled, 4);
      const cache = await LabelCache.open(out);
      assert.equal(cache.size, 4);
      for (const r of cache.records()) {
        assert.equal(r.labels.patches.length, 64);
        assert.match(r.source, /\.gif$/);
      }
      const again = await labelFolder(SHARED_VIDEOS, {
        out,
        baseURL: server.url,
        apiKey: FAKE_KEY,
        quiet: true,
      });
      assert.equal(again.cached, 4);
      assert.equal(again.calls, 0);
    } finally {
      await server.close();
    }
  });
});
