import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import {
  createGenerator,
  DEFAULT_GENERATOR_CONFIG,
  disposeGenerator,
  freezeGenerator,
  type GeneratorConfig,
  predictNoise,
  predictNoiseAndClean,
} from "../lib/generator/model.ts";
import { alphaBars, makeBatch } from "../lib/generator/diffusion.ts";
import {
  errorWeights,
  patchErrors,
  patchLossMap,
  pixelErrors,
  sameGeneratorConfig,
} from "../lib/dpo/loss_maps.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

await initBackend();

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
].map(parsePrompt);
const GRID = { rows: 2, cols: 2, framesPerPatch: 2 };

function tiny(config: Partial<GeneratorConfig>, seed: number) {
  const gen = createGenerator({ ...TINY_GENERATOR, ...config }, { seed });
  const w = gen.params.get("pixel.clean.w")!;
  w.assign(tf.randomNormal(w.shape, 0, 0.5, "float32", seed));
  return gen;
}

Deno.test("errorWeights: 1, SNR and min(SNR, γ) per timestep; bad input is named", () => {
  const ab = alphaBars(1000, "cosine");
  const snr = (t: number) => ab[t] / (1 - ab[t]);
  const c = DEFAULT_GENERATOR_CONFIG;
  assert.deepEqual([...errorWeights(c, [10, 900], { weighting: "x0" })], [1, 1]);
  const eps = errorWeights(c, [10, 900], { weighting: "eps" });
  assert.ok(Math.abs(eps[0] - snr(10)) / snr(10) < 1e-6 && eps[0] > 1000);
  const clipped = errorWeights(c, [10, 900], { weighting: "min-snr", gamma: 5 });
  assert.equal(clipped[0], 5);
  assert.ok(Math.abs(clipped[1] - snr(900)) < 1e-6);
  assert.throws(() => errorWeights(c, [1000]), /timesteps in \[0, 1000\)/);
  assert.throws(() => errorWeights(c, [1], { weighting: "l1" as never }), /weighting among/);
});

for (const prediction of ["eps", "x0"] as const) {
  Deno.test(`pixelErrors (${prediction} head): "eps" is the ε-error, "x0" the x0-error, "min-snr" in between`, () => {
    const gen = tiny({ prediction }, 3);
    const batch = makeBatch(gen.config, PROMPTS);
    const t = [100, 700];
    const noise = tf.randomNormal(batch.x0.shape, 0, 1, "float32", 5);
    const mean = (w: "x0" | "eps" | "min-snr") =>
      tf.tidy(() => pixelErrors(gen, batch, { t, noise, weighting: w }).mean(-1).mean(-1).mean(-1))
        .arraySync() as number[];
    const tt = tf.tensor1d(t, "int32");
    const ab = alphaBars(1000, "cosine");
    const [epsError, x0Error] = tf.tidy(() => {
      const a = tf.tensor1d(t.map((s) => ab[s])).reshape([-1, 1, 1, 1, 1]);
      const xt = batch.x0.mul(a.sqrt()).add(noise.mul(tf.sub(1, a).sqrt()));
      const eps = predictNoise(gen, { xt, t: tt, tokens: batch.tokens }).sub(noise).square()
        .mean([1, 2, 3, 4]);
      const clean = prediction === "x0"
        ? predictNoiseAndClean(gen, { xt, t: tt, tokens: batch.tokens }).clean
        : xt.sub(predictNoise(gen, { xt, t: tt, tokens: batch.tokens }).mul(tf.sub(1, a).sqrt()))
          .div(a.sqrt());
      return [eps.arraySync(), clean.sub(batch.x0).square().mean([1, 2, 3, 4]).arraySync()];
    }) as unknown as [number[], number[]];
    const near = (a: number, b: number) => Math.abs(a - b) <= 2e-3 * Math.abs(b) + 1e-6;
    mean("eps").forEach((v, i) => assert.ok(near(v, epsError[i]), `eps ${v} vs ${epsError[i]}`));
    mean("x0").forEach((v, i) => assert.ok(near(v, x0Error[i]), `x0 ${v} vs ${x0Error[i]}`));
    const snr = t.map((s) => ab[s] / (1 - ab[s]));
    mean("min-snr").forEach((v, i) =>
      assert.ok(near(v, x0Error[i] * Math.min(snr[i], 5)), `min-snr ${v}`)
    );
    tf.dispose([batch.x0, batch.tokens, noise, tt]);
    disposeGenerator(gen);
  });
}

Deno.test("patchErrors: [B, P] in patch-index order, the means of the pixel map", () => {
  const gen = tiny({ prediction: "x0" }, 4);
  const batch = makeBatch(gen.config, PROMPTS);
  const noise = tf.randomNormal(batch.x0.shape, 0, 1, "float32", 2);
  const options = { t: [300, 600], noise, grid: GRID };
  const patches = patchErrors(gen, batch, options);
  const pixels = pixelErrors(gen, batch, options);
  assert.deepEqual(patches.shape, [2, 8]);
  // patch (segment 1, row 0, col 1) = index (1·2 + 0)·2 + 1 = 5: frames 2–3, rows 0–7, cols 8–15
  const manual = pixels.slice([0, 2, 0, 8], [1, 2, 8, 8]).mean().dataSync()[0];
  assert.ok(Math.abs(patches.arraySync()[0][5] - manual) < 1e-6);
  assert.throws(() => patchErrors(gen, batch, { ...options, t: [1] }), /2 timesteps/);
  tf.dispose([batch.x0, batch.tokens, noise, patches, pixels]);
  disposeGenerator(gen);
});

Deno.test("patchLossMap: shared t and ε, patch means of the pixel map, gradient only to the policy", () => {
  const policy = tiny({}, 6);
  const reference = freezeGenerator(policy);
  const batch = makeBatch(policy.config, PROMPTS);
  const t = tf.tensor1d([100, 700], "int32");
  const noise = tf.randomNormal([2, 4, 16, 16, 3], 0, 1, "float32", 5);
  const maps = patchLossMap(policy, reference, batch, { t, noise, grid: GRID, weighting: "eps" });
  assert.deepEqual(maps.policyPixels.shape, [2, 4, 16, 16]);
  assert.deepEqual(maps.policyPatches.shape, [2, 2, 2, 2]);
  assert.deepEqual(maps.policyPixels.dataSync(), maps.referencePixels.dataSync());
  const pm = maps.policyPatches.mean().dataSync()[0];
  const px = maps.policyPixels.mean().dataSync()[0];
  assert.ok(Math.abs(pm - px) < 1e-5);
  const { value, grads } = paramGrads(policy.params, () =>
    tf.tidy(() => {
      const m = patchLossMap(policy, reference, batch, { t, noise, grid: GRID });
      return m.policyPatches.sub(m.referencePatches).sum() as tf.Scalar;
    }));
  assert.ok(grads["final.out.w"].abs().sum().dataSync()[0] > 0);
  assert.ok([...reference.params.values()].every((v) => !v.trainable));
  const mismatched = createGenerator({ ...TINY_GENERATOR, depth: 2 });
  assert.ok(!sameGeneratorConfig(policy.config, mismatched.config));
  assert.throws(
    () => patchLossMap(policy, mismatched, batch, { t, noise, grid: GRID }),
    /same config/,
  );
  tf.dispose([t, noise, batch.x0, batch.tokens, value, ...Object.values(grads)]);
  tf.dispose(Object.values(maps));
  [policy, reference, mismatched].forEach(disposeGenerator);
});
