/**
 * The patch labeller: distils a VLM's patch-level judgements (GPT-4o in the
 * paper) into typed labels, through the `openai` client. Requests follow
 * {@linkcode buildLabelRequest}; answers are validated by
 * {@linkcode parseLabelAnswer}. Runs items concurrently, retries 429/5xx,
 * time-outs and invalid answers with exponential backoff (honouring
 * `Retry-After`, never retrying other 4xx), caches every label the moment it
 * arrives, and counts tokens and estimated cost.
 *
 * The API key is read from the options or `OPENAI_API_KEY` and passed to the
 * client only; it is scrubbed from every error message and never written.
 * @module
 */

import OpenAI from "openai";
import { fail } from "./_errors.ts";
import { Progress } from "./_progress.ts";
import { LabelCache, labelCacheKey, type LabelRecord } from "./label_cache.ts";
import { imageUrlSize } from "./label_images.ts";
import {
  buildLabelRequest,
  type LabelRequestBody,
  type LabelRequestOptions,
  LabelValidationError,
  parseLabelAnswer,
  PROTOCOL_VERSION,
  type VideoLabels,
} from "./label_protocol.ts";
import { DEFAULT_GRID, formatGrid, type PatchGrid } from "./patch.ts";
import type { Video } from "./video.ts";

/**
 * USD per million tokens. Reconstruction of OpenAI's published list prices at
 * the time of writing (gpt-4o 2024-08-06: $2.50 in / $10.00 out; gpt-4o-mini:
 * $0.15 / $0.60; the Batch API halves both). Check openai.com/api/pricing and
 * pass your own table through {@linkcode LabellerOptions.prices} when they change.
 */
export const PRICES: Readonly<Record<string, { input: number; output: number }>> = Object.freeze({
  "gpt-4o": { input: 2.5, output: 10 },
  "gpt-4o-2024-08-06": { input: 2.5, output: 10 },
  "gpt-4o-2024-11-20": { input: 2.5, output: 10 },
  "gpt-4o-mini": { input: 0.15, output: 0.6 },
});

/** Discount factor of the Batch API on both input and output tokens. */
export const BATCH_DISCOUNT = 0.5;

/** Token counts of one call or a run. */
export interface TokenUsage {
  /** Input tokens (text and images). */
  promptTokens: number;
  /** Output tokens. */
  completionTokens: number;
}

/** Options for {@linkcode estimateCost}. */
export interface CostOptions {
  /** Priced through the Batch API. Default false. */
  batch?: boolean;
  /** Price table. Default {@linkcode PRICES}. */
  prices?: Readonly<Record<string, { input: number; output: number }>>;
}

/**
 * Estimated USD cost of `usage` on `model`; 0 for a model missing from the table.
 *
 * @example
 * ```ts
 * import { estimateCost } from "@halo/kit";
 * import assert from "node:assert/strict";
 * assert.equal(estimateCost("gpt-4o", { promptTokens: 1e6, completionTokens: 1e5 }), 3.5);
 * assert.equal(estimateCost("gpt-4o", { promptTokens: 1e6, completionTokens: 0 }, { batch: true }), 1.25);
 * ```
 */
export function estimateCost(model: string, usage: TokenUsage, options: CostOptions = {}): number {
  const table = options.prices ?? PRICES;
  const price = table[model];
  if (!price) return 0;
  const factor = options.batch ? BATCH_DISCOUNT : 1;
  return factor * (usage.promptTokens * price.input + usage.completionTokens * price.output) / 1e6;
}

/**
 * Estimated input tokens of a request body, following OpenAI's published
 * rule for gpt-4o images (high detail: fit in 2048², shorter side to 768, 170
 * tokens per 512² tile plus 85; low detail: 85) and ~4 characters per text token.
 * The judge server bills with the same rule.
 *
 * @example
 * ```ts
 * import { imageTokens } from "@halo/kit";
 * import assert from "node:assert/strict";
 * assert.equal(imageTokens(512, 128), 255);
 * assert.equal(imageTokens(1024, 1024), 765);
 * ```
 */
