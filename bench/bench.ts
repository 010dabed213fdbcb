/**
 * `deno task bench`: times the kit's hot paths on every available tfjs
 * backend and writes `out/bench/results.json`, plus `out/bench/backend.json`
 * with the measured CPU-route ranking that `initBackend()` then follows.
 *
 * Usage: deno task bench [--backends cpu,wasm,webgpu] [--seconds 4] [--only NAME]
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/_atomic.ts";
import { type BackendName, initBackend, probeWebGpu } from "../lib/backend.ts";
import { parseCli } from "../lib/cli.ts";
import { parseGrid, patchify, unpatchify } from "../lib/patch.ts";
import { loadVideo } from "../lib/video.ts";
import { type Bench, type BenchResult, formatTable, measure } from "./_harness.ts";

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

/** Every benchmark, in table order. The training-step benchmark decides the CPU ranking. */
export const BENCHES: Bench[] = [matmulBench, patchifyBench, decodeBench];

/** The benchmark whose speed ranks the CPU backends (the first per-backend one that ran everywhere). */
const RANKING_BENCH = "matmul 256×512·512×512";

async function availableBackends(): Promise<BackendName[]> {
  const names: BackendName[] = ["cpu", "wasm"];
  if ((await probeWebGpu()).available) names.push("webgpu");
  return names;
}

if (import.meta.main) {
  const values = parseCli(Deno.args, {
    backends: { type: "string", description: "comma-separated backends (default: all available)" },
    seconds: { type: "string", default: "4", description: "seconds of timed runs per case" },
    only: { type: "string", description: "run only benchmarks whose name contains this" },
    out: { type: "string", default: "out/bench", description: "output directory" },
  });
  const backends = typeof values.backends === "string"
    ? values.backends.split(",") as BackendName[]
    : await availableBackends();
  const seconds = Number(values.seconds);
  const selected = BENCHES.filter((b) => !values.only || b.name.includes(values.only as string));
  const results: BenchResult[] = [];
  await initBackend({ backend: backends[0] });
  for (const bench of selected.filter((b) => !b.perBackend)) {
    console.error(`… ${bench.name}`);
    results.push(await measure(bench, { seconds }));
  }
  for (const backend of backends) {
    const choice = await initBackend({ backend });
    for (const bench of selected.filter((b) => b.perBackend)) {
      console.error(
        `… ${bench.name} on ${choice.name}${choice.adapter ? ` (${choice.adapter})` : ""}`,
      );
      results.push(await measure(bench, { seconds }));
    }
  }
  console.log(formatTable(results));
  const outDir = values.out as string;
  const webgpu = await probeWebGpu();
  await writeFileAtomic(
    join(outDir, "results.json"),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        cores: navigator.hardwareConcurrency,
        webgpu,
        results,
      },
      null,
      2,
    ) + "\n",
  );
  const ranked = results
    .filter((r) =>
      r.name === RANKING_BENCH && !r.error && r.backend !== "tensorflow" &&
      !(r.backend === "webgpu" && !webgpu.fallback)
    )
    .sort((a, b) => a.medianMs - b.medianMs)
    .map((r) => r.backend);
  if (ranked.length > 1) {
    await writeFileAtomic(
      join(outDir, "backend.json"),
      JSON.stringify({ bench: RANKING_BENCH, cpuRanking: ranked }, null, 2) + "\n",
    );
    console.log(
      `CPU-route ranking by "${RANKING_BENCH}": ${ranked.join(" > ")} → ${
        join(outDir, "backend.json")
      }`,
    );
  }
}
