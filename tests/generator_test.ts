import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend, probeWebGpu } from "../lib/tensor/backend.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { createRng } from "../lib/core/_rng.ts";
import {
  createGenerator,
  DEFAULT_GENERATOR_CONFIG,
  disposeGenerator,
  freezeGenerator,
  type GeneratorConfig,
  generatorFlops,
  generatorParamCount,
  predictNoise,
  predictNoiseAndClean,
  resolveGeneratorConfig,
} from "../lib/generator/model.ts";
import { addNoise, alphaBars, makeBatch } from "../lib/generator/diffusion.ts";
import { trainStep } from "../lib/generator/train_step.ts";
import { patchLossMap } from "../lib/dpo/loss_maps.ts";
import { sampleClips, sampleVideos } from "../lib/generator/sampler.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { TASK_PERMISSIONS } from "./_helpers.ts";
import type { BackendRun } from "./_generator_backend_run.ts";

await initBackend();

const TINY: Partial<GeneratorConfig> = {
  frames: 4,
  size: 16,
  dim: 32,
  depth: 1,
  heads: 2,
  tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 },
};
const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
  "three yellow triangles moving down slowly on a navy background",
  "one white square moving right quickly on a black background",
].map(parsePrompt);

Deno.test("default config is small and its FLOP count scales with the batch", () => {
  const gen = createGenerator();
  const n = generatorParamCount(gen);
  assert.ok(n > 100_000 && n < 1_000_000, `params ${n}`);
  disposeGenerator(gen);
  const one = generatorFlops(DEFAULT_GENERATOR_CONFIG, 1);
  assert.equal(generatorFlops(DEFAULT_GENERATOR_CONFIG, 4), 4 * one);
  // at least the embedding and output projections: 2 · 2 · tokens · D · d
  assert.ok(one > 2 * 2 * 64 * 768 * 96);
  assert.ok(one < 1e9, `flops ${one}`);
});

Deno.test("config validation names the bad field", () => {
  assert.throws(() => resolveGeneratorConfig({ dim: 30, heads: 4 }), /dim divisible by heads 4/);
  assert.throws(
    () => resolveGeneratorConfig({ tokenGrid: { rows: 5, cols: 4, framesPerPatch: 4 } }),
    /5/,
  );
  assert.throws(() => resolveGeneratorConfig({ schedule: "sqrt" as "cosine" }), /schedule/);
});

Deno.test("noise schedules decrease from ~1 to ~0", () => {
  for (const s of ["cosine", "linear"] as const) {
    const ab = alphaBars(1000, s);
    assert.ok(ab[0] > 0.99 && ab[999] < 0.01, s);
    for (let i = 1; i < 1000; i++) assert.ok(ab[i] <= ab[i - 1]);
  }
});

