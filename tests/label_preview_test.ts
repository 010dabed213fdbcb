import assert from "node:assert/strict";
import { BATCH_LIMITS } from "../lib/labels/batch_plan.ts";
import { estimateCost, estimateRequestTokens } from "../lib/labels/label.ts";
import { shapesSource } from "../lib/labels/folder.ts";
import { withBatchDefaults } from "../lib/labels/batch_plan.ts";
import { buildLabelRequest } from "../lib/labels/protocol.ts";
import { estimateAnswerTokens } from "../lib/labels/cost.ts";
import { formatPreview, previewLabelling } from "../lib/labels/preview.ts";
import { DEFAULT_GRID } from "../lib/videos/patch.ts";

Deno.test("the preview measures the requests a batch run builds and plans files under the limits", async () => {
  const source = shapesSource(12, { seed: 4 });
  const plan = await previewLabelling(source, { maxRequestsPerFile: 5 });
  assert.equal(plan.videos, 12);
  assert.equal(plan.measured, 12);
  assert.equal(plan.files, 3);
  assert.ok(plan.largestFile.requests <= 5);
  const item = await source.load(0);
  const body = buildLabelRequest(item.video, item.prompt, DEFAULT_GRID, withBatchDefaults({}));
  assert.ok(plan.requestBytes.min <= JSON.stringify(body).length + 200);
  assert.ok(plan.tokensPerVideo.input - estimateRequestTokens(body) < 50);
  assert.equal(plan.tokensPerVideo.output, estimateAnswerTokens(DEFAULT_GRID, 16));
  const usage = { promptTokens: plan.tokens.input, completionTokens: plan.tokens.output };
  assert.equal(plan.costBatchUsd, estimateCost("gpt-4o", usage, { batch: true }));
  assert.match(formatPreview(plan), /batch files: 3 .*\n.*\n.*\nwithin the Batch API's limits/s);
});

Deno.test("a sample stands for a larger set; requests too large for a file are flagged", async () => {
  const source = shapesSource(40, { seed: 2 });
  const plan = await previewLabelling(source, { sample: 4, count: 120_000 });
  assert.equal(plan.measured, 4);
  assert.equal(plan.videos, 120_000);
  assert.equal(plan.limits.maxBytesPerFile, BATCH_LIMITS.maxBytesPerFile);
  assert.ok(plan.largestFile.bytes <= BATCH_LIMITS.maxBytesPerFile);
  assert.equal(plan.files, Math.ceil(plan.bytes / plan.largestFile.bytes));
  // With room for any number of bytes, the request limit alone sets the count.
  const byCount = await previewLabelling(source, {
    sample: 4,
    count: 120_000,
    maxBytesPerFile: 1e12,
  });
  assert.equal(byCount.files, 3);
  assert.equal(byCount.largestFile.requests, 50_000);
  const tight = await previewLabelling(source, { sample: 2, maxBytesPerFile: 1000 });
  assert.equal(tight.tooLarge, 40);
  assert.match(formatPreview(tight), /40 requests larger than a whole file[\s\S]*NOT within/);
  await assert.rejects(previewLabelling([], {}), /Expected at least one item/);
});
