/**
 * Benchmarks of the shipped generator's architecture (lib/generator/model.ts): the training step
 * with Adam, the per-patch loss maps of a policy and its frozen reference
 * (forward, and forward + backward as in every DPO step), DDIM sampling with
 * classifier-free guidance, a 200-step memory check, and an independent FLOP
 * count of the forward pass from the matmul kernels tfjs actually runs.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { paramGrads } from "../lib/tensor/nn.ts";
import { type Adam, createAdam } from "../lib/tensor/adam.ts";
import { checkInt } from "../lib/core/_errors.ts";
import { createRng } from "../lib/core/_rng.ts";
import {
  createGenerator,
  disposeGenerator,
  freezeGenerator,
  type Generator,
  type GeneratorConfig,
  generatorFlops,
  predictNoise,
  resolveGeneratorConfig,
} from "../lib/generator/model.ts";
import {
  addNoise,
  type DiffusionBatch,
  makeBatch,
  normalArray,
} from "../lib/generator/diffusion.ts";
import { trainStep } from "../lib/generator/train_step.ts";
import { type GradientPool, startGradientPool } from "../lib/generator/_data_parallel.ts";
import { patchLossMap } from "../lib/dpo/loss_maps.ts";
import { SAMPLE_DEFAULTS, sampleVideos } from "../lib/generator/sampler.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { shipped } from "../lib/core/shipped.ts";
import { samplePrompt, type ShapesPrompt } from "../lib/videos/world.ts";
import { type Bench, type BenchResult, median } from "./_harness.ts";

/**
 * The architecture the generator benchmarks time: the shipped generator's
 * (data/generator/config.json), the model users sample and post-train, so the
 * PyTorch peer follows it too. Read when first asked for (not at import: the
 * GPU bench bundle imports this module without the data folder beside it).
 */
export function benchConfig(): GeneratorConfig {
  shippedConfig ??= resolveGeneratorConfig(
    JSON.parse(Deno.readTextFileSync(new URL("../data/generator/config.json", import.meta.url)))
      .config,
  );
  return shippedConfig;
}
let shippedConfig: GeneratorConfig | undefined;

/** Clips per training batch in the generator benchmarks (pretrain's default). */
export const TRAIN_BATCH = 8;
/** Prompts per DDIM benchmark run (CFG doubles the forward batch). */
export const SAMPLE_BATCH = 4;
/** DDIM steps per sampling benchmark run. */
export const SAMPLE_STEPS = 10;

/** Name of the training-step benchmark (it ranks the CPU backends). */
export const TRAIN_STEP_BENCH = `generator train step (Adam) B=${TRAIN_BATCH}`;

/** The prompts of the benchmark batch: fixed, so every backend and the peer see the same clips. */
export function benchPrompts(n: number): ShapesPrompt[] {
  return Array.from({ length: n }, (_, i) => samplePrompt(createRng(1000 + i)));
}

/** The benchmark batch of `n` clips of a generator config (default: the default config). */
export function benchBatch(
  n = TRAIN_BATCH,
  config: GeneratorConfig = benchConfig(),
): DiffusionBatch {
  return makeBatch(config, benchPrompts(n), {
    seeds: Array.from({ length: n }, (_, i) => i),
  });
}

function disposeBatch(batch: DiffusionBatch): void {
  tf.dispose([batch.x0, batch.tokens]);
}

/** Options for {@linkcode trainStepBenchOf}. */
export interface TrainStepBenchOptions {
  /** Clips per step. */
  batch: number;
  /** Row name. Default `generator train step (Adam) B=<batch>`. */
  name?: string;
  /** Processes sharing the batch (`pretrain --workers`). Default 1. */
  workers?: number;
}

/**
 * One Adam training step of a generator of `config` (seed-0 weights) on a
 * batch of `options.batch` clips: ≈ 3 forward passes of FLOPs; with `workers` > 1 the
 * step of `pretrain --workers` (gradient workers started in `setup`). An invalid config or
 * batch fails in `setup`, which `measure` reports as a failed row.
 */
