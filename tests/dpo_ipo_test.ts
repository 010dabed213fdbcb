/**
 * The IPO loss variant (`lossType: "ipo"`): every term (h − ½)² by hand in each method, the
 * default left bit for bit as it was, its gradient pulling a pair back once its margin passes ½,
 * validation, tensor counts, and the post-train option and flag around it.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  checkDpoLossType,
  diffusionDpoLoss,
  granDpoLoss,
  granDpoTerms,
  readDpoMetrics,
} from "../lib/dpo/loss.ts";
import { methodLossOptions } from "../lib/dpo/post_train.ts";
import { withTempDir } from "./_helpers.ts";
import {
  assertPostTrainRefuses,
  assertStoredOnlyWhenSet,
  LOSS_ROWS,
  lossInputs,
} from "./_dpo_fixtures.ts";

await initBackend({ backend: "cpu" });

const ROWS = LOSS_ROWS;
const inputs = lossInputs;

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const close = (a: number, b: number, what = "") =>
  assert.ok(Math.abs(a - b) < 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

/** The video and patch terms of ROWS by hand, with `loss` applied to each inside h. */
function byHand(beta: number, betaPatch: number, tau: number, loss: (h: number) => number) {
  const d = (r: number[], ref: number[]) => r.map((v, k) => v - ref[k]);
  const video: number[] = [], patches: number[] = [];
  for (let i = 0; i < 2; i++) {
    const dc = d(ROWS.policyChosen[i], ROWS.referenceChosen[i]);
    const dr = d(ROWS.policyRejected[i], ROWS.referenceRejected[i]);
    video.push(loss(-beta / 2 * (mean(dc) - mean(dr))));
    ROWS.patchGaps[i].forEach((g, k) => {
      if (Math.abs(g) >= tau) patches.push(loss(-betaPatch / 2 * Math.sign(g) * (dc[k] - dr[k])));
    });
  }
  return { video: mean(video), patch: mean(patches) };
}

Deno.test("ipo: every term is (h − ½)², video and patch alike, in each method", async () => {
  const x = inputs();
  const o = { beta: 10, betaPatch: 20, lambda: 0.5, tau: 0.25, lossType: "ipo" as const };
  const want = byHand(10, 20, 0.25, (h) => (h - 0.5) ** 2);
  const dpo = await readDpoMetrics(diffusionDpoLoss(x, o));
  close(dpo.loss, want.video, "Diffusion-DPO");
  const gran = await readDpoMetrics(granDpoLoss(x, o));
  close(gran["loss/video"], want.video, "video term");
  close(gran["loss/patch"], want.patch, "patch term");
  close(gran.loss, want.video + 0.5 * want.patch, "Gran-DPO");
  const only = await readDpoMetrics(granDpoLoss(x, { ...o, video: false }));
  close(only.loss, 0.5 * want.patch, "patch-only");
  const terms = await granDpoTerms(x, o);
  close(mean(terms.video.terms), want.video, "granDpoTerms video");
  close(terms.total, gran.loss, "granDpoTerms total");
  // the default is the log-sigmoid, and naming it changes nothing
  const sig = byHand(10, 20, 0.25, (h) => Math.log1p(Math.exp(-h)));
  const plain = await readDpoMetrics(granDpoLoss(x, { ...o, lossType: undefined }));
  close(plain.loss, sig.video + 0.5 * sig.patch, "sigmoid");
  const named = await readDpoMetrics(granDpoLoss(x, { ...o, lossType: "sigmoid" }));
  assert.equal(named.loss, plain.loss);
  tf.dispose(Object.values(x));
});

Deno.test("ipo: the gradient widens a margin under ½ and narrows one past it; the log-sigmoid only widens", () => {
  // one pair, one patch: the policy's error on the chosen clip is the variable
  const grad = (dChosen: number, lossType: "ipo" | "sigmoid") =>
    tf.tidy(() => {
      const ref = tf.tensor2d([[0.2]]);
      const g = tf.grad((pc: tf.Tensor) =>
        diffusionDpoLoss({
          policyChosen: pc as tf.Tensor2D,
          policyRejected: ref,
          referenceChosen: ref,
          referenceRejected: ref,
        }, { beta: 10, lossType }).loss
      )(tf.tensor2d([[0.2 + dChosen]]));
      return g.dataSync()[0];
    });
  // h = −β/2 · d: d = −0.05 → h = ¼ (under ½), d = −0.2 → h = 1 (past ½)
  assert.ok(grad(-0.05, "ipo") > 0, "under the margin: lower the chosen error further");
  assert.ok(grad(-0.2, "ipo") < 0, "past the margin: let the chosen error rise back");
  assert.ok(grad(-0.2, "sigmoid") > 0, "the log-sigmoid keeps pushing");
  close(grad(-0.1, "ipo"), 0, "at h = ½ it rests");
});

Deno.test("ipo: bad values are named; no tensor leaks", async () => {
  const x = inputs();
  assert.throws(
    () => granDpoLoss(x, { lossType: "hinge" as never }),
    /granDpoLoss: Expected lossType among sigmoid, ipo but found "hinge"/,
  );
  assert.throws(
    () => methodLossOptions("dpo", { lossType: "IPO" as never }),
    /post-train: .*lossType/,
  );
  assert.equal(checkDpoLossType("x", undefined), "sigmoid");
  const before = tf.memory().numTensors;
  await readDpoMetrics(diffusionDpoLoss(x, { lossType: "ipo" }));
  await readDpoMetrics(granDpoLoss(x, { lossType: "ipo" }));
  await granDpoTerms(x, { lossType: "ipo", video: false });
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(Object.values(x));
});

Deno.test("post-train --loss-type: a bad value fails at once; ipo is stored, the default is not", async () => {
  await assertPostTrainRefuses(
    ["--loss-type", "hinge"],
    /--loss-type: Expected lossType among sigmoid, ipo but found "hinge"/,
  );
  await withTempDir((dir) => assertStoredOnlyWhenSet(dir, { key: "lossType", value: "ipo" }));
});
