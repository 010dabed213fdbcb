/**
 * Benchmarks of one Diffusion-DPO and one Gran-DPO post-training step of the
 * shipped generator (`lib/dpo/step.ts` `dpoStep` on `dpoStepInputs`: the
 * frozen reference's per-patch errors without gradient, the policy's under the
 * tape, the loss, Adam) on the same 8 pairs (16 clips), and the same steps in
 * the PyTorch peer (torch/dpo_peer.py) with its loss parity check; and the post-training
 * throughput of the kit's wasm route against the torch trainer with 1 and 2 processes.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { postTrain } from "../lib/dpo/post_train.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import {
  disposeGenerator,
  freezeGenerator,
  type GeneratorConfig,
  generatorFlops,
} from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { dpoStep, dpoStepInputs, loadPairData } from "../lib/dpo/step.ts";
import { type Bench, type BenchResult, summarizeRuns } from "./_harness.ts";
import {
  benchPairsFile,
  benchStepOptions,
  disposeInputs,
  DPO_BATCH,
  DPO_METHODS,
  DPO_STEP_DEFAULTS,
  type DpoBenchMethod,
  type DpoPeerReport,
  exportDpoForPeer,
  runDpoPeer,
} from "./_dpo_peer.ts";
import { PEER_PYTHON, SHIPPED_GENERATOR, TORCH_TRAIN_SCRIPT, torchrunOptions } from "./_peer.ts";

/** Table names of the DPO step benchmarks. */
export const DPO_BENCH_NAMES: Readonly<Record<DpoBenchMethod, string>> = Object.freeze({
  dpo: `Diffusion-DPO step (Adam) B=${DPO_BATCH} pairs`,
  grandpo: `Gran-DPO step (Adam) B=${DPO_BATCH} pairs`,
});

/**
 * FLOPs of one DPO step on `pairs` pairs: the policy's forward and backward
 * (≈ 3 forward passes) and the reference's forward over the 2·pairs clips.
 */
export function dpoStepFlops(config: GeneratorConfig, pairs: number): number {
  return 4 * generatorFlops(config, 2 * pairs);
}

/** post-train's default learning rate (the timed steps; it does not change the work). */
const POST_TRAIN_LR = 1e-4;

function dpoBench(method: DpoBenchMethod): Bench {
  return {
    name: DPO_BENCH_NAMES[method],
    unit: "pairs",
    perBackend: true,
    countLaunches: true,
    warmup: 1,
    minRuns: 3,
    // tfjs' cpu backend: a DPO step is 4 forward passes over 16 clips, ≈ 2.7 training steps of
    // 3.4 s each there (bench/NOTES.md), so ~9 s a run, and it ranks nothing
    skipBackends: ["cpu"],
    async setup() {
      const { generator: policy } = await loadGenerator(SHIPPED_GENERATOR);
      const reference = freezeGenerator(policy);
      const adam = createAdam(policy.params, { learningRate: POST_TRAIN_LR });
      const dispose = () => {
        adam.dispose();
        disposeGenerator(policy);
        disposeGenerator(reference);
      };
      try {
        const data = await loadPairData(await benchPairsFile(), policy);
        const options = benchStepOptions(method, data);
        const stepInputs = { ...DPO_STEP_DEFAULTS, batchSize: DPO_BATCH };
        let step = 0;
        return {
          // a post-training step as postTrain runs it: the step's pairs, t and ε drawn in JS, then
          // dpoStep; awaiting its metrics is the synchronisation point
          async run() {
            const inputs = dpoStepInputs(policy, data, step++, stepInputs);
            try {
              await dpoStep({ policy, reference, adam }, inputs, options);
            } finally {
              disposeInputs(inputs);
            }
          },
          items: DPO_BATCH,
          flops: dpoStepFlops(policy.config, DPO_BATCH),
          dispose,
        };
      } catch (error) {
        dispose();
        throw error;
      }
    },
  };
}

/** The Diffusion-DPO and the Gran-DPO step benchmarks, in table order. */
export function dpoBenches(): Bench[] {
  return DPO_METHODS.map(dpoBench);
}

/** What {@linkcode dpoPeerRows} returns. */
export interface DpoPeerRows {
  /** One peer row per method, named as the kit's rows. */
  rows: BenchResult[];
  /** The peer's report. */
  report: DpoPeerReport;
  /** The backend the kit's side of the parity check ran on. */
  backend: string;
}

/**
 * Exports the shipped generator and the benchmark pairs for the DPO peer on
 * the active backend (the kit's parity losses), runs the peer and returns its
 * timed steps as table rows.
 */
