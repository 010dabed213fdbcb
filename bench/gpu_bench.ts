/**
 * `deno task bench:gpu`: the kit's WebGPU route against the PyTorch peer on
 * CUDA, on one machine with a GPU (issue 13). Times the generator's Adam
 * training step (`trainStep`, as `deno task bench` times it) on WebGPU at
 * B = 8, 64, 256 of the default config and B = 8, 32 of a larger one (64 px,
 * 256 tokens, d = 256, depth 4), then the peer (torch/generator_peer.py,
 * random weights) at the same configs and batches, prints clips/s and the
 * kit/peer ratio with the GPU dispatches of one kit step, and writes `out/bench/gpu.json`. A size that fails is
 * reported with its error's first line and the bench goes on. Refuses (exit 2)
 * when the WebGPU adapter is a CPU fallback such as lavapipe, unless
 * `--allow-fallback`. bench/gpu/README.md says how to run it on an offline
 * machine (bench/gpu/pack.sh builds the pack).
 *
 * Usage: deno task bench:gpu [--sizes default:8,64,256,large:8,32] [--seconds 10]
 *   [--warmup 2] [--min-runs 5] [--python python3] [--peer-device cuda] [--no-peer]
 *   [--config NAME=JSON] [--allow-fallback] [--out out/bench]
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/core/_atomic.ts";
import { initBackend, probeWebGpu } from "../lib/tensor/backend.ts";
import { cliHelp, type CliSpec, intOption, numberOption, parseCli } from "../lib/cli/_flags.ts";
import {
  createGenerator,
  disposeGenerator,
  type GeneratorConfig,
  generatorParamCount,
} from "../lib/generator/model.ts";
import { type BenchResult, measure, summarizeRuns } from "./_harness.ts";
import { trainStepBenchOf } from "./_generator_benches.ts";
import { PEER_SCRIPT, peerAvailable, type PeerTiming, timePeer, writePeerShapes } from "./_peer.ts";

/**
 * The configs the GPU bench knows by name: the default generator, the
 * issue's larger one (64 px; tubes of 8×8 px × 4 frames give 4 segments × 8×8
 * positions = 256 tokens; d = 256, depth 4, 8 heads: about 9 M weights), and a
 * tiny one for tests.
 */
export const GPU_BENCH_CONFIGS: Readonly<Record<string, Partial<GeneratorConfig>>> = {
  default: {},
  large: {
    size: 64,
    tokenGrid: { rows: 8, cols: 8, framesPerPatch: 4 },
    dim: 256,
    depth: 4,
    heads: 8,
  },
  tiny: {
    frames: 4,
    size: 16,
    tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 },
    dim: 8,
    depth: 1,
    heads: 2,
    pixelContext: 2,
    pixelHidden: 4,
  },
};

/** The sizes timed by default: the table. */
export const DEFAULT_GPU_SIZES = "default:8,64,256,large:8,32";

/** One timed size: a named config and a batch. */
export interface GpuSize {
  /** Config name (a key of the known configs). */
  config: string;
  /** Clips per training step. */
  batch: number;
}

/**
 * Parses `--sizes`: comma-separated batch sizes, each run of them led by
 * `NAME:` naming its config (`default:8,64,large:8,32`).
 *
 * @example
 * ```ts
 * import { parseGpuSizes } from "./gpu_bench.ts";
 * console.log(parseGpuSizes("default:8,64,large:8", ["default", "large"]));
 * // [ { config: "default", batch: 8 }, { config: "default", batch: 64 }, { config: "large", batch: 8 } ]
 * ```
 */
export function parseGpuSizes(spec: string, configs: readonly string[]): GpuSize[] {
  const sizes: GpuSize[] = [];
  let config: string | undefined;
  for (const raw of spec.split(",")) {
    const item = raw.trim();
    const m = /^(?:([A-Za-z][\w-]*):)?(\S+)$/.exec(item);
    if (m?.[1] !== undefined) config = m[1];
    const batch = Number(m?.[2]);
    if (!m || !Number.isInteger(batch) || batch < 1) {
      throw new TypeError(
        `--sizes: Expected NAME:B,B,…,NAME:B,… with integer batches ≥ 1 but found ${
          JSON.stringify(item)
        } in ${JSON.stringify(spec)}`,
      );
    }
    if (config === undefined) {
      throw new TypeError(
        `--sizes: Expected a config name before the first batch (e.g. default:${batch}) but found ${
          JSON.stringify(spec)
        }`,
      );
    }
    if (!configs.includes(config)) {
      throw new TypeError(
        `--sizes: Expected a config among ${configs.join(", ")} but found ${
          JSON.stringify(config)
        }`,
      );
    }
    sizes.push({ config, batch });
  }
  return sizes;
}