export function trainStepBenchOf(
  config: Partial<GeneratorConfig> | (() => Partial<GeneratorConfig>),
  options: TrainStepBenchOptions,
): Bench {
  const { batch, workers = 1 } = options;
  return {
    name: options.name ?? `generator train step (Adam) B=${batch}`,
    unit: "clips",
    perBackend: true,
    async setup() {
      checkInt("trainStepBenchOf", "batch", batch, 1);
      const gen = createGenerator(typeof config === "function" ? config() : config, { seed: 0 });
      const adam = createAdam(gen.params);
      let data: DiffusionBatch | undefined;
      let pool: GradientPool | undefined;
      try {
        data = benchBatch(batch, gen.config);
        if (workers > 1) pool = await startGradientPool(gen, { workers: workers - 1, batch });
      } catch (error) {
        if (data) disposeBatch(data);
        adam.dispose();
        disposeGenerator(gen);
        throw error;
      }
      const b = data;
      const rng = createRng(1);
      return {
        async run() {
          // awaiting the loss each step is the synchronisation point (as the old dataSync was)
          await trainStep(gen, adam, b, { rng, parallel: pool });
        },
        items: batch,
        flops: 3 * generatorFlops(gen.config, batch),
        dispose() {
          pool?.close();
          adam.dispose();
          disposeBatch(b);
          disposeGenerator(gen);
        },
      };
    },
  };
}

/** One Adam training step of the shipped generator's architecture: ≈ 3 forward passes of FLOPs. */
export const trainStepBench: Bench = {
  ...trainStepBenchOf(benchConfig, { batch: TRAIN_BATCH, name: TRAIN_STEP_BENCH }),
  countLaunches: true,
};

/**
 * The same step shared by this process and one gradient worker (`pretrain --workers 2`), on
 * wasm only: each process is its own wasm instance on its own core.
 */
export const parallelTrainStepBench: Bench = {
  ...trainStepBenchOf(benchConfig, {
    batch: TRAIN_BATCH,
    name: `${TRAIN_STEP_BENCH}, 2 processes`,
    workers: 2,
  }),
  skipBackends: ["cpu", "webgpu", "wasm-stock", "webgpu-stock"],
};

interface PolicyPair {
  policy: Generator;
  reference: Generator;
  batch: DiffusionBatch;
  t: tf.Tensor1D;
  noise: tf.Tensor;
  dispose(): void;
}

function policyPair(): PolicyPair {
  const policy = createGenerator(benchConfig(), { seed: 0 });
  const reference = freezeGenerator(policy);
  const batch = benchBatch();
  const rng = createRng(2);
  const t = tf.tensor1d(Int32Array.from({ length: TRAIN_BATCH }, () => rng.int(1000)), "int32");
  const noise = tf.tensor(normalArray(rng, batch.x0.size), batch.x0.shape);
  return {
    policy,
    reference,
    batch,
    t,
    noise,
    dispose() {
      tf.dispose([t, noise]);
      disposeBatch(batch);
      disposeGenerator(policy);
      disposeGenerator(reference);
    },
  };
}

/** Loss maps of the policy and the frozen reference, forward only: 2 forward passes. */
export const lossMapBench: Bench = {
  name: `patch loss maps π+ref fwd B=${TRAIN_BATCH}`,
  unit: "clips",
  perBackend: true,
  setup() {
    const p = policyPair();
    return Promise.resolve({
      async run() {
        const maps = patchLossMap(p.policy, p.reference, p.batch, { t: p.t, noise: p.noise });
        await maps.policyPatches.data();
        tf.dispose(Object.values(maps));
      },
      items: TRAIN_BATCH,
      flops: 2 * generatorFlops(p.policy.config, TRAIN_BATCH),
      dispose: () => p.dispose(),
    });
  },
};

/**
 * Loss maps with the policy's gradient (the core of a Diffusion-/Gran-DPO
 * step, without the optimiser): policy forward + backward, reference
 * forward, ≈ 4 forward passes.
 */
