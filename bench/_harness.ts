/**
 * The benchmark harness behind `deno task bench`: warm-up, repeated timed runs,
 * median and spread, items/s, achieved GFLOP/s from an analytic FLOP count,
 * tensor count and process RSS, per tfjs backend.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import process from "node:process";
import { countLaunches, type LaunchCount } from "./_launches.ts";

/** One prepared benchmark: `run` is timed; `dispose` frees what `setup` made. */
export interface BenchCase {
  /** Runs one timed iteration (await every tensor read inside). */
  run(): Promise<void>;
  /** Items processed per run (samples, videos, …). */
  items: number;
  /** Floating-point operations per run, from an analytic count; 0 when not meaningful. */
  flops: number;
  /** Frees tensors and other resources. */
  dispose(): void;
}

/** A benchmark definition. */
export interface Bench {
  /** Name shown in the table. */
  name: string;
  /** Unit of `items`. */
  unit: string;
  /** `true`: runs once per tfjs backend; `false`: backend-independent. */
  perBackend: boolean;
  /** Builds the case on the active backend. */
  setup(): Promise<BenchCase>;
  /** Untimed warm-up runs for this benchmark (overrides the run-wide default). */
  warmup?: number;
  /** Minimum timed runs for this benchmark (overrides the run-wide default). */
  minRuns?: number;
  /** Backends a `perBackend` benchmark is not run on (too slow there to tell anything). */
  skipBackends?: readonly string[];
  /** Count the kernel launches of one run (after warm-up) into the result. */
  countLaunches?: boolean;
}

/** "N kernels" on cpu and wasm; "D dispatches (N kernels)" on webgpu; "" when not counted. */
export function formatLaunches(launches: LaunchCount | undefined): string {
  if (!launches) return "";
  return launches.dispatches === undefined
    ? `${launches.kernels} kernels`
    : `${launches.dispatches} dispatches (${launches.kernels} kernels)`;
}