export async function dpoPeerRows(
  options: { seconds: number; threads: number },
): Promise<DpoPeerRows> {
  const { generator } = await loadGenerator(SHIPPED_GENERATOR);
  const dir = await Deno.makeTempDir({ prefix: "halo-dpo-peer-" });
  try {
    const data = await loadPairData(await benchPairsFile(), generator);
    await exportDpoForPeer({ generator, data }, dir);
    const report = await runDpoPeer(dir, options);
    const rows = DPO_METHODS.map((method): BenchResult => ({
      name: DPO_BENCH_NAMES[method],
      backend: `torch ${report.torch} ${report.threads}thr`,
      ...summarizeRuns(
        { wallMs: report.methods[method].timesMs, cpuMs: report.methods[method].cpuTimesMs },
        { items: DPO_BATCH, flops: dpoStepFlops(generator.config, DPO_BATCH) },
      ),
      unit: "pairs",
      tensorsBefore: 0,
      tensorsAfter: 0,
      rssMiB: report.rssMiB,
      peerRatio: 1,
      peerCpuRatio: 1,
    }));
    return { rows, report, backend: tf.getBackend() };
  } finally {
    disposeGenerator(generator);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The parity line of one method for the bench's summary. */
export function dpoParityLine(method: DpoBenchMethod, report: DpoPeerReport): string {
  const m = report.methods[method];
  const ok = m.lossRelDiff < 1e-3 && m.lossAfterStepRelDiff < 1e-3;
  return `${DPO_BENCH_NAMES[method]}: loss kit ${m.kitLoss.toPrecision(7)} vs torch ${
    m.loss.toPrecision(7)
  } (rel. ${m.lossRelDiff.toExponential(1)}); after one step ${
    m.kitLossAfterStep.toPrecision(7)
  } vs ${m.lossAfterStep.toPrecision(7)} (rel. ${m.lossAfterStepRelDiff.toExponential(1)}) → ${
    ok ? "ok" : "MISMATCH"
  } (bound 1e-3)`;
}

/** One route's post-training throughput (pairs per second over whole optimiser steps). */
export interface PostTrainThroughput {
  /** "kit wasm", "torch 1 process", "torch 2 processes". */
  route: string;
  /** Pairs per second over the run's steps (first step and the final checkpoint included). */
  pairsPerSecond: number;
  /** Steps of the run. */
  steps: number;
  /** Wall seconds of those steps. */
  seconds: number;
}

/**
 * Post-training throughput of the same Gran-DPO run (the shipped generator, the benchmark pairs,
 * {@linkcode DPO_BATCH} pairs a step, `steps` steps, one checkpoint at the end) on the kit's wasm
 * route (`postTrain`, one thread) and in the torch trainer (torch/train.py) with 1 process and
 * with 2 processes under torchrun (gloo, one torch thread each). The torch routes are skipped
 * (an entry with NaN and the reason) when torch is missing.
 */
export async function postTrainThroughput(steps: number): Promise<PostTrainThroughput[]> {
  const pairs = await benchPairsFile();
  const dir = await Deno.makeTempDir({ prefix: "halo-post-train-bench-" });
  const out: PostTrainThroughput[] = [];
  try {
    await initBackend({ backend: "wasm" });
    const kit = await postTrain({
      out: join(dir, "kit"),
      pairs,
      generatorDir: SHIPPED_GENERATOR,
      steps,
      batchSize: DPO_BATCH,
      checkpointEvery: steps,
      quiet: true,
    });
    out.push({
      route: "kit wasm (1 thread)",
      pairsPerSecond: (steps * DPO_BATCH) / kit.wallSeconds,
      steps,
      seconds: kit.wallSeconds,
    });
    for (const nproc of [1, 2]) {
      const launch = nproc === 1 ? [] : [
        ...["-m", "torch.distributed.run", "--standalone", `--nproc_per_node=${nproc}`],
        ...torchrunOptions(join(dir, "torchrun-logs")),
      ];
      const run = await new Deno.Command(PEER_PYTHON, {
        args: [
          ...launch,
          TORCH_TRAIN_SCRIPT,
          ...["--pairs", pairs, "--generator", SHIPPED_GENERATOR, "--out", join(dir, `t${nproc}`)],
          ...["--steps", `${steps}`, "--global-batch", `${DPO_BATCH}`],
          ...["--checkpoint-every", `${steps}`, "--threads", "1", "--device", "cpu", "--quiet"],
        ],
        env: { OMP_NUM_THREADS: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const route = `torch ${nproc} process${nproc > 1 ? "es" : ""} (1 thread each)`;
      const text = new TextDecoder().decode(run.stdout).trim().split("\n").pop() ?? "";
      if (!run.success) {
        const why = new TextDecoder().decode(run.stderr).trim().split("\n").slice(-2).join(" | ");
        throw new Error(`${route}: Expected exit 0 but found exit ${run.code}: ${why}`);
      }
      const summary = JSON.parse(text) as { pairsPerSecond: number };
      out.push({
        route,
        pairsPerSecond: summary.pairsPerSecond,
        steps,
        seconds: (steps * DPO_BATCH) / summary.pairsPerSecond,
      });
    }
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
