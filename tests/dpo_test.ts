import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import fc from "fast-check";
import { initBackend } from "../lib/tensor/backend.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import {
  diffusionDpoLoss,
  type DpoErrorMaps,
  granDpoLoss,
  type GranDpoOptions,
  readDpoMetrics,
} from "../lib/dpo/loss.ts";
import {
  createGenerator,
  disposeGenerator,
  freezeGenerator,
  type Generator,
} from "../lib/generator/model.ts";
import { makeBatch, normalArray } from "../lib/generator/diffusion.ts";
import { patchErrors } from "../lib/dpo/loss_maps.ts";
import { createRng } from "../lib/core/_rng.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

await initBackend({ backend: "cpu" });

const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

function maps(values: number[][][]): DpoErrorMaps {
  const [pc, pr, rc, rr] = values.map((v) => tf.tensor2d(v));
  return { policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr };
}

Deno.test("diffusionDpoLoss equals −log σ(−β/2 · (d_w − d_l)) with TRL-named diagnostics", async () => {
  const m = maps([[[0.1, 0.3]], [[0.4, 0.4]], [[0.2, 0.2]], [[0.3, 0.3]]]);
  const out = await readDpoMetrics(diffusionDpoLoss(m, { beta: 8 }));
  const dw = 0.2 - 0.2, dl = 0.4 - 0.3;
  const inside = -4 * (dw - dl);
  assert.ok(Math.abs(out.loss - softplus(-inside)) < 1e-6);
  assert.ok(Math.abs(out["rewards/chosen"] - -4 * dw) < 1e-6);
  assert.ok(Math.abs(out["rewards/rejected"] - -4 * dl) < 1e-6);
  assert.ok(Math.abs(out["rewards/margins"] - inside) < 1e-6);
  assert.equal(out["rewards/accuracies"], 1);
  assert.ok(Math.abs(out["mse/policy_chosen"] - 0.2) < 1e-6);
  assert.ok(Math.abs(out["mse/ref_rejected"] - 0.3) < 1e-6);
  tf.dispose(Object.values(m));
});

Deno.test("granDpoLoss: per-patch directions from the PRM, τ skips small gaps, diagnostics", async () => {
  // patch 0: chosen better by PRM (gap 1), policy improved it on chosen → positive margin
  // patch 1: PRM prefers the rejected clip (gap −1) → direction flips
  // patch 2: gap 0.1 < τ → skipped
  const m = maps([[[0.1, 0.3, 0.2]], [[0.3, 0.1, 0.2]], [[0.2, 0.2, 0.2]], [[0.2, 0.2, 0.2]]]);
  const gaps = tf.tensor2d([[1, -1, 0.1]]);
  const opts = { beta: 10, betaPatch: 20, lambda: 0.5, tau: 0.25 };
  const out = await readDpoMetrics(granDpoLoss({ ...m, patchGaps: gaps }, opts));
  const video = softplus(-(-5 * ((0.2 - 0.2) - (0.2 - 0.2))));
  const k0 = -10 * 1 * ((0.1 - 0.2) - (0.3 - 0.2)); // inside of patch 0: +2
  const k1 = -10 * -1 * ((0.3 - 0.2) - (0.1 - 0.2)); // patch 1: +2
  const patch = (softplus(-k0) + softplus(-k1)) / 2;
  assert.ok(Math.abs(out["loss/patch"] - patch) < 1e-6);
  assert.ok(Math.abs(out.loss - (video + 0.5 * patch)) < 1e-6);
  assert.ok(Math.abs(out["patch/used"] - 2 / 3) < 1e-6);
  assert.equal(out["patch/disagree"], 0.5);
  assert.equal(out["patch/accuracies"], 1);
  assert.ok(Math.abs(out["patch/margins"] - 2) < 1e-5);
  // patch-only: the video term is gone
  const only = await readDpoMetrics(
    granDpoLoss({ ...m, patchGaps: gaps }, { ...opts, video: false }),
  );
  assert.ok(Math.abs(only.loss - 0.5 * patch) < 1e-6);
  tf.dispose([...Object.values(m), gaps]);
});

