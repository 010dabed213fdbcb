/**
 * A GPT-4o-compatible judge server: a real HTTP server on 127.0.0.1 speaking
 * the parts of the OpenAI wire protocol the labeller uses — chat completions
 * with image inputs and `response_format: json_schema`, files (upload,
 * retrieve, content) and batches (create, retrieve; processed in the
 * background). It decodes the PNG images it is sent, rebuilds the frames and
 * the grid from the images and the request text, and answers from the
 * reference judge ({@linkcode judgeVideo}) with configurable noise, bias,
 * latency and faults, like a real VLM labeller. It never sees ground truth:
 * it judges the pixels it receives.
 * @module
 */

import { fail } from "./_errors.ts";
import { createRng, type Rng } from "./_rng.ts";
import type { CliCommand, CliValues } from "./cli.ts";
import { intOption, numberOption } from "./cli.ts";
import { judgeVideo } from "./judge.ts";
import { estimateRequestTokens } from "./label.ts";
import {
  ASPECTS,
  fromBase64,
  type LabelRequestBody,
  parseGridTag,
  parsePromptLine,
  parseStripTag,
  SCORE_MAX,
  SCORE_MIN,
  type StripLayout,
} from "./label_protocol.ts";
import { decodePng } from "./png.ts";
import { createVideo, type Video } from "./video.ts";

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
}

