/**
 * A GPT-4o-compatible judge server: a real HTTP server on 127.0.0.1 speaking
 * the parts of the OpenAI wire protocol the labeller uses — chat completions
 * with image inputs and `response_format: json_schema`, and the Files and
 * Batches API with the real API's limits ({@linkcode createBatchApi}). It reads
 * the PNG or JPEG images it is sent back into frames
 * ({@linkcode judgeLabelRequest}) and answers from the reference judge with
 * configurable noise, bias, latency and faults, like a real VLM labeller. It
 * never sees ground truth: it judges the pixels it receives.
 * @module
 */

import { fail } from "../../core/_errors.ts";
import { createRng } from "../../core/_rng.ts";
import {
  type ApiReply,
  type BatchApiLimits,
  type BatchApiStats,
  type BatchFate,
  createBatchApi,
} from "./batches.ts";
import { judgeLabelRequest } from "./request.ts";
import { perturbScore } from "./_noise.ts";
import { estimateRequestTokens } from "../label.ts";
import type { LabelRequestBody } from "../protocol.ts";
import { ASPECTS } from "../../videos/scores.ts";

/** A fault the server can inject into a chat completion. */
export type FaultKind = "ok" | "429" | "500" | "slow" | "malformed" | "missing_patch";

/** Every fault kind. */
export const FAULT_KINDS: readonly FaultKind[] = Object.freeze([
  "ok",
  "429",
  "500",
  "slow",
  "malformed",
  "missing_patch",
]);

/** Fault injection of the judge server. */
export interface FaultOptions {
  /** Faults for the next chat requests, in arrival order, before the rates apply. */
  script?: readonly FaultKind[];
  /** Probability of each fault per chat request (after the script runs out). Default 0 each. */
  rates?: Partial<Record<Exclude<FaultKind, "ok">, number>>;
  /** `Retry-After` seconds sent with a 429. Default 1. */
  retryAfterS?: number;
  /** Delay of a "slow" answer, ms. Default 5000. */
  slowMs?: number;
}

/** The defaults of {@linkcode JudgeServerOptions} (`deno task judge` shows the same). */
export const JUDGE_SERVER_DEFAULTS: Readonly<{
  port: number;
  noise: number;
  bias: number;
  latencyMs: number;
  seed: number;
}> = Object.freeze({ port: 8787, noise: 0, bias: 0, latencyMs: 0, seed: 0 });

/** Options for {@linkcode startJudgeServer}. */
export interface JudgeServerOptions {
  /** Port; 0 picks a free one. Default 8787. */
  port?: number;
  /**
   * Standard deviation of Gaussian noise added to every score before rounding.
   * The draws are a function of `seed` and the request's content, not of the
   * order requests arrive in, so a concurrent labelling run, a retry and a
   * rerun all get the same answer for the same video. Default 0.
   */
  noise?: number;
  /** Constant added to every score before rounding (a lenient or harsh labeller). Default 0. */
  bias?: number;
  /** Simulated latency of every chat completion, ms. Default 0. */
  latencyMs?: number;
  /** Fault injection. Default none. */
  faults?: FaultOptions;
  /** Seed of the noise and fault draws. Default 0. */
  seed?: number;
  /** Delay between a batch's status steps, ms. Default 50. */
  batchStepMs?: number;
  /** Limits of the Files and Batches API. Default: the real API's. */
  batchLimits?: BatchApiLimits;
  /** Fate of the 1st, 2nd, … created batch: "ok", "expire" (half done) or "fail". Default all "ok". */
  batchScript?: readonly BatchFate[];
}

/** Request counters of a running server. */
export interface JudgeServerStats extends BatchApiStats {
  /** Chat completion requests received (batch lines not included). */
  chat: number;
  /** Faults injected, by kind ("ok" counts clean answers). */
  faults: Record<FaultKind, number>;
}

