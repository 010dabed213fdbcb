/**
 * The guidance hold (`lib/dpo/guidance_hold.ts`): the term by hand, its gradient (only where the
 * policy moved toward the unconditional estimate, and only along d), its validation, and the DPO
 * step and post-train option around it (zero at the reference, no tensor leak, stored only when set).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { guidanceHoldLoss } from "../lib/dpo/guidance_hold.ts";
import { createRng } from "../lib/core/_rng.ts";
import { withTempDir } from "./_helpers.ts";
import {
  assertPostTrainRefuses,
  assertStoredOnlyWhenSet,
  conditionGenerator,
  dpoRun,
  tinyPairsSetup,
} from "./_dpo_fixtures.ts";

await initBackend({ backend: "cpu" });

const GRID = { rows: 2, cols: 2, framesPerPatch: 1 };
const SHAPE = [2, 2, 4, 4, 3]; // B, T, H, W, C: 2·2·2·2 = 16 patches of 2×2 pixels
const rng = createRng(7);
const draw = () => Float32Array.from({ length: 2 * 2 * 4 * 4 * 3 }, () => rng.next() * 2 - 1);
const [P, R, U] = [draw(), draw(), draw()];
const W = [2, 0.5];

/**
 * The term by hand: per patch w_b · mean over pixels of ⟨p − r, r − u⟩ / 3, hinged, times the
 * held mask (patch index (frame·2 + row)·2 + col within a clip), averaged over every patch.
 */
function byHand(p: Float32Array, r: Float32Array, u: Float32Array, held?: number[][]): number {
  let total = 0;
  for (let b = 0; b < 2; b++) {
    for (let f = 0; f < 2; f++) {
      for (let pr = 0; pr < 2; pr++) {
        for (let pc = 0; pc < 2; pc++) {
          let dot = 0;
          for (let y = 2 * pr; y < 2 * pr + 2; y++) {
            for (let x = 2 * pc; x < 2 * pc + 2; x++) {
              for (let c = 0; c < 3; c++) {
                const i = (((b * 2 + f) * 4 + y) * 4 + x) * 3 + c;
                dot += (p[i] - r[i]) * (r[i] - u[i]);
              }
            }
          }
          total += Math.max(0, -W[b] * dot / 12) * (held ? held[b][(f * 2 + pr) * 2 + pc] : 1);
        }
      }
    }
  }
  return total / 16;
}

const hold = (p: tf.Tensor, r = tf.tensor(R, SHAPE), u = tf.tensor(U, SHAPE)) =>
  guidanceHoldLoss({ policy: p, reference: r, unconditional: u }, { weights: W, grid: GRID });

Deno.test("guidance hold: the hinge by hand; zero at the reference and for motion across d", () => {
  const got = tf.tidy(() => hold(tf.tensor(P, SHAPE)).dataSync()[0]);
  const want = byHand(P, R, U);
  assert.ok(want > 0 && Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  assert.equal(tf.tidy(() => hold(tf.tensor(R, SHAPE)).dataSync()[0]), 0);
  // a policy that adds what the prompt adds (p − r = +d) or moves across d (⊥ in every pixel) is free
  const d = R.map((r, i) => r - U[i]);
  const further = R.map((r, i) => r + d[i]);
  const across = R.map((r, i) => {
    const c = i % 3, base = i - c; // (d1, −d0, 0) is ⊥ (d0, d1, d2)
    return r + (c === 0 ? d[base + 1] : c === 1 ? -d[base] : 0);
  });
  for (const p of [further, across]) {
    assert.ok(tf.tidy(() => hold(tf.tensor(p, SHAPE)).dataSync()[0]) < 1e-7);
  }
  assert.ok(Math.abs(byHand(across, R, U)) < 1e-6);
  // a held mask: the skipped patches count 0 in the mean over every patch
  const held = [[1, 0, 1, 1, 0, 0, 1, 1], [0, 1, 1, 1, 1, 1, 1, 0]];
  const masked = tf.tidy(() =>
    guidanceHoldLoss(
      {
        policy: tf.tensor(P, SHAPE),
        reference: tf.tensor(R, SHAPE),
        unconditional: tf.tensor(U, SHAPE),
      },
      { weights: W, grid: GRID, held: tf.tensor2d(held) },
    ).dataSync()[0]
  );
  const wantMasked = byHand(P, R, U, held);
  assert.ok(
    wantMasked < want && Math.abs(masked - wantMasked) < 1e-6,
    `${masked} vs ${wantMasked}`,
  );
});

Deno.test("guidance hold: its gradient is −w_b·d/(3·B·P·pixels) on the patches moved toward u, 0 elsewhere", () => {
  const g = tf.tidy(() => tf.grad((p: tf.Tensor) => hold(p))(tf.tensor(P, SHAPE)).dataSync());
  for (let b = 0; b < 2; b++) {
    for (let k = 0; k < 8; k++) {
      const [f, pr, pc] = [Math.floor(k / 4), Math.floor(k / 2) % 2, k % 2];
      const cells: number[] = [];
      let dot = 0;
      for (let y = 2 * pr; y < 2 * pr + 2; y++) {
        for (let x = 2 * pc; x < 2 * pc + 2; x++) {
          for (let c = 0; c < 3; c++) {
            const i = (((b * 2 + f) * 4 + y) * 4 + x) * 3 + c;
            cells.push(i);
            dot += (P[i] - R[i]) * (R[i] - U[i]);
          }
        }
      }
      for (const i of cells) {
        const want = dot < 0 ? -W[b] * (R[i] - U[i]) / (3 * 16 * 4) : 0;
        assert.ok(Math.abs(g[i] - want) < 1e-7, `clip ${b} patch ${k}: ${g[i]} vs ${want}`);
      }
    }
  }
});

Deno.test("guidance hold: bad inputs are named, and it leaks no tensors", () => {
  const [p, r] = [tf.tensor(P, SHAPE), tf.tensor(R, SHAPE)];
  assert.throws(
    () =>
      guidanceHoldLoss({ policy: p, reference: r, unconditional: r.slice(0, 1) }, {
        weights: W,
        grid: GRID,
      }),
    /guidanceHoldLoss unconditional: Expected clean estimates \[B, T, H, W, 3\] of one shape but found "\[1,2,4,4,3\]"/,
  );
  assert.throws(
    () =>
      guidanceHoldLoss({ policy: p, reference: r, unconditional: r }, { weights: [1], grid: GRID }),
    /guidanceHoldLoss: Expected 2 weights \(one per clip\)/,
  );
  assert.throws(
    () =>
      guidanceHoldLoss({ policy: p, reference: r, unconditional: r }, {
        weights: W,
        grid: GRID,
        held: tf.ones([2, 4]) as tf.Tensor2D,
      }),
    /guidanceHoldLoss held: Expected a mask of shape \[2, 8\] but found "\[2,4\]"/,
  );
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) hold(p, r, r).dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([p, r]);
});

