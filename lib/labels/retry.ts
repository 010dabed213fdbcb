/**
 * One labelling call with retries: what counts as a failure worth another try,
 * how long to wait, and how to keep the API key out of every message.
 *
 * Every attempt runs under one deadline that covers the whole exchange, headers
 * and body (the `openai` client's own time-out stops at the headers, so a body
 * that stalls would otherwise hang the run). An answer is a failure unless it
 * validates: a body cut short or not JSON, a completion of the wrong shape, a
 * refusal, an answer cut at `max_tokens` (`finish_reason` `length`), a content
 * filter stop, content that is not the requested JSON object or has the wrong
 * patches. Those, 408/409/429/5xx, time-outs and connection errors (a reset
 * before or during the body) are retried with exponential backoff, honouring
 * `Retry-After`; any other 4xx is not, since repeating it would fail the same way.
 * @module
 */

import OpenAI from "openai";
import { fail } from "../core/_errors.ts";
import type { CostBudget, TokenUsage } from "./cost.ts";
import { type LabelRequestBody, LabelValidationError } from "./protocol.ts";

/** When and how often to retry a failed call. */
export interface RetryPolicy {
  /** Attempts per item, first one included. Default 5. */
  maxAttempts?: number;
  /** Backoff before the second attempt, doubled each time (with ±25% jitter). Default 500 ms. */
  baseDelayMs?: number;
  /** Longest wait between attempts, `Retry-After` included. Default 30000 ms. */
  maxDelayMs?: number;
  /** Time-out of one HTTP call, response body included. Default 120000 ms. */
  timeoutMs?: number;
}

/** The defaults of {@linkcode RetryPolicy} (`deno task label` shows the same). */
export const RETRY_DEFAULTS: Readonly<Required<RetryPolicy>> = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  timeoutMs: 120_000,
});

/**
 * The policy with its defaults filled in; errors name the bad field.
 *
 * @example
 * ```ts
 * import { resolveRetry } from "@halo/kit/labels";
 * console.log(resolveRetry({ maxAttempts: 3 }).timeoutMs); // 120000
 * ```
 */
export function resolveRetry(policy: RetryPolicy = {}): Required<RetryPolicy> {
  const out = {
    maxAttempts: policy.maxAttempts ?? RETRY_DEFAULTS.maxAttempts,
    baseDelayMs: policy.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs,
    maxDelayMs: policy.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs,
    timeoutMs: policy.timeoutMs ?? RETRY_DEFAULTS.timeoutMs,
  };
  if (!Number.isInteger(out.maxAttempts) || out.maxAttempts < 1 || out.maxAttempts > 100) {
    fail("RetryPolicy", "maxAttempts in [1, 100]", out.maxAttempts);
  }
  for (const name of ["baseDelayMs", "maxDelayMs", "timeoutMs"] as const) {
    if (!(Number.isFinite(out[name]) && out[name] >= 0)) {
      fail("RetryPolicy", `${name} to be a finite number of ms ≥ 0`, out[name]);
    }
  }
  if (out.timeoutMs < 1) fail("RetryPolicy", "timeoutMs ≥ 1", out.timeoutMs);
  return out;
}

/** Why a failed attempt failed, and whether another attempt may help. */
export interface FailureKind {
  /** Worth another attempt. */
  retry: boolean;
  /** Server-requested wait in ms (`Retry-After` / `retry-after-ms`), if any. */
  waitMs?: number;
  /** One-line description. */
  message: string;
  /** Whether a server may have billed the attempt (it was not refused with an HTTP error). */
  billed: boolean;
}

/** An attempt that ran past its deadline, response body included. */
export class AttemptTimeoutError extends Error {
  /** Creates the error for a deadline of `ms`. */
  constructor(ms: number) {
    super(`request timed out after ${ms} ms without a complete answer`);
    this.name = "AttemptTimeoutError";
  }
}

const CONNECTION = /body|connection|network|socket|stream|closed|reset|broken pipe|eof|fetch/i;

/**
 * Classifies an error thrown by a call: 408/409/429/5xx, time-outs, connection
 * errors (also while reading the body), bodies that are not JSON and answers
 * that do not validate are retried; any other 4xx (a bad request, a bad key)
 * is not.
 *
 * @example
 * ```ts
 * import { classifyFailure } from "@halo/kit/labels";
 * console.log(classifyFailure(new SyntaxError("Unterminated string in JSON")).retry); // true
 * console.log(classifyFailure(new Error("a bug")).retry); // false
 * ```
 */
export function classifyFailure(error: unknown): FailureKind {
  if (error instanceof LabelValidationError) {
    return { retry: true, message: error.message, billed: true };
  }
  if (error instanceof AttemptTimeoutError) {
    return { retry: true, message: error.message, billed: true };
  }
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return { retry: true, message: "request timed out without a complete answer", billed: true };
  }
  if (error instanceof OpenAI.APIUserAbortError || isAbort(error)) {
    // The labeller aborts only at its deadline.
    return { retry: true, message: "request timed out (aborted at the deadline)", billed: true };
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return { retry: true, message: `connection error: ${error.message}`, billed: true };
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    const retry = status === 408 || status === 409 || status === 429 || status >= 500;
    return {
      retry,
      waitMs: retryAfterMs(error.headers),
      message: `HTTP ${status}: ${error.message}`,
      billed: false,
    };
  }
  if (error instanceof SyntaxError) {
    return {
      retry: true,
      message: `response body: Expected JSON but found invalid JSON, cut short? (${error.message})`,
      billed: true,
    };
  }
  if (error instanceof TypeError && CONNECTION.test(error.message)) {
    return {
      retry: true,
      message: `connection error while reading the answer: ${error.message}`,
      billed: true,
    };
  }
  return {
    retry: false,
    message: error instanceof Error ? error.message : String(error),
    billed: false,
  };
}

