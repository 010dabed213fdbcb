/**
 * `deno task bench`: times the kit's hot paths on every available tfjs
 * backend — a raw matmul, patchify, ffmpeg decoding, and for the default
 * generator the Adam training step, the policy/reference patch loss maps
 * (forward, and forward + backward), DDIM sampling, reward-model scoring and
 * its training step, and one Diffusion-DPO and one Gran-DPO step of the
 * shipped generator on the same 8 pairs — next to PyTorch peers of the
 * training step and of both DPO steps on the same batches (torch/generator_peer.py, torch/dpo_peer.py),
 * checks the peers' losses against the kit's, runs a 200-step memory check, and writes
 * `out/bench/results.json` plus `out/bench/backend.json` with the CPU-route
 * ranking by the training step, which `initBackend()` then follows.
 *
 * Kernel launches of one training step and one DPO step are counted on each
 * backend (the "launches" column: tfjs kernels; on webgpu the GPU dispatches).
 *
 * Usage: deno task bench [--backends cpu,wasm,webgpu,wasm-stock,webgpu-stock] [--seconds 2]
 *   [--only NAME] [--no-peer] [--memory-steps 200] [--peer-threads 0] [--post-train-steps 6]
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/core/_atomic.ts";
import {
  type BackendName,
  type BenchRanking,
  initBackend,
  probeWebGpu,
  setFastWasmKernels,
  setFastWebGpuKernels,
} from "../lib/tensor/backend.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { parseGrid, patchify, unpatchify } from "../lib/videos/patch.ts";
import { loadVideo } from "../lib/videos/video.ts";
import { type Bench, type BenchResult, formatTable, measure, summarizeRuns } from "./_harness.ts";
import {
  benchBatch,
  benchConfig,
  countedForwardFlops,
  ddimBench,
  lossMapBench,
  lossMapGradBench,
  memoryCheck,
  memoryRow,
  parallelTrainStepBench,
  sampleClipBench,
  TRAIN_BATCH,
  TRAIN_STEP_BENCH,
  trainStepBench,
} from "./_generator_benches.ts";
import {
  exportForPeer,
  parityGenerator,
  peerAvailable,
  type PeerReport,
  runPeer,
} from "./_peer.ts";
import { disposeGenerator, generatorFlops } from "../lib/generator/model.ts";
import { rewardBenches } from "../lib/reward/experiment.ts";
import { batchLabelBench, labelBenches } from "./_label_benches.ts";
import {
  DPO_BENCH_NAMES,
  dpoBenches,
  dpoParityLine,
  dpoPeerRows,
  postTrainThroughput,
} from "./_dpo_benches.ts";
import { benchPairsFile, DPO_METHODS } from "./_dpo_peer.ts";

const SHARED_VIDEOS = new URL("../../shared/videos/", import.meta.url).pathname;

/** A raw matmul: the ceiling every model step sits under. */
const matmulBench: Bench = {
  name: "matmul 256×512·512×512",
  unit: "matmul",
  perBackend: true,
  setup() {
    const a = tf.randomNormal([256, 512]);
    const b = tf.randomNormal([512, 512]);
    return Promise.resolve({
      async run() {
        const c = tf.matMul(a, b);
        await c.data();
        c.dispose();
      },
      items: 1,
      flops: 2 * 256 * 512 * 512,
      dispose: () => tf.dispose([a, b]),
    });
  },
};

/** Patchify and back on a batch of 8 default-size clips. */
const patchifyBench: Bench = {
  name: "patchify+unpatchify 8×16×32×32",
  unit: "videos",
  perBackend: true,
  setup() {
    const grid = parseGrid("4x4x4");
    const x = tf.randomUniform([8, 16, 32, 32, 3]);
    return Promise.resolve({
      async run() {
        const y = tf.tidy(() =>
          unpatchify(patchify(x, grid), grid, { numFrames: 16, height: 32, width: 32, channels: 3 })
        );
        await y.data();
        y.dispose();
      },
      items: 8,
      flops: 0,
      dispose: () => x.dispose(),
    });
  },
};

/** Decoding a real 16-frame 512×320 GIF through ffmpeg. */
const decodeBench: Bench = {
  name: "ffmpeg decode 512×320 GIF",
  unit: "videos",
  perBackend: false,
  setup() {
    const path = join(SHARED_VIDEOS, "duck.gif");
    return Promise.resolve({
      async run() {
        await loadVideo(path);
      },
      items: 1,
      flops: 0,
      dispose() {},
    });
  },
};

