/**
 * The Files and Batches half of the judge server's OpenAI wire protocol:
 * upload, retrieve, download and delete files; create, retrieve, list and
 * cancel batches, processed in the background line by line. It enforces the
 * real API's limits with the real error shapes, so the labeller meets them in
 * tests: a batch input file over the request or byte limit, a wrong purpose, a
 * malformed or inconsistent input file (a batch that fails validation with
 * `errors.data[]` of `{code, message, param, line}`), the enqueued-token
 * limit, and batches that expire with part of their requests done.
 *
 * Reconstruction: OpenAI documents the limits and error codes, not every
 * message; where the exact wording is unknown the message says plainly what
 * was wrong, in the documented shape.
 * @module
 */

import { BATCH_LIMITS } from "../batch_plan.ts";
import { checkInt, fail } from "../../core/_errors.ts";
import { estimateRequestTokens } from "../label.ts";
import type { LabelRequestBody } from "../protocol.ts";

/** Limits of the judge server's Files and Batches API (the real API's by default). */
export interface BatchApiLimits {
  /** Requests per batch input file; a batch over it fails with `too_many_tasks`. Default 50,000. */
  maxRequestsPerFile?: number;
  /** Bytes per batch input file (purpose "batch"); an upload over it is refused. Default 200,000,000. */
  maxBytesPerFile?: number;
  /** Bytes per uploaded file of any purpose. Default 512 MiB. */
  maxFileBytes?: number;
  /**
   * Estimated input tokens of all batches validating, in progress or finalizing
   * at once; a batch that would exceed it fails with `token_limit_exceeded`.
   * Default: no limit.
   */
  maxEnqueuedTokens?: number;
}

/** What happens to a created batch (for tests of the labeller's recovery). */
export type BatchFate = "ok" | "expire" | "fail";

/** Counters of the Files and Batches API. */
export interface BatchApiStats {
  /** Files uploaded. */
  files: number;
  /** Batches created. */
  batches: number;
  /** Batch request lines answered: what a real API bills. */
  batchLines: number;
  /** Times each `custom_id` was answered in any batch (an item paid twice shows 2). */
  billedIds: Map<string, number>;
  /** Most batches validating, in progress or finalizing at the same time. */
  peakLive: number;
}