/** The peer's timing of one size, or why it failed. */
export interface GpuPeerResult {
  /** Timed steps. */
  runs: number;
  /** Median step, milliseconds. */
  medianMs: number;
  /** Fastest step. */
  minMs: number;
  /** Slowest step. */
  maxMs: number;
  /** Clips per second at the median. */
  clipsPerSecond: number;
  /** The device the peer ran on ("cuda", "cpu") and its name. */
  device: string;
  /** Peak GPU memory torch allocated, MiB (cuda only). */
  gpuPeakMiB?: number;
  /** The peer's first error line, when it failed. */
  error?: string;
}

/** One row of the GPU bench. */
export interface GpuBenchRow extends GpuSize {
  /** The generator's weights (0 when it could not be built). */
  params: number;
  /** The kit's training step on WebGPU. */
  kit: BenchResult;
  /** The peer's training step, absent with `--no-peer`. */
  peer?: GpuPeerResult;
  /** Kit clips/s ÷ peer clips/s (absent unless both ran). */
  ratio?: number;
}

const fmt = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits);

/** Formats the rows as the bench's table, failures listed below it. */
export function formatGpuTable(rows: readonly GpuBenchRow[]): string {
  const header = [
    "config",
    "B",
    "kit ms (min–max)",
    "kit clips/s",
    "kit dispatches",
    "peer ms (min–max)",
    "peer clips/s",
    "kit/peer",
  ];
  const span = (median: number, min: number, max: number) =>
    `${fmt(median, 1)} (${fmt(min, 1)}–${fmt(max, 1)})`;
  const cells = rows.map((r) => [
    r.config,
    String(r.batch),
    r.kit.error ? "failed" : span(r.kit.medianMs, r.kit.minMs, r.kit.maxMs),
    r.kit.error ? "-" : fmt(r.kit.itemsPerSecond, 1),
    String(r.kit.launches?.dispatches ?? r.kit.launches?.kernels ?? "-"),
    !r.peer ? "-" : r.peer.error ? "failed" : span(r.peer.medianMs, r.peer.minMs, r.peer.maxMs),
    !r.peer || r.peer.error ? "-" : fmt(r.peer.clipsPerSecond, 1),
    r.ratio === undefined ? "-" : `${fmt(r.ratio, 3)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join("  ").trimEnd();
  const failures = rows.flatMap((r) => [
    ...r.kit.error ? [`failed: kit ${r.config} B=${r.batch}: ${r.kit.error}`] : [],
    ...r.peer?.error ? [`failed: peer ${r.config} B=${r.batch}: ${r.peer.error}`] : [],
  ]);
  return [
    line(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map(line),
    ...failures,
  ]
    .join("\n");
}

/** The peer result of a failed run. */
function peerFailure(device: string, error: string): GpuPeerResult {
  return { runs: 0, medianMs: NaN, minMs: NaN, maxMs: NaN, clipsPerSecond: NaN, device, error };
}

/** A peer timing as a row's peer result. */
function peerResult(t: PeerTiming): GpuPeerResult {
  const s = summarizeRuns({ wallMs: t.timesMs, cpuMs: t.cpuTimesMs }, { items: t.batch, flops: 0 });
  return {
    runs: s.runs,
    medianMs: s.medianMs,
    minMs: s.minMs,
    maxMs: s.maxMs,
    clipsPerSecond: s.itemsPerSecond,
    device: t.deviceName ? `${t.device} (${t.deviceName})` : t.device,
    ...t.gpuPeakMiB === undefined ? {} : { gpuPeakMiB: t.gpuPeakMiB },
  };
}

async function commandLine(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The peer script: the repository's torch/generator_peer.py, or peer/generator_peer.py beside a
 * bundled gpu_bench.js (the offline pack of bench/gpu/pack.sh, with peer/halo_torch/ beside it).
 */
function defaultPeerScript(): string {
  try {
    Deno.statSync(PEER_SCRIPT);
    return PEER_SCRIPT;
  } catch {
    return new URL("./peer/generator_peer.py", import.meta.url).pathname;
  }
}

const SPEC: CliSpec = {
  sizes: {
    type: "string",
    default: DEFAULT_GPU_SIZES,
    description: "NAME:B,B,…: configs (default, large, tiny, or --config's) and batch sizes",
  },
  seconds: { type: "string", default: "10", description: "seconds of timed runs per size" },
  warmup: { type: "string", default: "2", description: "untimed warm-up steps per size" },
  "min-runs": { type: "string", default: "5", description: "minimum timed steps per size" },
  config: {
    type: "string",
    description: 'one more config, NAME=JSON of GeneratorConfig fields (e.g. wide={"dim":128})',
  },
  python: { type: "string", default: "python3", description: "the Python with torch for the peer" },
  "peer-device": { type: "string", default: "cuda", description: "the peer's device: cuda or cpu" },
  "peer-script": {
    type: "string",
    default: defaultPeerScript(),
    description: "generator_peer.py (beside it: halo_torch/)",
  },
  "no-peer": { type: "boolean", description: "skip the PyTorch peer" },
  "allow-fallback": {
    type: "boolean",
    description: "run on a CPU fallback adapter (lavapipe) too: for tests, not for numbers",
  },
  out: { type: "string", default: "out/bench", description: "output directory (gpu.json)" },
};

/** Runs the GPU bench with command-line `args`; resolves to the exit code. */
export async function gpuBench(args: readonly string[]): Promise<number> {
  let values;
  try {
    values = parseCli(args, SPEC);
  } catch (error) {
    console.error(`gpu_bench: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(cliHelp(SPEC, "deno task bench:gpu [options]"));
    return 0;
  }
  const configs: Record<string, Partial<GeneratorConfig>> = { ...GPU_BENCH_CONFIGS };
  let sizes: GpuSize[], seconds: number, warmup: number, minRuns: number;
  const peerDevice = values["peer-device"] as string;
  try {
    if (typeof values.config === "string") {
      const m = /^([A-Za-z][\w-]*)=(.*)$/s.exec(values.config);
      let parsed: unknown;
      try {
        parsed = m ? JSON.parse(m[2]) : undefined;
      } catch {
        parsed = undefined;
      }
      if (!m || typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new TypeError(
          `--config: Expected NAME={JSON object of GeneratorConfig fields} but found ${
            JSON.stringify(values.config)
          }`,
        );
      }
      configs[m[1]] = parsed as Partial<GeneratorConfig>;
    }
    sizes = parseGpuSizes(values.sizes as string, Object.keys(configs));
    seconds = numberOption(values, "seconds");
    warmup = intOption(values, "warmup");
    minRuns = intOption(values, "min-runs");
    if (peerDevice !== "cuda" && peerDevice !== "cpu") {
      throw new TypeError(
        `--peer-device: Expected cuda or cpu but found ${JSON.stringify(peerDevice)}`,
      );
    }
  } catch (error) {
    console.error(`gpu_bench: ${(error as Error).message}`);
    return 2;
  }

  const probe = await probeWebGpu();
  if (!probe.available) {
    console.error(
      `gpu_bench: Expected a WebGPU adapter but found none (${probe.description}). On an NVIDIA ` +
        `machine the Vulkan loader (libvulkan.so.1) and the driver's Vulkan ICD must be present: ` +
        `see bench/gpu/README.md.`,
    );
    return 2;
  }
  if (probe.fallback && !values["allow-fallback"]) {
    console.error(
      `gpu_bench: Expected a GPU WebGPU adapter but found the CPU fallback "${probe.description}" ` +
        `(Vulkan found no GPU driver, only lavapipe/llvmpipe). Its timings say nothing about a ` +
        `GPU; pass --allow-fallback to run anyway. See bench/gpu/README.md.`,
    );
    return 2;
  }
  const choice = await initBackend({ backend: "webgpu" });
  const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.error(`gpu_bench: kit on webgpu, adapter ${choice.adapter} (load ${load()})`);

  const resolved = new Map<string, { params: number; config?: GeneratorConfig; error?: string }>();
  for (const name of new Set(sizes.map((s) => s.config))) {
    try {
      const gen = createGenerator(configs[name], { seed: 0 });
      resolved.set(name, { params: generatorParamCount(gen), config: gen.config });
      disposeGenerator(gen);
    } catch (error) {
      resolved.set(name, { params: 0, error: (error as Error).message.split("\n")[0] });
    }
  }
  const rows: GpuBenchRow[] = [];
  for (const size of sizes) {
    console.error(`… kit ${size.config} B=${size.batch}`);
    const kit = await measure({
      ...trainStepBenchOf(configs[size.config], {
        batch: size.batch,
        name: `${size.config} B=${size.batch}`,
      }),
      // one more untimed step counts its kernels and GPU dispatches (bench/_launches.ts)
      countLaunches: true,
    }, { warmup, minRuns, seconds });
    if (kit.error) console.error(`  failed: ${kit.error}`);
    else console.error(`  ${kit.medianMs.toFixed(1)} ms, ${kit.itemsPerSecond.toFixed(1)} clips/s`);
    rows.push({ ...size, params: resolved.get(size.config)!.params, kit });
  }

  let peerInfo: Record<string, unknown> = { skipped: "--no-peer" };
  if (!values["no-peer"]) {
    const python = values.python as string;
    const available = await peerAvailable(python);
    peerInfo = { python, device: peerDevice, torch: available.reason };
    const dir = await Deno.makeTempDir({ prefix: "halo-gpu-peer-" });
    try {
      for (const row of rows) {
        const r = resolved.get(row.config)!;
        if (!available.ok || !r.config) {
          row.peer = peerFailure(peerDevice, available.ok ? r.error! : available.reason);
          continue;
        }
        console.error(`… peer ${row.config} B=${row.batch} on ${peerDevice}`);
        try {
          const gen = createGenerator(r.config, { seed: 0 });
          const shapes = join(dir, row.config);
          try {
            await writePeerShapes(gen, shapes);
          } finally {
            disposeGenerator(gen);
          }
          const timing = await timePeer(shapes, row.batch, {
            python,
            device: peerDevice,
            script: values["peer-script"] as string,
            seconds,
            warmup,
            minRuns,
          });
          row.peer = peerResult(timing);
          peerInfo = { ...peerInfo, torch: timing.torch, cuda: timing.cuda ?? null };
          console.error(`  ${row.peer.medianMs.toFixed(1)} ms on ${row.peer.device}`);
        } catch (error) {
          row.peer = peerFailure(peerDevice, (error as Error).message.split("\n")[0]);
          console.error(`  failed: ${row.peer.error}`);
        }
        if (!row.kit.error && !row.peer.error) {
          row.ratio = row.kit.itemsPerSecond / row.peer.clipsPerSecond;
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  const table = formatGpuTable(rows);
  console.log(table);
  const report = {
    date: new Date().toISOString(),
    adapter: choice.adapter,
    fallbackAdapter: probe.fallback,
    nvidiaSmi: await commandLine("nvidia-smi", [
      "--query-gpu=name,driver_version,memory.total",
      "--format=csv,noheader",
    ]) ?? null,
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      // tfjs' packages (@tensorflow/tfjs-backend-webgpu is pinned to the same version in deno.json)
      tfjs: tf.version,
    },
    host: { os: Deno.build.os, arch: Deno.build.arch, loadAverage: load() },
    options: { sizes: values.sizes, seconds, warmup, minRuns },
    configs: Object.fromEntries([...resolved].map(([n, r]) => [n, r.config ?? { error: r.error }])),
    peer: peerInfo,
    rows,
    table,
  };
  const out = values.out as string;
  await Deno.mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, "gpu.json"), JSON.stringify(report, null, 2) + "\n");
  console.error(`gpu_bench: wrote ${join(out, "gpu.json")}`);
  return 0;
}

if (import.meta.main) Deno.exit(await gpuBench(Deno.args));
