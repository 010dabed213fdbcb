/**
 * The small functions notebook 05 walks through: Gran-DPO's loss taken apart
 * (`granDpoTerms`), a pair held in memory (`pairDataOf`) feeding one step's
 * inputs, and the pairs stage's scoring and best-worst pairing.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { granDpoLoss, granDpoTerms, readDpoMetrics } from "../lib/dpo/loss.ts";
import { dpoStepInputs, pairDataOf } from "../lib/dpo/step.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { bestWorst } from "../lib/pairs/pairs.ts";
import { candidateScores } from "../lib/pairs/scores.ts";
import { createRewardModel, disposeRewardModel } from "../lib/reward/model.ts";
import { flattenPatchScores, scoreRewards } from "../lib/reward/score.ts";
import { createVideo } from "../lib/videos/video.ts";

await initBackend({ backend: "cpu" });

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

Deno.test("granDpoTerms: every term by hand, skipped patches, and the total granDpoLoss returns", async () => {
  const rows = {
    policyChosen: [[0.1, 0.3, 0.2, 0.25], [0.2, 0.2, 0.2, 0.2]],
    policyRejected: [[0.3, 0.1, 0.2, 0.2], [0.1, 0.3, 0.2, 0.2]],
    referenceChosen: [[0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2]],
    referenceRejected: [[0.2, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2]],
    patchGaps: [[1.5, -1.0, 0.1, 0], [0.4, -0.6, -0.2, 0.3]],
  };
  const make = () =>
    Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, tf.tensor2d(v)])) as never;
  const options = { beta: 10, betaPatch: 20, lambda: 0.5, tau: 0.25 };
  const inputs = make();
  const t = await granDpoTerms(inputs, options);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-5, `${a} vs ${b}`);
  // video: d = mean(policy − reference) per pair
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  rows.policyChosen.forEach((row, i) => {
    const dC = mean(row) - 0.2, dR = mean(rows.policyRejected[i]) - 0.2;
    close(t.video.dChosen[i], dC);
    close(t.video.dRejected[i], dR);
    close(t.video.terms[i], softplus((options.beta / 2) * (dC - dR)));
  });
  close(t.video.loss, mean(t.video.terms));
  // patches: gap 0.1 and 0 and −0.2 are under τ (skipped), the rest used with their signs
  assert.deepEqual(t.patches.used, [[true, true, false, false], [true, true, false, true]]);
  assert.deepEqual(t.patches.direction, [[1, -1, 1, 0], [1, -1, -1, 1]]);
  const expected: number[] = [];
  t.patches.used.forEach((row, i) =>
    row.forEach((u, k) => {
      const d = rows.policyChosen[i][k] - rows.policyRejected[i][k];
      const term = softplus((options.betaPatch / 2) * t.patches.direction[i][k] * d);
      if (u) {
        close(t.patches.d[i][k], d);
        close(t.patches.terms[i][k]!, term);
        expected.push(term);
      } else assert.equal(t.patches.terms[i][k], null);
    })
  );
  close(t.patches.loss, mean(expected));
  close(t.total, t.video.loss + options.lambda * t.patches.loss);
  const m = await readDpoMetrics(granDpoLoss(inputs, options));
  close(t.total, m.loss);
  // patch-only: the video term does not count
  const po = await granDpoTerms(inputs, { ...options, video: false });
  close(po.total, options.lambda * po.patches.loss);
  assert.equal(po.videoTerm, false);
  await assert.rejects(() => granDpoTerms(inputs, { tau: -1 }), /granDpoTerms: Expected tau/);
  tf.dispose(Object.values(inputs));
});

Deno.test("pairDataOf: a pair in memory gives one DPO step's inputs, chosen first", () => {
  const gen = createGenerator({
    frames: 4,
    size: 8,
    dim: 16,
    depth: 1,
    heads: 2,
    tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 },
  });
  const clip = (v: number) =>
    createVideo({
      frames: new Float32Array(4 * 8 * 8 * 3).fill(v),
      numFrames: 4,
      height: 8,
      width: 8,
    });
  const grid = { rows: 2, cols: 2, framesPerPatch: 2 };
  const gaps = [0.5, -0.3, 0, 0.2, 1, -1, 0.1, 0.4];
  const text = "one red circle moving up slowly on a black background";
  const data = pairDataOf(
    [{ prompt: text, chosen: clip(1), rejected: clip(0), patchGaps: gaps }],
    grid,
  );
  assert.equal(data.clips[0][0][0], 255);
  assert.equal(data.clips[0][1][0], 0);
  const inputs = dpoStepInputs(gen, data, 0, { batchSize: 1, seed: 3, tMin: 50, tMax: 950 });
  assert.deepEqual(inputs.x0.shape, [2, 4, 8, 8, 3]);
  const x = inputs.x0.dataSync();
  assert.equal(x[0], 1); // the chosen clip, in model space
  assert.equal(x[x.length - 1], -1); // then the rejected one
  assert.equal(inputs.t[0], inputs.t[1]);
  const g = inputs.patchGaps.dataSync();
  gaps.forEach((v, k) => assert.ok(Math.abs(g[k] - v) < 1e-6));
  tf.dispose(Object.values(inputs).filter((v) => v instanceof tf.Tensor));
  assert.throws(
    () => pairDataOf([{ prompt: text, chosen: clip(1), rejected: clip(0), patchGaps: [1] }], grid),
    /pairDataOf items\[0\]\.patchGaps: Expected 8 gaps/,
  );
  assert.throws(() => pairDataOf([], grid), /pairDataOf: Expected at least one pair/);
  disposeGenerator(gen);
});

Deno.test("candidateScores and bestWorst: the pairs stage's scoring and pairing", async () => {
  const prm = createRewardModel(
    { frames: 4, size: 16, grid: "2x2x2", dim: 16, depth: 1, heads: 2 },
    {
      seed: 1,
    },
  );
  const text = "two red circles moving left quickly on a gray background";
  const items = [0.2, 0.6].map((v) => ({
    video: createVideo({
      frames: new Float32Array(4 * 16 * 16 * 3).map((_, i) => (i % 7) * v / 7),
      numFrames: 4,
      height: 16,
      width: 16,
    }),
    prompt: text,
  }));
  const s = await candidateScores(prm, items);
  const raw = await scoreRewards(prm, items);
  raw.forEach((r, i) => {
    const v = Object.values(r.video) as number[];
    assert.ok(Math.abs(s.video[i] - v.reduce((a, b) => a + b, 0) / v.length) < 1e-9);
    const patches = flattenPatchScores(r.patches);
    assert.equal(s.patches[i].length, 8);
    patches.forEach((a, k) =>
      assert.ok(Math.abs(s.patches[i][k] - a.reduce((x, y) => x + y, 0) / a.length) < 1e-9)
    );
  });
  disposeRewardModel(prm);
  assert.deepEqual(bestWorst([2.9, 3.4, 2.1, 3.0]), [1, 2]);
  assert.deepEqual(bestWorst([3, 3, 3]), [0, 2]);
  assert.throws(() => bestWorst([1]), /bestWorst: Expected at least two video scores/);
});