Deno.test("λ = 0 is Diffusion-DPO to the last bit, in the loss and in its gradient", () => {
  fc.assert(
    fc.property(
      fc.array(fc.float({ min: 0, max: 2, noNaN: true }), { minLength: 24, maxLength: 24 }),
      fc.float({ min: 1, max: 5000, noNaN: true }),
      (v, beta) => {
        const m = maps(
          [0, 1, 2, 3].map((k) => [v.slice(k * 6, k * 6 + 3), v.slice(k * 6 + 3, k * 6 + 6)]),
        );
        const gaps = tf.tensor2d([[1, -2, 0.5], [0.3, 0, -1]]);
        const [a, ga] = tf.tidy(() => {
          const g = tf.grads((pc: tf.Tensor) =>
            diffusionDpoLoss({ ...m, policyChosen: pc as tf.Tensor2D }, { beta }).loss
          );
          return [
            diffusionDpoLoss(m, { beta }).loss.dataSync()[0],
            g([m.policyChosen])[0].dataSync(),
          ];
        });
        const [b, gb] = tf.tidy(() => {
          const g = tf.grads((pc: tf.Tensor) =>
            granDpoLoss({ ...m, policyChosen: pc as tf.Tensor2D, patchGaps: gaps }, {
              beta,
              lambda: 0,
            }).loss
          );
          return [
            granDpoLoss({ ...m, patchGaps: gaps }, { beta, lambda: 0 }).loss.dataSync()[0],
            g([m.policyChosen])[0].dataSync(),
          ];
        });
        tf.dispose([...Object.values(m), gaps]);
        assert.ok(Object.is(a, b), `${a} vs ${b}`);
        assert.deepEqual(ga, gb);
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("swapping chosen and rejected flips every margin", async () => {
  const m = maps([[[0.1, 0.5]], [[0.3, 0.2]], [[0.25, 0.3]], [[0.2, 0.4]]]);
  const gaps = tf.tensor2d([[0.8, -0.6]]);
  const swapped = {
    policyChosen: m.policyRejected,
    policyRejected: m.policyChosen,
    referenceChosen: m.referenceRejected,
    referenceRejected: m.referenceChosen,
  };
  const neg = gaps.neg() as tf.Tensor2D;
  const a = await readDpoMetrics(granDpoLoss({ ...m, patchGaps: gaps }, { beta: 30, tau: 0 }));
  const b = await readDpoMetrics(granDpoLoss({ ...swapped, patchGaps: neg }, { beta: 30, tau: 0 }));
  assert.ok(Math.abs(a["rewards/margins"] + b["rewards/margins"]) < 1e-6);
  assert.ok(Math.abs(a["rewards/chosen"] - b["rewards/rejected"]) < 1e-6);
  // the patch term follows the PRM's directions, which swap with the clips: its margins stay
  assert.ok(Math.abs(a["patch/margins"] - b["patch/margins"]) < 1e-6);
  tf.dispose([...Object.values(m), gaps, neg]);
});

Deno.test("extreme margins stay finite: −log σ is computed as softplus", async () => {
  const m = maps([[[0]], [[1]], [[1]], [[0]]]);
  const gaps = tf.tensor2d([[-3]]);
  for (const beta of [1e-6, 1e6]) {
    const out = await readDpoMetrics(
      granDpoLoss({ ...m, patchGaps: gaps }, { beta, betaPatch: beta, tau: 0 }),
    );
    assert.ok(Object.values(out).every(Number.isFinite), JSON.stringify(out));
  }
  const huge = await readDpoMetrics(
    diffusionDpoLoss(maps([[[1]], [[0]], [[0]], [[1]]]), { beta: 1e6 }),
  );
  assert.ok(Math.abs(huge.loss - 1e6) / 1e6 < 1e-6); // −log σ(−1e6) = 1e6, not Infinity
  tf.dispose([...Object.values(m), gaps]);
});

Deno.test("bad inputs name the tensor and the op", () => {
  const m = maps([[[0.1, 0.2]], [[0.1, 0.2]], [[0.1, 0.2]], [[0.1, 0.2]]]);
  const bad = tf.tensor2d([[1, 2, 3]]);
  assert.throws(
    () => diffusionDpoLoss({ ...m, referenceRejected: bad }),
    /diffusionDpoLoss: Expected referenceRejected of shape \[1, 2\]/,
  );
  assert.throws(() => granDpoLoss({ ...m, patchGaps: bad }), /granDpoLoss: Expected patchGaps/);
  const gaps = tf.tensor2d([[1, 1]]);
  assert.throws(() => granDpoLoss({ ...m, patchGaps: gaps }, { beta: -1 }), /beta/);
  assert.throws(
    () => granDpoLoss({ ...m, patchGaps: gaps }, { video: false, lambda: 0 }),
    /lambda > 0 when the video term is off/,
  );
  const before = tf.memory().numTensors;
  tf.dispose(Object.values(diffusionDpoLoss(m).metrics));
  tf.dispose(Object.values(granDpoLoss({ ...m, patchGaps: gaps }).metrics));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([...Object.values(m), bad, gaps]);
});

// ---- gradient checks on a tiny generator --------------------------------------------------

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
].map(parsePrompt);
const GRID = { rows: 2, cols: 2, framesPerPatch: 2 };

/**
 * A tiny x0-head generator with a non-zero output head as the frozen reference, and a policy
 * moved off it by small random steps, so a DPO loss is not at its symmetric point.
 */
function movedPolicy(seed: number): { policy: Generator; reference: Generator } {
  const policy = createGenerator({ ...TINY_GENERATOR, prediction: "x0" }, { seed });
  const w0 = policy.params.get("pixel.clean.w")!;
  w0.assign(tf.randomNormal(w0.shape, 0, 0.5, "float32", seed));
  const reference = freezeGenerator(policy);
  const rng = createRng(seed + 100);
  for (const v of policy.params.values()) {
    v.assign(tf.tidy(() => v.add(tf.tensor(normalArray(rng, v.size), v.shape).mul(0.02))));
  }
  return { policy, reference };
}

/** The loss of the policy on fixed pairs as a function of its weights. */
function pairLoss(
  policy: Generator,
  reference: Generator,
  options: GranDpoOptions & { dpo?: boolean },
) {
  const chosen = makeBatch(policy.config, PROMPTS, { seeds: [1, 2] });
  const rejected = makeBatch(policy.config, PROMPTS, { seeds: [3, 4] });
  const rng = createRng(5);
  const eps = normalArray(rng, chosen.x0.size);
  const x0 = tf.concat([chosen.x0, rejected.x0]);
  const tokens = tf.concat([chosen.tokens, chosen.tokens]) as tf.Tensor2D;
  const noise = tf.tensor(Float32Array.from([...eps, ...eps]), x0.shape);
  const t = [300, 650, 300, 650];
  const gaps = tf.tensor2d([[1, -1, 0.5, 0, -0.2, 2, 1, -1], [0.5, 0.5, -2, 1, 0, -1, 1, 1]]);
  const errorOptions = { t, noise, grid: GRID, weighting: "x0" as const };
  const ref = patchErrors(reference, { x0, tokens }, errorOptions);
  const [rc, rr] = tf.split(ref, 2) as tf.Tensor2D[];
  const loss = () =>
    tf.tidy(() => {
      const [pc, pr] = tf.split(
        patchErrors(policy, { x0, tokens }, errorOptions),
        2,
      ) as tf.Tensor2D[];
      const m = {
        policyChosen: pc,
        policyRejected: pr,
        referenceChosen: rc,
        referenceRejected: rr,
      };
      const out = options.dpo
        ? diffusionDpoLoss(m, options)
        : granDpoLoss({ ...m, patchGaps: gaps }, options);
      return out.loss;
    });
  const dispose = () =>
    tf.dispose([
      chosen.x0,
      chosen.tokens,
      rejected.x0,
      rejected.tokens,
      x0,
      tokens,
      noise,
      gaps,
      ref,
      rc,
      rr,
    ]);
  return { loss, dispose };
}

for (
  const [name, options] of [
    ["Diffusion-DPO", { dpo: true, beta: 200 }],
    ["Gran-DPO", { beta: 200, betaPatch: 200, lambda: 1, tau: 0.25 }],
    ["patch-only", { betaPatch: 200, lambda: 1, tau: 0.25, video: false }],
  ] as const
) {
  Deno.test(`${name}: the gradient matches central finite differences on a tiny generator`, () => {
    const { policy, reference } = movedPolicy(3);
    const { loss, dispose } = pairLoss(policy, reference, options);
    const { value, grads } = paramGrads(policy.params, () => loss());
    // The directional derivative along the unit gradient v = g/‖g‖ must be ‖g‖:
    // (L(θ + hv) − L(θ − hv)) / 2h ≈ ∇L·v. (A random direction gives a derivative too small to
    // see in float32 next to the curvature of a step that moves every weight.)
    const present = Object.entries(grads).filter(([, g]) => g) as Array<[string, tf.Tensor]>;
    const norm = Math.sqrt(present.reduce((s, [, g]) => s + g.square().sum().dataSync()[0], 0));
    const direction = new Map(present.map(([n, g]) => [n, g.div(norm)]));
    const analytic = norm;
    const h = 1e-3;
    const shift = (s: number) => {
      for (const [n, v] of direction) {
        const p = policy.params.get(n)!;
        p.assign(tf.tidy(() => p.add(v.mul(s))));
      }
    };
    shift(h);
    const up = tf.tidy(() => loss().dataSync()[0]);
    shift(-2 * h);
    const down = tf.tidy(() => loss().dataSync()[0]);
    shift(h);
    const numeric = (up - down) / (2 * h);
    assert.ok(analytic > 1e-2, `a non-trivial gradient (${analytic})`);
    assert.ok(
      Math.abs(numeric - analytic) <= 0.01 * analytic,
      `finite differences ${numeric} vs analytic ${analytic}`,
    );
    tf.dispose([value, ...Object.values(grads).filter(Boolean), ...direction.values()]);
    dispose();
    disposeGenerator(policy);
    disposeGenerator(reference);
  });
}

Deno.test("a pair of identical clips gives zero gradient from the patch term", () => {
  const { policy, reference } = movedPolicy(4);
  const rng = createRng(1);
  const clips = makeBatch(policy.config, PROMPTS.slice(0, 1).concat(PROMPTS.slice(0, 1)), {
    seeds: [1, 2],
  });
  const eps = normalArray(rng, clips.x0.size / 2);
  const noise = tf.tensor(Float32Array.from([...eps, ...eps]), clips.x0.shape);
  // the PRM would score identical clips identically; even with made-up gaps the term is flat
  const gaps = tf.tensor2d([[1, -1, 2, 0.5, -0.7, 1, 1, -3]]);
  const gradNorm = (x0: tf.Tensor, patchGaps = gaps) => {
    const errorOptions = { t: [400, 400], noise, grid: GRID };
    const ref = patchErrors(reference, { x0, tokens: clips.tokens }, errorOptions);
    const [rc, rr] = tf.split(ref, 2) as tf.Tensor2D[];
    const { value, grads } = paramGrads(policy.params, () =>
      tf.tidy(() => {
        const [pc, pr] = tf.split(
          patchErrors(policy, { x0, tokens: clips.tokens }, errorOptions),
          2,
        ) as tf.Tensor2D[];
        const m = {
          policyChosen: pc,
          policyRejected: pr,
          referenceChosen: rc,
          referenceRejected: rr,
        };
        return granDpoLoss({ ...m, patchGaps }, { video: false, tau: 0 }).loss;
      }));
    const present = Object.values(grads).filter(Boolean);
    const norm = Math.sqrt(present.reduce((s, g) => s + g.square().sum().dataSync()[0], 0));
    tf.dispose([value, ...present, ref, rc, rr]);
    return norm;
  };
  const same = tf.concat([clips.x0.slice(0, 1), clips.x0.slice(0, 1)]);
  const identical = gradNorm(same);
  const different = gradNorm(clips.x0);
  // zero up to float32 rounding of the two (identical) halves of the batch
  assert.ok(identical <= 1e-5 * different, `${identical} vs ${different} for a real pair`);
  // and exactly zero with the gaps the PRM gives identical clips (all 0: every patch skipped)
  const zeros = tf.zeros([1, 8]) as tf.Tensor2D;
  assert.equal(gradNorm(same, zeros), 0);
  tf.dispose([clips.x0, clips.tokens, noise, gaps, same, zeros]);
  disposeGenerator(policy);
  disposeGenerator(reference);
});
