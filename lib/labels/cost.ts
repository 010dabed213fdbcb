/**
 * What labelling costs: the price table, token estimates that follow OpenAI's
 * published rules, and a {@linkcode CostBudget} that stops a run before it
 * spends more than a limit (`deno task label --max-cost`).
 * @module
 */

import { fail } from "../core/_errors.ts";
import { imageUrlSize } from "./images.ts";
import type { LabelRequestBody } from "./protocol.ts";
import { ASPECTS } from "../videos/scores.ts";
import { numPatches, type PatchGrid, patchId } from "../videos/patch.ts";

/**
 * USD per million tokens. Reconstruction of OpenAI's published list prices at
 * the time of writing (gpt-4o 2024-08-06: $2.50 in / $10.00 out; gpt-4o-mini:
 * $0.15 / $0.60; the Batch API halves both). Check openai.com/api/pricing and
 * pass your own table through `LabellerOptions.prices` when they change.
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
 * import { imageTokens } from "@halo/kit/labels";
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

/**
 * Estimated output tokens of one label: the JSON answer with every patch's
 * scores, plus 10% for defect reasons, at 4 characters a token.
 *
 * @example
 * ```ts
 * import { estimateAnswerTokens } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const t = estimateAnswerTokens({ rows: 4, cols: 4, framesPerPatch: 4 }, 16);
 * assert.ok(t > 1000 && t < 2000);
 * ```
 */
export function estimateAnswerTokens(grid: PatchGrid, numFrames: number): number {
  const scores = Object.fromEntries(ASPECTS.map((a) => [a, 4]));
  const patches = Array.from(
    { length: numPatches(grid, numFrames) },
    (_, i) => ({ id: patchId(grid, i), ...scores, reason: "" }),
  );
  return Math.ceil(1.1 * JSON.stringify({ video: scores, patches }).length / 4);
}

/** Options of a {@linkcode CostBudget}. */
export interface CostBudgetOptions extends CostOptions {
  /** Model whose prices apply. */
  model: string;
  /** Most USD the run may spend; undefined means no limit. */
  limitUsd?: number;
}

/**
 * A spending limit shared by the concurrent calls of one labelling run. Each
 * call first reserves its estimated cost ({@linkcode CostBudget.reserve}); a
 * reservation that would take spent plus reserved past the limit is refused,
 * and from then on every reservation is, so the run stops cleanly instead of
 * trickling on with cheaper items. When the call ends, {@linkcode CostBudget.settle}
 * replaces the reservation with what it was billed.
 *
 * @example
 * ```ts
 * import { CostBudget } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const budget = new CostBudget({ model: "gpt-4o", limitUsd: 0.01 });
 * const call = { promptTokens: 2000, completionTokens: 200 }; // $0.007
 * const first = budget.reserve(call);
 * assert.notEqual(first, null);
 * assert.equal(budget.reserve(call), null); // 0.014 > 0.01: refused, and the budget stops
 * budget.settle(first!, call);
 * assert.equal(budget.stopped, true);
 * assert.equal(budget.spentUsd.toFixed(3), "0.007");
 * ```
 */
export class CostBudget {
  #model: string;
  #costOptions: CostOptions;
  #limit: number;
  #spent = 0;
  #reserved = 0;
  #stopped = false;

  /** Creates the budget; a limit must be a finite number ≥ 0. */
  constructor(options: CostBudgetOptions) {
    const limit = options.limitUsd ?? Infinity;
    if (options.limitUsd !== undefined && !(Number.isFinite(limit) && limit >= 0)) {
      fail("CostBudget", "limitUsd to be a finite number of USD ≥ 0", options.limitUsd);
    }
    this.#model = options.model;
    this.#costOptions = { batch: options.batch, prices: options.prices };
    this.#limit = limit;
  }

  /** The limit in USD (Infinity when there is none). */
  get limitUsd(): number {
    return this.#limit;
  }

  /** USD billed so far by settled calls. */
  get spentUsd(): number {
    return this.#spent;
  }

  /** Whether a reservation has been refused: the run stops starting calls. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Reserves the cost of a call estimated at `usage`; null (and stopped) if it does not fit. */
  reserve(usage: TokenUsage): number | null {
    if (this.#stopped) return null;
    const cost = estimateCost(this.#model, usage, this.#costOptions);
    if (this.#spent + this.#reserved + cost > this.#limit) {
      this.#stopped = true;
      return null;
    }
    this.#reserved += cost;
    return cost;
  }

  /** Ends a reservation: `billed` is what the call cost. Returns its USD cost. */
  settle(reservation: number, billed: TokenUsage): number {
    this.#reserved = Math.max(0, this.#reserved - reservation);
    const cost = estimateCost(this.#model, billed, this.#costOptions);
    this.#spent += cost;
    return cost;
  }
}
