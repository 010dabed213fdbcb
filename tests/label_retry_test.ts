import assert from "node:assert/strict";
import OpenAI from "openai";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { CostBudget } from "../lib/labels/cost.ts";
import {
  buildLabelRequest,
  LabelValidationError,
  parseChatCompletion,
} from "../lib/labels/protocol.ts";
import {
  AttemptTimeoutError,
  callWithRetry,
  classifyFailure,
  resolveRetry,
} from "../lib/labels/retry.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";

Deno.test("classifyFailure retries broken answers and transport errors, not bugs or 4xx", () => {
  const retried = [
    new SyntaxError("Unterminated string in JSON at position 611"),
    new TypeError("error reading a body from connection"),
    new AttemptTimeoutError(300),
    new DOMException("aborted", "AbortError"),
    new LabelValidationError("label answer: Expected …"),
  ];
  for (const e of retried) assert.equal(classifyFailure(e).retry, true, e.message);
  assert.match(classifyFailure(retried[0]).message, /Expected JSON but found invalid JSON/);
  assert.equal(classifyFailure(new TypeError("x is not a function")).retry, false);
  assert.equal(classifyFailure(new Error("a bug")).retry, false);
  const bad = new OpenAI.BadRequestError(400, { message: "bad" }, "bad", new Headers());
  assert.deepEqual(
    [classifyFailure(bad).retry, classifyFailure(bad).billed],
    [false, false],
  );
  assert.throws(() => resolveRetry({ maxAttempts: 0 }), /maxAttempts in \[1, 100\] but found 0/);
  assert.throws(() => resolveRetry({ timeoutMs: NaN }), /timeoutMs.*found NaN/);
});

Deno.test("callWithRetry: a validating answer ends it; the budget stops before a call it cannot pay", async () => {
  const server = startJudgeServer({ port: 0, faults: { script: ["malformed", "500"] } });
  try {
    const client = new OpenAI({ baseURL: server.url, apiKey: "sk-test-x", maxRetries: 0 });
    const text = "one red circle moving left slowly on a black background";
    const { video } = renderClip(parsePrompt(text), { seed: 1, frames: 8, size: 16 });
    const grid = { rows: 2, cols: 2, framesPerPatch: 4 };
    const body = buildLabelRequest(video, text, grid);
    const parse = (c: unknown) => parseChatCompletion(c, grid, 8);
    const retry = resolveRetry({ baseDelayMs: 1, maxAttempts: 4 });
    const estimate = { promptTokens: 3000, completionTokens: 300 };
    const done = await callWithRetry(client, body, { retry, secret: "sk-test-x", parse, estimate });
    assert.equal(done.attempts, 3, "malformed, 500, then a good answer");
    assert.equal(done.value?.patches.length, 8);
    // An estimate of $0.0105 per call against $0.02: one call fits, a second does not.
    const budget = new CostBudget({ model: "gpt-4o", limitUsd: 0.02 });
    const first = await callWithRetry(client, body, { retry, secret: "", parse, estimate, budget });
    assert.ok(first.value && first.costUsd > 0 && first.costUsd <= 0.0105);
    const big = { promptTokens: 6000, completionTokens: 600 };
    const second = await callWithRetry(client, body, {
      retry,
      secret: "",
      parse,
      estimate: big,
      budget,
    });
    assert.equal(second.stopped, true);
    assert.equal(second.attempts, 0);
    assert.match(second.error!, /budget: not labelled, the --max-cost limit \$0.02 was reached/);
    assert.equal(server.stats.chat, 4);
  } finally {
    await server.close();
  }
});
