/**
 * Section 1, responses that are not what was asked: every fault class of the
 * proxy, one by one, for ever, and mixed in a storm; then the real
 * `deno task label` through the proxy.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type JudgeServer, startJudgeServer } from "../../lib/labels/judge_server/server.ts";
import { type LabelItem, labelVideos } from "../../lib/labels/label.ts";
import { LabelCache } from "../../lib/labels/cache.ts";
import { readLabelsFile } from "../../lib/reward/label_file.ts";
import { saveVideo } from "../../lib/videos/video.ts";
import { renderClip, samplePrompt } from "../../lib/videos/world.ts";
import { createRng } from "../../lib/core/_rng.ts";
import {
  type FaultPlan,
  type FaultProxy,
  PROXY_FAULTS,
  type ProxyFault,
  startFaultProxy,
} from "./_fault_proxy.ts";
import { CANARY_KEY, captured, ledger, suiteDir } from "./_ledger.ts";
import { ROOT, runTask } from "./_tasks.ts";

/** The grid of the suite's tiny clips (8 frames of 16×16: 8 patches). */
export const TINY_GRID = { rows: 2, cols: 2, framesPerPatch: 4 };

/** `n` tiny ShapesWorld clips with distinct prompts. */
export function tinyItems(n: number, seed = 7): LabelItem[] {
  const rng = createRng(seed);
  const seen = new Set<string>();
  const items: LabelItem[] = [];
  while (items.length < n) {
    const prompt = samplePrompt(rng);
    if (seen.has(prompt.text)) continue;
    seen.add(prompt.text);
    const { video } = renderClip(prompt, { seed: seed * 1000 + items.length, frames: 8, size: 16 });
    items.push({ video, prompt: prompt.text });
  }
  return items;
}

/**
 * Fast backoff; a time-out long enough that a loaded machine does not make good answers late
 * (stalls are given their own, shorter one where the test waits for many of them).
 */
const FAST = { baseDelayMs: 2, maxDelayMs: 40, timeoutMs: 20_000 };
const STALL_TIMEOUT = 1000;
/** Request options of the in-process runs: frames sent at their own 16 px (cheap to judge). */
const SMALL = { grid: TINY_GRID, frameSide: 16, apiKey: CANARY_KEY, quiet: true };
const isStall = (f: ProxyFault): boolean => f === "stall" || f === "stall_body";

