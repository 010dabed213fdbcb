import assert from "node:assert/strict";
import OpenAI from "openai";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { buildLabelRequest } from "../lib/labels/protocol.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { FAKE_KEY } from "./_label_fixtures.ts";

const TEXT = "two blue squares moving up slowly on a gray background";
const GRID = { rows: 2, cols: 2, framesPerPatch: 4 };

function line(id: string, seed = 1, extra: Record<string, unknown> = {}): string {
  const { video } = renderClip(parsePrompt(TEXT), { seed, size: 16, frames: 4 });
  return JSON.stringify({
    custom_id: id,
    method: "POST",
    url: "/v1/chat/completions",
    body: buildLabelRequest(video, TEXT, GRID, { frameSide: 32 }),
    ...extra,
  });
}

async function finish(client: OpenAI, id: string): Promise<OpenAI.Batches.Batch> {
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (["completed", "failed", "expired", "cancelled"].includes(batch.status)) return batch;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Uploads `lines` as an input file, runs a batch over it and returns it finished. */
async function submit(client: OpenAI, lines: string[]): Promise<OpenAI.Batches.Batch> {
  const file = await client.files.create({
    file: new File([lines.join("\n") + "\n"], "in.jsonl"),
    purpose: "batch",
  });
  const batch = await client.batches.create({
    input_file_id: file.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  return await finish(client, batch.id);
}

/** The error body of a rejected call. */
async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OpenAI.APIError, String(error));
    return { status: error.status, ...(error.error as Record<string, unknown>) };
  }
  throw new Error("expected a rejection");
}

Deno.test("/v1/files: wrong purpose, too large and not JSONL are 400s in the API's shape", async () => {
  const server = startJudgeServer({ port: 0, batchLimits: { maxBytesPerFile: 100 } });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
    const purpose = await rejection(
      client.files.create({ file: new File(["{}"], "a.jsonl"), purpose: "bogus" as "batch" }),
    );
    assert.equal(purpose.status, 400);
    assert.equal(purpose.type, "invalid_request_error");
    assert.equal(purpose.param, "purpose");
    assert.match(String(purpose.message), /'bogus' is not one of \[.*'batch'.*\] - 'purpose'/);
    const big = await rejection(
      client.files.create({ file: new File(["x".repeat(101)], "a.jsonl"), purpose: "batch" }),
    );
    assert.deepEqual(big, {
      status: 400,
      message: "File is too large.",
      type: "invalid_request_error",
      param: null,
      code: null,
    });
    // The batch limit is for batch input files only.
    const other = await client.files.create({
      file: new File(["x".repeat(101)], "a.txt"),
      purpose: "user_data",
    });
    assert.equal(other.bytes, 101);
    const notJsonl = await rejection(
      client.files.create({ file: new File(["{}"], "a.txt"), purpose: "batch" }),
    );
    assert.match(String(notJsonl.message), /Must be \.jsonl/);
    // A batch over a file of the wrong purpose is refused at creation.
    const wrong = await rejection(client.batches.create({
      input_file_id: other.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    }));
    assert.equal(wrong.status, 400);
    assert.equal(wrong.param, "input_file_id");
    assert.match(String(wrong.message), /purpose 'batch' but found 'user_data'/);
    const missing = await rejection(client.files.retrieve("file-nope"));
    assert.equal(missing.status, 404);
    assert.equal(server.stats.files, 1);
  } finally {
    await server.close();
  }
});

Deno.test("/v1/batches: too many requests, duplicates and bad lines fail validation with errors.data", async () => {
  const server = startJudgeServer({
    port: 0,
    batchStepMs: 1,
    batchLimits: { maxRequestsPerFile: 2 },
  });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
    const run = (lines: string[]) => submit(client, lines);
    const tooMany = await run([line("a"), line("b"), line("c")]);
    assert.equal(tooMany.status, "failed");
    assert.equal(tooMany.errors?.data?.[0].code, "too_many_tasks");
    const dup = await run([line("a"), line("a", 2)]);
    assert.equal(dup.status, "failed");
    assert.deepEqual(
      dup.errors?.data?.map((e) => [e.code, e.line]),
      [["duplicate_custom_id", 2]],
    );
    const bad = await run(["{not json", line("b", 1, { url: "/v1/embeddings" })]);
    assert.deepEqual(
      bad.errors?.data?.map((e) => [e.code, e.line]),
      [["invalid_json_line", 1], ["url_mismatch", 2]],
    );
    const ok = await run([line("a"), line("b", 2)]);
    assert.equal(ok.status, "completed");
    assert.deepEqual(ok.request_counts, { total: 2, completed: 2, failed: 0 });
    assert.equal(server.stats.batchLines, 2);
    assert.deepEqual([...server.stats.billedIds], [["a", 1], ["b", 1]]);
    const window = await rejection(client.batches.create({
      input_file_id: ok.input_file_id,
      endpoint: "/v1/chat/completions",
      completion_window: "1h" as "24h",
    }));
    assert.equal(window.param, "completion_window");
  } finally {
    await server.close();
  }
});

Deno.test("/v1/batches: scripted expiry leaves half the requests as batch_expired; list pages newest first", async () => {
  const server = startJudgeServer({
    port: 0,
    batchStepMs: 1,
    batchScript: ["expire", "fail"],
  });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
    const file = await client.files.create({
      file: new File([[1, 2, 3, 4].map((i) => line(`k${i}`, i)).join("\n")], "in.jsonl"),
      purpose: "batch",
    });
    const create = () =>
      client.batches.create({
        input_file_id: file.id,
        endpoint: "/v1/chat/completions",
        completion_window: "24h",
      });
    const expired = await finish(client, (await create()).id);
    assert.equal(expired.status, "expired");
    const out = (await (await client.files.content(expired.output_file_id!)).text()).trim()
      .split("\n").map((l) => JSON.parse(l));
    const errs = (await (await client.files.content(expired.error_file_id!)).text()).trim()
      .split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(out.map((r) => r.custom_id), ["k1", "k2"]);
    assert.deepEqual(errs.map((r) => [r.custom_id, r.response, r.error.code]), [
      ["k3", null, "batch_expired"],
      ["k4", null, "batch_expired"],
    ]);
    const failed = await finish(client, (await create()).id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.errors?.data?.[0].code, "token_limit_exceeded");
    assert.match(failed.errors!.data![0].message!, /Enqueued token limit reached/);
    const third = await finish(client, (await create()).id);
    assert.equal(third.status, "completed");
    // Only answered lines are billed: 2 of the expired batch, 4 of the last.
    assert.equal(server.stats.batchLines, 6);
    const ids: string[] = [];
    for await (const b of client.batches.list({ limit: 2 })) ids.push(b.id);
    assert.deepEqual(ids, [third.id, failed.id, expired.id]);
  } finally {
    await server.close();
  }
});

Deno.test("/v1/batches: the enqueued-token limit fails a batch that would exceed it", async () => {
  const server = startJudgeServer({
    port: 0,
    batchStepMs: 1,
    batchLimits: { maxEnqueuedTokens: 10 },
  });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: FAKE_KEY, maxRetries: 0 });
    const done = await submit(client, [line("a")]);
    assert.equal(done.status, "failed");
    assert.match(done.errors!.data![0].message!, /Limit: 10 enqueued tokens/);
    assert.equal(server.stats.batchLines, 0);
  } finally {
    await server.close();
  }
});
