import assert from "node:assert/strict";
import { balancePatchGaps, termDirection } from "../bench/_object_share.ts";
import { createRng } from "../lib/core/_rng.ts";

// patch k: gap (chosen − rejected score) and object shares of the chosen and rejected patch
const gaps = [0.9, 0.5, 0.3, -0.6, 0.4, 0.1, 0.8];
const chosen = [0.0, 0.1, 0.2, 0.5, 0.30, 0.0, 0.4];
const rejected = [0.3, 0.4, 0.5, 0.1, 0.31, 0.9, 0.4];
// directions: 0,1,2 emptier preferred; 3 (negative gap: the rejected, emptier, patch is preferred) emptier;
// 4 and 6 tie in object pixels; 5 is under τ
const fuller = { gaps: [...gaps, 0.7], chosen: [...chosen, 0.6], rejected: [...rejected, 0.1] };

Deno.test("termDirection orients a term by the preferred patch's object pixels", () => {
  assert.deepEqual(termDirection(0.9, 0.0, 0.3), -1);
  assert.deepEqual(termDirection(-0.6, 0.5, 0.1), -1);
  assert.deepEqual(termDirection(0.7, 0.6, 0.1), 1);
  assert.deepEqual(termDirection(0.4, 0.30, 0.31), 0);
});

Deno.test("balancePatchGaps keeps as many emptier as fuller terms, the largest first", () => {
  const out = balancePatchGaps(fuller.gaps, fuller, {
    tau: 0.25,
    mode: "balanced",
    random: Math.random,
  });
  // one fuller term (patch 7) → one emptier term kept: the largest |gap|, patch 0
  assert.deepEqual(out.gaps, [0.9, 0, 0, 0, 0.4, 0.1, 0.8, 0.7]);
  assert.deepEqual(out.dropped, 3);
  const none = balancePatchGaps(gaps, { chosen, rejected }, {
    tau: 0.25,
    mode: "balanced",
    random: Math.random,
  });
  assert.deepEqual(none.gaps, [0, 0, 0, 0, 0.4, 0.1, 0.8]); // no fuller term: every emptier one goes
});

Deno.test("balancePatchGaps' random control drops as many used terms, by seed", () => {
  const run = (seed: number) =>
    balancePatchGaps(fuller.gaps, fuller, {
      tau: 0.25,
      mode: "random-per-pair",
      random: createRng(seed).next,
    });
  const a = run(1);
  assert.deepEqual(a.dropped, 3);
  assert.deepEqual(a.gaps.filter((g, k) => g === 0 && fuller.gaps[k] !== 0).length, 3);
  assert.deepEqual(a.gaps[5], 0.1); // a term under τ is never counted or dropped
  assert.deepEqual(run(1).gaps, a.gaps);
});

Deno.test("balancePatchGaps' no-erase mode drops only an empty patch preferred to a full one", () => {
  const out = balancePatchGaps(
    [0.9, -0.6, 0.5, 0.3, 0.7, 0.1],
    { chosen: [0.0, 0.5, 0.01, 0.1, 0.6, 0.0], rejected: [0.3, 0.0, 0.1, 0.5, 0.0, 0.9] },
    { tau: 0.25, mode: "no-erase", random: Math.random },
  );
  // 0: empty chosen over a full rejected → dropped; 1: the preferred (rejected) patch is empty and
  // the chosen full → dropped; 2: empty over partial (a fragment) kept; 3: partial over full kept;
  // 4: full over empty kept; 5: under τ, never counted
  assert.deepEqual(out.gaps, [0, 0, 0.5, 0.3, 0.7, 0.1]);
  assert.deepEqual(out.dropped, 2);
});
