/**
 * Kernel launches of one run of a benchmark, counted rather than timed, so the
 * number is the same on every machine: tfjs kernel calls on every backend
 * (`tf.profile`) and, on webgpu, the compute dispatches actually recorded
 * (every `runWebGPUProgram`, the kit's own WGSL programs included; Reshape and
 * Identity are kernels that dispatch nothing there).
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** What one run launched. */
export interface LaunchCount {
  /** tfjs kernel calls (what `tf.profile` lists). */
  kernels: number;
  /** GPU compute dispatches (webgpu only). */
  dispatches?: number;
  /** Dispatches by program (webgpu only), most frequent first. */
  byProgram?: Record<string, number>;
}

type Runner = { runWebGPUProgram: (...args: unknown[]) => unknown };

/** Counts the kernel calls and, on webgpu, the dispatches of one call of `run`. */
export async function countLaunches(run: () => Promise<unknown>): Promise<LaunchCount> {
  const counts: Record<string, number> = {};
  let dispatches: number | undefined;
  const backend = tf.getBackend() === "webgpu" ? tf.backend() as unknown as Runner : undefined;
  const original = backend?.runWebGPUProgram;
  if (backend && original) {
    dispatches = 0;
    backend.runWebGPUProgram = function (this: unknown, ...args: unknown[]) {
      dispatches!++;
      const key = String((args[0] as { shaderKey?: string }).shaderKey ?? "?").split("_")
        .slice(0, 2).join("_");
      counts[key] = (counts[key] ?? 0) + 1;
      return original.apply(this, args);
    };
  }
  try {
    const profile = await tf.profile(async () => {
      await run();
    });
    if (dispatches === undefined) return { kernels: profile.kernels.length };
    const byProgram = Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
    return { kernels: profile.kernels.length, dispatches, byProgram };
  } finally {
    if (backend && original) backend.runWebGPUProgram = original;
  }
}
