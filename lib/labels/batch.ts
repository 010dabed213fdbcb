/**
 * Batch labelling at scale: the labeller's requests sent through the OpenAI
 * Batch API at half the price. Requests are packed into input files under the
 * API's per-file limits (50,000 requests, 200 MB; {@linkcode BatchLimits}),
 * several batches run at once (a cap), and each batch's answers are validated
 * and merged into the one labels cache as soon as it finishes. Expired and
 * failed batches re-submit only the requests that got no answer.
 *
 * Every step is saved before the next API call (`<cache>.batches/`, see
 * `_batch_state.ts`): a run killed at any point — while building files,
 * after an upload, right after creating a batch, while polling or merging —
 * resumes every batch it had started and pays for no request twice. A batch
 * created just before a kill, whose id was never saved, is found again by its
 * input file in the list of batches.
 *
 * Items may be an array or a {@linkcode LabelItemSource} that loads one video
 * at a time, so 100,000 videos never sit in memory together.
 * @module
 */

import OpenAI from "openai";
import { fail } from "../core/_errors.ts";
import { Progress } from "../core/_progress.ts";
import { type ShardItem, type ShardState, ShardStore } from "./_batch_state.ts";
import {
  type BatchLimits,
  batchLine,
  FilePacker,
  resolveBatchLimits,
  utf8Bytes,
  withBatchDefaults,
} from "./batch_plan.ts";
import {
  classifyFailure,
  estimateCost,
  type LabelItem,
  type LabellerOptions,
  type LabelResult,
  type LabelRunReport,
  requestVariant,
  resolveApiKey,
  scrub,
  type TokenUsage,
} from "./label.ts";
import { LabelCache, labelCacheKey, type LabelRecord } from "./cache.ts";
import { buildLabelRequest, parseLabelAnswer, PROTOCOL_VERSION } from "./protocol.ts";
import { DEFAULT_GRID, formatGrid, parseGrid } from "../videos/patch.ts";
import { RETRY_DEFAULTS } from "./retry.ts";

/** Videos to label, loaded one at a time (a folder of 100,000 videos does not fit in memory). */
export interface LabelItemSource {
  /** Number of items. */
  count: number;
  /** Loads item `index` (0 ≤ index < count). */
  load(index: number): Promise<LabelItem>;
}

/** The defaults of {@linkcode BatchLabelOptions}' batch handling (`deno task label` shows the same). */
export const BATCH_RUN_DEFAULTS: Readonly<{ maxInFlight: number; pollMs: number }> = Object.freeze({
  maxInFlight: 4,
  pollMs: 5000,
});

/** Options of {@linkcode labelBatch}. */
export interface BatchLabelOptions extends LabellerOptions, BatchLimits {
  /** Cache file (required: the batch state lives next to it in `<cache>.batches/`). */
  cache: string;
  /** Poll interval, ms. Default 5000. */
  pollMs?: number;
  /** Give up polling after this long (the batches keep running; rerun to resume). Default 25 h. */
  maxWaitMs?: number;
  /** Batches in flight at once. Default 4. */
  maxInFlight?: number;
  /** Times the missing requests of an expired or failed batch are re-submitted. Default 3. */
  maxResubmits?: number;
}

/** What a batch labelling run did. */
export interface BatchRunReport extends LabelRunReport {
  /** Input files uploaded in this run. */
  files: number;
  /** Batches created in this run. */
  batches: number;
  /** Batches of an earlier run that this run polled and merged. */
  resumed: number;
  /** Requests re-submitted after their batch expired or failed. */
  resubmitted: number;
}

const DONE = new Set(["completed", "failed", "expired", "cancelled"]);
/** Error codes of a batch line whose request never ran: worth sending again. */
const NOT_RUN = new Set(["batch_expired", "batch_cancelled", "request_timeout"]);