Deno.test("the training loss goes down", async () => {
  const gen = createGenerator(TINY, { seed: 1 });
  const reference = freezeGenerator(gen);
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const batch = makeBatch(gen.config, PROMPTS, { seeds: [1, 2, 3, 4] });
  // a fixed evaluation: the same t and ε before and after training
  const t = tf.tensor1d([300, 500, 700, 850], "int32");
  const noise = tf.randomNormal(batch.x0.shape, 0, 1, "float32", 3);
  const evalLoss = () =>
    tf.tidy(() => {
      const m = patchLossMap(gen, reference, batch, {
        t,
        noise,
        grid: TINY.tokenGrid,
        weighting: "eps",
      });
      return m.policyPixels.mean().dataSync()[0];
    });
  const before = evalLoss();
  const rng = createRng(2);
  for (let i = 0; i < 60; i++) await trainStep(gen, adam, batch, { rng });
  const after = evalLoss();
  assert.ok(after < 0.7 * before, `loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
  tf.dispose([batch.x0, batch.tokens, t, noise]);
  adam.dispose();
  disposeGenerator(gen);
  disposeGenerator(reference);
});

Deno.test("no tensors leak: the count after 20 training steps equals the count after 10", async () => {
  const gen = createGenerator(TINY, { seed: 1 });
  const adam = createAdam(gen.params);
  const rng = createRng(3);
  const step = async () => {
    const batch = makeBatch(gen.config, PROMPTS.slice(0, 2));
    await trainStep(gen, adam, batch, { rng });
    tf.dispose([batch.x0, batch.tokens]);
  };
  for (let i = 0; i < 10; i++) await step();
  const after10 = tf.memory().numTensors;
  for (let i = 0; i < 10; i++) await step();
  assert.equal(tf.memory().numTensors, after10);
  const x = sampleVideos(gen, PROMPTS.slice(0, 1), { steps: 2 });
  x.dispose();
  assert.equal(tf.memory().numTensors, after10);
  adam.dispose();
  disposeGenerator(gen);
});

Deno.test("predictNoise rejects a wrongly shaped input", () => {
  const gen = createGenerator(TINY);
  const tokens = makeBatch(gen.config, PROMPTS.slice(0, 1)).tokens;
  assert.throws(
    () =>
      predictNoise(gen, { xt: tf.zeros([1, 4, 8, 8, 3]), t: tf.tensor1d([1], "int32"), tokens }),
    /xt of shape \[B, 4, 16, 16, 3\]/,
  );
  tokens.dispose();
  disposeGenerator(gen);
});

Deno.test('prediction "x0": optional key, no gate, ε̂ derived from x̂0, x0-MSE goes down', async () => {
  // the default stays an absent key, so default configs and their JSON are unchanged
  assert.equal("prediction" in resolveGeneratorConfig({}), false);
  assert.equal("prediction" in resolveGeneratorConfig({ prediction: "eps" }), false);
  assert.throws(
    () => resolveGeneratorConfig({ prediction: "v" as never }),
    /prediction "eps" or "x0"/,
  );
  const gen = createGenerator({ ...TINY, prediction: "x0" }, { seed: 1 });
  assert.equal(gen.config.prediction, "x0");
  const hasGate = (g: typeof gen) => [...g.params.keys()].some((k) => k.startsWith("pixel.gate"));
  assert.equal(hasGate(gen), false);
  const eps = createGenerator(TINY, { seed: 1 });
  assert.equal(hasGate(eps), true);
  disposeGenerator(eps);
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const batch = makeBatch(gen.config, PROMPTS, { seeds: [1, 2, 3, 4] });
  const t = tf.tensor1d([300, 600, 900, 999], "int32");
  const noise = tf.randomNormal(batch.x0.shape, 0, 1, "float32", 3);
  const ab = alphaBars(gen.config.timesteps, gen.config.schedule);
  const evalLoss = () =>
    tf.tidy(() => {
      const xt = batch.x0.mul(
        tf.tensor1d([300, 600, 900, 999].map((s) => Math.sqrt(ab[s])))
          .reshape([4, 1, 1, 1, 1]),
      ).add(
        noise.mul(
          tf.tensor1d([300, 600, 900, 999].map((s) => Math.sqrt(1 - ab[s]))).reshape([
            4,
            1,
            1,
            1,
            1,
          ]),
        ),
      );
      const { eps, clean } = predictNoiseAndClean(gen, { xt, t, tokens: batch.tokens });
      // ε̂ reconstructs x_t exactly from x̂0
      const a = tf.tensor1d([300, 600, 900, 999].map((s) => ab[s])).reshape([4, 1, 1, 1, 1]);
      const back = clean.mul(a.sqrt()).add(eps.mul(tf.sub(1, a).sqrt()));
      assert.ok(back.sub(xt).abs().max().dataSync()[0] < 1e-3);
      return clean.sub(batch.x0).square().mean().dataSync()[0];
    });
  const before = evalLoss();
  const rng = createRng(2);
  for (let i = 0; i < 40; i++) await trainStep(gen, adam, batch, { rng });
  const after = evalLoss();
  assert.ok(after < 0.7 * before, `x0-MSE ${before.toFixed(3)} → ${after.toFixed(3)}`);
  tf.dispose([batch.x0, batch.tokens, t, noise]);
  adam.dispose();
  disposeGenerator(gen);
});

Deno.test("training (10 steps, losses within 1e-4), sampling and checkpoints run on webgpu and match the cpu backend", async () => {
  const webgpu = await probeWebGpu();
  if (!webgpu.available) {
    // CI installs lavapipe, so there the adapter must exist; elsewhere a machine may lack one.
    if (Deno.env.get("CI")) {
      assert.fail(`CI installs lavapipe, so a WebGPU adapter must exist: ${webgpu.description}`);
    }
    return;
  }
  const run = async (backend: "cpu" | "webgpu"): Promise<BackendRun> => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...TASK_PERMISSIONS,
        new URL("./_generator_backend_run.ts", import.meta.url).pathname,
      ],
      env: { HALO_BACKEND: backend },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${backend} run failed:\n${stderr.slice(-3000)}`);
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  };
  const [gpu, cpu] = await Promise.all([run("webgpu"), run("cpu")]);
  assert.equal(gpu.backend, "webgpu");
  assert.equal(cpu.backend, "cpu");
  assert.deepEqual(gpu.gpuErrors, [], "the WebGPU device reported validation errors");
  assert.equal(gpu.losses.length, cpu.losses.length);
  gpu.losses.forEach((loss, i) => {
    assert.ok(Number.isFinite(loss), `webgpu loss of step ${i + 1}: ${loss}`);
    const rel = Math.abs(loss - cpu.losses[i]) / Math.abs(cpu.losses[i]);
    assert.ok(
      rel < 1e-4,
      `step ${i + 1}: webgpu ${loss} vs cpu ${cpu.losses[i]} (relative ${rel})`,
    );
  });
  assert.equal(gpu.samples.length, cpu.samples.length);
  assert.ok(gpu.samples.every((v) => v >= 0 && v <= 1), "webgpu samples lie in [0, 1]");
  const worst = gpu.samples.reduce((m, v, i) => Math.max(m, Math.abs(v - cpu.samples[i])), 0);
  assert.ok(worst < 1e-3, `webgpu samples differ from cpu by up to ${worst}`);
  for (const r of [gpu, cpu]) {
    assert.ok(
      r.checkpointExact,
      `${r.backend}: the reloaded checkpoint differs from the saved model`,
    );
    assert.equal(
      r.resumed.reloaded,
      r.resumed.live,
      `${r.backend}: a step after reloading differs`,
    );
  }
});