export function imageTokens(
  width: number,
  height: number,
  detail: "low" | "high" | "auto" = "high",
): number {
  if (detail === "low") return 85;
  let w = width, h = height;
  if (Math.max(w, h) > 2048) {
    const s = 2048 / Math.max(w, h);
    w *= s;
    h *= s;
  }
  if (Math.min(w, h) > 768) {
    const s = 768 / Math.min(w, h);
    w *= s;
    h *= s;
  }
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** Estimated input tokens of a labelling request body (see {@linkcode imageTokens}). */
export function estimateRequestTokens(body: LabelRequestBody): number {
  let chars = JSON.stringify(body.response_format).length;
  let tokens = 0;
  for (const message of body.messages) {
    tokens += 4;
    if (typeof message.content === "string") {
      chars += message.content.length;
      continue;
    }
    for (const part of message.content) {
      if (part.type === "text") chars += part.text.length;
      else {
        const size = imageUrlSize(part.image_url.url);
        tokens += size ? imageTokens(size.width, size.height, part.image_url.detail) : 85;
      }
    }
  }
  return tokens + Math.ceil(chars / 4);
}

/** When and how often to retry a failed call. */
export interface RetryPolicy {
  /** Attempts per item, first one included. Default 5. */
  maxAttempts?: number;
  /** Backoff before the second attempt, doubled each time (with ±25% jitter). Default 500 ms. */
  baseDelayMs?: number;
  /** Longest wait between attempts, `Retry-After` included. Default 30000 ms. */
  maxDelayMs?: number;
  /** Time-out of one HTTP call. Default 120000 ms. */
  timeoutMs?: number;
}

/** One video to label. */
export interface LabelItem {
  /** The video. */
  video: Video;
  /** Its prompt. */
  prompt: string;
}

/** Options of the labeller. */
export interface LabellerOptions extends LabelRequestOptions {
  /** Patch grid. Default {@linkcode DEFAULT_GRID} (4×4×4). */
  grid?: PatchGrid;
  /** API base URL, e.g. a judge server's `…/v1`. Default: OpenAI's. */
  baseURL?: string;
  /**
   * API key. Default: `OPENAI_API_KEY` from the environment; with a `baseURL` and no
   * key a placeholder is sent (local servers do not check it).
   */
  apiKey?: string;
  /** Items labelled at once. Default 4. */
  concurrency?: number;
  /** Retry policy. */
  retry?: RetryPolicy;
  /** Cache file path or an open cache. Default: none (every item is requested). */
  cache?: string | LabelCache;
  /** Silence the progress bar. Default false. */
  quiet?: boolean;
  /** Label of the progress bar. Default "label". */
  progressLabel?: string;
  /** Price table. Default {@linkcode PRICES}. */
  prices?: Readonly<Record<string, { input: number; output: number }>>;
  /** Called after each item (cached, labelled or failed). */
  onItem?: (result: LabelResult, index: number) => void;
}

/** The outcome for one item. */
export interface LabelResult {
  /** Cache key of the request. */
  key: string;
  /** The video's source. */
  source: string;
  /** Prompt text. */
  prompt: string;
  /** Labels, when the item succeeded. */
  labels?: VideoLabels;
  /** A one-line error (credentials scrubbed), when it failed after its retries. */
  error?: string;
  /** HTTP calls made for this item (0 when cached). */
  attempts: number;
  /** Served from the cache. */
  cached: boolean;
  /** Tokens billed in this run for this item. */
  usage: TokenUsage;
  /** Estimated USD cost in this run for this item. */
  costUsd: number;
}

/** What a labelling run did. */
export interface LabelRunReport {
  /** One result per item, in input order. */
  results: LabelResult[];
  /** HTTP calls made. */
  calls: number;
  /** Items served from the cache. */
  cached: number;
  /** Items labelled by the API in this run. */
  labelled: number;
  /** Items that failed. */
  failed: number;
  /** Tokens billed in this run. */
  usage: TokenUsage;
  /** Estimated USD cost of this run. */
  costUsd: number;
  /** Wall-clock seconds. */
  seconds: number;
}

/** Options for {@linkcode createLabelClient}. */
export interface LabelClientOptions {
  /** API base URL. Default: OpenAI's. */
  baseURL?: string;
  /** API key. Default: `OPENAI_API_KEY`. */
  apiKey?: string;
  /** Time-out of one HTTP call in ms. Default 120000. */
  timeoutMs?: number;
}

/** The API key a run will use, or a clear error naming what is missing. */
export function resolveApiKey(options: { baseURL?: string; apiKey?: string }): string {
  const key = options.apiKey ?? envKey();
  if (key) return key;
  if (options.baseURL) return "sk-local-judge-no-key-needed";
  throw new Error(
    "labeller: Expected an OpenAI API key in the OPENAI_API_KEY environment variable (or " +
      "--base-url of an OpenAI-compatible server such as `deno task judge`) but found neither",
  );
}

function envKey(): string | undefined {
  try {
    return Deno.env.get("OPENAI_API_KEY") || undefined;
  } catch {
    return undefined; // no --allow-env: behave as unset
  }
}

/**
 * Creates the `openai` client the labeller uses: no built-in retries (the
 * labeller retries itself, so it can count attempts and honour `Retry-After`).
 *
 * @example
 * ```ts
 * import { createLabelClient } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const client = createLabelClient({ baseURL: "http://127.0.0.1:9/v1", apiKey: "sk-test" });
 * assert.equal(client.maxRetries, 0);
 * ```
 */
export function createLabelClient(options: LabelClientOptions = {}): OpenAI {
  return new OpenAI({
    apiKey: resolveApiKey(options),
    baseURL: options.baseURL,
    maxRetries: 0,
    timeout: options.timeoutMs ?? 120_000,
  });
}

/**
 * Labels `items` (videos with prompts) and returns one result per item. A
 * failing item never fails the run: its result carries an `error`. Cached
 * items make no call.
 *
 * @example
 * ```ts
 * import { labelVideos, parsePrompt, renderClip, startJudgeServer } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const server = startJudgeServer({ port: 0 });
 * const text = "one red circle moving left slowly on a black background";
 * const { video } = renderClip(parsePrompt(text), { seed: 1 });
 * const report = await labelVideos([{ video, prompt: text }], { baseURL: server.url, quiet: true });
 * assert.equal(report.labelled, 1);
 * assert.equal(report.results[0].labels?.patches.length, 64);
 * await server.close();
 * ```
 */
export async function labelVideos(
  items: readonly LabelItem[],
  options: LabellerOptions = {},
): Promise<LabelRunReport> {
  const where = "labelVideos";
  if (!Array.isArray(items)) fail(where, "an array of {video, prompt}", items);
  const started = performance.now();
  const grid = options.grid ?? DEFAULT_GRID;
  const model = options.model ?? "gpt-4o";
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    fail(where, "concurrency ≥ 1", concurrency);
  }
  const retry = resolveRetry(options.retry);
  const apiKey = resolveApiKey(options);
  const client = new OpenAI({
    apiKey,
    baseURL: options.baseURL,
    maxRetries: 0,
    timeout: retry.timeoutMs,
  });
  const cache = typeof options.cache === "string"
    ? await LabelCache.open(options.cache)
    : options.cache;
  const variant = requestVariant(options);
  const keys = await Promise.all(
    items.map((item) => labelCacheKey(item.video, { prompt: item.prompt, grid, model, variant })),
  );
  const results = new Array<LabelResult>(items.length);
  let calls = 0;
  let cost = 0;
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0 };
  const initial = cache ? keys.filter((k) => cache.has(k)).length : 0;
  const progress = new Progress(items.length, {
    label: options.progressLabel ?? "label",
    unit: "videos",
    quiet: options.quiet ?? false,
  });
  let failed = 0;
  const finish = (i: number, result: LabelResult): void => {
    results[i] = result;
    if (result.error) failed++;
    progress.tick(1, {
      cost: `$${cost.toFixed(4)}`,
      cached: initial,
      failed,
    });
    options.onItem?.(result, i);
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const item = items[i];
      const key = keys[i];
      const base = { key, source: item.video.source, prompt: item.prompt };
      const hit = cache?.get(key);
      if (hit) {
        finish(i, {
          ...base,
          labels: hit.labels,
          attempts: 0,
          cached: true,
          usage: { promptTokens: 0, completionTokens: 0 },
          costUsd: 0,
        });
        continue;
      }
      let body: LabelRequestBody;
      try {
        body = buildLabelRequest(item.video, item.prompt, grid, { ...options, model });
      } catch (error) {
        finish(i, { ...base, ...zero(), error: scrub((error as Error).message, apiKey) });
        continue;
      }
      const outcome = await callWithRetry(client, body, grid, item.video.numFrames, retry, apiKey);
      calls += outcome.attempts;
      usage.promptTokens += outcome.usage.promptTokens;
      usage.completionTokens += outcome.usage.completionTokens;
      const itemCost = estimateCost(model, outcome.usage, { prices: options.prices });
      cost += itemCost;
      if (outcome.labels && cache) {
        const record: LabelRecord = {
          key,
          protocol: PROTOCOL_VERSION,
          model,
          grid: formatGrid(grid),
          prompt: item.prompt,
          source: item.video.source,
          labels: outcome.labels,
          usage: outcome.usage,
          costUsd: itemCost,
        };
        await cache.put(record);
      }
      finish(i, {
        ...base,
        labels: outcome.labels,
        error: outcome.error,
        attempts: outcome.attempts,
        cached: false,
        usage: outcome.usage,
        costUsd: itemCost,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const cachedCount = results.filter((r) => r.cached).length;
  return {
    results,
    calls,
    cached: cachedCount,
    labelled: results.filter((r) => !r.cached && r.labels).length,
    failed,
    usage,
    costUsd: cost,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Labels one video and returns its labels; throws the item's error if it
 * failed after its retries. A thin wrapper over {@linkcode labelVideos}.
 */
export async function labelVideo(
  item: LabelItem,
  options: LabellerOptions = {},
): Promise<VideoLabels> {
  const report = await labelVideos([item], { quiet: true, ...options, concurrency: 1 });
  const result = report.results[0];
  if (!result.labels) throw new Error(result.error ?? "labelVideo: no labels");
  return result.labels;
}

/**
 * The options that change the request besides prompt, grid and model (for the
 * cache key). Settings at their first defaults (PNG, high detail, the sheet at
 * its own size) add nothing, so caches made before they existed stay valid.
 */
export function requestVariant(options: LabelRequestOptions): string {
  let variant = `fps=${options.framesPerSegment ?? 4};side=${options.frameSide ?? 128}`;
  if ((options.imageFormat ?? "png") !== "png") {
    variant += `;img=${options.imageFormat}@${options.jpegQuality ?? 90}`;
  }
  if ((options.detail ?? "high") !== "high") variant += `;detail=${options.detail}`;
  if (options.sheetSide) variant += `;sheet=${options.sheetSide}`;
  return variant;
}

function zero(): Pick<LabelResult, "attempts" | "cached" | "usage" | "costUsd"> {
  return {
    attempts: 0,
    cached: false,
    usage: { promptTokens: 0, completionTokens: 0 },
    costUsd: 0,
  };
}

function resolveRetry(policy: RetryPolicy = {}): Required<RetryPolicy> {
  const out = {
    maxAttempts: policy.maxAttempts ?? 5,
    baseDelayMs: policy.baseDelayMs ?? 500,
    maxDelayMs: policy.maxDelayMs ?? 30_000,
    timeoutMs: policy.timeoutMs ?? 120_000,
  };
  if (!Number.isInteger(out.maxAttempts) || out.maxAttempts < 1) {
    fail("RetryPolicy", "maxAttempts ≥ 1", out.maxAttempts);
  }
  return out;
}

interface CallOutcome {
  labels?: VideoLabels;
  error?: string;
  attempts: number;
  usage: TokenUsage;
}

/** Why a failed attempt failed, and whether another attempt may help. */
export interface FailureKind {
  /** Worth another attempt. */
  retry: boolean;
  /** Server-requested wait in ms (`Retry-After` / `retry-after-ms`), if any. */
  waitMs?: number;
  /** One-line description. */
  message: string;
}

/**
 * Classifies an error thrown by a call: 408/409/429/5xx, time-outs, connection
 * errors and invalid answers are retried; any other 4xx (a bad request, a bad
 * key) is not, since repeating it would fail the same way.
 */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof LabelValidationError) return { retry: true, message: error.message };
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return { retry: true, message: "request timed out" };
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return { retry: true, message: `connection error: ${error.message}` };
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    const retry = status === 408 || status === 409 || status === 429 || status >= 500;
    return {
      retry,
      waitMs: retryAfterMs(error.headers),
      message: `HTTP ${status}: ${error.message}`,
    };
  }
  return { retry: false, message: error instanceof Error ? error.message : String(error) };
}

/** The wait a response asks for, from `retry-after-ms` or `Retry-After` (seconds or a date). */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.get("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get("retry-after");
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

async function callWithRetry(
  client: OpenAI,
  body: LabelRequestBody,
  grid: PatchGrid,
  numFrames: number,
  retry: Required<RetryPolicy>,
  apiKey: string,
): Promise<CallOutcome> {
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0 };
  let last = "";
  for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
    let kind: FailureKind;
    try {
      // deno-lint-ignore no-explicit-any
      const completion = await client.chat.completions.create(body as any);
      usage.promptTokens += completion.usage?.prompt_tokens ?? estimateRequestTokens(body);
      usage.completionTokens += completion.usage?.completion_tokens ?? 0;
      const text = completion.choices?.[0]?.message?.content ?? "";
      const labels = parseLabelAnswer(text, grid, numFrames);
      return { labels, attempts: attempt, usage };
    } catch (error) {
      kind = classifyFailure(error);
    }
    last = scrub(kind.message, apiKey);
    if (!kind.retry || attempt === retry.maxAttempts) {
      return {
        error: `${last} (after ${attempt} attempt${attempt > 1 ? "s" : ""})`,
        attempts: attempt,
        usage,
      };
    }
    const backoff = retry.baseDelayMs * 2 ** (attempt - 1) * (0.75 + 0.5 * Math.random());
    await sleep(Math.min(retry.maxDelayMs, kind.waitMs ?? backoff));
  }
  return { error: last, attempts: retry.maxAttempts, usage };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Removes `secret` and anything shaped like an API key from `text`. */
export function scrub(text: string, secret?: string): string {
  let out = String(text);
  if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  return out.replace(/\bsk-[A-Za-z0-9_*\-]{6,}/g, "sk-[redacted]");
}
