/**
 * The patch-term variant `patchSides: "preferred"`: each used patch term is −β_p/2 · d_k of the
 * preferred clip alone (by hand), its gradient never reaches the other clip's patch, the default
 * "both" is left bit for bit as it was, validation, tensor counts, and the post-train option and
 * flag around it.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { checkDpoPatchSides, granDpoLoss, granDpoTerms, readDpoMetrics } from "../lib/dpo/loss.ts";
import { methodLossOptions } from "../lib/dpo/post_train.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { postTrainCommand } from "../lib/cli/post_train.ts";
import { logSigmoid } from "../lib/tensor/nn.ts";
import { withTempDir } from "./_helpers.ts";
import { assertStoredOnlyWhenSet, LOSS_ROWS as ROWS, lossInputs } from "./_dpo_fixtures.ts";

await initBackend({ backend: "cpu" });

const close = (a: number, b: number, what = "") =>
  assert.ok(Math.abs(a - b) < 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
const softplusNeg = (h: number) => -tf.tidy(() => logSigmoid(tf.scalar(h)).dataSync()[0]);

Deno.test("patchSides preferred: each patch term is the preferred patch's alone, by hand", async () => {
  const x = lossInputs();
  const o = { beta: 10, betaPatch: 20, lambda: 0.5, tau: 0.25, patchSides: "preferred" as const };
  const terms: number[] = [];
  for (let i = 0; i < 2; i++) {
    ROWS.patchGaps[i].forEach((g, k) => {
      if (Math.abs(g) < 0.25 || g === 0) return;
      const d = g > 0
        ? ROWS.policyChosen[i][k] - ROWS.referenceChosen[i][k]
        : ROWS.policyRejected[i][k] - ROWS.referenceRejected[i][k];
      terms.push(softplusNeg(-20 / 2 * d));
    });
  }
  assert.ok(terms.length > 1, "the fixture has used patch terms");
  const want = terms.reduce((s, v) => s + v, 0) / terms.length;
  const before = tf.memory().numTensors;
  const m = await readDpoMetrics(granDpoLoss(x, o));
  close(m["loss/patch"], want, "patch term");
  const both = await readDpoMetrics(granDpoLoss(x, { ...o, patchSides: undefined }));
  const named = await readDpoMetrics(granDpoLoss(x, { ...o, patchSides: "both" }));
  assert.equal(named.loss, both.loss, "the default is the paper's term, bit for bit");
  close(m["loss/video"], both["loss/video"], "the video term is untouched");
  const t = await granDpoTerms(x, o);
  close(t.patches.loss, want, "granDpoTerms");
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(Object.values(x));
});

Deno.test("patchSides preferred: no gradient reaches the other clip's patch", () => {
  const x = lossInputs();
  const gaps = x.patchGaps.arraySync();
  const grads = tf.grads((pc: tf.Tensor, pr: tf.Tensor) =>
    granDpoLoss({ ...x, policyChosen: pc as tf.Tensor2D, policyRejected: pr as tf.Tensor2D }, {
      betaPatch: 10,
      tau: 0.25,
      video: false,
      patchSides: "preferred",
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

Deno.test("post-train --patch-sides: a bad value fails at once; preferred is stored, the default is not", async () => {
  assert.equal(checkDpoPatchSides("mine", undefined), "both");
  assert.throws(
    () => methodLossOptions("grandpo", { patchSides: "winner" as never }),
    /post-train: Expected patchSides among both, preferred but found "winner"/,
  );
  await assert.rejects(
    () =>
      postTrainCommand.run(
        parseCli(
          ["--pairs", "/nonexistent/pairs.jsonl", "--patch-sides", "one"],
          postTrainCommand.spec,
        ),
      ),
    /--patch-sides: Expected patchSides among both, preferred but found "one"/,
  );
  await withTempDir((dir) =>
    assertStoredOnlyWhenSet(dir, { key: "patchSides", value: "preferred" })
  );
});