/** Every benchmark, in table order. The training-step benchmark ranks the CPU backends. */
export const BENCHES: Bench[] = [
  matmulBench,
  patchifyBench,
  decodeBench,
  trainStepBench,
  parallelTrainStepBench,
  lossMapBench,
  lossMapGradBench,
  ddimBench,
  sampleClipBench,
  // reward-model scoring and training step (lib/reward/experiment.ts)
  ...rewardBenches(),
  // one Diffusion-DPO and one Gran-DPO post-training step of the shipped generator (8 pairs)
  ...dpoBenches(),
  // labelling throughput against the judge server (backend-independent)
  ...labelBenches(),
  batchLabelBench(),
];

/** The benchmark whose speed ranks the CPU backends. */
const RANKING_BENCH = TRAIN_STEP_BENCH;

/** Pseudo-backend: wasm with tfjs' stock kernels (lib/tensor/_kernels/wasm.ts off), training step only. */
const WASM_STOCK = "wasm-stock";
/** Pseudo-backend: webgpu with tfjs' stock kernels and Adam (lib/tensor/_kernels/webgpu.ts off). */
const WEBGPU_STOCK = "webgpu-stock";
/** The pseudo-backends and the backend each runs on. */
const STOCK: Record<string, BackendName> = { [WASM_STOCK]: "wasm", [WEBGPU_STOCK]: "webgpu" };

async function availableBackends(): Promise<string[]> {
  const names: string[] = ["cpu", "wasm", WASM_STOCK];
  if ((await probeWebGpu()).available) names.push("webgpu", WEBGPU_STOCK);
  return names;
}

function loadAverage(): string {
  try {
    return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  } catch {
    return "unknown";
  }
}