/** Request counters of a running server. */
export interface JudgeServerStats {
  /** Chat completion requests received (batch lines not included). */
  chat: number;
  /** Faults injected, by kind ("ok" counts clean answers). */
  faults: Record<FaultKind, number>;
  /** Files uploaded. */
  files: number;
  /** Batches created. */
  batches: number;
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

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

interface StoredFile {
  id: string;
  bytes: Uint8Array;
  filename: string;
  purpose: string;
  created_at: number;
}

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
  const port = options.port ?? 8787;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(where, "a port in [0, 65535]", port);
  }
  const noise = options.noise ?? 0;
  const bias = options.bias ?? 0;
  const latencyMs = options.latencyMs ?? 0;
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
  const seed = options.seed ?? 0;
  const rng = createRng(seed);
  const stats: JudgeServerStats = {
    chat: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    files: 0,
    batches: 0,
  };
  const files = new Map<string, StoredFile>();
  const batches = new Map<string, Record<string, unknown>>();
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
      judged = judgeRequest(body);
    } catch (error) {
      return errorReply(400, (error as Error).message, "invalid_request_error");
    }
    const { request, labels } = judged;
    const draws = createRng(contentSeed(seed, request));
    const patches = labels.patches.map((p) => ({
      id: p.id,
      ...Object.fromEntries(ASPECTS.map((a) => [a, perturb(p.scores[a], noise, bias, draws)])),
      reason: p.reason,
    }));
    if (fault === "missing_patch" && patches.length > 0) patches.splice(rng.int(patches.length), 1);
    const video = Object.fromEntries(
      ASPECTS.map((a) => [a, perturb(labels.video[a], noise, bias, draws)]),
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

  const uploadFile = async (req: Request): Promise<Reply> => {
    let form: FormData;
    try {
      form = await req.formData();
    } catch {
      return errorReply(400, "files: Expected multipart/form-data", "invalid_request_error");
    }
    const file = form.get("file");
    if (!(file instanceof File)) {
      return errorReply(400, "files: Expected a 'file' field", "invalid_request_error");
    }
    const stored: StoredFile = {
      id: newId("file"),
      bytes: new Uint8Array(await file.arrayBuffer()),
      filename: file.name || "upload",
      purpose: String(form.get("purpose") ?? "batch"),
      created_at: Math.floor(Date.now() / 1000),
    };
    files.set(stored.id, stored);
    stats.files++;
    return { status: 200, body: fileObject(stored) };
  };

  const createBatch = async (req: Request): Promise<Reply> => {
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return errorReply(400, "batches: Expected JSON", "invalid_request_error");
    }
    const input = files.get(String(body.input_file_id));
    if (!input) {
      return errorReply(
        400,
        `batches: Expected an uploaded input_file_id but found ${
          JSON.stringify(body.input_file_id)
        }`,
        "invalid_request_error",
      );
    }
    if (body.endpoint !== "/v1/chat/completions") {
      return errorReply(
        400,
        `batches: Expected endpoint "/v1/chat/completions" but found ${
          JSON.stringify(body.endpoint)
        }`,
        "invalid_request_error",
      );
    }
    const now = Math.floor(Date.now() / 1000);
    const batch: Record<string, unknown> = {
      id: newId("batch"),
      object: "batch",
      endpoint: body.endpoint,
      errors: null,
      input_file_id: input.id,
      completion_window: body.completion_window ?? "24h",
      status: "validating",
      output_file_id: null,
      error_file_id: null,
      created_at: now,
      in_progress_at: null,
      expires_at: now + 86400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: body.metadata ?? null,
    };
    batches.set(batch.id as string, batch);
    stats.batches++;
    runBatch(batch, input).catch(() => {
      batch.status = "failed";
      batch.failed_at = Math.floor(Date.now() / 1000);
    });
    return { status: 200, body: batch };
  };

  const runBatch = async (batch: Record<string, unknown>, input: StoredFile): Promise<void> => {
    const step = options.batchStepMs ?? 50;
    await sleep(step);
    const lines = new TextDecoder().decode(input.bytes).split("\n").filter((l) => l.trim() !== "");
    const parsed: Array<{ custom_id: string; body: unknown } | null> = lines.map((line) => {
      try {
        const v = JSON.parse(line);
        return v && typeof v.custom_id === "string"
          ? { custom_id: v.custom_id, body: v.body }
          : null;
      } catch {
        return null;
      }
    });
    if (parsed.some((p) => p === null)) {
      batch.status = "failed";
      batch.errors = {
        object: "list",
        data: [{
          code: "invalid_json_line",
          message: "Expected JSONL lines with custom_id and body",
        }],
      };
      batch.failed_at = Math.floor(Date.now() / 1000);
      return;
    }
    batch.status = "in_progress";
    batch.in_progress_at = Math.floor(Date.now() / 1000);
    const counts = batch.request_counts as { total: number; completed: number; failed: number };
    counts.total = parsed.length;
    const out: string[] = [];
    const errs: string[] = [];
    for (const item of parsed as Array<{ custom_id: string; body: unknown }>) {
      if (controller.signal.aborted) return;
      // Batch lines see the content faults (malformed, missing ids) but not HTTP ones.
      let fault = drawFault();
      if (fault !== "malformed" && fault !== "missing_patch") fault = "ok";
      stats.faults[fault]++;
      const reply = answer(item.body, fault);
      const line = JSON.stringify({
        id: newId("batch_req"),
        custom_id: item.custom_id,
        response: { status_code: reply.status, request_id: newId("req"), body: reply.body },
        error: null,
      });
      if (reply.status === 200) {
        out.push(line);
        counts.completed++;
      } else {
        errs.push(line);
        counts.failed++;
      }
      await sleep(0);
    }
    batch.status = "finalizing";
    batch.finalizing_at = Math.floor(Date.now() / 1000);
    await sleep(step);
    const store = (text: string, name: string): string => {
      const f: StoredFile = {
        id: newId("file"),
        bytes: new TextEncoder().encode(text),
        filename: name,
        purpose: "batch_output",
        created_at: Math.floor(Date.now() / 1000),
      };
      files.set(f.id, f);
      return f.id;
    };
    batch.output_file_id = out.length ? store(out.join("\n") + "\n", "output.jsonl") : null;
    batch.error_file_id = errs.length ? store(errs.join("\n") + "\n", "errors.jsonl") : null;
    batch.status = "completed";
    batch.completed_at = Math.floor(Date.now() / 1000);
  };

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
    if (req.method === "POST" && path === "/v1/files") return await uploadFile(req);
    if (req.method === "POST" && path === "/v1/batches") return await createBatch(req);
    let m = /^\/v1\/files\/([\w-]+)(\/content)?$/.exec(path);
    if (m && req.method === "GET") {
      const f = files.get(m[1]);
      if (!f) return errorReply(404, `No such file: ${m[1]}`, "invalid_request_error");
      if (m[2]) {
        return new Response(f.bytes.slice().buffer, {
          headers: { "content-type": "application/octet-stream" },
        });
      }
      return { status: 200, body: fileObject(f) };
    }
    m = /^\/v1\/batches\/([\w-]+)$/.exec(path);
    if (m && req.method === "GET") {
      const b = batches.get(m[1]);
      return b
        ? { status: 200, body: b }
        : errorReply(404, `No such batch: ${m[1]}`, "invalid_request_error");
    }
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