export const lossMapGradBench: Bench = {
  name: `patch loss maps π+ref fwd+bwd B=${TRAIN_BATCH}`,
  unit: "clips",
  perBackend: true,
  setup() {
    const p = policyPair();
    return Promise.resolve({
      async run() {
        const { value, grads } = paramGrads(p.policy.params, () =>
          tf.tidy(() => {
            const m = patchLossMap(p.policy, p.reference, p.batch, { t: p.t, noise: p.noise });
            return m.policyPatches.sub(m.referencePatches).mean() as tf.Scalar;
          }));
        await value.data();
        tf.dispose([value, ...Object.values(grads)]);
      },
      items: TRAIN_BATCH,
      flops: 4 * generatorFlops(p.policy.config, TRAIN_BATCH),
      dispose: () => p.dispose(),
    });
  },
};

/**
 * One clip from the shipped generator with the sampler's defaults (the chosen
 * DDIM steps and CFG scale): what sampling costs a user, per clip.
 */
export const sampleClipBench: Bench = {
  name:
    `sample 1 clip, shipped generator (DDIM ${SAMPLE_DEFAULTS.steps}, CFG ${SAMPLE_DEFAULTS.guidance})`,
  unit: "clips",
  perBackend: true,
  warmup: 1,
  minRuns: 3,
  async setup() {
    const { generator: gen } = await loadGenerator(shipped.generator);
    const prompts = benchPrompts(1);
    return {
      async run() {
        const x = sampleVideos(gen, prompts, { seed: 3 });
        await x.data();
        x.dispose();
      },
      items: 1,
      flops: SAMPLE_DEFAULTS.steps *
        generatorFlops(gen.config, SAMPLE_DEFAULTS.guidance === 1 ? 1 : 2),
      dispose: () => disposeGenerator(gen),
    };
  },
};

/** DDIM sampling with classifier-free guidance (two forward passes per step). */
export const ddimBench: Bench = {
  name: `DDIM ${SAMPLE_STEPS} steps CFG B=${SAMPLE_BATCH}`,
  unit: "clips",
  perBackend: true,
  warmup: 1,
  minRuns: 3,
  setup() {
    const gen = createGenerator(benchConfig(), { seed: 0 });
    const prompts = benchPrompts(SAMPLE_BATCH);
    return Promise.resolve({
      async run() {
        const x = sampleVideos(gen, prompts, { steps: SAMPLE_STEPS, seed: 3 });
        await x.data();
        x.dispose();
      },
      items: SAMPLE_BATCH,
      flops: SAMPLE_STEPS * generatorFlops(gen.config, 2 * SAMPLE_BATCH),
      dispose: () => disposeGenerator(gen),
    });
  },
};

/** What {@linkcode memoryCheck} measured. */
export interface MemoryCheck {
  /** Training steps between the two readings. */
  steps: number;
  /** Live tensors before and after. */
  tensorsBefore: number;
  /** Live tensors after the steps. */
  tensorsAfter: number;
  /** RSS before the steps, MiB. */
  rssBeforeMiB: number;
  /** RSS after the steps, MiB. */
  rssAfterMiB: number;
  /** Relative growth of the tensor count. */
  tensorGrowth: number;
  /** Relative growth of RSS. */
  rssGrowth: number;
  /** Median milliseconds per step. */
  medianStepMs: number;
  /** Both growths ≤ 5%. */
  ok: boolean;
}

/**
 * Runs `steps` training steps of the shipped generator's architecture (after `warmup`
 * steps, during which the wasm heap grows to its high-water mark: about
 * 500 MiB within the first 25 steps, never returned) on the active backend
 * and reports the growth of the live tensor count and of the process RSS
 * (the bound: ≤ 5% each). RSS swings by tens of MiB with the JS
 * garbage collector, so "before" and "after" are medians over the first and
 * the last 10 steps.
 */
