/**
 * The opt-in anchor toward the reference on the winners (`lib/dpo/anchor.ts`): its terms by
 * hand in every method, that "none" changes nothing to the last bit, the bound that makes "kl" a
 * divergence proxy, its gradient, validation and tensor counts, and the post-train option and
 * flag around it.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { initBackend } from "../lib/tensor/backend.ts";
import { type DpoAnchor, dpoAnchorLoss } from "../lib/dpo/anchor.ts";
import { diffusionDpoLoss, granDpoLoss, granDpoTerms, readDpoMetrics } from "../lib/dpo/loss.ts";
import { methodLossOptions, postTrain } from "../lib/dpo/post_train.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { postTrainCommand } from "../lib/cli/post_train.ts";
import { withTempDir } from "./_helpers.ts";
import { LOSS_ROWS, lossInputs, tinyPairsSetup } from "./_dpo_fixtures.ts";

await initBackend({ backend: "cpu" });

const ROWS = LOSS_ROWS;
const inputs = lossInputs;

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
/** The anchor terms of ROWS by hand. */
const SFT = mean(ROWS.policyChosen.flat());
const KL = mean(
  ROWS.policyChosen.flat().map((e, i) =>
    (Math.sqrt(e) - Math.sqrt(ROWS.referenceChosen.flat()[i])) ** 2
  ),
);
const DPOP = mean(
  ROWS.policyChosen.flat().map((e, i) => Math.max(0, e - ROWS.referenceChosen.flat()[i])),
);
const close = (a: number, b: number, what = "") =>
  assert.ok(Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

Deno.test("anchor: sft, kl and dpop by hand, added as w · term to Diffusion-DPO, Gran-DPO and patch-only", async () => {
  const x = inputs();
  const options = { beta: 10, betaPatch: 20, lambda: 0.5, tau: 0.25 };
  for (const [anchor, term] of [["sft", SFT], ["kl", KL], ["dpop", DPOP]] as const) {
    const anchored = { anchor, anchorWeight: 3 };
    const dpo = await readDpoMetrics(diffusionDpoLoss(x, { beta: 10 }));
    const dpoA = await readDpoMetrics(diffusionDpoLoss(x, { beta: 10, ...anchored }));
    close(dpoA["loss/anchor"], term, `${anchor} dpo term`);
    close(dpoA.loss, dpo.loss + 3 * term, `${anchor} dpo loss`);
    assert.equal(dpoA["rewards/margins"], dpo["rewards/margins"]);
    for (const video of [true, false]) {
      const plain = await readDpoMetrics(granDpoLoss(x, { ...options, video }));
      const a = await readDpoMetrics(granDpoLoss(x, { ...options, video, ...anchored }));
      close(a["loss/anchor"], term, `${anchor} video=${video} term`);
      close(a.loss, plain.loss + 3 * term, `${anchor} video=${video} loss`);
      assert.equal(a["loss/patch"], plain["loss/patch"]);
      assert.equal(a["loss/video"], plain["loss/video"]);
    }
    // granDpoTerms takes it apart the same way
    const t = await granDpoTerms(x, { ...options, ...anchored });
    assert.deepEqual({ ...t.anchor, loss: 0 }, { kind: anchor, weight: 3, loss: 0 });
    close(t.anchor.loss, term);
    close(t.total, t.video.loss + 0.5 * t.patches.loss + 3 * term, `${anchor} total`);
  }
  // the kl term is 0 where the policy's error on the winner is the reference's
  const same = tf.tidy(() =>
    dpoAnchorLoss({ policyChosen: x.referenceChosen, referenceChosen: x.referenceChosen }, "kl")
      .dataSync()[0]
  );
  assert.equal(same, 0);
  tf.dispose(Object.values(x));
});

Deno.test("anchor none: no metric, and the loss and its gradient are bit for bit the unanchored ones", async () => {
  const x = inputs();
  const value = (o: object) =>
    tf.tidy(() => {
      const g = tf.grads((pc: tf.Tensor) =>
        granDpoLoss({ ...x, policyChosen: pc as tf.Tensor2D }, o).loss
      )([x.policyChosen])[0];
      return [granDpoLoss(x, o).loss.dataSync()[0], ...g.dataSync()];
    });
  for (const o of [{}, { lambda: 0 }, { video: false }]) {
    assert.deepEqual(value({ ...o, anchor: "none", anchorWeight: 7 }), value(o));
  }
  const m = await readDpoMetrics(diffusionDpoLoss(x, { anchor: "none" }));
  assert.equal("loss/anchor" in m, false);
  assert.equal((await granDpoTerms(x)).anchor.loss, 0);
  tf.dispose(Object.values(x));
});

Deno.test("anchor gradients: sft pulls every chosen error down by w/(B·P); kl pulls the policy back to the reference; dpop only where worse", () => {
  const x = inputs();
  const grad = (anchor: DpoAnchor, weight: number) =>
    tf.tidy(() => {
      const f = (pc: tf.Tensor) =>
        dpoAnchorLoss(
          { policyChosen: pc as tf.Tensor2D, referenceChosen: x.referenceChosen },
          anchor,
        )
          .mul(weight) as tf.Scalar;
      return tf.grad(f)(x.policyChosen).arraySync() as number[][];
    });
  for (const row of grad("sft", 6)) for (const g of row) close(g, 1);
  // kl: d/de of (√e − √r)² = (√e − √r)/√e: positive where the policy's error is above the
  // reference's, negative where below, 0 where equal
  const kl = grad("kl", 1);
  ROWS.policyChosen.forEach((row, i) =>
    row.forEach((e, k) => {
      const r = ROWS.referenceChosen[i][k];
      close(kl[i][k], (Math.sqrt(e) - Math.sqrt(r)) / Math.sqrt(e) / 6, `kl grad ${i},${k}`);
    })
  );
  // dpop: w/(B·P) where the policy's error on the winner is above the reference's, else 0
  const dpop = grad("dpop", 6);
  ROWS.policyChosen.forEach((row, i) =>
    row.forEach((e, k) =>
      close(dpop[i][k], e > ROWS.referenceChosen[i][k] ? 1 : 0, `dpop grad ${i},${k}`)
    )
  );
  // no NaN at an error of exactly 0
  const zero = tf.tidy(() =>
    tf.grad((pc: tf.Tensor) =>
      dpoAnchorLoss({ policyChosen: pc as tf.Tensor2D, referenceChosen: x.referenceChosen }, "kl")
    )(tf.zeros([2, 3])).dataSync()
  );
  assert.ok(zero.every(Number.isFinite), `${zero}`);
  tf.dispose(Object.values(x));
});

Deno.test("kl anchor: (√e_θ − √e_ref)² is at most the mean squared gap between the two x̂0 (the step KL's proxy)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.float({ min: -2, max: 2, noNaN: true }), { minLength: 3, maxLength: 3 })
        .chain((x0) =>
          fc.tuple(
            fc.constant(x0),
            fc.array(fc.float({ min: -2, max: 2, noNaN: true }), { minLength: 3, maxLength: 3 }),
            fc.array(fc.float({ min: -2, max: 2, noNaN: true }), { minLength: 3, maxLength: 3 }),
            fc.float({ min: Math.fround(0.01), max: 10, noNaN: true }),
          )
        ),
      ([x0, a, b, w]) => {
        const mse = (p: number[], q: number[]) => w * mean(p.map((v, i) => (v - q[i]) ** 2));
        const bound = (Math.sqrt(mse(a, x0)) - Math.sqrt(mse(b, x0))) ** 2;
        assert.ok(bound <= mse(a, b) * (1 + 1e-9) + 1e-12, `${bound} > ${mse(a, b)}`);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("anchor: bad options are named; anchored losses leak no tensors", async () => {
  const x = inputs();
  assert.throws(
    () => diffusionDpoLoss(x, { anchor: "l2" as never }),
    /diffusionDpoLoss: Expected anchor among none, sft, kl, dpop but found "l2"/,
  );
  assert.throws(
    () => granDpoLoss(x, { anchor: "sft", anchorWeight: -1 }),
    /granDpoLoss: Expected anchorWeight to be a finite number in \[0, Infinity\] but found -1/,
  );
  assert.throws(() => dpoAnchorLoss(x, "x" as never), /dpoAnchorLoss: Expected anchor/);
  assert.throws(() => methodLossOptions("dpo", { anchor: "KL" as never }), /post-train: .*anchor/);
  const before = tf.memory().numTensors;
  for (const anchor of ["sft", "kl", "dpop"] as const) {
    await readDpoMetrics(diffusionDpoLoss(x, { anchor }));
    await readDpoMetrics(granDpoLoss(x, { anchor }));
    await granDpoTerms(x, { anchor, video: false });
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(Object.values(x));
});

Deno.test("post-train --anchor: a bad value fails before the backend or any file is touched", async () => {
  const run = (args: string[]) =>
    postTrainCommand.run(
      parseCli(["--pairs", "/nonexistent/pairs.jsonl", ...args], postTrainCommand.spec),
    );
  const t0 = performance.now();
  await assert.rejects(
    () => run(["--anchor", "l2"]),
    /--anchor: Expected none \| sft \| kl \| dpop but found "l2"/,
  );
  await assert.rejects(() => run(["--anchor", "sft", "--anchor-weight=-2"]), /--anchor-weight/);
  await assert.rejects(
    () => run(["--anchor-weight", "much"]),
    /--anchor-weight: Expected a number/,
  );
  assert.ok(performance.now() - t0 < 1000, "refused at once");
});

Deno.test("postTrain with an anchor logs loss/anchor, stores it in the settings and refuses to resume without it", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
    const base = { pairs: r.file, generatorDir: `${dir}/gen`, steps: 2, batchSize: 2, quiet: true };
    await postTrain({ ...base, out: `${dir}/plain`, method: "dpo" });
    const plain = await readCheckpointManifest(`${dir}/plain`);
    const settings = plain.meta.settings as Record<string, unknown>;
    // without an anchor nothing new is stored: checkpoints from before it resume as they were
    assert.equal("anchor" in settings || "anchorWeight" in settings, false);
    const log = await readJsonLines<Record<string, number>>(`${dir}/plain.log.jsonl`);
    assert.equal("loss/anchor" in log[0], false);

    const anchored = { ...base, out: `${dir}/kl`, method: "dpo" as const, anchor: "kl" as const };
    const result = await postTrain({ ...anchored, anchorWeight: 50 });
    assert.ok(result.recent["loss/anchor"] >= 0);
    const lines = await readJsonLines<Record<string, number>>(`${dir}/kl.log.jsonl`);
    assert.equal(lines.length, 2);
    // step 1 starts at the reference: the kl anchor is 0 there, and the step moves it
    assert.equal(lines[0]["loss/anchor"], 0);
    assert.ok(lines[1]["loss/anchor"] > 0, `${lines[1]["loss/anchor"]}`);
    const m = await readCheckpointManifest(`${dir}/kl`);
    const s = m.meta.settings as Record<string, unknown>;
    assert.deepEqual([s.anchor, s.anchorWeight], ["kl", 50]);
    await assert.rejects(
      () => postTrain({ ...anchored, anchorWeight: 60 }),
      /same settings \(anchorWeight: 60;.* but found "anchorWeight: 50"/,
    );
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/kl`, method: "dpo" }),
      /same settings \(anchor: \(default\), anchorWeight: \(default\);/,
    );
  });
});