Deno.test("DPO steps with the guidance hold: 0 at the reference, the step's loss unchanged there, leak-free", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    await conditionGenerator(`${dir}/gen`);
    const plain = await dpoRun(dir, r.file);
    const held = await dpoRun(dir, r.file, { guidanceHoldWeight: 1e4 });
    const undisputed = await dpoRun(dir, r.file, {
      guidanceHoldWeight: 1e4,
      guidanceHoldPatches: "undisputed",
    });
    const [a, b] = [await plain.step(0), await held.step(0)];
    assert.equal(a["loss/guidance"], undefined);
    assert.equal(b["loss/guidance"], 0, "policy = reference at step 0");
    assert.ok(Math.abs(b.loss - a.loss) < 1e-6, `${b.loss} vs ${a.loss}`);
    // the hold's gradient is 0 at the reference (relu at 0), so after step 0 the two policies are
    // the same: at step 1 the undisputed patches, a subset, hold at most as much as all of them
    const [h1, u1] = [await held.step(1), await undisputed.step(1)];
    assert.ok(h1["loss/guidance"] > 0, `${h1["loss/guidance"]}`);
    assert.ok(
      u1["loss/guidance"] <= h1["loss/guidance"],
      `${u1["loss/guidance"]} vs ${h1["loss/guidance"]}`,
    );
    for (let i = 2; i < 5; i++) await Promise.all([held.step(i), undisputed.step(i)]);
    const after = tf.memory().numTensors;
    for (let i = 5; i < 10; i++) {
      const m = await (i % 2 ? held : undisputed).step(i);
      assert.ok(Number.isFinite(m["loss/guidance"]) && m["loss/guidance"] >= 0);
    }
    assert.equal(tf.memory().numTensors, after, "the hold leaks");
    plain.dispose();
    held.dispose();
    undisputed.dispose();
  });
});

Deno.test("DPO steps with the guidance hold from t: from 1 is every clip at weight 1 (the x0 weighting's), from 999 none", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    await conditionGenerator(`${dir}/gen`);
    // dpoRun weights errors by "x0" (w = 1), and its timesteps are drawn from [50, 950)
    const runs = await Promise.all(
      [0, 1, 999].map((from) =>
        dpoRun(dir, r.file, { guidanceHoldWeight: 1e4, guidanceHoldFrom: from })
      ),
    );
    for (let i = 0; i < 3; i++) {
      const [all, fromOne, none] = await Promise.all(runs.map((run) => run.step(i)));
      if (i > 0) assert.ok(all["loss/guidance"] > 0, `${all["loss/guidance"]}`);
      assert.equal(fromOne["loss/guidance"], all["loss/guidance"]);
      assert.equal(fromOne.loss, all.loss);
      assert.equal(none["loss/guidance"], 0);
    }
    for (const run of runs) run.dispose();
  });
});

Deno.test("post-train --guidance-hold: a bad value fails at once; a set weight is stored, the default is not", async () => {
  await assertPostTrainRefuses(
    ["--guidance-hold=-1"],
    /--guidance-hold: Expected a number ≥ 0 but found -1/,
  );
  await assertPostTrainRefuses(
    ["--guidance-hold-patches", "some"],
    /--guidance-hold-patches: Expected all \| undisputed but found "some"/,
  );
  await assertPostTrainRefuses(
    ["--guidance-hold-from=-5"],
    /--guidance-hold-from: Expected a timestep ≥ 0 but found -5/,
  );
  await withTempDir(async (dir) => {
    await assertStoredOnlyWhenSet(dir, { key: "guidanceHoldWeight", value: 3 });
  });
  await withTempDir(async (dir) => {
    await assertStoredOnlyWhenSet(dir, { key: "guidanceHoldPatches", value: "undisputed" });
  });
  await withTempDir(async (dir) => {
    await assertStoredOnlyWhenSet(dir, { key: "guidanceHoldFrom", value: 500 });
  });
});
