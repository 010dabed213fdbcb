/**
 * Batch labelling: the labeller's requests sent through the OpenAI Batch API
 * (upload a JSONL of requests, create a batch, poll it, download the output,
 * validate every answer, fill the cache) — half the price, for labelling at
 * scale. The batch id is saved next to the cache before polling starts, so a
 * killed run resumes polling the same batch instead of paying for a new one.
 * @module
 */

import OpenAI from "openai";
import { writeFileAtomic } from "./_atomic.ts";
import { fail } from "./_errors.ts";
import { Progress } from "./_progress.ts";
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
import { LabelCache, labelCacheKey } from "./label_cache.ts";
import { buildLabelRequest, parseLabelAnswer, PROTOCOL_VERSION } from "./label_protocol.ts";
import { DEFAULT_GRID, formatGrid } from "./patch.ts";

/** Options of {@linkcode labelBatch}. */
export interface BatchLabelOptions extends LabellerOptions {
  /** Cache file (required: the batch state lives next to it as `<cache>.batch.json`). */
  cache: string;
  /** Poll interval, ms. Default 5000. */
  pollMs?: number;
  /** Give up polling after this long (the batch keeps running; rerun to resume). Default 25 h. */
  maxWaitMs?: number;
}

interface BatchState {
  batchId: string;
  inputFileId: string;
  model: string;
  keys: string[];
}

const DONE = new Set(["completed", "failed", "expired", "cancelled"]);