Deno.test("crossContext: optional key; token values interpolate across token edges (a partition of unity)", async () => {
  const { interpolateTokens, lerpWeights } = await import("../lib/generator/_interpolate.ts");
  assert.equal("crossContext" in resolveGeneratorConfig({ crossContext: 0 }), false);
  assert.throws(() => resolveGeneratorConfig({ crossContext: -1 }), /crossContext/);
  // 1-D weights: each pixel's weights sum to 1; pixels at cell centres take their cell only
  const w = lerpWeights(4, 32);
  for (let i = 0; i < 32; i++) {
    let sum = 0;
    for (let c = 0; c < 4; c++) sum += w[c * 32 + i];
    assert.ok(Math.abs(sum - 1) < 1e-6);
  }
  // cell 0's centre is at 3.5 px: pixels 0–3 are its own; across the edge at 8 px the weights are symmetric
  assert.equal(w[0 * 32 + 3], 1);
  assert.equal(w[0 * 32 + 7], w[1 * 32 + 8]);
  assert.ok(w[0 * 32 + 7] > 0.5 && w[0 * 32 + 8] > 0 && w[0 * 32 + 8] < 0.5);
  // 3-D: constants stay constant; a ramp over tokens becomes a smooth ramp over pixels
  const geo = { frames: 4, size: 16, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } };
  const ones = interpolateTokens(tf.ones([1, 8, 3]), geo, 3);
  assert.deepEqual(ones.shape, [1, 4, 16, 16, 3]);
  assert.ok(ones.sub(1).abs().max().dataSync()[0] < 1e-6);
  // token order is (segment, row, col): value = col → pixels ramp along x, flat along y and t
  const cols = interpolateTokens(tf.tensor([0, 1, 0, 1, 0, 1, 0, 1], [1, 8, 1]), geo, 1);
  const v = cols.dataSync();
  const at = (t: number, y: number, x: number) => v[(t * 16 + y) * 16 + x];
  assert.equal(at(0, 0, 0), 0);
  assert.equal(at(3, 15, 15), 1);
  assert.ok(at(0, 5, 7) > 0 && at(0, 5, 7) < at(0, 5, 8) && at(0, 5, 8) < 1);
  assert.equal(at(0, 5, 7), at(2, 11, 7));
  tf.dispose([ones, cols]);
  // a generator with it trains (gradients reach final.cross and pixel.cross)
  const gen = createGenerator({ ...TINY, prediction: "x0", crossContext: 4 }, { seed: 1 });
  assert.equal(gen.config.crossContext, 4);
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const before = gen.params.get("final.cross.w")!.clone();
  const batch = makeBatch(gen.config, PROMPTS, { seeds: [1, 2, 3, 4] });
  const rng = createRng(2);
  const losses = [];
  for (let i = 0; i < 30; i++) losses.push(await trainStep(gen, adam, batch, { rng }));
  assert.ok(gen.params.get("final.cross.w")!.sub(before).abs().max().dataSync()[0] > 0);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-5)) < mean(losses.slice(0, 5)), losses.join(" "));
  tf.dispose([before, batch.x0, batch.tokens]);
  adam.dispose();
  disposeGenerator(gen);
});

