/**
 * Gran-DPO on guided estimates (`lossGuidance`, `lib/dpo/step.ts`): at w = 1 the conditional step
 * exactly; at w = 2 the step's loss is the Gran-DPO loss of u + 2(c − u) for policy and reference,
 * by hand; the null prompt's branch trains only then; no tensor leak; the flag's validation and
 * stored-only-when-set.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import type { Generator } from "../lib/generator/model.ts";
import { cleanEstimates, estimateErrors } from "../lib/dpo/loss_maps.ts";
import { granDpoLoss } from "../lib/dpo/loss.ts";
import { reducePatches } from "../lib/videos/patch.ts";
import { withTempDir } from "./_helpers.ts";
import {
  assertPostTrainRefuses,
  assertStoredOnlyWhenSet,
  conditionGenerator,
  DPO_RUN_GRID,
  DPO_RUN_LOSS,
  dpoRun,
  tinyPairsSetup,
} from "./_dpo_fixtures.ts";

await initBackend({ backend: "cpu" });

const NULL = "prompt.null";

Deno.test("DPO on guided estimates: w = 1 is the conditional step; w = 2 is the loss of u + 2(c − u) by hand and trains the null prompt", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    await conditionGenerator(`${dir}/gen`);
    const plain = await dpoRun(dir, r.file);
    const one = await dpoRun(dir, r.file, { lossGuidance: 1 });
    const two = await dpoRun(dir, r.file, { lossGuidance: 2 });
    const nullOf = (g: Generator) => g.params.get(NULL)!.dataSync().slice();
    const start = nullOf(two.policy);
    for (let i = 0; i < 2; i++) assert.deepEqual(await one.step(i), await plain.step(i));
    assert.deepEqual(nullOf(plain.policy), start, "the conditional loss leaves the null prompt");
    await two.step(0);
    assert.notDeepEqual(nullOf(two.policy), start, "the guided loss trains the null prompt");

    // step 1's loss by hand, on the policy after step 0 and the frozen reference
    const x = two.inputs(1);
    const byHand = (w: number) =>
      tf.tidy(() => {
        const opts = { t: x.t, noise: x.noise };
        const maps = (g: Generator) => {
          const batch = { x0: x.x0, tokens: x.tokens };
          const c = cleanEstimates(g, batch, opts);
          const u = cleanEstimates(g, batch, { ...opts, keep: tf.zeros([4]) as tf.Tensor1D });
          const errors = estimateErrors(g.config, { x0Hat: u.add(c.sub(u).mul(w)), x0: x.x0 }, {
            t: x.t,
            weighting: "x0",
          });
          return tf.split(reducePatches(errors, DPO_RUN_GRID).reshape([4, -1]), 2) as tf.Tensor2D[];
        };
        const [policyChosen, policyRejected] = maps(two.policy);
        const [referenceChosen, referenceRejected] = maps(two.reference);
        return granDpoLoss({
          policyChosen,
          policyRejected,
          referenceChosen,
          referenceRejected,
          patchGaps: x.patchGaps,
        }, DPO_RUN_LOSS).loss.dataSync()[0];
      });
    const [want, conditional] = [byHand(2), byHand(1)];
    tf.dispose(Object.values(x).filter((v) => v instanceof tf.Tensor));
    const got = (await two.step(1)).loss;
    assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, Math.abs(want)), `${got} vs ${want}`);
    assert.ok(Math.abs(got - conditional) > 1e-3, `${got} vs the conditional ${conditional}`);

    const before = tf.memory().numTensors;
    for (let i = 2; i < 5; i++) assert.ok(Number.isFinite((await two.step(i)).loss));
    assert.equal(tf.memory().numTensors, before, "the guided step leaks");
    for (const run of [plain, one, two]) run.dispose();
  });
});

Deno.test("post-train --loss-guidance: a scale below 1 fails at once; a set scale is stored, the default is not", async () => {
  await assertPostTrainRefuses(
    ["--loss-guidance", "0.5"],
    /--loss-guidance: Expected a guidance scale in \[1, 100\] but found 0\.5/,
  );
  await withTempDir(async (dir) => {
    await assertStoredOnlyWhenSet(dir, { key: "lossGuidance", value: 2 });
  });
});
