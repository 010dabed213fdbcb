import assert from "node:assert/strict";
import { defectCases, objectPresence, topKHit, worstFirst } from "../lib/videos/defect_cases.ts";
import { DEFECT_KINDS } from "../lib/videos/defects.ts";
import type { PatchLabel } from "../lib/videos/scores.ts";
import { parseGrid } from "../lib/videos/patch.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";

const scores = (v: number) => ({ visual_quality: v, temporal_consistency: v, text_alignment: v });

Deno.test("defectCases damages every kind at known patches, deterministically", () => {
  const a = defectCases(2, { seed: 3 });
  const b = defectCases(2, { seed: 3 });
  assert.equal(a.length, 2 * DEFECT_KINDS.length);
  assert.deepEqual(a.map((c) => c.affected), b.map((c) => c.affected));
  assert.deepEqual([...new Set(a.map((c) => c.kind))], [...DEFECT_KINDS]);
  assert.ok(a.every((c) => c.affected.length >= 1 && c.affected.length <= 2));
});

Deno.test("objectPresence sums an object's coverage into the patches it crosses", () => {
  const prompt = parsePrompt("one red square moving right slowly on a black background");
  const { video, truth } = renderClip(prompt, { seed: 1 });
  const grid = parseGrid("4x4x4");
  const presence = objectPresence(truth.masks, { count: 1, ...video, grid });
  assert.equal(presence.length, 64);
  let total = 0;
  for (let i = 0; i < truth.masks.length; i++) total += truth.masks[i];
  const summed = presence.reduce((s, v) => s + v, 0) * grid.framesPerPatch;
  assert.ok(Math.abs(summed - total) < 1e-6 * total, `${summed} vs ${total}`);
  assert.ok(presence.some((v) => v === 0) && presence.some((v) => v > 12));
});

Deno.test("worstFirst and topKHit rank by the minimum aspect, then the sum", () => {
  const labels: PatchLabel[] = [4, 2, 3, 1].map((v, index) => ({
    id: `p${index}`,
    index,
    scores: scores(v),
    reason: "",
  }));
  labels[2] = { ...labels[2], scores: { ...scores(4), text_alignment: 1 } };
  assert.deepEqual(worstFirst(labels), [3, 2, 1, 0]);
  assert.equal(topKHit(labels, [3, 2]), 1);
  assert.equal(topKHit(labels, [0, 1]), 0);
  assert.equal(topKHit(labels, [1]), 0);
});