function isAbort(error: unknown): boolean {
  return (error instanceof DOMException || error instanceof Error) &&
    (error.name === "AbortError" || error.name === "TimeoutError");
}

/**
 * The wait a response asks for, from `retry-after-ms` or `Retry-After` (seconds or a date).
 *
 * @example
 * ```ts
 * import { retryAfterMs } from "@halo/kit/labels";
 * console.log(retryAfterMs(new Headers({ "retry-after": "2" }))); // 2000
 * ```
 */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers || typeof headers.get !== "function") return undefined;
  const ms = Number(headers.get("retry-after-ms"));
  if (headers.get("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get("retry-after");
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/**
 * Removes `secret` and anything shaped like an API key from `text`.
 *
 * @example
 * ```ts
 * import { scrub } from "@halo/kit/labels";
 * console.log(scrub("bad key sk-abcdef123456")); // "bad key sk-[redacted]"
 * ```
 */
export function scrub(text: string, secret?: string): string {
  let out = String(text);
  if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  return out.replace(/\bsk-[A-Za-z0-9_*\-]{6,}/g, "sk-[redacted]");
}

/** Options of {@linkcode callWithRetry}. */
export interface CallOptions<T> {
  /** Retry policy (defaults filled in by {@linkcode resolveRetry}). */
  retry: Required<RetryPolicy>;
  /** The API key, scrubbed from every message. */
  secret: string;
  /** Validates a completion into the result; throws a {@linkcode LabelValidationError} when invalid. */
  parse: (completion: unknown) => T;
  /** Estimated tokens of one attempt: reserved in the budget, billed when the usage is unknown. */
  estimate: TokenUsage;
  /** Spending limit shared by the run; an attempt it refuses ends the call with `stopped`. */
  budget?: CostBudget;
}

/** What {@linkcode callWithRetry} returns. */
export interface CallOutcome<T> {
  /** The validated answer, when an attempt succeeded. */
  value?: T;
  /** A one-line error (credentials scrubbed), when every attempt failed or the budget stopped it. */
  error?: string;
  /** HTTP calls made. */
  attempts: number;
  /** Tokens billed (reported usage; the estimate for answers without one). */
  usage: TokenUsage;
  /** USD billed, when a budget kept the account. */
  costUsd: number;
  /** Set when the budget refused an attempt. */
  stopped?: boolean;
}

/**
 * Sends `body` to the chat completions endpoint until an answer validates, the
 * attempts run out, a failure is not worth retrying, or the budget refuses the
 * next attempt. Never throws for a failed call: the outcome carries the error.
 */
export async function callWithRetry<T>(
  client: OpenAI,
  body: LabelRequestBody,
  options: CallOptions<T>,
): Promise<CallOutcome<T>> {
  const { retry, secret, budget, estimate } = options;
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0 };
  let costUsd = 0;
  let last = "";
  for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
    const reservation = budget ? budget.reserve(estimate) : 0;
    if (reservation === null) {
      const spent = `$${budget!.spentUsd.toFixed(4)}`;
      return {
        error: `budget: not labelled, the --max-cost limit $${budget!.limitUsd} was reached ` +
          `(${spent} spent)${last ? `; last failure: ${last}` : ""}`,
        attempts: attempt - 1,
        usage,
        costUsd,
        stopped: true,
      };
    }
    let billed: TokenUsage = { promptTokens: 0, completionTokens: 0 };
    let kind: FailureKind | undefined;
    let value: T | undefined;
    try {
      // The client's own time-out (headers only) is set past the deadline, which covers it all.
      const timeout = 2 * retry.timeoutMs + 1000;
      const completion = await withDeadline(retry.timeoutMs, (signal) =>
        // deno-lint-ignore no-explicit-any
        client.chat.completions.create(body as any, { signal, timeout }));
      billed = reportedUsage(completion) ?? estimate;
      value = options.parse(completion);
    } catch (error) {
      kind = classifyFailure(error);
      if (kind.billed && billed.promptTokens === 0) billed = estimate;
    }
    usage.promptTokens += billed.promptTokens;
    usage.completionTokens += billed.completionTokens;
    if (budget) costUsd += budget.settle(reservation, billed);
    if (!kind) return { value, attempts: attempt, usage, costUsd };
    last = scrub(kind.message, secret);
    if (!kind.retry || attempt === retry.maxAttempts) {
      return {
        error: `${last} (after ${attempt} attempt${attempt > 1 ? "s" : ""})`,
        attempts: attempt,
        usage,
        costUsd,
      };
    }
    const backoff = retry.baseDelayMs * 2 ** (attempt - 1) * (0.75 + 0.5 * Math.random());
    await sleep(Math.min(retry.maxDelayMs, kind.waitMs ?? backoff));
  }
  return { error: last, attempts: retry.maxAttempts, usage, costUsd };
}

/** Runs `fn` with an abort signal, rejecting with {@linkcode AttemptTimeoutError} after `ms`. */
async function withDeadline<T>(ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new AttemptTimeoutError(ms));
      controller.abort();
    }, ms);
  });
  try {
    return await Promise.race([fn(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The usage a completion reports, when it is well formed. */
function reportedUsage(completion: unknown): TokenUsage | undefined {
  const u = (completion as { usage?: Record<string, unknown> } | null)?.usage;
  const p = u?.prompt_tokens, c = u?.completion_tokens;
  if (typeof p !== "number" || typeof c !== "number") return undefined;
  if (!(Number.isFinite(p) && Number.isFinite(c) && p >= 0 && c >= 0)) return undefined;
  return { promptTokens: p, completionTokens: c };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