/** Runs the peer on the benchmark batch with weights whose every layer matters; returns its row. */
async function peerRow(
  seconds: number,
  threads: number,
): Promise<{ row: BenchResult; report: PeerReport; backend: string; weights: string }> {
  const { gen, source } = await parityGenerator();
  const batch = benchBatch();
  const dir = await Deno.makeTempDir({ prefix: "halo-peer-" });
  try {
    await exportForPeer(gen, batch, dir);
    const report = await runPeer(dir, { seconds, threads });
    const row: BenchResult = {
      name: TRAIN_STEP_BENCH,
      backend: `torch ${report.torch} ${report.threads}thr`,
      ...summarizeRuns({ wallMs: report.timesMs, cpuMs: report.cpuTimesMs }, {
        items: TRAIN_BATCH,
        flops: 3 * generatorFlops(benchConfig(), TRAIN_BATCH),
      }),
      unit: "clips",
      tensorsBefore: 0,
      tensorsAfter: 0,
      rssMiB: report.rssMiB,
      peerRatio: 1,
      peerCpuRatio: 1,
    };
    return { row, report, backend: tf.getBackend(), weights: source };
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    disposeGenerator(gen);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const values = parseCli(Deno.args, {
    backends: {
      type: "string",
      description:
        `comma-separated backends (default: all available; ${WASM_STOCK}, ${WEBGPU_STOCK} = tfjs' stock kernels)`,
    },
    seconds: { type: "string", default: "2", description: "seconds of timed runs per case" },
    only: { type: "string", description: "run only benchmarks whose name contains this" },
    out: { type: "string", default: "out/bench", description: "output directory" },
    "no-peer": { type: "boolean", description: "skip the PyTorch peer" },
    "peer-threads": { type: "string", default: "0", description: "torch threads (0: default)" },
    "post-train-steps": {
      type: "string",
      default: "6",
      description: "Gran-DPO steps of the post-training throughput runs, kit vs torch (0: skip)",
    },
    "memory-steps": {
      type: "string",
      default: "200",
      description: "training steps of the memory check (0: skip)",
    },
  });
  const started = performance.now();
  const loadBefore = loadAverage();
  const backends = typeof values.backends === "string"
    ? values.backends.split(",")
    : await availableBackends();
  const seconds = Number(values.seconds);
  const selected = BENCHES.filter((b) => !values.only || b.name.includes(values.only as string));
  const results: BenchResult[] = [];
  const real = backends.filter((b) => !(b in STOCK)) as BackendName[];
  const dpoNames: string[] = Object.values(DPO_BENCH_NAMES);
  const dpoSelected = selected.some((b) => dpoNames.includes(b.name));
  if (dpoSelected) {
    // the DPO benchmarks' pairs: sampled once (on wasm) into out/bench/dpo-pairs, rescored each run
    await initBackend({ backend: "wasm" });
    console.error(`… DPO benchmark pairs (8 prompts × 2 candidates, shipped generator and PRM)`);
    await benchPairsFile({ quiet: false, rebuild: true });
  }
  await initBackend({ backend: real[0] ?? "wasm" });
  for (const bench of selected.filter((b) => !b.perBackend)) {
    console.error(`… ${bench.name}`);
    results.push(await measure(bench, { seconds }));
  }
  for (const backend of backends) {
    const stock = backend in STOCK;
    const choice = await initBackend({ backend: STOCK[backend] ?? backend as BackendName });
    setFastWasmKernels(backend !== WASM_STOCK);
    setFastWebGpuKernels(backend !== WEBGPU_STOCK);
    try {
      for (const bench of selected.filter((b) => b.perBackend)) {
        if (stock && bench.name !== RANKING_BENCH) continue;
        if (bench.skipBackends?.includes(backend)) continue;
        console.error(
          `… ${bench.name} on ${backend}${choice.adapter ? ` (${choice.adapter})` : ""}`,
        );
        const result = await measure(bench, { seconds });
        results.push(stock ? { ...result, backend } : result);
      }
    } finally {
      setFastWasmKernels(true);
      setFastWebGpuKernels(true);
    }
  }
  const webgpu = await probeWebGpu();
  const ranked = results
    .filter((r) =>
      r.name === RANKING_BENCH && !r.error && (real as string[]).includes(r.backend) &&
      r.backend !== "tensorflow" && !(r.backend === "webgpu" && !webgpu.fallback)
    )
    .sort((a, b) => a.medianMs - b.medianMs)
    .map((r) => r.backend as BackendName);
  const fastest = ranked[0] ?? "wasm";

  let peer: Awaited<ReturnType<typeof peerRow>> | undefined;
  let peerSkipped: string | undefined;
  if (values["no-peer"]) peerSkipped = "--no-peer";
  else if (!selected.some((b) => b.name === RANKING_BENCH)) {
    peerSkipped = "training step not selected";
  } else {
    const available = await peerAvailable();
    if (!available.ok) peerSkipped = available.reason;
    else {
      await initBackend({ backend: fastest });
      console.error(`… ${RANKING_BENCH} on the PyTorch peer (${available.reason})`);
      try {
        peer = await peerRow(seconds, Number(values["peer-threads"]));
        for (const r of results) {
          if (r.name !== RANKING_BENCH || r.error) continue;
          r.peerRatio = peer.row.medianMs / r.medianMs;
          if (r.cpuMedianMs && peer.row.cpuMedianMs) {
            r.peerCpuRatio = peer.row.cpuMedianMs / r.cpuMedianMs;
          }
        }
        results.push(peer.row);
      } catch (error) {
        peerSkipped = (error as Error).message;
      }
    }
  }

  let dpoPeer: Awaited<ReturnType<typeof dpoPeerRows>> | undefined;
  let dpoPeerSkipped: string | undefined;
  if (!dpoSelected) dpoPeerSkipped = "DPO steps not selected";
  else if (values["no-peer"]) dpoPeerSkipped = "--no-peer";
  else {
    const available = await peerAvailable();
    if (!available.ok) dpoPeerSkipped = available.reason;
    else {
      await initBackend({ backend: fastest });
      console.error(`… Diffusion-DPO and Gran-DPO steps on the PyTorch peer (${available.reason})`);
      try {
        dpoPeer = await dpoPeerRows({ seconds, threads: Number(values["peer-threads"]) });
        for (const row of dpoPeer.rows) {
          for (const r of results) {
            if (r.name !== row.name || r.error) continue;
            r.peerRatio = row.medianMs / r.medianMs;
            if (r.cpuMedianMs && row.cpuMedianMs) r.peerCpuRatio = row.cpuMedianMs / r.cpuMedianMs;
          }
        }
        results.push(...dpoPeer.rows);
      } catch (error) {
        dpoPeerSkipped = (error as Error).message;
      }
    }
  }

  // post-training throughput: the kit's wasm route, the torch trainer with 1 and 2 processes
  let postTrainRuns: Awaited<ReturnType<typeof postTrainThroughput>> | undefined;
  let postTrainSkipped: string | undefined;
  const postTrainSteps = Number(values["post-train-steps"]);
  if (!dpoSelected || postTrainSteps <= 0) postTrainSkipped = "DPO steps not selected or 0 steps";
  else if (values["no-peer"]) postTrainSkipped = "--no-peer";
  else if (!(await peerAvailable()).ok) postTrainSkipped = (await peerAvailable()).reason;
  else {
    console.error(`… post-training throughput: kit wasm vs torch/train.py with 1 and 2 processes`);
    try {
      postTrainRuns = await postTrainThroughput(postTrainSteps);
    } catch (error) {
      postTrainSkipped = (error as Error).message;
    }
  }

  let memory: Awaited<ReturnType<typeof memoryCheck>> | undefined;
  const memorySteps = Number(values["memory-steps"]);
  if (memorySteps > 0 && selected.some((b) => b.name === RANKING_BENCH)) {
    await initBackend({ backend: fastest });
    console.error(`… memory: ${memorySteps} training steps on ${fastest}`);
    memory = await memoryCheck(memorySteps);
    results.push(memoryRow(fastest, memory));
  }

  let flopCheck: { analytic: number; counted: number; batch: number } | undefined;
  if (selected.some((b) => b.name === RANKING_BENCH)) {
    await initBackend({ backend: "wasm" });
    const batch = 2;
    flopCheck = {
      batch,
      analytic: generatorFlops(benchConfig(), batch),
      counted: await countedForwardFlops(batch),
    };
  }

  console.log(formatTable(results));
  const loadAfter = loadAverage();
  if (peer) {
    const p = peer.report;
    console.log(
      `peer parity (${peer.weights}, kit on ${peer.backend}): loss kit ${
        p.kitLoss.toPrecision(7)
      } ` +
        `vs torch ${p.loss.toPrecision(7)} (rel. ${p.lossRelDiff.toExponential(1)}); after one ` +
        `Adam step ${p.kitLossAfterStep.toPrecision(7)} vs ${p.lossAfterStep.toPrecision(7)} ` +
        `(rel. ${p.lossAfterStepRelDiff.toExponential(1)}) → ${
          p.lossRelDiff < 1e-3 && p.lossAfterStepRelDiff < 1e-3 ? "ok" : "MISMATCH"
        } (bound 1e-3)`,
    );
  } else console.log(`peer: skipped (${peerSkipped})`);
  if (dpoPeer) {
    console.log(
      `DPO peer parity (data/generator + ${DPO_METHODS.length} methods, kit on ${dpoPeer.backend}, ${
        (100 * dpoPeer.report.patchesUsed).toFixed(0)
      }% of patches past τ):`,
    );
    for (const method of DPO_METHODS) console.log(`  ${dpoParityLine(method, dpoPeer.report)}`);
  } else console.log(`DPO peer: skipped (${dpoPeerSkipped})`);
  if (postTrainRuns) {
    console.log(`post-training throughput (Gran-DPO, data/generator, 8 pairs a step):`);
    for (const r of postTrainRuns) {
      console.log(
        `  ${r.route}: ${r.pairsPerSecond.toFixed(2)} pairs/s (${r.steps} steps in ${
          r.seconds.toFixed(1)
        } s)`,
      );
    }
  } else console.log(`post-training throughput: skipped (${postTrainSkipped})`);
  if (memory) {
    const pct = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`;
    console.log(
      `memory over ${memory.steps} training steps on ${fastest}: tensors ${memory.tensorsBefore}→` +
        `${memory.tensorsAfter} (${pct(memory.tensorGrowth)}), RSS ${
          memory.rssBeforeMiB.toFixed(0)
        }→${memory.rssAfterMiB.toFixed(0)} MiB (${pct(memory.rssGrowth)}) → ${
          memory.ok ? "ok" : "GROWS"
        } (bound +5%)`,
    );
  }
  if (flopCheck) {
    console.log(
      `FLOPs of one forward pass (B=${flopCheck.batch}): generatorFlops ${
        (flopCheck.analytic / 1e6).toFixed(1)
      } M, counted from the matmul kernels ${(flopCheck.counted / 1e6).toFixed(1)} M (ratio ${
        (flopCheck.analytic / flopCheck.counted).toFixed(3)
      })`,
    );
  }
  console.log(
    `load average ${loadBefore} before, ${loadAfter} after, on ${navigator.hardwareConcurrency} ` +
      `cores; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
  );
  const outDir = values.out as string;
  await writeFileAtomic(
    join(outDir, "results.json"),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        cores: navigator.hardwareConcurrency,
        loadAverage: { before: loadBefore, after: loadAfter },
        webgpu,
        results,
        peer: peer
          ? { ...peer.report, kitBackend: peer.backend, weights: peer.weights }
          : { skipped: peerSkipped },
        dpoPeer: dpoPeer
          ? { ...dpoPeer.report, kitBackend: dpoPeer.backend, weights: "data/generator" }
          : { skipped: dpoPeerSkipped },
        postTrain: postTrainRuns ?? { skipped: postTrainSkipped },
        memory,
        flopCheck,
      },
      null,
      2,
    ) + "\n",
  );
  // every real backend's training step, a real GPU's included: initBackend() weighs it (gpuDecision)
  const medians = Object.fromEntries(
    results.filter((r) =>
      r.name === RANKING_BENCH && !r.error && (real as string[]).includes(r.backend)
    )
      .map((r) => [r.backend, r.medianMs]),
  );
  if (ranked.length > 1 || (medians.webgpu !== undefined && !webgpu.fallback)) {
    const ranking: BenchRanking = {
      bench: RANKING_BENCH,
      cpuRanking: ranked,
      ...(webgpu.available ? { adapter: webgpu.description } : {}),
      medians,
    };
    await writeFileAtomic(join(outDir, "backend.json"), JSON.stringify(ranking, null, 2) + "\n");
    console.log(
      `CPU-route ranking by "${RANKING_BENCH}": ${ranked.join(" > ")} → ${
        join(outDir, "backend.json")
      }`,
    );
  }
}
