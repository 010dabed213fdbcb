/**
 * The kit's side of the PyTorch peer of a Diffusion-DPO and a Gran-DPO step
 * (torch/dpo_peer.py): builds the benchmark's preference pairs with the
 * kit's own pipeline (`buildPairs`: the shipped generator's DDIM candidates
 * scored by the shipped PRM), exports the frozen reference's and the policy's
 * weights and one step's batch (`dpoStepInputs`: chosen and rejected x0, t and
 * ε shared within a pair, prompt tokens, PRM patch gaps) as raw float32 + JSON
 * together with the kit's loss before and after one `dpoStep` of each method
 * from the same weights, runs the peer and reads back its losses and timings.
 *
 * The policy is not the reference: the export first takes `warmupSteps`
 * Gran-DPO steps on other batches, so the "before" losses are not the trivial
 * log 2 that a policy equal to its reference gives whatever the code computes.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { readParams, writeParams } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { fail } from "../lib/core/_errors.ts";
import { pathExists } from "../lib/core/_atomic.ts";
import { disposeGenerator, freezeGenerator, type Generator } from "../lib/generator/model.ts";
import { alphaBars } from "../lib/generator/diffusion.ts";
import {
  DEFAULT_MIN_SNR_GAMMA,
  DEFAULT_WEIGHTING,
  type ErrorWeighting,
} from "../lib/dpo/loss_maps.ts";
import type { DpoMetrics } from "../lib/dpo/loss.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import {
  dpoStep,
  type DpoStepInputs,
  dpoStepInputs,
  type DpoStepOptions,
  type PairData,
} from "../lib/dpo/step.ts";
import { methodLossOptions } from "../lib/dpo/post_train.ts";
import { formatGrid } from "../lib/videos/patch.ts";
import {
  f32Bytes,
  type LossParity,
  type RunPeerOptions,
  runPeerScript,
  SHIPPED_GENERATOR,
  writeParamsFile,
} from "./_peer.ts";

/** The DPO peer script. */
export const DPO_PEER_SCRIPT: string = new URL("../torch/dpo_peer.py", import.meta.url).pathname;

/** The shipped patch reward model, which scores the benchmark's pairs. */
export const SHIPPED_PRM: string = new URL("../data/reward/prm/", import.meta.url).pathname;

/** Where the benchmark's pairs are kept (content-addressed clips: a rerun reuses them). */
export const BENCH_PAIRS_DIR: string = new URL("../out/bench/dpo-pairs/", import.meta.url).pathname;

/** Pairs per DPO step in the benchmarks (post-training's default batch). */
export const DPO_BATCH = 8;

/** The methods timed and checked, in table order. */
export const DPO_METHODS = ["dpo", "grandpo"] as const;

/** One of {@linkcode DPO_METHODS}. */
export type DpoBenchMethod = typeof DPO_METHODS[number];

/** post-train's defaults for what the benchmark does not vary. */
export const DPO_STEP_DEFAULTS = Object.freeze({ seed: 0, tMin: 50, tMax: 950 });

/** Options of {@linkcode benchPairsFile}. */
export interface BenchPairsOptions {
  /** Output folder. Default {@linkcode BENCH_PAIRS_DIR}. */
  out?: string;
  /** Prompts, one best-vs-worst pair each. Default {@linkcode DPO_BATCH}. */
  prompts?: number;
  /** DDIM steps of the candidates. Default 20 (`deno task pairs`' default). */
  steps?: number;
  /** Build even when the pairs file exists (rescoring is cheap; clips are reused). Default false. */
  rebuild?: boolean;
  /** No progress bar. Default true. */
  quiet?: boolean;
}

/**
 * The pairs file of the DPO benchmarks: `prompts` training prompts, two
 * candidates each from the shipped generator, scored by the shipped PRM,
 * every pair kept (margin 0). Built with `buildPairs` when missing.
 */