/** A JSON reply of the emulated API. */
export interface ApiReply {
  /** HTTP status. */
  status: number;
  /** JSON body. */
  body: unknown;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** What the Batches API needs from the server it is part of. */
export interface BatchApiHost {
  /** Answers one chat-completion body as a batch line (content faults only). */
  answer(body: unknown): ApiReply;
  /** A fresh id with `prefix`. */
  newId(prefix: string): string;
  /** A cancellable sleep. */
  sleep(ms: number): Promise<void>;
  /** Aborted when the server stops. */
  signal: AbortSignal;
  /** Counters to update. */
  stats: BatchApiStats;
}

/** Options of {@linkcode createBatchApi}. */
export interface BatchApiOptions {
  /** Limits. */
  limits?: BatchApiLimits;
  /** Fate of the 1st, 2nd, … created batch ("ok" once the script runs out). */
  script?: readonly BatchFate[];
  /** Delay between a batch's status steps, ms. Default 50. */
  stepMs?: number;
}

/** The purposes `/v1/files` accepts. */
export const FILE_PURPOSES: readonly string[] = Object.freeze([
  "assistants",
  "batch",
  "fine-tune",
  "vision",
  "user_data",
  "evals",
]);

const ENDPOINTS = new Set(["/v1/chat/completions", "/v1/responses", "/v1/embeddings"]);
const LIVE = new Set(["validating", "in_progress", "finalizing", "cancelling"]);

interface StoredFile {
  id: string;
  bytes: Uint8Array;
  filename: string;
  purpose: string;
  created_at: number;
}

interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/**
 * Creates the Files and Batches routes of a judge server; `route` answers a
 * request it owns and returns null for any other path.
 *
 * @example
 * ```ts
 * import OpenAI from "openai";
 * import { startJudgeServer } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const server = startJudgeServer({ port: 0, batchLimits: { maxBytesPerFile: 10 } });
 * const client = new OpenAI({ baseURL: server.url, apiKey: "sk-local", maxRetries: 0 });
 * await assert.rejects(
 *   client.files.create({ file: new File(["x".repeat(11)], "in.jsonl"), purpose: "batch" }),
 *   /File is too large/,
 * );
 * await server.close();
 * ```
 */
export function createBatchApi(
  host: BatchApiHost,
  options: BatchApiOptions = {},
): { route(req: Request, path: string): Promise<ApiReply | Response | null> } {
  const where = "createBatchApi";
  const limits = options.limits ?? {};
  const maxRequests = checkInt(
    where,
    "maxRequestsPerFile",
    limits.maxRequestsPerFile ?? BATCH_LIMITS.maxRequestsPerFile,
    1,
  );
  const maxBatchBytes = checkInt(
    where,
    "maxBytesPerFile",
    limits.maxBytesPerFile ?? BATCH_LIMITS.maxBytesPerFile,
    1,
  );
  const maxFileBytes = checkInt(where, "maxFileBytes", limits.maxFileBytes ?? 512 * 2 ** 20, 1);
  const maxEnqueued = limits.maxEnqueuedTokens ?? Infinity;
  if (!(maxEnqueued > 0)) fail(where, "maxEnqueuedTokens > 0", maxEnqueued);
  const script = [...(options.script ?? [])];
  for (const fate of script) {
    if (!["ok", "expire", "fail"].includes(fate)) fail(`${where}: script`, "ok/expire/fail", fate);
  }
  const step = options.stepMs ?? 50;
  const files = new Map<string, StoredFile>();
  const batches = new Map<string, Record<string, unknown>>();
  const enqueued = new Map<string, number>(); // batch id -> estimated tokens while live
  const now = (): number => Math.floor(Date.now() / 1000);
  const { stats } = host;
  let live = 0;

  const store = (bytes: Uint8Array, filename: string, purpose: string): StoredFile => {
    const f = { id: host.newId("file"), bytes, filename, purpose, created_at: now() };
    files.set(f.id, f);
    return f;
  };

  const uploadFile = async (req: Request): Promise<ApiReply> => {
    let form: FormData;
    try {
      form = await req.formData();
    } catch {
      return invalid("Expected a multipart/form-data body", null);
    }
    const purpose = form.get("purpose");
    if (typeof purpose !== "string" || purpose === "") {
      return invalid("Missing required parameter: 'purpose'.", "purpose");
    }
    if (!FILE_PURPOSES.includes(purpose)) {
      return invalid(
        `'${purpose}' is not one of [${FILE_PURPOSES.map((p) => `'${p}'`).join(", ")}] - 'purpose'`,
        "purpose",
      );
    }
    const file = form.get("file");
    if (!(file instanceof File)) return invalid("Missing required parameter: 'file'.", "file");
    if (file.size > maxFileBytes || (purpose === "batch" && file.size > maxBatchBytes)) {
      return invalid("File is too large.", null);
    }
    if (purpose === "batch" && !file.name.endsWith(".jsonl")) {
      return invalid("Invalid file format for Batch API. Must be .jsonl", "file");
    }
    const stored = store(new Uint8Array(await file.arrayBuffer()), file.name, purpose);
    stats.files++;
    return { status: 200, body: fileObject(stored) };
  };

  const createBatch = async (req: Request): Promise<ApiReply> => {
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return invalid("Expected a JSON body", null);
    }
    for (const name of ["input_file_id", "endpoint", "completion_window"]) {
      if (body[name] === undefined) return invalid(`Missing required parameter: '${name}'.`, name);
    }
    const input = files.get(String(body.input_file_id));
    if (!input) {
      return invalid(
        `Invalid 'input_file_id': Expected an uploaded file but found ${
          JSON.stringify(body.input_file_id)
        }.`,
        "input_file_id",
      );
    }
    if (input.purpose !== "batch") {
      return invalid(
        `Invalid 'input_file_id': Expected a file uploaded with purpose 'batch' but found ` +
          `'${input.purpose}' for ${input.id}.`,
        "input_file_id",
      );
    }
    if (!ENDPOINTS.has(String(body.endpoint))) {
      return invalid(
        `Invalid value for 'endpoint': Expected one of ${[...ENDPOINTS].join(", ")} but found ` +
          `${JSON.stringify(body.endpoint)}.`,
        "endpoint",
      );
    }
    if (body.completion_window !== "24h") {
      return invalid(
        `Invalid value for 'completion_window': Expected '24h' but found ${
          JSON.stringify(body.completion_window)
        }.`,
        "completion_window",
      );
    }
    const created = now();
    const batch: Record<string, unknown> = {
      id: host.newId("batch"),
      object: "batch",
      endpoint: body.endpoint,
      errors: null,
      input_file_id: input.id,
      completion_window: "24h",
      status: "validating",
      output_file_id: null,
      error_file_id: null,
      created_at: created,
      in_progress_at: null,
      expires_at: created + 86400,
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
    const fate = script.shift() ?? "ok";
    stats.peakLive = Math.max(stats.peakLive, ++live);
    runBatch(batch, input, fate).catch((error) => {
      batch.status = "failed";
      batch.failed_at = now();
      batch.errors = errorList([{
        code: "server_error",
        message: String((error as Error)?.message ?? error),
        param: null,
        line: null,
      }]);
    }).finally(() => {
      enqueued.delete(batch.id as string);
      live--;
    });
    return { status: 200, body: batch };
  };

  const failBatch = (batch: Record<string, unknown>, errors: BatchError[]): void => {
    batch.status = "failed";
    batch.failed_at = now();
    batch.errors = errorList(errors);
  };

  const runBatch = async (
    batch: Record<string, unknown>,
    input: StoredFile,
    fate: BatchFate,
  ): Promise<void> => {
    await host.sleep(step);
    if (host.signal.aborted) return;
    if (batch.status === "cancelling") {
      batch.status = "cancelled";
      batch.cancelled_at = now();
      return;
    }
    const text = new TextDecoder().decode(input.bytes);
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const problems: BatchError[] = [];
    const parsed: Array<{ custom_id: string; body: unknown }> = [];
    const ids = new Set<string>();
    let model: string | undefined;
    if (lines.length === 0) {
      problems.push({
        code: "empty_file",
        message: "The input file is empty.",
        param: null,
        line: null,
      });
    }
    if (lines.length > maxRequests) {
      problems.push({
        code: "too_many_tasks",
        message:
          `The input file has ${lines.length} requests; a batch takes at most ${maxRequests}.`,
        param: null,
        line: null,
      });
    }
    lines.forEach((line, i) => {
      if (problems.length >= 10) return;
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(line);
      } catch {
        problems.push({
          code: "invalid_json_line",
          message: "This line is not parseable as valid JSON.",
          param: null,
          line: i + 1,
        });
        return;
      }
      for (const name of ["custom_id", "method", "url", "body"]) {
        if (v?.[name] === undefined) {
          problems.push({
            code: "missing_required_parameter",
            message: `Missing required parameter: '${name}'.`,
            param: name,
            line: i + 1,
          });
          return;
        }
      }
      const id = String(v.custom_id);
      if (ids.has(id)) {
        problems.push({
          code: "duplicate_custom_id",
          message: `The custom_id '${id}' is used more than once in the input file.`,
          param: "custom_id",
          line: i + 1,
        });
      }
      ids.add(id);
      if (v.url !== batch.endpoint) {
        problems.push({
          code: "url_mismatch",
          message: `The url '${v.url}' does not match the batch's endpoint '${batch.endpoint}'.`,
          param: "url",
          line: i + 1,
        });
      }
      const m = String((v.body as { model?: unknown })?.model);
      model ??= m;
      if (m !== model) {
        problems.push({
          code: "model_mismatch",
          message:
            `Every request of a batch must use the same model; expected '${model}' but found '${m}'.`,
          param: "body.model",
          line: i + 1,
        });
      }
      parsed.push({ custom_id: id, body: v.body });
    });
    if (problems.length > 0) return failBatch(batch, problems);
    let tokens = 0;
    for (const p of parsed) tokens += safeTokens(p.body);
    const queued = [...enqueued.values()].reduce((a, b) => a + b, 0);
    if (fate === "fail" || queued + tokens > maxEnqueued) {
      const limit = Number.isFinite(maxEnqueued) ? maxEnqueued : Math.max(1, queued);
      return failBatch(batch, [{
        code: "token_limit_exceeded",
        message: `Enqueued token limit reached for ${model} in organization org-judge-server. ` +
          `Limit: ${limit.toLocaleString("en-US")} enqueued tokens. Please try again once some ` +
          "in_progress batches have been completed.",
        param: null,
        line: null,
      }]);
    }
    enqueued.set(batch.id as string, tokens);
    batch.status = "in_progress";
    batch.in_progress_at = now();
    const counts = batch.request_counts as { total: number; completed: number; failed: number };
    counts.total = parsed.length;
    const out: string[] = [];
    const errs: string[] = [];
    const stopAt = fate === "expire" ? Math.floor(parsed.length / 2) : parsed.length;
    let lastYield = performance.now();
    for (let i = 0; i < parsed.length; i++) {
      if (host.signal.aborted) return;
      const item = parsed[i];
      if (i >= stopAt || batch.status === "cancelling") {
        const code = i >= stopAt ? "batch_expired" : "batch_cancelled";
        errs.push(JSON.stringify({
          id: host.newId("batch_req"),
          custom_id: item.custom_id,
          response: null,
          error: {
            code,
            message: code === "batch_expired"
              ? "This request could not be executed before the completion window expired."
              : "This request was not executed because the batch was cancelled.",
          },
        }));
        continue;
      }
      const reply = host.answer(item.body);
      stats.batchLines++;
      stats.billedIds.set(item.custom_id, (stats.billedIds.get(item.custom_id) ?? 0) + 1);
      const line = JSON.stringify({
        id: host.newId("batch_req"),
        custom_id: item.custom_id,
        response: { status_code: reply.status, request_id: host.newId("req"), body: reply.body },
        error: null,
      });
      if (reply.status === 200) {
        out.push(line);
        counts.completed++;
      } else {
        errs.push(line);
        counts.failed++;
      }
      if (performance.now() - lastYield > 10) {
        await host.sleep(0);
        lastYield = performance.now();
      }
    }
    const ending = fate === "expire"
      ? "expired"
      : batch.status === "cancelling"
      ? "cancelled"
      : "completed";
    if (ending === "completed") {
      batch.status = "finalizing";
      batch.finalizing_at = now();
      await host.sleep(step);
    }
    batch.output_file_id = out.length
      ? store(encode(out), "batch_output.jsonl", "batch_output").id
      : null;
    batch.error_file_id = errs.length
      ? store(encode(errs), "batch_errors.jsonl", "batch_output").id
      : null;
    batch.status = ending;
    batch[`${ending}_at`] = now();
  };