/**
 * Labels `items` through the Batch API and fills the cache. Items already
 * cached are not sent; invalid answers become per-item errors (a rerun sends
 * only those again). Requests use {@linkcode BATCH_REQUEST_DEFAULTS} for what
 * `options` leaves unset.
 *
 * @example
 * ```ts
 * import { labelBatch, parsePrompt, renderClip, startJudgeServer } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const server = startJudgeServer({ port: 0, batchStepMs: 10 });
 * const dir = await Deno.makeTempDir();
 * const text = "one red circle moving left slowly on a black background";
 * const { video } = renderClip(parsePrompt(text), { seed: 1 });
 * const report = await labelBatch([{ video, prompt: text }], {
 *   baseURL: server.url, cache: `${dir}/labels.jsonl`, pollMs: 20, quiet: true,
 * });
 * assert.equal(report.labelled, 1);
 * assert.equal(report.batches, 1);
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function labelBatch(
  items: readonly LabelItem[] | LabelItemSource,
  batchOptions: BatchLabelOptions,
): Promise<BatchRunReport> {
  const where = "labelBatch";
  if (!batchOptions || typeof batchOptions.cache !== "string") {
    fail(where, "options.cache (a file path)", batchOptions?.cache);
  }
  const options = withBatchDefaults(batchOptions);
  const source: LabelItemSource = Array.isArray(items)
    ? { count: items.length, load: (i) => Promise.resolve(items[i]) }
    : items as LabelItemSource;
  if (!Number.isInteger(source?.count) || typeof source.load !== "function") {
    fail(where, "an array of {video, prompt} or a {count, load} source", items);
  }
  const limits = resolveBatchLimits(options);
  const cap0 = options.maxInFlight ?? BATCH_RUN_DEFAULTS.maxInFlight;
  if (!Number.isInteger(cap0) || cap0 < 1) fail(where, "maxInFlight ≥ 1", cap0);
  const maxResubmits = options.maxResubmits ?? 3;
  if (!Number.isInteger(maxResubmits) || maxResubmits < 0) {
    fail(where, "maxResubmits ≥ 0", maxResubmits);
  }
  const pollMs = options.pollMs ?? BATCH_RUN_DEFAULTS.pollMs;
  const started = performance.now();
  const grid = options.grid ?? DEFAULT_GRID;
  const gridText = formatGrid(grid);
  const model = options.model ?? "gpt-4o";
  const apiKey = resolveApiKey(options);
  const client = new OpenAI({ apiKey, baseURL: options.baseURL, maxRetries: 0, timeout: 120_000 });
  const cache = await LabelCache.open(options.cache);
  const { store, shards: saved } = await ShardStore.open(`${options.cache}.batches`);
  const variant = requestVariant(options);

  let calls = 0;
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1;; attempt++) {
      calls++;
      try {
        return await fn();
      } catch (error) {
        const kind = classifyFailure(error);
        if (!kind.retry || attempt >= (options.retry?.maxAttempts ?? RETRY_DEFAULTS.maxAttempts)) {
          throw new Error(`${where}: ${scrub(kind.message, apiKey)}`);
        }
        await sleep(Math.min(30_000, kind.waitMs ?? 500 * 2 ** attempt));
      }
    }
  };

  const keys: string[] = new Array(source.count);
  const sources: string[] = new Array(source.count);
  const prompts: string[] = new Array(source.count);
  const errors = new Map<string, string>();
  const merged = new Map<string, { usage: TokenUsage; cost: number }>();
  const progress = new Progress(source.count, {
    label: options.progressLabel ?? "batch",
    unit: "videos",
    quiet: options.quiet ?? false,
  });
  const counts = { files: 0, batches: 0, resumed: 0, resubmitted: 0 };
  let cap = cap0;
  const queue: ShardState[] = [];
  const inFlight: ShardState[] = [];
  const live = new Set<string>(); // keys in a saved shard
  for (const shard of saved) for (const item of shard.items) live.add(item.key);
  let scanning = true;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const nudge = (): void => {
    wake?.();
    wake = null;
  };
  const nap = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  /** Uploads a shard's file and creates its batch, saving each id as soon as it exists. */
  const submit = async (shard: ShardState): Promise<void> => {
    if (!shard.inputFileId) {
      const bytes = await store.bytes(shard.name);
      const file = await call(() =>
        client.files.create({
          file: new File([bytes], `halo-labels-${shard.name}.jsonl`),
          purpose: "batch",
        })
      );
      shard.inputFileId = file.id;
      shard.uploadedAt = file.created_at;
      await store.save(shard);
      counts.files++;
    } else {
      // Uploaded by a run that may have been killed right after creating the batch.
      const found = await findBatch(client, shard, call);
      if (found) {
        shard.batchId = found;
        await store.save(shard);
        counts.resumed++;
        return;
      }
    }
    const batch = await call(() =>
      client.batches.create({
        input_file_id: shard.inputFileId!,
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
        metadata: { protocol: PROTOCOL_VERSION, shard: shard.name },
      })
    );
    shard.batchId = batch.id;
    await store.save(shard);
    counts.batches++;
  };

  /** Merges a finished batch into the cache; re-submits what never ran. */
  const collect = async (shard: ShardState, batch: OpenAI.Batches.Batch): Promise<void> => {
    const shardGrid = parseGrid(shard.grid);
    const byKey = new Map(shard.items.map((item) => [item.key, item]));
    const lines: string[] = [];
    for (const id of [batch.output_file_id, batch.error_file_id]) {
      if (!id) continue;
      const response = await call(() => client.files.content(id));
      for (const line of (await response.text()).split("\n")) if (line.trim()) lines.push(line);
    }
    const answered = new Set<string>();
    const again: ShardItem[] = [];
    const records: LabelRecord[] = [];
    for (const line of lines) {
      let row: BatchOutputRow;
      try {
        row = JSON.parse(line);
      } catch {
        continue; // a torn line: its item counts as not answered
      }
      const item = byKey.get(row.custom_id ?? "");
      if (!item || answered.has(item.key)) continue;
      answered.add(item.key);
      const body = row.response?.body;
      if (!row.response) {
        const code = row.error?.code ?? "";
        if (NOT_RUN.has(code)) again.push(item);
        else errors.set(item.key, scrub(`${code}: ${row.error?.message ?? "no response"}`, apiKey));
        continue;
      }
      if (row.response.status_code !== 200 || !body) {
        const message = body?.error?.message ?? row.error?.message ?? "no response body";
        errors.set(item.key, scrub(`HTTP ${row.response.status_code}: ${message}`, apiKey));
        continue;
      }
      const usage = {
        promptTokens: body.usage?.prompt_tokens ?? 0,
        completionTokens: body.usage?.completion_tokens ?? 0,
      };
      const cost = estimateCost(shard.model, usage, { batch: true, prices: options.prices });
      merged.set(item.key, { usage, cost });
      try {
        const labels = parseLabelAnswer(
          body.choices?.[0]?.message?.content ?? "",
          shardGrid,
          item.frames,
        );
        records.push({
          key: item.key,
          protocol: shard.protocol,
          model: shard.model,
          grid: shard.grid,
          prompt: item.prompt,
          source: item.source,
          labels,
          usage,
          costUsd: cost,
        });
        errors.delete(item.key);
        if (records.length >= 1000) await cache.putMany(records.splice(0));
      } catch (error) {
        errors.set(item.key, scrub((error as Error).message, apiKey));
      }
    }
    await cache.putMany(records);
    for (const item of shard.items) if (!answered.has(item.key)) again.push(item);
    if (again.length > 0) {
      const why = batch.status === "failed"
        ? (batch.errors?.data ?? []).map((e) => `${e.code}: ${e.message}`).join("; ") ||
          "no reason given"
        : `status "${batch.status}"`;
      const name = `${shard.name.replace(/-r\d+$/, "")}-r${shard.round + 1}`;
      if (batch.status !== "cancelled" && shard.round < maxResubmits) {
        if (!store.has(name)) {
          const wanted = new Set(again.map((item) => item.key));
          const spool = (await store.lines(shard.name)).filter((line) =>
            wanted.has(JSON.parse(line).custom_id)
          );
          const next: ShardState = {
            ...shard,
            name,
            round: shard.round + 1,
            items: again,
            bytes: spool.reduce((a, l) => a + utf8Bytes(l) + 1, 0),
            inputFileId: undefined,
            uploadedAt: undefined,
            batchId: undefined,
          };
          await store.create(next, spool);
          queue.push(next);
          counts.resubmitted += again.length;
        }
        if (why.includes("token_limit_exceeded")) cap = Math.max(1, inFlight.length);
      } else {
        for (const item of again) {
          errors.set(item.key, scrub(`batch ${batch.id} ended with ${why}`, apiKey));
        }
      }
    }
    await store.remove(shard.name);
    progress.tick(shard.items.length - again.length, { cost: `$${totalCost().toFixed(4)}` });
  };

  const totalCost = (): number => {
    let cost = 0;
    for (const { cost: c } of merged.values()) cost += c;
    return cost;
  };

  const schedule = async (): Promise<void> => {
    const deadline = Date.now() + (options.maxWaitMs ?? 25 * 3600_000);
    for (;;) {
      while (inFlight.length < cap && queue.length > 0 && !failure) {
        const shard = queue.shift()!;
        await submit(shard);
        inFlight.push(shard);
      }
      if (inFlight.length === 0 && queue.length === 0) {
        if (!scanning) return;
        await nap(60_000);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${where}: Expected ${inFlight.length} batch(es) to finish within maxWaitMs but found ` +
            `them still running (${inFlight.map((s) => s.batchId).join(", ")}); rerun to ` +
            "resume polling them",
        );
      }
      await (inFlight.length < cap ? nap(pollMs) : sleep(pollMs));
      for (const shard of [...inFlight]) {
        const batch = await call(() => client.batches.retrieve(shard.batchId!));
        if (!DONE.has(batch.status)) continue;
        inFlight.splice(inFlight.indexOf(shard), 1);
        await collect(shard, batch);
      }
    }
  };

  // Batches an earlier run created are polled right away; uploaded files are
  // matched to a batch or submitted; planned shards wait for the scan (below).
  const planned: ShardState[] = [];
  for (const shard of saved) {
    if (shard.batchId) {
      inFlight.push(shard);
      counts.resumed++;
    } else if (shard.inputFileId) queue.push(shard);
    else planned.push(shard);
  }
  const scheduler = schedule().catch((error) => {
    failure = error;
  });

  // Scan: key every item, pack the ones to send into shards, hand each shard on when full.
  const requested = new Set<string>();
  const sent = new Set<string>();
  const packer = new FilePacker(limits);
  let lines: string[] = [];
  let shardItems: ShardItem[] = [];
  let shardBytes = 0;
  const seal = async (): Promise<void> => {
    if (lines.length === 0) return;
    const shard: ShardState = {
      name: store.nextName(),
      round: 0,
      model,
      grid: gridText,
      protocol: PROTOCOL_VERSION,
      items: shardItems,
      bytes: shardBytes,
    };
    await store.create(shard, lines);
    queue.push(shard);
    lines = [];
    shardItems = [];
    shardBytes = 0;
    nudge();
  };
  let yielded = performance.now();
  for (let i = 0; i < source.count && !failure; i++) {
    let item: LabelItem, key: string;
    try {
      item = await source.load(i);
      key = await labelCacheKey(item.video, { prompt: item.prompt, grid, model, variant });
    } catch (error) {
      // A video that cannot be read is that item's failure, not the run's.
      keys[i] = `item-${i}`;
      sources[i] = `item ${i}`;
      prompts[i] = "";
      errors.set(keys[i], scrub((error as Error)?.message ?? String(error), apiKey));
      progress.tick(1);
      continue;
    }
    keys[i] = key;
    sources[i] = item.video.source;
    prompts[i] = item.prompt;
    requested.add(key);
    if (performance.now() - yielded > 50) {
      await sleep(0); // let the scheduler poll and merge while the scan runs
      yielded = performance.now();
    }
    if (cache.has(key) && !merged.has(key)) {
      progress.tick(1);
      continue;
    }
    if (live.has(key) || sent.has(key) || cache.has(key)) continue;
    let line: string;
    try {
      const body = buildLabelRequest(item.video, item.prompt, grid, { ...options, model });
      line = batchLine(key, body);
    } catch (error) {
      errors.set(key, scrub((error as Error).message, apiKey));
      continue;
    }
    const bytes = utf8Bytes(line) + 1;
    if (bytes > limits.maxBytesPerFile) {
      errors.set(
        key,
        `Expected a request line of at most maxBytesPerFile = ${limits.maxBytesPerFile} bytes ` +
          `but found ${bytes}; send smaller images (frameSide, imageFormat, framesPerSegment)`,
      );
      continue;
    }
    if (packer.wouldOpen(bytes)) await seal();
    packer.add(bytes);
    lines.push(line);
    shardItems.push({
      key,
      prompt: item.prompt,
      source: item.video.source,
      frames: item.video.numFrames,
    });
    shardBytes += bytes;
    sent.add(key);
  }
  if (!failure) await seal();
  // Shards planned by an earlier run and never uploaded: keep only what is still wanted.
  for (const shard of planned) {
    if (failure) break;
    const keep = shard.items.filter((it) => requested.has(it.key) && !cache.has(it.key));
    if (keep.length === shard.items.length) queue.push(shard);
    else if (keep.length === 0) await store.remove(shard.name);
    else {
      const wanted = new Set(keep.map((it) => it.key));
      const spool = (await store.lines(shard.name)).filter((l) =>
        wanted.has(JSON.parse(l).custom_id)
      );
      const next = {
        ...shard,
        items: keep,
        bytes: spool.reduce((a, l) => a + utf8Bytes(l) + 1, 0),
      };
      await store.create(next, spool);
      queue.push(next);
    }
  }
  scanning = false;
  nudge();
  await scheduler;
  if (failure) throw failure;
  await store.close();

  const seen = new Set<string>();
  const results: LabelResult[] = keys.map((key, i) => {
    const base = { key, source: sources[i], prompt: prompts[i] };
    const fresh = merged.has(key) && !seen.has(key);
    seen.add(key);
    const paid = fresh ? merged.get(key) : undefined;
    const usage = paid?.usage ?? { promptTokens: 0, completionTokens: 0 };
    const record = cache.get(key);
    if (record) {
      return {
        ...base,
        labels: record.labels,
        attempts: 0,
        cached: !merged.has(key),
        usage,
        costUsd: paid?.cost ?? 0,
      };
    }
    return {
      ...base,
      error: errors.get(key) ?? "no result in the batch output",
      attempts: 0,
      cached: false,
      usage,
      costUsd: paid?.cost ?? 0,
    };
  });
  const usage = { promptTokens: 0, completionTokens: 0 };
  for (const { usage: u } of merged.values()) {
    usage.promptTokens += u.promptTokens;
    usage.completionTokens += u.completionTokens;
  }
  results.forEach((r, i) => options.onItem?.(r, i));
  return {
    results,
    calls,
    cached: results.filter((r) => r.cached).length,
    labelled: results.filter((r) => !r.cached && r.labels).length,
    failed: results.filter((r) => r.error).length,
    skipped: 0,
    usage,
    costUsd: totalCost(),
    seconds: (performance.now() - started) / 1000,
    ...counts,
  };
}

interface BatchOutputRow {
  custom_id?: string;
  response?: {
    status_code?: number;
    body?: {
      choices?: Array<{ message?: { content?: string } }>;
      usage?: { prompt_tokens?: number; completion_tokens?: number };
      error?: { message?: string };
    };
  } | null;
  error?: { code?: string; message?: string } | null;
}

/** The batch created over a shard's uploaded file, if any (newest first, back to its upload). */
async function findBatch(
  client: OpenAI,
  shard: ShardState,
  call: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<string | null> {
  let after: string | undefined;
  for (;;) {
    const page = await call(() => client.batches.list({ limit: 100, after }));
    for (const batch of page.data) {
      if (batch.input_file_id === shard.inputFileId) return batch.id;
      if (batch.created_at < (shard.uploadedAt ?? 0) - 300) return null;
    }
    if (!page.hasNextPage() || page.data.length === 0) return null;
    after = page.data.at(-1)!.id;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
