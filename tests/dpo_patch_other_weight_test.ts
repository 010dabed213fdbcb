/**
 * The weight of the other patch's side, `patchOtherWeight` w: each used patch term is
 * −β_p/2 · (d_k(preferred) − w · d_k(other)) (by hand, at w = 0 and 0.5), at w = 0 its gradient
 * never reaches the other clip's patch, the default w = 1 is left bit for bit as it was,
 * validation, tensor counts, and the post-train option and flag around it.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  checkDpoPatchOtherWeight,
  granDpoLoss,
  granDpoTerms,
  readDpoMetrics,
} from "../lib/dpo/loss.ts";
import { methodLossOptions } from "../lib/dpo/post_train.ts";
import { logSigmoid } from "../lib/tensor/nn.ts";
import { withTempDir } from "./_helpers.ts";
import {
  assertPostTrainRefuses,
  assertStoredOnlyWhenSet,
  LOSS_ROWS as ROWS,
  lossInputs,
} from "./_dpo_fixtures.ts";

await initBackend({ backend: "cpu" });

const close = (a: number, b: number, what = "") =>
  assert.ok(Math.abs(a - b) < 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
const softplusNeg = (h: number) => -tf.tidy(() => logSigmoid(tf.scalar(h)).dataSync()[0]);

/** The patch term by hand: the mean over used patches of −log σ(−β_p/2 · (d_pref − w · d_other)). */
function patchTermByHand(betaPatch: number, w: number): number {
  const terms: number[] = [];
  for (let i = 0; i < 2; i++) {
    ROWS.patchGaps[i].forEach((g, k) => {
      if (Math.abs(g) < 0.25 || g === 0) return;
      const dc = ROWS.policyChosen[i][k] - ROWS.referenceChosen[i][k];
      const dr = ROWS.policyRejected[i][k] - ROWS.referenceRejected[i][k];
      const [pref, other] = g > 0 ? [dc, dr] : [dr, dc];
      terms.push(softplusNeg(-betaPatch / 2 * (pref - w * other)));
    });
  }
  assert.ok(terms.length > 1, "the fixture has used patch terms");
  return terms.reduce((s, v) => s + v, 0) / terms.length;
}

Deno.test("patchOtherWeight: each patch term weighs the other patch by w, by hand; 1 is the paper's bit for bit", async () => {
  const x = lossInputs();
  const o = { beta: 10, betaPatch: 20, lambda: 0.5, tau: 0.25 };
  const before = tf.memory().numTensors;
  const paper = await readDpoMetrics(granDpoLoss(x, o));
  close(paper["loss/patch"], patchTermByHand(20, 1), "w = 1 is the paper's term");
  const named = await readDpoMetrics(granDpoLoss(x, { ...o, patchOtherWeight: 1 }));
  assert.equal(named.loss, paper.loss, "the default is the paper's term, bit for bit");
  for (const w of [0, 0.5]) {
    const m = await readDpoMetrics(granDpoLoss(x, { ...o, patchOtherWeight: w }));
    close(m["loss/patch"], patchTermByHand(20, w), `patch term at w = ${w}`);
    close(m["loss/video"], paper["loss/video"], "the video term is untouched");
    const t = await granDpoTerms(x, { ...o, patchOtherWeight: w });
    close(t.patches.loss, patchTermByHand(20, w), `granDpoTerms at w = ${w}`);
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(Object.values(x));
});

Deno.test("patchOtherWeight 0: no gradient reaches the other clip's patch", () => {
  const x = lossInputs();
  const gaps = x.patchGaps.arraySync();
  const grads = tf.grads((pc: tf.Tensor, pr: tf.Tensor) =>
    granDpoLoss({ ...x, policyChosen: pc as tf.Tensor2D, policyRejected: pr as tf.Tensor2D }, {
      betaPatch: 10,
      tau: 0.25,
      video: false,
      patchOtherWeight: 0,
    }).loss
  )([x.policyChosen, x.policyRejected]);
  const [gc, gr] = grads.map((g) => g.arraySync() as number[][]);
  gaps.forEach((row, i) =>
    row.forEach((g, k) => {
      if (Math.abs(g) < 0.25) return;
      const [pref, other] = g > 0 ? [gc[i][k], gr[i][k]] : [gr[i][k], gc[i][k]];
      assert.equal(other, 0, `row ${i} patch ${k}: the other clip's patch gets no gradient`);
      assert.ok(pref > 0, `row ${i} patch ${k}: the preferred patch's error is pushed down`);
    })
  );
  tf.dispose([...grads, ...Object.values(x)]);
});

Deno.test("post-train --patch-other-weight: a bad value fails at once; a set weight is stored, the default is not", async () => {
  assert.equal(checkDpoPatchOtherWeight("mine", undefined), 1);
  assert.throws(
    () => methodLossOptions("grandpo", { patchOtherWeight: 2 }),
    /post-train: Expected patchOtherWeight a number in \[0, 1\] but found 2/,
  );
  for (
    const [value, error] of [["-0.5", /Expected patchOtherWeight a number in \[0, 1\]/], [
      "one",
      /Expected a number but found "one"/,
    ]] as const
  ) {
    await assertPostTrainRefuses([`--patch-other-weight=${value}`], error);
  }
  await withTempDir((dir) => assertStoredOnlyWhenSet(dir, { key: "patchOtherWeight", value: 0.5 }));
});
