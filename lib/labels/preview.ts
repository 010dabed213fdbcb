/**
 * The cost and size preview of a labelling run (`deno task label --dry-run`):
 * builds the very requests a run would send — for every video, or an evenly
 * spread sample that stands for a larger set — and reports the number of
 * requests and Batch API input files under the per-file limits, their bytes,
 * the estimated tokens and the estimated dollars on the Batch API and on the
 * direct path. Nothing is sent. Requests are built as the Batch API path
 * builds them (`BATCH_REQUEST_DEFAULTS` under the options).
 *
 * Input tokens follow OpenAI's published image rule ({@linkcode estimateRequestTokens});
 * output tokens are estimated as the JSON answer a full label takes (every
 * patch's scores, 10% allowance for defect reasons) at 4 characters a token.
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import {
  type BatchLimits,
  batchLine,
  planBatchFiles,
  resolveBatchLimits,
  utf8Bytes,
} from "./batch_plan.ts";
import { estimateCost, estimateRequestTokens, type LabelItem } from "./label.ts";
import { estimateAnswerTokens } from "./cost.ts";
import type { LabelItemSource } from "./batch.ts";
import { withBatchDefaults } from "./batch_plan.ts";
import { buildLabelRequest, type LabelRequestOptions } from "./protocol.ts";
import { DEFAULT_GRID, type PatchGrid } from "../videos/patch.ts";

/** Options of {@linkcode previewLabelling}. */
export interface LabelPreviewOptions extends LabelRequestOptions, BatchLimits {
  /** Patch grid. Default 4×4×4. */
  grid?: PatchGrid;
  /** Videos to plan for; the measured ones stand for all of them. Default: every item. */
  count?: number;
  /** Requests to build and measure, spread evenly over the items. Default: every item. */
  sample?: number;
  /** Price table. Default `PRICES`. */
  prices?: Readonly<Record<string, { input: number; output: number }>>;
}

/** What a labelling run would send and cost. */
export interface LabelPreview {
  /** Model priced. */
  model: string;
  /** Videos planned for (one request each). */
  videos: number;
  /** Requests actually built and measured. */
  measured: number;
  /** Batch API input files needed under the limits. */
  files: number;
  /** The limits planned under. */
  limits: Required<BatchLimits>;
  /** Requests and bytes of the largest file. */
  largestFile: { requests: number; bytes: number };
  /** Bytes of all input files together. */
  bytes: number;
  /** Bytes of one request line: mean, min and max over the measured ones. */
  requestBytes: { mean: number; min: number; max: number };
  /** Requests too large for any input file. */
  tooLarge: number;
  /** Estimated tokens of one video: input (text and images) and output. */
  tokensPerVideo: { input: number; output: number };
  /** Estimated tokens of the whole run. */
  tokens: { input: number; output: number };
  /** Estimated USD on the Batch API (half price). */
  costBatchUsd: number;
  /** Estimated USD on the direct path. */
  costDirectUsd: number;
}

/**
 * Plans a labelling run without sending anything.
 *
 * @example
 * ```ts
 * import { parsePrompt, previewLabelling, renderClip } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const text = "one red circle moving left slowly on a black background";
 * const { video } = renderClip(parsePrompt(text), { seed: 1 });
 * const plan = await previewLabelling([{ video, prompt: text }], { count: 100_000 });
 * assert.equal(plan.videos, 100_000);
 * assert.equal(plan.measured, 1);
 * assert.ok(plan.files >= 2 && plan.largestFile.requests <= 50_000);
 * assert.ok(plan.costBatchUsd > 0 && plan.costDirectUsd === 2 * plan.costBatchUsd);
 * ```
 */
