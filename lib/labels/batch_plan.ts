/**
 * Batch API limits and how requests are split into input files under them.
 * OpenAI's Batch API takes at most 50,000 requests and 200 MB per input file
 * (platform.openai.com/docs/guides/batch); the labeller packs its request lines
 * into as few files as fit both limits, in input order, and the judge server
 * enforces the same limits on `/v1/files` and `/v1/batches`.
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import type { LabelRequestOptions } from "./protocol.ts";

/** The per-file limits of a Batch API input file. */
export interface BatchLimits {
  /** Request lines per input file. Default 50,000. */
  maxRequestsPerFile?: number;
  /**
   * Bytes per input file (UTF-8, newlines included). Default 200,000,000: the
   * API's "200 MB", read as decimal megabytes so it holds however it is meant.
   */
  maxBytesPerFile?: number;
}

/** The API's limits (see {@linkcode BatchLimits}). */
export const BATCH_LIMITS: Readonly<Required<BatchLimits>> = Object.freeze({
  maxRequestsPerFile: 50_000,
  maxBytesPerFile: 200_000_000,
});

/** Fills in the defaults of `limits` and validates them. */
export function resolveBatchLimits(limits: BatchLimits = {}): Required<BatchLimits> {
  const where = "BatchLimits";
  return {
    maxRequestsPerFile: checkInt(
      where,
      "maxRequestsPerFile",
      limits.maxRequestsPerFile ?? BATCH_LIMITS.maxRequestsPerFile,
      1,
    ),
    maxBytesPerFile: checkInt(
      where,
      "maxBytesPerFile",
      limits.maxBytesPerFile ?? BATCH_LIMITS.maxBytesPerFile,
      1,
    ),
  };
}

/** One planned input file: which requests go in it and its size. */
export interface FilePlan {
  /** Indices (into the sizes given to {@linkcode planBatchFiles}) of its requests, ascending. */
  items: number[];
  /** Its size in bytes. */
  bytes: number;
}

/**
 * Packer that places request lines into input files in arrival order: a line
 * goes into the current file if both limits still hold, else it opens the next
 * file. A line larger than a whole file can never be sent: `add` returns -1.
 *
 * @example
 * ```ts
 * import { FilePacker } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const packer = new FilePacker({ maxRequestsPerFile: 2, maxBytesPerFile: 100 });
 * assert.deepEqual([60, 30, 30, 30, 500].map((b) => packer.add(b)), [0, 0, 1, 1, -1]);
 * ```
 */
export class FilePacker {
  #limits: Required<BatchLimits>;
  #count = 0;
  #bytes = 0;
  #file = -1;

  /** A packer under `limits` (the API's by default). */
  constructor(limits: BatchLimits = {}) {
    this.#limits = resolveBatchLimits(limits);
  }

  /** Whether a line of `bytes` would open a new file (true before the first line). */
  wouldOpen(bytes: number): boolean {
    return this.#file < 0 || this.#count + 1 > this.#limits.maxRequestsPerFile ||
      this.#bytes + bytes > this.#limits.maxBytesPerFile;
  }

  /** Places a line of `bytes`; returns its file index, or -1 if it fits in no file. */
  add(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 1) fail("FilePacker.add", "a byte count ≥ 1", bytes);
    if (bytes > this.#limits.maxBytesPerFile) return -1;
    if (this.wouldOpen(bytes)) {
      this.#file++;
      this.#count = 0;
      this.#bytes = 0;
    }
    this.#count++;
    this.#bytes += bytes;
    return this.#file;
  }

  /** Files opened so far. */
  get files(): number {
    return this.#file + 1;
  }
}

/**
 * Splits request lines of the given byte sizes into input files under `limits`,
 * in order (see {@linkcode FilePacker}). Lines too large for any file are
 * returned in `tooLarge`.
 *
 * @example
 * ```ts
 * import { planBatchFiles } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const plan = planBatchFiles([40, 40, 40], { maxRequestsPerFile: 10, maxBytesPerFile: 100 });
 * assert.deepEqual(plan.files.map((f) => f.items), [[0, 1], [2]]);
 * ```
 */
export function planBatchFiles(
  sizes: ArrayLike<number>,
  limits: BatchLimits = {},
): { files: FilePlan[]; tooLarge: number[] } {
  const packer = new FilePacker(limits);
  const files: FilePlan[] = [];
  const tooLarge: number[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const file = packer.add(sizes[i]);
    if (file < 0) {
      tooLarge.push(i);
      continue;
    }
    if (file === files.length) files.push({ items: [], bytes: 0 });
    files[file].items.push(i);
    files[file].bytes += sizes[i];
  }
  return { files, tooLarge };
}

/**
 * One line of a Batch API input file: a chat completion request under its `custom_id`.
 *
 * @example
 * ```ts
 * import { batchLine } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * assert.equal(JSON.parse(batchLine("k1", { model: "gpt-4o" })).url, "/v1/chat/completions");
 * ```
 */
export function batchLine(customId: string, body: unknown): string {
  return JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/chat/completions", body });
}

/** Bytes of `text` in UTF-8 (what a JSONL line weighs in an input file). */
export function utf8Bytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * The request settings of the Batch API path unless options say otherwise,
 * chosen from the table of `deno task label-settings` (README, "Labelling at
 * scale"): frames at 96 px keep every strip within one 512 px tile, so at
 * `detail: "low"` (85 tokens an image) the model still sees every pixel; the
 * reference sheet at 120 px a frame. On ShapesWorld clips that is 1,310 input
 * tokens a video instead of 3,182 with the same agreement with the reference
 * judge, and PNG stays smaller than JPEG there. The direct path keeps the
 * first defaults, with which the shipped labels and reward models were made.
 */
export const BATCH_REQUEST_DEFAULTS: Readonly<LabelRequestOptions> = Object.freeze({
  frameSide: 96,
  detail: "low",
  sheetSide: 120,
});

/** `options` over {@linkcode BATCH_REQUEST_DEFAULTS}; options set to `undefined` keep the default. */
export function withBatchDefaults<T extends LabelRequestOptions>(options: T): T {
  const out: Record<string, unknown> = { ...BATCH_REQUEST_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as T;
}