export async function memoryCheck(steps = 200, warmup = 25): Promise<MemoryCheck> {
  const gen = createGenerator(benchConfig(), { seed: 0 });
  const adam: Adam = createAdam(gen.params);
  const batch = benchBatch();
  const rng = createRng(5);
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup; i++) await trainStep(gen, adam, batch, { rng });
    const tensorsBefore = tf.memory().numTensors;
    const rss: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await trainStep(gen, adam, batch, { rng });
      times.push(performance.now() - t0);
      rss.push(Deno.memoryUsage().rss / 2 ** 20);
    }
    const tensorsAfter = tf.memory().numTensors;
    const window = Math.min(10, Math.ceil(steps / 2));
    const rssBeforeMiB = median(rss.slice(0, window));
    const rssAfterMiB = median(rss.slice(-window));
    const tensorGrowth = (tensorsAfter - tensorsBefore) / tensorsBefore;
    const rssGrowth = (rssAfterMiB - rssBeforeMiB) / rssBeforeMiB;
    times.sort((a, b) => a - b);
    return {
      steps,
      tensorsBefore,
      tensorsAfter,
      rssBeforeMiB,
      rssAfterMiB,
      tensorGrowth,
      rssGrowth,
      medianStepMs: times[Math.floor(times.length / 2)],
      ok: tensorGrowth <= 0.05 && rssGrowth <= 0.05,
    };
  } finally {
    adam.dispose();
    disposeBatch(batch);
    disposeGenerator(gen);
  }
}

/** A {@linkcode MemoryCheck} as a table row. */
export function memoryRow(backend: string, m: MemoryCheck): BenchResult {
  return {
    name: `memory: ${m.steps} train steps`,
    backend,
    runs: m.steps,
    medianMs: m.medianStepMs,
    minMs: NaN,
    maxMs: NaN,
    iqrFraction: NaN,
    itemsPerSecond: TRAIN_BATCH / (m.medianStepMs / 1000),
    unit: "clips",
    gflops: 3 * generatorFlops(benchConfig(), TRAIN_BATCH) / (m.medianStepMs / 1000) /
      1e9,
    tensorsBefore: m.tensorsBefore,
    tensorsAfter: m.tensorsAfter,
    rssBeforeMiB: m.rssBeforeMiB,
    rssMiB: m.rssAfterMiB,
  };
}

/**
 * FLOPs of one forward pass of the shipped generator's architecture over `batch` clips,
 * counted from the BatchMatMul kernels tfjs runs (2·batch·M·K·N each), to
 * check the analytic {@linkcode generatorFlops}. Needs a backend whose
 * profile reports kernel input shapes (cpu, wasm).
 */
export async function countedForwardFlops(batch = 2): Promise<number> {
  const gen = createGenerator(benchConfig(), { seed: 0 });
  const data = benchBatch(batch);
  const rng = createRng(7);
  const t = tf.tensor1d(Int32Array.from({ length: batch }, () => rng.int(1000)), "int32");
  const noise = tf.tensor(normalArray(rng, data.x0.size), data.x0.shape);
  try {
    const info = await tf.profile(() =>
      tf.tidy(() =>
        predictNoise(gen, { xt: addNoise(gen.config, data.x0, t, noise), t, tokens: data.tokens })
      )
    );
    let flops = 0;
    for (const k of info.kernels) {
      if (k.name !== "BatchMatMul" && k.name !== "_FusedMatMul") continue;
      const [a, b] = k.inputShapes as number[][];
      // shapes are as stored; the forward pass only transposes b (scores q·kᵀ):
      // N is b's axis that is not the contraction axis K
      const [m, kk] = a.slice(-2);
      const bb = b.slice(-2);
      const n = bb[0] === kk ? bb[1] : bb[0];
      const batchDims = Math.max(a.slice(0, -2).reduce((x, y) => x * y, 1), 1);
      flops += 2 * batchDims * m * kk * n;
    }
    return flops;
  } finally {
    tf.dispose([t, noise]);
    disposeBatch(data);
    disposeGenerator(gen);
  }
}