export async function previewLabelling(
  items: readonly LabelItem[] | LabelItemSource,
  options: LabelPreviewOptions = {},
): Promise<LabelPreview> {
  const where = "previewLabelling";
  options = withBatchDefaults(options);
  const source: LabelItemSource = Array.isArray(items)
    ? { count: items.length, load: (i) => Promise.resolve(items[i]) }
    : items as LabelItemSource;
  if (!Number.isInteger(source?.count) || source.count < 1) {
    fail(where, "at least one item", source?.count);
  }
  const count = checkInt(where, "count", options.count ?? source.count, 1);
  const sample = checkInt(
    where,
    "sample",
    Math.min(options.sample ?? source.count, source.count),
    1,
  );
  const grid = options.grid ?? DEFAULT_GRID;
  const model = options.model ?? "gpt-4o";
  const limits = resolveBatchLimits(options);
  const sizes: number[] = [];
  const input: number[] = [];
  const output: number[] = [];
  for (let k = 0; k < sample; k++) {
    const i = Math.floor(k * source.count / sample);
    const item = await source.load(i);
    const body = buildLabelRequest(item.video, item.prompt, grid, { ...options, model });
    sizes.push(utf8Bytes(batchLine("0".repeat(64), body)) + 1); // keys are 64 hex digits
    input.push(estimateRequestTokens(body));
    output.push(estimateAnswerTokens(grid, item.video.numFrames));
  }
  const planned = Float64Array.from(
    { length: count },
    (_, j) => sizes[Math.floor(j * sample / count)],
  );
  const plan = planBatchFiles(planned, limits);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const perVideo = { input: Math.round(mean(input)), output: Math.round(mean(output)) };
  const tokens = { input: perVideo.input * count, output: perVideo.output * count };
  const usage = { promptTokens: tokens.input, completionTokens: tokens.output };
  const largest = plan.files.reduce(
    (a, f) => f.bytes > a.bytes ? { requests: f.items.length, bytes: f.bytes } : a,
    { requests: 0, bytes: 0 },
  );
  return {
    model,
    videos: count,
    measured: sample,
    files: plan.files.length,
    limits,
    largestFile: largest,
    bytes: plan.files.reduce((a, f) => a + f.bytes, 0),
    requestBytes: { mean: mean(sizes), min: Math.min(...sizes), max: Math.max(...sizes) },
    tooLarge: plan.tooLarge.length,
    tokensPerVideo: perVideo,
    tokens,
    costBatchUsd: estimateCost(model, usage, { batch: true, prices: options.prices }),
    costDirectUsd: estimateCost(model, usage, { prices: options.prices }),
  };
}

/** The preview as the lines `deno task label --dry-run` prints. */
export function formatPreview(p: LabelPreview): string {
  const mb = (b: number) =>
    b < 1e6
      ? `${(b / 1e3).toFixed(1)} kB`
      : b < 1e9
      ? `${(b / 1e6).toFixed(1)} MB`
      : `${(b / 1e9).toFixed(2)} GB`;
  const money = (v: number) =>
    `$${v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const n = (v: number) => v.toLocaleString("en-US");
  const within = p.largestFile.requests <= p.limits.maxRequestsPerFile &&
    p.largestFile.bytes <= p.limits.maxBytesPerFile && p.tooLarge === 0;
  return [
    `plan for ${n(p.videos)} videos (${n(p.measured)} requests built and measured${
      p.measured < p.videos ? ", standing for the rest" : ""
    }), model ${p.model}; nothing was sent`,
    `requests:    ${n(p.videos)}, ${mb(p.requestBytes.mean)} each on average ` +
    `(${mb(p.requestBytes.min)}–${mb(p.requestBytes.max)})`,
    `batch files: ${n(p.files)} (limits: ${n(p.limits.maxRequestsPerFile)} requests and ` +
    `${mb(p.limits.maxBytesPerFile)} per file); largest ${n(p.largestFile.requests)} requests, ` +
    `${mb(p.largestFile.bytes)}; ${mb(p.bytes)} in all` +
    (p.tooLarge ? `; ${n(p.tooLarge)} requests larger than a whole file` : ""),
    `tokens:      ${n(p.tokensPerVideo.input)} input + ${n(p.tokensPerVideo.output)} output ` +
    `per video (estimated); ${n(p.tokens.input)} + ${n(p.tokens.output)} in all`,
    `cost:        ${money(p.costBatchUsd)} on the Batch API, ${
      money(p.costDirectUsd)
    } direct (estimated, list prices in lib/labels/cost.ts)`,
    within ? "within the Batch API's limits" : "NOT within the limits: see above",
  ].join("\n");
}