/**
 * Labels `items` through the Batch API and fills the cache. Items already
 * cached are not sent; invalid answers become per-item errors (a rerun sends
 * only those again).
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
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function labelBatch(
  items: readonly LabelItem[],
  options: BatchLabelOptions,
): Promise<LabelRunReport> {
  const where = "labelBatch";
  if (!options || typeof options.cache !== "string") {
    fail(where, "options.cache (a file path)", options?.cache);
  }
  const started = performance.now();
  const grid = options.grid ?? DEFAULT_GRID;
  const model = options.model ?? "gpt-4o";
  const apiKey = resolveApiKey(options);
  const client = new OpenAI({ apiKey, baseURL: options.baseURL, maxRetries: 0, timeout: 120_000 });
  const cache = await LabelCache.open(options.cache);
  const statePath = `${options.cache}.batch.json`;
  const variant = requestVariant(options);
  const keys = await Promise.all(
    items.map((item) => labelCacheKey(item.video, { prompt: item.prompt, grid, model, variant })),
  );
  let calls = 0;
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1;; attempt++) {
      calls++;
      try {
        return await fn();
      } catch (error) {
        const kind = classifyFailure(error);
        if (!kind.retry || attempt >= (options.retry?.maxAttempts ?? 5)) {
          throw new Error(`${where}: ${scrub(kind.message, apiKey)}`);
        }
        await new Promise((r) => setTimeout(r, kind.waitMs ?? 500 * 2 ** attempt));
      }
    }
  };

  const pending = new Map<string, number>(); // key -> first item index
  keys.forEach((key, i) => {
    if (!cache.has(key) && !pending.has(key)) pending.set(key, i);
  });
  const errors = new Map<string, string>();
  const usageByKey = new Map<string, { usage: TokenUsage; cost: number }>();

  if (pending.size > 0) {
    let state = await readState(statePath);
    if (state && (state.model !== model || !state.keys.every((k) => pending.has(k)))) state = null;
    if (!state) {
      const lines: string[] = [];
      for (const [key, i] of pending) {
        const body = buildLabelRequest(items[i].video, items[i].prompt, grid, {
          ...options,
          model,
        });
        lines.push(
          JSON.stringify({ custom_id: key, method: "POST", url: "/v1/chat/completions", body }),
        );
      }
      const file = await call(() =>
        client.files.create({
          file: new File([lines.join("\n") + "\n"], "halo-patch-labels.jsonl"),
          purpose: "batch",
        })
      );
      const batch = await call(() =>
        client.batches.create({
          input_file_id: file.id,
          endpoint: "/v1/chat/completions",
          completion_window: "24h",
          metadata: { protocol: PROTOCOL_VERSION },
        })
      );
      state = { batchId: batch.id, inputFileId: file.id, model, keys: [...pending.keys()] };
      await writeFileAtomic(statePath, JSON.stringify(state, null, 2));
    }
    const progress = new Progress(state.keys.length, {
      label: options.progressLabel ?? "batch",
      unit: "requests",
      quiet: options.quiet ?? false,
    });
    const deadline = Date.now() + (options.maxWaitMs ?? 25 * 3600_000);
    let batch = await call(() => client.batches.retrieve(state!.batchId));
    let shown = 0;
    while (!DONE.has(batch.status)) {
      if (Date.now() > deadline) {
        throw new Error(
          `${where}: Expected batch ${batch.id} to finish within maxWaitMs but found status ` +
            `"${batch.status}"; rerun to resume polling it`,
        );
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 5000));
      batch = await call(() => client.batches.retrieve(state!.batchId));
      const done = (batch.request_counts?.completed ?? 0) + (batch.request_counts?.failed ?? 0);
      if (done > shown) {
        progress.tick(done - shown, { status: batch.status });
        shown = done;
      }
    }
    if (batch.status !== "completed") {
      await Deno.remove(statePath).catch(() => {});
      for (const key of state.keys) {
        errors.set(key, `batch ${batch.id} ended with status "${batch.status}"`);
      }
    } else {
      const download = async (id: string | null | undefined): Promise<string[]> => {
        if (!id) return [];
        const response = await call(() => client.files.content(id));
        return (await response.text()).split("\n").filter((l) => l.trim() !== "");
      };
      const lines = [
        ...await download(batch.output_file_id),
        ...await download(batch.error_file_id),
      ];
      for (const line of lines) {
        let row: {
          custom_id?: string;
          response?: { status_code?: number; body?: Record<string, unknown> };
          error?: { message?: string } | null;
        };
        try {
          row = JSON.parse(line);
        } catch {
          continue; // a torn output line: its item stays pending and is reported below
        }
        const key = row.custom_id;
        if (!key || !pending.has(key)) continue;
        const i = pending.get(key)!;
        const status = row.response?.status_code ?? 0;
        const body = row.response?.body as {
          choices?: Array<{ message?: { content?: string } }>;
          usage?: { prompt_tokens?: number; completion_tokens?: number };
          error?: { message?: string };
        } | undefined;
        if (status !== 200 || !body) {
          const message = body?.error?.message ?? row.error?.message ?? "no response body";
          errors.set(key, scrub(`HTTP ${status}: ${message}`, apiKey));
          continue;
        }
        const usage = {
          promptTokens: body.usage?.prompt_tokens ?? 0,
          completionTokens: body.usage?.completion_tokens ?? 0,
        };
        const cost = estimateCost(model, usage, { batch: true, prices: options.prices });
        usageByKey.set(key, { usage, cost });
        try {
          const labels = parseLabelAnswer(
            body.choices?.[0]?.message?.content ?? "",
            grid,
            items[i].video.numFrames,
          );
          await cache.put({
            key,
            protocol: PROTOCOL_VERSION,
            model,
            grid: formatGrid(grid),
            prompt: items[i].prompt,
            source: items[i].video.source,
            labels,
            usage,
            costUsd: cost,
          });
        } catch (error) {
          errors.set(key, scrub((error as Error).message, apiKey));
        }
      }
      await Deno.remove(statePath).catch(() => {});
    }
  }

  const results: LabelResult[] = items.map((item, i) => {
    const key = keys[i];
    const base = { key, source: item.video.source, prompt: item.prompt };
    const fresh = pending.has(key) && pending.get(key) === i;
    const paid = fresh ? usageByKey.get(key) : undefined;
    const record = cache.get(key);
    const usage = paid?.usage ?? { promptTokens: 0, completionTokens: 0 };
    if (record) {
      return {
        ...base,
        labels: record.labels,
        attempts: 0,
        cached: !pending.has(key),
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
  let cost = 0;
  for (const { usage: u, cost: c } of usageByKey.values()) {
    usage.promptTokens += u.promptTokens;
    usage.completionTokens += u.completionTokens;
    cost += c;
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
    costUsd: cost,
    seconds: (performance.now() - started) / 1000,
  };
}

async function readState(path: string): Promise<BatchState | null> {
  try {
    const state = JSON.parse(await Deno.readTextFile(path)) as BatchState;
    return typeof state.batchId === "string" && Array.isArray(state.keys) ? state : null;
  } catch {
    return null;
  }
}