/** What each fault class must say when it is the last word on an item. */
const MESSAGES: Record<Exclude<ProxyFault, "ok">, RegExp> = {
  cut_short: /response body: Expected JSON but found invalid JSON, cut short\? \(Unterminated/,
  reset_mid_body: /connection error while reading the answer/,
  not_json: /chat completion: Expected a chat completion object with choices but found "<html>/,
  wrong_shape: /chat completion: Expected a chat completion object with choices/,
  not_object: /label answer: Expected a JSON object but found invalid JSON \("Sure!/,
  wrong_patches: /label answer\.patches: Expected all 8 patch ids but found "1 missing/,
  refusal: /message\.refusal: Expected an answer but found a refusal \("I'm sorry/,
  length: /finish_reason: Expected "stop" .* but found "length/,
  stall: /request timed out after 1000 ms without a complete answer/,
  stall_body: /request timed out after 1000 ms without a complete answer/,
  reset: /connection error/,
  "429": /HTTP 429/,
  "500": /HTTP 500/,
  "503": /HTTP 503/,
  echo_key: /HTTP 500: 500 upstream failed for Bearer \[redacted\]/,
};

/** Adds a proxy's books to the ledger, then stops it and the server behind it. */
export async function settle(proxy: FaultProxy, server: JudgeServer): Promise<void> {
  ledger.faults += proxy.faults;
  ledger.paidTwice += proxy.paidTwice;
  await proxy.close();
  await server.close();
}

/** `deno task label` arguments for a folder of tiny clips (grid 2x2x4, quiet) plus `extra`. */
export function labelArgs(
  videos: string,
  out: string,
  baseURL: string,
  extra: readonly string[] = [],
): string[] {
  return [
    "--videos",
    videos,
    "--out",
    out,
    "--base-url",
    baseURL,
    "--grid",
    "2x2x4",
    "--quiet",
    ...extra,
  ];
}

/** A plan by item: `faultFor(i, attempt)` for the request of `items[i]` (found by its prompt). */
export function byItem(
  items: readonly LabelItem[],
  faultFor: (item: number, attempt: number) => ProxyFault,
): FaultPlan {
  const index = new Map(items.map((item, i) => [item.prompt, i]));
  return ({ prompt, attempt }) => {
    const i = prompt === null ? undefined : index.get(prompt);
    if (i === undefined) throw new Error(`fault plan: Expected a known prompt but found ${prompt}`);
    return faultFor(i, attempt);
  };
}

Deno.test("responses: each fault class is retried with backoff, then labelled; only valid answers are cached", async () => {
  ledger.sections.add("responses");
  const dir = await suiteDir("responses-each");
  const items = tinyItems(PROXY_FAULTS.length, 11);
  const server = startJudgeServer({ port: 0 });
  // Item i gets fault class i twice, then a good answer.
  const proxy = startFaultProxy(
    server.url,
    byItem(items, (i, attempt) => (attempt <= 2 ? PROXY_FAULTS[i] : "ok")),
    { clientTimeoutMs: STALL_TIMEOUT * 3 },
  );
  try {
    const cache = join(dir, "labels.jsonl");
    const report = await labelVideos(items, {
      ...SMALL,
      baseURL: proxy.url,
      // Spare attempts: a good answer a loaded machine delays past the time-out is asked again.
      retry: { ...FAST, timeoutMs: STALL_TIMEOUT * 3, maxAttempts: 6 },
      concurrency: 8,
      cache,
    });
    assert.equal(report.failed, 0, report.results.map((r) => r.error).join("\n"));
    // A connection closed before any answer on a reused keep-alive socket is retried once by
    // the HTTP client itself, unseen by the labeller: the proxy counts it, the labeller does not.
    report.results.forEach((r, i) => {
      const ok = r.attempts >= 3 || (PROXY_FAULTS[i] === "reset" && r.attempts === 2);
      assert.ok(ok, `${PROXY_FAULTS[i]}: ${r.attempts} attempts`);
    });
    for (const f of PROXY_FAULTS) assert.equal(proxy.counts[f], 2, f);
    assert.equal((await readLabelsFile(cache, { numFrames: 8, grid: "2x2x4" })).length, 15);
    assert.equal(proxy.paidTwice, 0);
  } finally {
    await settle(proxy, server);
  }
});

Deno.test("responses: a fault that never ends is a per-item failure naming it; nothing is cached; a rerun asks only for those", async () => {
  const dir = await suiteDir("responses-forever");
  const items = tinyItems(PROXY_FAULTS.length, 12);
  const server = startJudgeServer({ port: 0 });
  let healthy = false;
  const proxy = startFaultProxy(
    server.url,
    byItem(items, (i) => (healthy ? "ok" : PROXY_FAULTS[i])),
  );
  try {
    const cache = join(dir, "labels.jsonl");
    const options = {
      ...SMALL,
      baseURL: proxy.url,
      retry: { ...FAST, maxAttempts: 3 },
      concurrency: 15,
      cache,
    };
    // The stalls wait out a short time-out; every other class answers at once.
    const stalls = items.filter((_, i) => isStall(PROXY_FAULTS[i]));
    const others = items.filter((_, i) => !isStall(PROXY_FAULTS[i]));
    const [a, b] = await Promise.all([
      labelVideos(stalls, { ...options, retry: { ...options.retry, timeoutMs: STALL_TIMEOUT } }),
      labelVideos(others, options),
    ]);
    const results = items.map((item) =>
      [...a.results, ...b.results].find((r) => r.prompt === item.prompt)!
    );
    assert.equal(a.failed + b.failed, items.length);
    results.forEach((r, i) => {
      const f = PROXY_FAULTS[i] as Exclude<ProxyFault, "ok">;
      assert.match(r.error!, MESSAGES[f], `${f}: ${r.error}`);
      assert.match(r.error!, /\(after 3 attempts\)$/, f);
      assert.doesNotMatch(r.error!, new RegExp(CANARY_KEY));
    });
    assert.equal(
      (await LabelCache.open(cache)).size,
      0,
      "nothing that failed validation is cached",
    );
    healthy = true;
    const before = proxy.requests;
    const rerun = await labelVideos(items, options);
    assert.equal(rerun.labelled, items.length);
    assert.equal(proxy.requests - before, items.length, "one call per failed item");
    const again = await labelVideos(items, options);
    assert.equal(again.cached, items.length);
    assert.equal(proxy.requests - before, items.length, "a third run makes no call");
    assert.equal(proxy.paidTwice, 0);
  } finally {
    await settle(proxy, server);
  }
});

Deno.test("responses: a storm of every fault class mixed with good answers loses no item and pays none twice", async () => {
  const dir = await suiteDir("responses-storm");
  const n = 140;
  const items = tinyItems(n, 13);
  // Each item: 3–12 faults drawn from every class, then a good answer. Stalls cost a whole
  // time-out each, so they are drawn a tenth as often as the others.
  const weights = PROXY_FAULTS.map((f) => (f.startsWith("stall") ? 0.1 : 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const draw = (u: number): ProxyFault => {
    let acc = 0;
    for (let k = 0; k < PROXY_FAULTS.length; k++) {
      if ((acc += weights[k] / total) > u) return PROXY_FAULTS[k];
    }
    return PROXY_FAULTS[0];
  };
  const faultsOf = (i: number): ProxyFault[] => {
    const rng = createRng(1000 + i);
    return Array.from({ length: 3 + rng.int(10) }, () => draw(rng.next()));
  };
  const schedule = Array.from({ length: n }, (_, i) => faultsOf(i));
  const expected = schedule.reduce((a, s) => a + s.length, 0);
  const server = startJudgeServer({ port: 0 });
  const proxy = startFaultProxy(
    server.url,
    byItem(items, (i, attempt) => schedule[i][attempt - 1] ?? "ok"),
    { clientTimeoutMs: STALL_TIMEOUT * 3 },
  );
  try {
    const cache = join(dir, "labels.jsonl");
    const options = {
      ...SMALL,
      baseURL: proxy.url,
      // Three attempts to spare: a good answer that a loaded machine delays past the time-out.
      retry: { ...FAST, timeoutMs: STALL_TIMEOUT * 3, maxAttempts: 16 },
      concurrency: 8,
      cache,
    };
    const report = await labelVideos(items, options);
    ledger.lost += n - report.labelled;
    assert.equal(report.labelled, n, report.results.find((r) => r.error)?.error);
    assert.equal(proxy.faults, expected);
    for (const f of PROXY_FAULTS) {
      assert.ok(proxy.counts[f] >= (f.startsWith("stall") ? 2 : 20), `${f}: ${proxy.counts[f]}`);
    }
    assert.ok(proxy.requests >= expected + n, "every scheduled answer was asked for");
    // Fewer calls than requests: the HTTP client resends a request itself when a reused
    // keep-alive connection closes before answering ("reset").
    assert.ok(
      report.calls <= proxy.requests && report.calls >= proxy.requests - proxy.counts.reset,
    );
    const records = await readLabelsFile(cache, { numFrames: 8, grid: "2x2x4" });
    assert.equal(new Set(records.map((r) => r.key)).size, n);
    assert.equal(records.length, n, "one record per item");
    const before = proxy.requests;
    const rerun = await labelVideos(items, options);
    assert.equal(rerun.cached, n);
    assert.equal(proxy.requests, before, "a rerun makes zero calls");
    assert.equal(proxy.paidTwice, 0);
    assert.equal([...proxy.delivered.values()].every((v) => v === 1), true);
    console.log(
      `storm: ${n} videos, ${proxy.faults} faults (${
        PROXY_FAULTS.map((f) => `${f} ${proxy.counts[f]}`).join(", ")
      }), ${report.calls} calls, ${report.seconds.toFixed(1)} s`,
    );
  } finally {
    await settle(proxy, server);
  }
});

/** Writes `n` tiny clips as GIFs with awkward names and a prompts.json; returns the folder. */
export async function videoFolder(name: string, n: number, seed: number): Promise<string> {
  const dir = await suiteDir(name);
  const items = tinyItems(n, seed);
  const videos = [];
  for (let i = 0; i < n; i++) {
    const file = i % 3 === 0 ? `clip ${i} $(touch PWNED) ; #.gif` : `clip-${i}.gif`;
    await saveVideo(items[i].video, join(dir, file));
    videos.push({ file, prompt: items[i].prompt });
  }
  await Deno.writeTextFile(join(dir, "prompts.json"), JSON.stringify({ videos }, null, 1));
  return dir;
}

async function tinyItemsOf(dir: string): Promise<LabelItem[]> {
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "prompts.json")));
  return manifest.videos.map((v: { prompt: string }) => ({ prompt: v.prompt }) as LabelItem);
}

Deno.test("responses: `deno task label` through the fault proxy labels every video, and a rerun makes zero calls", async () => {
  const videos = await videoFolder("cli-videos", 16, 21);
  const out = join(await suiteDir("cli-labels"), "labels.jsonl");
  const server = startJudgeServer({ port: 0 });
  // Item i: one or two faults (every class appears), then a good answer.
  const proxy = startFaultProxy(
    server.url,
    byItem(await tinyItemsOf(videos), (i, attempt) => {
      const faults = [PROXY_FAULTS[i % 15], PROXY_FAULTS[(i + 7) % 15]].slice(0, 1 + (i % 2));
      return faults[attempt - 1] ?? "ok";
    }),
    { clientTimeoutMs: 3000 },
  );
  const args = labelArgs(videos, out, proxy.url, [
    "--concurrency",
    "4",
    "--timeout-s",
    "3",
    "--max-attempts",
    "6",
  ]);
  try {
    const first = await runTask("label", args, { env: { OPENAI_API_KEY: CANARY_KEY } });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /labelled 16, cached 0, failed 0/);
    for (const f of PROXY_FAULTS) assert.ok(proxy.counts[f] >= 1, `${f} injected`);
    const before = proxy.requests;
    const second = await runTask("label", args, { env: { OPENAI_API_KEY: CANARY_KEY } });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /labelled 0, cached 16, failed 0 .*\(0 API calls\)/);
    assert.equal(proxy.requests, before, "the rerun made zero calls");
    assert.equal(proxy.paidTwice, 0);
    assert.equal((await readLabelsFile(out, { numFrames: 8, grid: "2x2x4" })).length, 16);
    // The awkward names were plain file names: no shell ran them.
    for (const where of [videos, ROOT]) {
      for await (const e of Deno.readDir(where)) assert.notEqual(e.name, "PWNED", where);
    }
    captured.push(first.stdout, second.stdout);
  } finally {
    await settle(proxy, server);
  }
});