Deno.test("pixelWindow: optional odd key; each pixel reads the x_t of its w×w neighbours, zeros outside the frame", () => {
  assert.equal("pixelWindow" in resolveGeneratorConfig({ pixelWindow: 1 }), false);
  assert.throws(() => resolveGeneratorConfig({ pixelWindow: 2 }), /pixelWindow odd/);
  assert.throws(() => resolveGeneratorConfig({ pixelWindow: 0 }), /pixelWindow/);
  assert.ok(
    generatorFlops({ ...DEFAULT_GENERATOR_CONFIG, pixelWindow: 3 }, 1) >
      generatorFlops(DEFAULT_GENERATOR_CONFIG, 1),
  );
  // Zero the token embedding so x_t reaches a pixel only through pixel.x, and give the clean
  // head weights: then how x̂0 at one pixel moves when x_t moves at another shows the window.
  const response = (window: number, y: number, x: number) =>
    tf.tidy(() => {
      const gen = createGenerator({ ...TINY, prediction: "x0", pixelWindow: window }, { seed: 3 });
      assert.deepEqual(gen.params.get("pixel.x.w")!.shape, [3 * window * window, 32]);
      gen.params.get("embed.w")!.assign(tf.zerosLike(gen.params.get("embed.w")!));
      gen.params.get("pixel.clean.w")!.assign(tf.onesLike(gen.params.get("pixel.clean.w")!));
      const tokens = makeBatch(gen.config, PROMPTS.slice(0, 1), { seeds: [1] }).tokens;
      const xt = tf.zeros([1, 4, 16, 16, 3]) as tf.Tensor5D;
      const bumped = xt.add(tf.oneHot(y * 16 + x, 256).reshape([1, 1, 16, 16, 1]));
      const t = tf.tensor1d([100], "int32");
      const at = (v: tf.Tensor) => predictNoiseAndClean(gen, { xt: v, t, tokens }).clean;
      const diff = at(bumped).sub(at(xt)).abs().sum(-1).reshape([4, 16, 16])
        .arraySync() as number[][][];
      disposeGenerator(gen);
      return diff[0];
    });
  const near = (d: number[][], y: number, x: number) => d[y][x] > 1e-6;
  const own = response(1, 5, 5);
  assert.ok(near(own, 5, 5) && !near(own, 5, 6) && !near(own, 6, 6));
  const windowed = response(3, 5, 5);
  assert.ok(near(windowed, 5, 5) && near(windowed, 5, 6) && near(windowed, 6, 4));
  assert.ok(!near(windowed, 5, 7) && !near(windowed, 7, 5));
  // at the frame's edge the window is cut (no wrap-around to the other side)
  const edge = response(3, 0, 0);
  assert.ok(near(edge, 1, 1) && !near(edge, 15, 15) && !near(edge, 0, 15));
});

Deno.test('x0Weighting "snr+1": the same reported x0-MSE, another update; capped at 1 it is the uniform step', async () => {
  const step = async (options: { x0Weighting?: "uniform" | "snr+1"; maxWeight?: number }) => {
    const gen = createGenerator({ ...TINY, prediction: "x0" }, { seed: 1 });
    const adam = createAdam(gen.params, { learningRate: 1e-2 });
    const batch = makeBatch(gen.config, PROMPTS, { seeds: [1, 2, 3, 4] });
    const loss = await trainStep(gen, adam, batch, { rng: createRng(5), ...options });
    const weights = Object.fromEntries(
      [...gen.params].map(([k, v]) => [k, Float32Array.from(v.dataSync())]),
    );
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
    return { loss, weights };
  };
  const maxDiff = (a: Record<string, Float32Array>, b: Record<string, Float32Array>) =>
    Math.max(...Object.keys(a).map((k) => Math.max(...a[k].map((v, i) => Math.abs(v - b[k][i])))));
  const uniform = await step({});
  const snr = await step({ x0Weighting: "snr+1", maxWeight: 5 });
  const capped = await step({ x0Weighting: "snr+1", maxWeight: 1 });
  assert.equal(snr.loss, uniform.loss, "the reported loss is the plain x0-MSE");
  assert.ok(maxDiff(snr.weights, uniform.weights) > 1e-6, "the weighting changes the update");
  assert.equal(maxDiff(capped.weights, uniform.weights), 0);
  const gen = createGenerator({ ...TINY, prediction: "x0" }, { seed: 1 });
  const adam = createAdam(gen.params);
  const batch = makeBatch(gen.config, PROMPTS, { seeds: [1, 2, 3, 4] });
  await assert.rejects(
    () => trainStep(gen, adam, batch, { rng: createRng(5), x0Weighting: "edm" as never }),
    /x0Weighting "uniform" or "snr\+1"/,
  );
  tf.dispose([batch.x0, batch.tokens]);
  adam.dispose();
  disposeGenerator(gen);
});