/** A running judge server. */
export interface JudgeServer {
  /** Base URL for the `openai` client, ending in `/v1`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Live counters. */
  stats: JudgeServerStats;
  /** Stops the server (in-flight batches are abandoned). */
  close(): Promise<void>;
}

type Reply = ApiReply;

/**
 * Starts the judge server on 127.0.0.1 and returns at once.
 *
 * @example
 * ```ts
 * import OpenAI from "openai";
 * import { startJudgeServer } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const server = startJudgeServer({ port: 0 });
 * const client = new OpenAI({ baseURL: server.url, apiKey: "sk-local" });
 * const file = await client.files.create({ file: new File(["{}\n"], "in.jsonl"), purpose: "batch" });
 * assert.equal((await client.files.retrieve(file.id)).bytes, 3);
 * await server.close();
 * ```
 */
export function startJudgeServer(options: JudgeServerOptions = {}): JudgeServer {
  const where = "startJudgeServer";
  const port = options.port ?? JUDGE_SERVER_DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(where, "a port in [0, 65535]", port);
  }
  const noise = options.noise ?? JUDGE_SERVER_DEFAULTS.noise;
  const bias = options.bias ?? JUDGE_SERVER_DEFAULTS.bias;
  const latencyMs = options.latencyMs ?? JUDGE_SERVER_DEFAULTS.latencyMs;
  if (!(Number.isFinite(noise) && noise >= 0)) fail(where, "a finite noise ≥ 0", noise);
  if (!Number.isFinite(bias)) fail(where, "a finite bias", bias);
  if (!(Number.isFinite(latencyMs) && latencyMs >= 0)) {
    fail(where, "a finite latencyMs ≥ 0", latencyMs);
  }
  const faults = options.faults ?? {};
  for (const kind of faults.script ?? []) {
    if (!FAULT_KINDS.includes(kind)) fail(`${where}: faults.script`, FAULT_KINDS.join("/"), kind);
  }
  const script = [...(faults.script ?? [])];
  const seed = options.seed ?? JUDGE_SERVER_DEFAULTS.seed;
  const rng = createRng(seed);
  const stats: JudgeServerStats = {
    chat: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    files: 0,
    batches: 0,
    batchLines: 0,
    billedIds: new Map(),
    peakLive: 0,
  };
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const controller = new AbortController();
  let counter = 0;
  const newId = (prefix: string): string =>
    `${prefix}_${(++counter).toString(36)}${rng.int(1e9).toString(36)}`;
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const id = setTimeout(() => {
        timers.delete(id);
        resolve();
      }, ms);
      timers.add(id);
    });

  const drawFault = (): FaultKind => {
    if (script.length > 0) return script.shift()!;
    for (const [kind, rate] of Object.entries(faults.rates ?? {})) {
      if (rate && rng.next() < rate) return kind as FaultKind;
    }
    return "ok";
  };

  /** Answers one labelling request body: shared by chat completions and batch lines. */
  const answer = (body: unknown, fault: FaultKind): Reply => {
    let judged;
    try {
      judged = judgeLabelRequest(body);
    } catch (error) {
      return errorReply(400, (error as Error).message, "invalid_request_error");
    }
    const { request, labels } = judged;
    const draws = createRng(contentSeed(seed, request));
    const patches = labels.patches.map((p) => ({
      id: p.id,
      ...Object.fromEntries(ASPECTS.map((a) => [a, perturbScore(p.scores[a], noise, bias, draws)])),
      reason: p.reason,
    }));
    if (fault === "missing_patch" && patches.length > 0) patches.splice(rng.int(patches.length), 1);
    const video = Object.fromEntries(
      ASPECTS.map((a) => [a, perturbScore(labels.video[a], noise, bias, draws)]),
    );
    let content = JSON.stringify({ video, patches });
    if (fault === "malformed") content = content.slice(0, Math.floor(content.length / 2));
    const promptTokens = estimateRequestTokens(request);
    const completionTokens = Math.ceil(content.length / 4);
    return {
      status: 200,
      body: {
        id: newId("chatcmpl"),
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: request.model,
        choices: [{
          index: 0,
          message: { role: "assistant", content, refusal: null },
          finish_reason: "stop",
          logprobs: null,
        }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      },
    };
  };

  const chat = async (req: Request): Promise<Reply> => {
    stats.chat++;
    const fault = drawFault();
    stats.faults[fault]++;
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return errorReply(400, "body: Expected JSON but found invalid JSON", "invalid_request_error");
    }
    if (latencyMs > 0) await sleep(latencyMs);
    if (fault === "429") {
      return {
        ...errorReply(
          429,
          "Rate limit reached (simulated by the judge server)",
          "rate_limit_error",
        ),
        headers: { "retry-after": String(faults.retryAfterS ?? 1) },
      };
    }
    if (fault === "500") return errorReply(500, "Internal error (simulated)", "server_error");
    if (fault === "slow") await sleep(faults.slowMs ?? 5000);
    return answer(body, fault);
  };

  const batchApi = createBatchApi({
    answer: (body) => {
      // Batch lines see the content faults (malformed, missing ids) but not HTTP ones.
      let fault = drawFault();
      if (fault !== "malformed" && fault !== "missing_patch") fault = "ok";
      stats.faults[fault]++;
      return answer(body, fault);
    },
    newId,
    sleep,
    signal: controller.signal,
    stats,
  }, { limits: options.batchLimits, script: options.batchScript, stepMs: options.batchStepMs });

  const route = async (req: Request): Promise<Reply | Response> => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "");
    if (!req.headers.get("authorization")) {
      return errorReply(
        401,
        "Expected an Authorization: Bearer header but found none",
        "invalid_request_error",
      );
    }
    if (req.method === "POST" && path === "/v1/chat/completions") return await chat(req);
    const owned = await batchApi.route(req, path);
    if (owned) return owned;
    return errorReply(404, `Unknown route ${req.method} ${path}`, "invalid_request_error");
  };

  const server = Deno.serve({
    port,
    hostname: "127.0.0.1",
    signal: controller.signal,
    onListen: () => {},
  }, async (req) => {
    let reply: Reply | Response;
    try {
      reply = await route(req);
    } catch (error) {
      // Never echo request headers: they carry the client's key.
      reply = errorReply(500, `judge server: ${(error as Error).message}`, "server_error");
    }
    if (reply instanceof Response) return reply;
    return new Response(JSON.stringify(reply.body), {
      status: reply.status,
      headers: { "content-type": "application/json", ...(reply.headers ?? {}) },
    });
  });
  const bound = (server.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${bound}/v1`,
    port: bound,
    stats,
    close: async () => {
      for (const id of timers) clearTimeout(id);
      timers.clear();
      controller.abort();
      await server.finished;
    },
  };
}

function errorReply(status: number, message: string, type: string): Reply {
  return { status, body: { error: { message, type, param: null, code: null } } };
}

/** A 32-bit seed from the server seed and what the request asks (FNV-1a over model and messages). */
function contentSeed(seed: number, request: LabelRequestBody): number {
  const text = JSON.stringify([request.model, request.messages]);
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Parses `"429:0.1,500:0.05"` into fault rates; errors name the bad entry. */
export function parseFaultRates(spec: string): Partial<Record<Exclude<FaultKind, "ok">, number>> {
  const out: Partial<Record<Exclude<FaultKind, "ok">, number>> = {};
  for (const entry of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [kind, rate] = entry.split(":");
    if (!FAULT_KINDS.includes(kind as FaultKind) || kind === "ok") {
      fail("--faults", `kinds ${FAULT_KINDS.filter((k) => k !== "ok").join("/")}`, kind);
    }
    const r = Number(rate);
    if (!(r >= 0 && r <= 1)) fail(`--faults ${kind}`, "a rate in [0, 1]", rate);
    out[kind as Exclude<FaultKind, "ok">] = r;
  }
  return out;
}