  const listBatches = (url: URL): ApiReply => {
    const limit = Number(url.searchParams.get("limit") ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return invalid(
        `Invalid 'limit': Expected an integer in [1, 100] but found ${limit}.`,
        "limit",
      );
    }
    const all = [...batches.values()].reverse(); // newest first
    const after = url.searchParams.get("after");
    const start = after ? all.findIndex((b) => b.id === after) + 1 : 0;
    const data = all.slice(start, start + limit);
    return {
      status: 200,
      body: {
        object: "list",
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: start + limit < all.length,
      },
    };
  };

  const route = async (req: Request, path: string): Promise<ApiReply | Response | null> => {
    if (path === "/v1/files" && req.method === "POST") return await uploadFile(req);
    if (path === "/v1/batches" && req.method === "POST") return await createBatch(req);
    if (path === "/v1/batches" && req.method === "GET") return listBatches(new URL(req.url));
    let m = /^\/v1\/files\/([\w-]+)(\/content)?$/.exec(path);
    if (m) {
      const f = files.get(m[1]);
      if (!f) return notFound(`No such File object: ${m[1]}`, "id");
      if (req.method === "DELETE" && !m[2]) {
        files.delete(f.id);
        return { status: 200, body: { id: f.id, object: "file", deleted: true } };
      }
      if (req.method !== "GET") return null;
      if (m[2]) {
        return new Response(f.bytes.slice().buffer, {
          headers: { "content-type": "application/octet-stream" },
        });
      }
      return { status: 200, body: fileObject(f) };
    }
    m = /^\/v1\/batches\/([\w-]+)(\/cancel)?$/.exec(path);
    if (m) {
      const b = batches.get(m[1]);
      if (!b) return notFound(`No batch found with id '${m[1]}'.`, "batch_id");
      if (m[2] && req.method === "POST") {
        if (LIVE.has(String(b.status))) {
          b.status = "cancelling";
          b.cancelling_at = now();
        }
        return { status: 200, body: b };
      }
      if (req.method === "GET" && !m[2]) return { status: 200, body: b };
    }
    return null;
  };
  return { route };
}

function safeTokens(body: unknown): number {
  try {
    return estimateRequestTokens(body as LabelRequestBody);
  } catch {
    return 0;
  }
}

function encode(lines: string[]): Uint8Array {
  return new TextEncoder().encode(lines.join("\n") + "\n");
}

function errorList(data: BatchError[]): Record<string, unknown> {
  return { object: "list", data };
}

function invalid(message: string, param: string | null): ApiReply {
  return {
    status: 400,
    body: { error: { message, type: "invalid_request_error", param, code: null } },
  };
}

function notFound(message: string, param: string | null): ApiReply {
  return {
    status: 404,
    body: { error: { message, type: "invalid_request_error", param, code: null } },
  };
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
    status_details: null,
  };
}
