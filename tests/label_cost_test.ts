import assert from "node:assert/strict";
import {
  CostBudget,
  estimateAnswerTokens,
  estimateCost,
  estimateRequestTokens,
} from "../lib/labels/cost.ts";
import { buildLabelRequest } from "../lib/labels/protocol.ts";
import { randomVideo } from "./_helpers.ts";

Deno.test("CostBudget: reservations count against the limit until settled, and a refusal stops it", () => {
  const call = { promptTokens: 1000, completionTokens: 100 }; // $0.0035 at gpt-4o
  const budget = new CostBudget({ model: "gpt-4o", limitUsd: 0.01 });
  const a = budget.reserve(call)!, b = budget.reserve(call)!;
  assert.ok(a > 0 && b > 0);
  assert.equal(budget.reserve(call), null, "three in flight would pass $0.01");
  assert.equal(budget.stopped, true);
  budget.settle(a, { promptTokens: 10, completionTokens: 0 });
  assert.equal(budget.reserve({ promptTokens: 1, completionTokens: 0 }), null, "stopped for good");
  budget.settle(b, call);
  assert.ok(Math.abs(budget.spentUsd - (0.000025 + 0.0035)) < 1e-12);
  const open = new CostBudget({ model: "gpt-4o" });
  for (let i = 0; i < 100; i++) open.settle(open.reserve(call)!, call);
  assert.equal(open.stopped, false);
  assert.equal(open.limitUsd, Infinity);
  assert.throws(() => new CostBudget({ model: "gpt-4o", limitUsd: -1 }), /limitUsd.*found -1/);
  assert.throws(() => new CostBudget({ model: "gpt-4o", limitUsd: NaN }), /limitUsd.*found NaN/);
  const batch = new CostBudget({ model: "gpt-4o", batch: true });
  batch.settle(0, call);
  assert.equal(batch.spentUsd, estimateCost("gpt-4o", call, { batch: true }));
});

Deno.test("the answer estimate covers what the judge server bills for the same request", () => {
  const video = randomVideo(8, 16, 16);
  const grid = { rows: 2, cols: 2, framesPerPatch: 4 };
  const body = buildLabelRequest(video, "a cat", grid);
  assert.ok(estimateRequestTokens(body) > 85 * 3, "three images at least");
  // A full answer for 8 patches with empty reasons, as the judge server writes it.
  const s = { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 };
  const patches = Array.from({ length: 8 }, (_, i) => ({ id: `s${i >> 2}r0c0`, ...s, reason: "" }));
  const billed = Math.ceil(JSON.stringify({ video: s, patches }).length / 4);
  const estimate = estimateAnswerTokens(grid, 8);
  assert.ok(estimate >= billed, `${estimate} ≥ ${billed}`);
});