export async function benchPairsFile(options: BenchPairsOptions = {}): Promise<string> {
  const out = options.out ?? BENCH_PAIRS_DIR;
  const prompts = options.prompts ?? DPO_BATCH;
  const file = join(out, "pairs.jsonl");
  if (!options.rebuild && await pathExists(file)) return file;
  const r = await buildPairs({
    out,
    generatorDir: SHIPPED_GENERATOR,
    prmDir: SHIPPED_PRM,
    prompts,
    candidates: 2,
    margin: 0,
    steps: options.steps ?? 20,
    seed: 0,
    judgeDiagnostics: false,
    quiet: options.quiet ?? true,
  });
  if (r.pairs < prompts) {
    fail(r.file, `${prompts} pairs (one per prompt)`, `${r.pairs}: candidates with equal scores`);
  }
  return r.file;
}

/** Frees the tensors of one step's inputs. */
export function disposeInputs(inputs: DpoStepInputs): void {
  tf.dispose(Object.values(inputs).filter((v) => v instanceof tf.Tensor));
}

/** The step options of a method with the kit's defaults. */
export function benchStepOptions(
  method: DpoBenchMethod,
  data: PairData,
  options: { weighting?: ErrorWeighting; gamma?: number } = {},
): DpoStepOptions {
  return {
    loss: methodLossOptions(method),
    weighting: options.weighting ?? DEFAULT_WEIGHTING,
    gamma: options.gamma ?? DEFAULT_MIN_SNR_GAMMA,
    grid: data.grid,
  };
}

/** The kit's losses of one method on the exported batch. */
export interface DpoKitLosses {
  /** Loss at the exported policy weights (what `dpoStep` reports). */
  loss: number;
  /** Loss on the same inputs after one `dpoStep` (fresh Adam), as `dpoStep` computes it. */
  lossAfterStep: number;
  /** Every diagnostic at the exported weights (TRL names). */
  metrics: DpoMetrics;
}

/** What {@linkcode exportDpoForPeer} computed, by method. */
export type DpoPeerExport = Record<DpoBenchMethod, DpoKitLosses>;

/** Options for {@linkcode exportDpoForPeer}. */
export interface DpoExportOptions {
  /** The `dpoStepInputs` step whose batch is exported. Default 0. */
  step?: number;
  /** Pairs per step. Default {@linkcode DPO_BATCH}. */
  batchSize?: number;
  /**
   * Adam learning rate of the warm-up and parity steps. Default 3e-4: 3× post-training's, so that
   * one step moves the loss clearly without saturating it at β = 5000.
   */
  learningRate?: number;
  /** Gran-DPO steps (on other batches) that move the policy away from the reference. Default 1. */
  warmupSteps?: number;
  /** Error weighting. Default the kit's. */
  weighting?: ErrorWeighting;
  /** γ of "min-snr". */
  gamma?: number;
}

/**
 * Exports the reference (`generator`'s weights on entry), the policy (after
 * the warm-up steps) and one step's batch to `dir` with the kit's Diffusion-DPO
 * and Gran-DPO losses before and after one `dpoStep` of each, both from the
 * same policy weights. `generator` holds the exported policy weights after.
 */