Deno.test("scheduleShift: optional key; divides every SNR by shift²; trains and samples", async () => {
  assert.equal("scheduleShift" in resolveGeneratorConfig({}), false);
  assert.equal("scheduleShift" in resolveGeneratorConfig({ scheduleShift: 1 }), false);
  assert.equal(resolveGeneratorConfig({ scheduleShift: 3 }).scheduleShift, 3);
  assert.throws(() => resolveGeneratorConfig({ scheduleShift: 0 }), /Expected scheduleShift/);
  const plain = alphaBars(1000, "cosine");
  const shifted = alphaBars(1000, "cosine", 3);
  for (const t of [0, 250, 500, 900, 999]) {
    const snr = (a: number) => a / (1 - a);
    assert.ok(Math.abs(snr(shifted[t]) * 9 / snr(plain[t]) - 1) < 1e-9, `t=${t}`);
  }
  const gen = createGenerator({ ...TINY, prediction: "x0", scheduleShift: 3 }, { seed: 1 });
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const batch = makeBatch(gen.config, PROMPTS, { seeds: [1, 2, 3, 4] });
  const rng = createRng(2);
  const losses: number[] = [];
  for (let i = 0; i < 30; i++) losses.push(await trainStep(gen, adam, batch, { rng }));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-10)) < mean(losses.slice(0, 10)), "the loss goes down");
  const clips = await sampleClips(gen, PROMPTS.slice(0, 1), { steps: 3 });
  assert.ok(clips[0].frames.every((v) => v >= 0 && v <= 1));
  tf.dispose([batch.x0, batch.tokens]);
  adam.dispose();
  disposeGenerator(gen);
});

Deno.test("stable targets: the own clip at low noise, the mean of all K + 1 at pure noise, the own clip for dropped prompts", async () => {
  const { stableTarget } = await import("../lib/generator/_stable_target.ts");
  const c = resolveGeneratorConfig({ ...TINY, prediction: "x0" });
  const batch = makeBatch(c, PROMPTS.slice(0, 2), { seeds: [1, 2], refs: 3 });
  assert.deepEqual(batch.refs!.shape, [2, 3, 4, 16, 16, 3]);
  const ab = alphaBars(c.timesteps, c.schedule);
  const at = (t: number, keep = [1, 1]) =>
    tf.tidy(() => {
      const noise = tf.randomNormal(batch.x0.shape, 0, 1, "float32", 5);
      const tt = tf.tensor1d([t, t], "int32");
      const xt = addNoise(c, batch.x0, tt, noise);
      const alphaBar = tf.tensor1d([ab[t], ab[t]]);
      return stableTarget(batch.x0, batch.refs!, { xt, alphaBar, keep: tf.tensor1d(keep) });
    });
  const gap = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
  const meanGap = (a: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() => a.sub(b).abs().mean().dataSync()[0]);
  const low = at(1);
  assert.ok(gap(low, batch.x0) < 1e-5, "at t = 1 the target is the row's own clip");
  const high = at(c.timesteps - 1);
  const mean = tf.tidy(() => tf.concat([batch.x0.expandDims(1), batch.refs!], 1).mean(1));
  // at pure noise the weights spread over all K + 1 clips: the target is near their mean
  assert.ok(
    meanGap(high, mean) < meanGap(high, batch.x0) / 4,
    `${meanGap(high, mean)} ${meanGap(high, batch.x0)}`,
  );
  const dropped = at(c.timesteps - 1, [0, 1]);
  assert.ok(
    gap(dropped.slice(0, 1), batch.x0.slice(0, 1)) < 1e-6,
    "a dropped prompt keeps its own clip",
  );
  assert.ok(gap(dropped.slice(1, 1), high.slice(1, 1)) < 1e-6);
  // a pretraining step with references trains, reports the plain x0-MSE, and leaks no tensors
  const gen = createGenerator(c, { seed: 1 });
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  await trainStep(gen, adam, batch, { rng: createRng(3) });
  const before = tf.memory().numTensors;
  const loss = await trainStep(gen, adam, batch, { rng: createRng(4) });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(Number.isFinite(loss) && loss > 0);
  tf.dispose([low, high, mean, dropped, batch.x0, batch.tokens, batch.refs!]);
  adam.dispose();
  disposeGenerator(gen);
});
