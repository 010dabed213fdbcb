/**
 * The patch labeller: distils a VLM's patch-level judgements (GPT-4o in the
 * paper) into typed labels, through the `openai` client. Requests follow
 * {@linkcode buildLabelRequest}; whole completions are validated by
 * {@linkcode parseChatCompletion}. Runs items concurrently, retries 429/5xx,
 * time-outs, broken bodies and invalid answers with exponential backoff
 * ({@linkcode callWithRetry}: honouring `Retry-After`, never retrying other
 * 4xx), caches every label the moment it validates (and nothing else), asks
 * once for items that appear twice, counts tokens and estimated cost, and stops
 * cleanly at a spending limit (`maxCostUsd`).
 *
 * The API key is read from the options or `OPENAI_API_KEY` and passed to the
 * client only; it is scrubbed from every error message and never written.
 * @module
 */

import OpenAI from "openai";
import { fail } from "../core/_errors.ts";
import { Progress } from "../core/_progress.ts";
import { LabelCache, labelCacheKey, type LabelRecord } from "./cache.ts";
import {
  CostBudget,
  estimateAnswerTokens,
  estimateRequestTokens,
  type TokenUsage,
} from "./cost.ts";
import {
  buildLabelRequest,
  type LabelRequestBody,
  type LabelRequestOptions,
  parseChatCompletion,
  PROTOCOL_VERSION,
} from "./protocol.ts";
import type { VideoLabels } from "../videos/scores.ts";
import { callWithRetry, resolveRetry, type RetryPolicy, scrub } from "./retry.ts";
import { DEFAULT_GRID, formatGrid, type PatchGrid } from "../videos/patch.ts";
import type { Video } from "../videos/video.ts";

export {
  BATCH_DISCOUNT,
  type CostOptions,
  estimateCost,
  estimateRequestTokens,
  imageTokens,
  PRICES,
  type TokenUsage,
} from "./cost.ts";
export {
  classifyFailure,
  type FailureKind,
  retryAfterMs,
  type RetryPolicy,
  scrub,
} from "./retry.ts";

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
  /**
   * Most USD the run may spend (estimated at the price table). Before each call its
   * cost is estimated and reserved; once a call would pass the limit the run starts
   * no more calls, and the items left get `skipped`. What was labelled is cached, so
   * a rerun with a higher limit pays only for the rest. Default: no limit.
   */
  maxCostUsd?: number;
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
  /** Not labelled because the run's `maxCostUsd` was reached (`error` says so). */
  skipped?: boolean;
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
  /** Items that failed after their retries (budget stops not included). */
  failed: number;
  /** Items left unlabelled because the spending limit was reached. */
  skipped: number;
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
 * import { createLabelClient } from "@halo/kit/labels";
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

/** The labeller's defaults: the model asked and the requests in flight (the tasks' flags show the same). */
export const LABEL_DEFAULTS: Readonly<{ model: string; concurrency: number }> = Object.freeze({
  model: "gpt-4o",
  concurrency: 4,
});

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
  items.forEach((item, i) => {
    if (!(item?.video?.frames instanceof Float32Array)) {
      fail(`${where}: items[${i}].video`, "a Video (createVideo, loadVideo)", item?.video);
    }
    if (typeof item.prompt !== "string") {
      fail(`${where}: items[${i}].prompt`, "a string", item.prompt);
    }
  });
  const started = performance.now();
  const grid = options.grid ?? DEFAULT_GRID;
  const model = options.model ?? LABEL_DEFAULTS.model;
  const concurrency = options.concurrency ?? LABEL_DEFAULTS.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    fail(where, "concurrency ≥ 1", concurrency);
  }
  const retry = resolveRetry(options.retry);
  const limit = options.maxCostUsd;
  if (limit !== undefined && !(typeof limit === "number" && Number.isFinite(limit) && limit >= 0)) {
    fail(where, "maxCostUsd to be a finite number of USD ≥ 0", limit);
  }
  const budget = new CostBudget({ model, prices: options.prices, limitUsd: options.maxCostUsd });
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
    if (result.error && !result.skipped) failed++;
    progress.tick(1, {
      cost: `$${budget.spentUsd.toFixed(4)}`,
      cached: initial,
      failed,
    });
    options.onItem?.(result, i);
  };
  // The first occurrence of a key asks; a repeat of it in the same run waits for that answer.
  const asked = new Map<string, Promise<LabelResult>>();

  const label = async (i: number): Promise<LabelResult> => {
    const item = items[i];
    const key = keys[i];
    const base = { key, source: item.video.source, prompt: item.prompt };
    let body: LabelRequestBody;
    try {
      body = buildLabelRequest(item.video, item.prompt, grid, { ...options, model });
    } catch (error) {
      return { ...base, ...zero(), error: scrub((error as Error).message, apiKey) };
    }
    const outcome = await callWithRetry(client, body, {
      retry,
      secret: apiKey,
      budget,
      parse: (completion) => parseChatCompletion(completion, grid, item.video.numFrames),
      estimate: {
        promptTokens: estimateRequestTokens(body),
        // Half as much again: room for the reasons a model gives for defective patches.
        completionTokens: Math.ceil(1.5 * estimateAnswerTokens(grid, item.video.numFrames)),
      },
    });
    calls += outcome.attempts;
    usage.promptTokens += outcome.usage.promptTokens;
    usage.completionTokens += outcome.usage.completionTokens;
    if (outcome.value && cache) {
      const record: LabelRecord = {
        key,
        protocol: PROTOCOL_VERSION,
        model,
        grid: formatGrid(grid),
        prompt: item.prompt,
        source: item.video.source,
        labels: outcome.value,
        usage: outcome.usage,
        costUsd: outcome.costUsd,
      };
      await cache.put(record);
    }
    return {
      ...base,
      labels: outcome.value,
      error: outcome.error,
      attempts: outcome.attempts,
      cached: false,
      usage: outcome.usage,
      costUsd: outcome.costUsd,
      ...(outcome.stopped ? { skipped: true } : {}),
    };
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const key = keys[i];
      const base = { key, source: items[i].video.source, prompt: items[i].prompt };
      const hit = cache?.get(key);
      const first = asked.get(key);
      if (hit || first) {
        const labels = hit?.labels ?? (await first)?.labels;
        const error = labels ? undefined : (await first)?.error;
        finish(i, { ...base, ...zero(), labels, cached: !!labels, ...(error ? { error } : {}) });
        continue;
      }
      const pending = label(i);
      asked.set(key, pending);
      finish(i, await pending);
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
    skipped: results.filter((r) => r.skipped).length,
    usage,
    costUsd: budget.spentUsd,
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