export async function exportDpoForPeer(
  source: { generator: Generator; data: PairData },
  dir: string,
  options: DpoExportOptions = {},
): Promise<DpoPeerExport> {
  const policy = source.generator;
  const c = policy.config;
  if (c.prediction !== "x0") {
    fail(
      "exportDpoForPeer",
      'a generator with prediction "x0" (the DPO peer\'s head)',
      c.prediction,
    );
  }
  const learningRate = options.learningRate ?? 3e-4;
  const stepInputs = { ...DPO_STEP_DEFAULTS, batchSize: options.batchSize ?? DPO_BATCH };
  const errorOptions = { weighting: options.weighting, gamma: options.gamma };
  const reference = freezeGenerator(policy);
  const models = { policy, reference };
  let inputs: DpoStepInputs | undefined;
  try {
    const warm = createAdam(policy.params, { learningRate });
    try {
      for (let i = 0; i < (options.warmupSteps ?? 1); i++) {
        const w = dpoStepInputs(policy, source.data, 1000 + i, stepInputs);
        try {
          await dpoStep(
            { ...models, adam: warm },
            w,
            benchStepOptions("grandpo", source.data, errorOptions),
          );
        } finally {
          disposeInputs(w);
        }
      }
    } finally {
      warm.dispose();
    }
    await Deno.mkdir(dir, { recursive: true });
    const start = await readParams(policy.params);
    const entries = await writeParamsFile(dir, "policy.f32", start);
    const refEntries = await writeParamsFile(
      dir,
      "reference.f32",
      await readParams(reference.params),
    );
    if (JSON.stringify(refEntries) !== JSON.stringify(entries)) {
      fail("exportDpoForPeer", "reference weights laid out as the policy's", "another layout");
    }
    await Deno.writeTextFile(join(dir, "params.json"), JSON.stringify(entries));

    inputs = dpoStepInputs(policy, source.data, options.step ?? 0, stepInputs);
    const b = inputs.patchGaps.shape[0];
    const results = {} as DpoPeerExport;
    let clipNorm = NaN;
    const settings = {} as Record<DpoBenchMethod, DpoStepOptions>;
    for (const method of DPO_METHODS) {
      const stepOptions = benchStepOptions(method, source.data, errorOptions);
      settings[method] = stepOptions;
      writeParams(policy.params, start);
      const adam = createAdam(policy.params, { learningRate });
      // the loss at the stepped weights as dpoStep computes it: a step at learning rate 0 leaves
      // every weight as it is (lr·m/(√v + ε) = 0)
      const still = createAdam(policy.params, { learningRate: 0 });
      clipNorm = adam.options.clipNorm;
      try {
        const metrics = await dpoStep({ ...models, adam }, inputs, stepOptions);
        const after = await dpoStep({ ...models, adam: still }, inputs, stepOptions);
        results[method] = { loss: metrics.loss, lossAfterStep: after.loss, metrics };
      } finally {
        adam.dispose();
        still.dispose();
      }
    }
    writeParams(policy.params, start);

    await Deno.writeFile(join(dir, "x0.f32"), f32Bytes(await inputs.x0.data() as Float32Array));
    await Deno.writeFile(
      join(dir, "noise.f32"),
      f32Bytes(await inputs.noise.data() as Float32Array),
    );
    await Deno.writeTextFile(
      join(dir, "batch.json"),
      JSON.stringify({
        shape: inputs.x0.shape,
        pairs: b,
        t: inputs.t,
        tokens: await inputs.tokens.array(),
        patchGaps: await inputs.patchGaps.array(),
      }),
    );
    const first = settings.dpo;
    await Deno.writeTextFile(
      join(dir, "config.json"),
      JSON.stringify({
        ...c,
        alphaBars: Array.from(alphaBars(c.timesteps, c.schedule, c.scheduleShift)),
        grid: formatGrid(first.grid),
        weighting: first.weighting,
        gamma: first.gamma,
        tMin: stepInputs.tMin,
        tMax: stepInputs.tMax,
        learningRate,
        clipNorm,
        losses: Object.fromEntries(DPO_METHODS.map((m) => [m, settings[m].loss])),
      }),
    );
    await Deno.writeTextFile(join(dir, "expected.json"), JSON.stringify(results));
    return results;
  } finally {
    if (inputs) disposeInputs(inputs);
    disposeGenerator(reference);
  }
}

/** The peer's report of one method: its losses beside the kit's, and its timed steps. */
export interface DpoPeerMethodReport extends LossParity {
  /** Timed steps, milliseconds. */
  timesMs: number[];
  /** CPU time of the same steps (user + system, all threads), milliseconds. */
  cpuTimesMs: number[];
}

/** What the DPO peer reports. */
export interface DpoPeerReport {
  /** torch version. */
  torch: string;
  /** torch intra-op threads used. */
  threads: number;
  /** Weights per model. */
  params: number;
  /** Share of the batch's patches whose gap passes τ (Gran-DPO's mask), as the peer computed it. */
  patchesUsed: number;
  /** Per method. */
  methods: Record<DpoBenchMethod, DpoPeerMethodReport>;
  /** Peak RSS of the peer process, MiB. */
  rssMiB: number;
}

/** Runs the DPO peer on a directory written by {@linkcode exportDpoForPeer}. */
export function runDpoPeer(dir: string, options: RunPeerOptions = {}): Promise<DpoPeerReport> {
  return runPeerScript<DpoPeerReport>(DPO_PEER_SCRIPT, dir, options);
}