/** A measured row of the table. */
export interface BenchResult {
  /** Benchmark name. */
  name: string;
  /** Backend it ran on, or "-" for backend-independent work. */
  backend: string;
  /** Timed repetitions. */
  runs: number;
  /** Median milliseconds per run. */
  medianMs: number;
  /**
   * Median CPU milliseconds (user + system, all threads of the process) per
   * run: less sensitive than wall time to other processes on the same cores.
   */
  cpuMedianMs?: number;
  /** Fastest run. */
  minMs: number;
  /** Slowest run. */
  maxMs: number;
  /** Inter-quartile range as a fraction of the median. */
  iqrFraction: number;
  /** Items per second at the median. */
  itemsPerSecond: number;
  /** Unit of the items. */
  unit: string;
  /** Achieved GFLOP/s at the median (0 when no FLOP count). */
  gflops: number;
  /** Live tfjs tensors before and after the timed runs. */
  tensorsBefore: number;
  /** Live tfjs tensors after the timed runs. */
  tensorsAfter: number;
  /** Process resident set size before the timed runs (after warm-up), MiB. */
  rssBeforeMiB?: number;
  /** Process resident set size after the runs, MiB. */
  rssMiB: number;
  /** Speed relative to the PyTorch peer on the same work: peer median / this median (> 1: faster). */
  peerRatio?: number;
  /** The same ratio in CPU time (peer CPU median / this CPU median). */
  peerCpuRatio?: number;
  /** Kernel launches of one run, when the benchmark counts them. */
  launches?: LaunchCount;
  /** Set when the case failed to run. */
  error?: string;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Linear-interpolated quantile of a non-empty list. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The timing columns of a row, from its timed runs (wall and CPU milliseconds). */
export type RunSummary = Pick<
  BenchResult,
  | "runs"
  | "medianMs"
  | "cpuMedianMs"
  | "minMs"
  | "maxMs"
  | "iqrFraction"
  | "itemsPerSecond"
  | "gflops"
>;

/** Summarises timed runs: median, spread, items/s and GFLOP/s at the median. */
export function summarizeRuns(
  times: { wallMs: readonly number[]; cpuMs: readonly number[] },
  work: { items: number; flops: number },
): RunSummary {
  const medianMs = median(times.wallMs);
  return {
    runs: times.wallMs.length,
    medianMs,
    cpuMedianMs: median(times.cpuMs),
    minMs: Math.min(...times.wallMs),
    maxMs: Math.max(...times.wallMs),
    iqrFraction: (quantile(times.wallMs, 0.75) - quantile(times.wallMs, 0.25)) / medianMs,
    itemsPerSecond: work.items / (medianMs / 1000),
    gflops: work.flops / (medianMs / 1000) / 1e9,
  };
}

/** Options for {@linkcode measure}. */
export interface MeasureOptions {
  /** Untimed warm-up runs. Default 2. */
  warmup?: number;
  /** Minimum timed runs. Default 5. */
  minRuns?: number;
  /** Stop adding runs after this many seconds (once minRuns are done). Default 4. */
  seconds?: number;
}

/** Measures one benchmark on the active backend. */
export async function measure(bench: Bench, options: MeasureOptions = {}): Promise<BenchResult> {
  const backend = bench.perBackend ? tf.getBackend() : "-";
  const base = { name: bench.name, backend, unit: bench.unit };
  let bc: BenchCase | undefined;
  try {
    bc = await bench.setup();
    for (let i = 0; i < (bench.warmup ?? options.warmup ?? 2); i++) await bc.run();
    const launches = bench.countLaunches ? await countLaunches(() => bc!.run()) : undefined;
    const tensorsBefore = tf.memory().numTensors;
    const rssBeforeMiB = Deno.memoryUsage().rss / 2 ** 20;
    const times: number[] = [];
    const cpuTimes: number[] = [];
    const start = performance.now();
    while (
      times.length < (bench.minRuns ?? options.minRuns ?? 5) ||
      (performance.now() - start) / 1000 < (options.seconds ?? 4)
    ) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await bc.run();
      const c = process.cpuUsage(c0);
      times.push(performance.now() - t0);
      cpuTimes.push((c.user + c.system) / 1000);
      if (times.length >= 200) break;
    }
    return {
      ...base,
      ...summarizeRuns({ wallMs: times, cpuMs: cpuTimes }, bc),
      tensorsBefore,
      tensorsAfter: tf.memory().numTensors,
      ...(launches ? { launches } : {}),
      rssBeforeMiB,
      rssMiB: Deno.memoryUsage().rss / 2 ** 20,
    };
  } catch (error) {
    return {
      ...base,
      runs: 0,
      medianMs: NaN,
      minMs: NaN,
      maxMs: NaN,
      iqrFraction: NaN,
      itemsPerSecond: NaN,
      gflops: NaN,
      tensorsBefore: 0,
      tensorsAfter: 0,
      rssMiB: Deno.memoryUsage().rss / 2 ** 20,
      error: (error as Error).message.split("\n")[0],
    };
  } finally {
    bc?.dispose();
  }
}

/** Formats results as a fixed-width table. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = [
    "benchmark",
    "backend",
    "runs",
    "median ms",
    "min–max ms",
    "cpu ms",
    "IQR",
    "items/s",
    "GFLOP/s",
    "tensors",
    "RSS MiB",
    "×peer wall/cpu",
    "launches",
  ];
  const rows = results.map((r) =>
    r.error
      ? [
        r.name,
        r.backend,
        "0",
        "failed (below)",
        "",
        "",
        "",
        "",
        "",
        "",
        r.rssMiB.toFixed(0),
        "",
        "",
      ]
      : [
        r.name,
        r.backend,
        String(r.runs),
        r.medianMs.toFixed(2),
        Number.isNaN(r.minMs) ? "-" : `${r.minMs.toFixed(1)}–${r.maxMs.toFixed(1)}`,
        r.cpuMedianMs === undefined ? "-" : r.cpuMedianMs.toFixed(1),
        Number.isNaN(r.iqrFraction) ? "-" : `${(r.iqrFraction * 100).toFixed(0)}%`,
        `${r.itemsPerSecond.toFixed(2)} ${r.unit}`,
        r.gflops ? r.gflops.toFixed(2) : "-",
        `${r.tensorsBefore}→${r.tensorsAfter}`,
        r.rssBeforeMiB === undefined
          ? r.rssMiB.toFixed(0)
          : `${r.rssBeforeMiB.toFixed(0)}→${r.rssMiB.toFixed(0)}`,
        r.peerRatio === undefined
          ? ""
          : `${r.peerRatio.toFixed(2)}×/${r.peerCpuRatio?.toFixed(2) ?? "-"}×`,
        formatLaunches(r.launches),
      ]
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const failures = results.filter((r) => r.error).map((r) =>
    `failed: ${r.name} on ${r.backend}: ${r.error}`
  );
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line), ...failures]
    .join("\n");
}