function fileObject(f: StoredFile): Record<string, unknown> {
  return {
    id: f.id,
    object: "file",
    bytes: f.bytes.length,
    created_at: f.created_at,
    filename: f.filename,
    purpose: f.purpose,
    status: "processed",
  };
}

/** A 32-bit seed from the server seed and what the request asks (FNV-1a over model and messages). */
function contentSeed(seed: number, request: LabelRequestBody): number {
  const text = JSON.stringify([request.model, request.messages]);
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function perturb(score: number, noise: number, bias: number, rng: Rng): number {
  const v = score + bias + (noise > 0 ? noise * rng.normal() : 0);
  return Math.max(SCORE_MIN, Math.min(SCORE_MAX, Math.round(v)));
}

/**
 * Rebuilds the video and grid of a labelling request from its text and images,
 * and judges it. Throws an "Expected … but found …" error for anything that is
 * not a labelling request of this protocol.
 */
function judgeRequest(body: unknown): {
  request: LabelRequestBody;
  labels: ReturnType<typeof judgeVideo>;
} {
  const where = "chat.completions";
  if (!body || typeof body !== "object") fail(where, "a JSON object body", body);
  const request = body as LabelRequestBody;
  if (!Array.isArray(request.messages)) fail(`${where}.messages`, "an array", request.messages);
  const format = request.response_format;
  if (format?.type !== "json_schema") {
    fail(`${where}.response_format.type`, '"json_schema"', format?.type);
  }
  const user = request.messages.find((m) => m.role === "user" && Array.isArray(m.content));
  if (!user || !Array.isArray(user.content)) {
    fail(`${where}.messages`, "a user message with parts", "none");
  }
  let header = "";
  const strips: Array<{ layout: StripLayout; url: string }> = [];
  let pending: StripLayout | null = null;
  for (const part of user.content) {
    if (part.type === "text") {
      if (!header && parseGridTag(part.text)) header = part.text;
      pending = parseStripTag(part.text);
    } else if (part.type === "image_url") {
      if (pending) strips.push({ layout: pending, url: part.image_url.url });
      pending = null;
    }
  }
  const tag = parseGridTag(header);
  const prompt = parsePromptLine(header);
  if (!tag || prompt === null) {
    fail(
      `${where}: user text`,
      "a patch-labelling request with a [grid …] tag and a Prompt line",
      header.slice(0, 60) || "none",
    );
  }
  if (strips.length !== tag.segments) {
    fail(`${where}: images`, `${tag.segments} frame strips (one per segment)`, `${strips.length}`);
  }
  strips.sort((a, b) => a.layout.segment - b.layout.segment);
  const perSegment = strips[0].layout.frames.length;
  const decoded = strips.map(({ layout, url }) => {
    if (layout.frames.length !== perSegment) {
      fail(`${where}: strip s${layout.segment}`, `${perSegment} frames`, layout.frames.length);
    }
    const m = /^data:image\/png;base64,(.*)$/s.exec(url);
    if (!m) {
      fail(`${where}: strip s${layout.segment}`, "a data:image/png;base64 URL", url.slice(0, 40));
    }
    return { layout, image: decodePng(fromBase64(m[1])) };
  });
  const first = decoded[0].layout;
  // Upscaled strips are decoded back to source pixels; downscaled ones are judged as sent.
  const up = first.cellWidth >= first.sourceWidth && first.cellWidth % first.sourceWidth === 0 &&
    first.cellHeight % first.sourceHeight === 0;
  const fx = up ? first.cellWidth / first.sourceWidth : 1;
  const fy = up ? first.cellHeight / first.sourceHeight : 1;
  const W = up ? first.sourceWidth : first.cellWidth;
  const H = up ? first.sourceHeight : first.cellHeight;
  const T = decoded.length * perSegment;
  const frames = new Float32Array(T * H * W * 3);
  const times: number[] = [];
  let t = 0;
  for (const { layout, image } of decoded) {
    const needW = layout.frames.length * layout.cellWidth + (layout.frames.length - 1) * layout.gap;
    if (image.width !== needW || image.height !== layout.cellHeight) {
      fail(
        `${where}: strip s${layout.segment}`,
        `a ${needW}x${layout.cellHeight} image`,
        `${image.width}x${image.height}`,
      );
    }
    for (let k = 0; k < layout.frames.length; k++, t++) {
      times.push(layout.frames[k]);
      const x0 = k * (layout.cellWidth + layout.gap);
      for (let y = 0; y < H; y++) {
        const sy = Math.floor(y * fy + fy / 2);
        for (let x = 0; x < W; x++) {
          const sx = x0 + Math.floor(x * fx + fx / 2);
          const src = (sy * image.width + sx) * 3;
          const dst = ((t * H + y) * W + x) * 3;
          for (let c = 0; c < 3; c++) frames[dst + c] = image.rgb[src + c] / 255;
        }
      }
    }
  }
  const video: Video = createVideo({
    frames,
    numFrames: T,
    height: H,
    width: W,
    source: "judge-server",
  });
  const grid = { rows: tag.grid.rows, cols: tag.grid.cols, framesPerPatch: perSegment };
  return { request, labels: judgeVideo(video, prompt, grid, { frameTimes: times }) };
}

/** Options of `deno task judge`. */
export const judgeCommand: CliCommand = {
  summary: "serve the GPT-4o-compatible judge server on 127.0.0.1 (Ctrl-C stops it)",
  spec: {
    port: { type: "string", default: "8787", description: "port (0 picks a free one)" },
    noise: { type: "string", default: "0", description: "std of Gaussian noise on scores" },
    bias: { type: "string", default: "0", description: "constant added to scores" },
    "latency-ms": { type: "string", default: "0", description: "simulated latency per request" },
    seed: { type: "string", default: "0", description: "seed of noise and faults" },
    faults: {
      type: "string",
      default: "",
      description: "fault rates, e.g. 429:0.1,500:0.05,slow:0.01,malformed:0.02,missing_patch:0.02",
    },
  },
  run: async (values: CliValues): Promise<void> => {
    const server = startJudgeServer({
      port: intOption(values, "port"),
      noise: numberOption(values, "noise"),
      bias: numberOption(values, "bias"),
      latencyMs: numberOption(values, "latency-ms"),
      seed: intOption(values, "seed"),
      faults: { rates: parseFaultRates(String(values.faults ?? "")) },
    });
    console.log(`judge server listening: ${server.url}`);
    console.log(`label with: deno task label --videos DIR --out FILE --base-url ${server.url}`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        Deno.removeSignalListener("SIGINT", stop);
        resolve();
      };
      Deno.addSignalListener("SIGINT", stop);
    });
    await server.close();
  },
};

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
