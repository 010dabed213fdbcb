/**
 * Tensor backend selection. `HALO_BACKEND` overrides; otherwise the order is
 * tensorflow (tfjs-node-gpu / tfjs-node, when installed in `./node_modules`) >
 * webgpu on a real GPU, unless `deno task bench` measured a CPU backend's
 * training step faster on this machine ({@linkcode gpuDecision}) > the fastest CPU route. On Linux
 * without a GPU device node no WebGPU adapter is created unless the CPU ranking reaches webgpu. The CPU ranking defaults to the
 * measurements in DESIGN §6 (wasm 2.65 > webgpu-on-lavapipe 2.2 > cpu 0.85
 * GFLOP/s for a transformer Adam step) and can be replaced by the ranking that
 * `deno task bench` measured on this machine (`out/bench/backend.json`).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
// Faster wasm Transpose/BatchMatMul kernels (bench/NOTES.md); HALO_WASM_KERNELS=stock opts out.
export { fastWasmKernelsEnabled, setFastWasmKernels } from "./_kernels/wasm.ts";
import { join, resolve } from "node:path";
import { fail } from "../core/_errors.ts";
import { guardWebGpuBindings, installWebGpuKernels } from "./_kernels/webgpu.ts";
export { fastWebGpuKernelsEnabled, setFastWebGpuKernels } from "./_kernels/webgpu.ts";

// Silences tfjs' "install tfjs-node" banner on the cpu backend; the kit reports its own choice.
tf.env().set("PROD", true);

/** Names of the backends the kit knows. */
export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";

/** The list of backend names, in the order of preference on a GPU machine. */
export const BACKEND_NAMES: readonly BackendName[] = ["tensorflow", "webgpu", "wasm", "cpu"];

/** What {@linkcode initBackend} chose, and why. */
export interface BackendChoice {
  /** The tfjs backend now active. */
  name: BackendName;
  /** A one-line human explanation of the choice. */
  reason: string;
  /** For webgpu: the adapter description (e.g. "llvmpipe (LLVM 15…)" or a GPU name). */
  adapter?: string;
}

/** Options for {@linkcode initBackend}. */
export interface InitBackendOptions {
  /** Force a backend; beats `HALO_BACKEND`. */
  backend?: BackendName;
  /** CPU-route ranking, fastest first. Default: the bench file if present, else wasm, webgpu, cpu. */
  cpuRanking?: readonly BackendName[];
  /** Where `deno task bench` stores its measured ranking. Default `out/bench/backend.json`. */
  benchFile?: string;
}

/** What {@linkcode probeWebGpu} found. */
export interface WebGpuProbe {
  /** Whether `navigator.gpu` handed out an adapter. */
  available: boolean;
  /** Whether that adapter is a CPU fallback (lavapipe, llvmpipe, SwiftShader). */
  fallback: boolean;
  /** The adapter's description, or why there is none. */
  description: string;
}

let probed: Promise<WebGpuProbe> | undefined;

/**
 * Describes the WebGPU adapter, if any: whether it is a real GPU or a CPU fallback (lavapipe).
 * Asks `navigator.gpu` once per runtime (a Deno test module or worker is a runtime) and answers
 * later calls from that answer: each adapter Deno creates and drops starts and stops Mesa's
 * lavapipe threads, and a process that does so hundreds of times can crash at exit.
 *
 * @example
 * ```ts
 * import { probeWebGpu } from "@halo/kit/tensor";
 * const probe = await probeWebGpu();
 * console.log(typeof probe.available, typeof probe.description); // "boolean" "string"
 * ```
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  return probed ??= askForAdapter();
}

/**
 * Whether this machine may have a GPU: false only where the kit can tell it has none, a Linux
 * machine without a GPU device node. There a WebGPU adapter can only be a CPU fallback, so the
 * automatic choice need not create one.
 */
function mayHaveGpu(): boolean {
  if (Deno.build.os !== "linux") return true;
  for (const node of ["/dev/dri", "/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg"]) {
    try {
      Deno.statSync(node);
      return true;
    } catch (error) {
      // without read permission for /dev the kit cannot tell: ask WebGPU, as before
      if (!(error instanceof Deno.errors.NotFound)) return true;
    }
  }
  return false;
}

async function askForAdapter(): Promise<WebGpuProbe> {
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)
    ?.gpu;
  if (!gpu) return { available: false, fallback: false, description: "navigator.gpu is missing" };
  ensureRuntimeDir();
  try {
    const adapter = await gpu.requestAdapter() as
      | {
        info?: { description?: string; vendor?: string; isFallbackAdapter?: boolean };
        isFallbackAdapter?: boolean;
      }
      | null;
    if (!adapter) return { available: false, fallback: false, description: "no WebGPU adapter" };
    const info = adapter.info ?? {};
    const description = info.description || info.vendor || "unknown adapter";
    const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) ||
      /llvmpipe|lavapipe|swiftshader/i.test(description);
    return { available: true, fallback, description };
  } catch (error) {
    return {
      available: false,
      fallback: false,
      description: `requestAdapter failed: ${(error as Error).message}`,
    };
  }
}

let current: BackendChoice | undefined;

/**
 * Chooses and activates the tfjs backend. The kit calls it once when it is imported; later calls
 * return that choice unless a backend is forced or a ranking is given.
 *
 * @example Pick the CPU route explicitly
 * ```ts
 * import { initBackend } from "@halo/kit";
 * const choice = await initBackend({ backend: "cpu" });
 * console.log(choice.name, choice.reason);
 * ```
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendChoice> {
  const forced = options.backend ?? envBackend();
  const fresh = options.cpuRanking !== undefined || options.benchFile !== undefined;
  if (current && !fresh && (!forced || forced === current.name)) return current;
  if (forced) {
    current = await activate(
      forced,
      options.backend ? "forced by option" : "forced by HALO_BACKEND",
    );
    return current;
  }
  const tensorflow = await loadTensorflow();
  if (tensorflow) {
    current = await activate("tensorflow", `${tensorflow} is installed in ./node_modules`);
    return current;
  }
  // No adapter is created on a machine without a GPU unless the ranking reaches webgpu.
  const webgpu = mayHaveGpu() ? await probeWebGpu() : undefined;
  const bench = await readBenchRanking(options.benchFile);
  let gpuReason = "";
  if (webgpu?.available && !webgpu.fallback) {
    const decision = gpuDecision(webgpu.description, bench);
    if (decision.useGpu) {
      current = await activate("webgpu", decision.reason);
      return current;
    }
    gpuReason = `${decision.reason}; `;
  }
  const ranking = options.cpuRanking ?? bench?.cpuRanking ?? ["wasm", "webgpu", "cpu"];
  for (const name of ranking) {
    if (name === "webgpu" && !(webgpu ?? await probeWebGpu()).available) continue;
    if (name === "tensorflow") continue;
    try {
      current = await activate(
        name,
        `${gpuReason}fastest CPU route (${options.cpuRanking ? "given ranking" : "ranking"} ${
          ranking.join(" > ")
        })`,
      );
      return current;
    } catch {
      // try the next one
    }
  }
  current = await activate("cpu", "every faster route failed to start");
  return current;
}

/** The backend chosen so far, or undefined before {@linkcode initBackend}. */
export function currentBackend(): BackendChoice | undefined {
  return current;
}

function envBackend(): BackendName | undefined {
  const value = Deno.env.get("HALO_BACKEND");
  if (!value) return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(value)) {
    fail("HALO_BACKEND", `one of ${BACKEND_NAMES.join(", ")}`, value);
  }
  return value as BackendName;
}

async function activate(name: BackendName, reason: string): Promise<BackendChoice> {
  let adapter: string | undefined;
  if (name === "webgpu") {
    const probe = await probeWebGpu();
    if (!probe.available) {
      throw new Error(
        `initBackend: Expected a WebGPU adapter but found none (${probe.description})`,
      );
    }
    adapter = probe.description;
  }
  if (name === "tensorflow" && !tf.findBackend("tensorflow")) {
    const found = await loadTensorflow();
    if (!found) {
      throw new Error(
        "initBackend: Expected @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node in ./node_modules but found neither",
      );
    }
  }
  if (name === "webgpu" && !tf.findBackendFactory("webgpu")) {
    // Loaded on demand: once registered, webgpu outranks every other backend in tfjs' default
    // choice, which would silently put code that never called initBackend on lavapipe.
    await import("@tensorflow/tfjs-backend-webgpu");
    installWebGpuKernels();
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (ok && name === "webgpu") guardWebGpuBindings();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(
      `initBackend: Expected backend "${name}" to start but tfjs is on "${tf.getBackend()}"`,
    );
  }
  return adapter ? { name, reason, adapter } : { name, reason };
}

async function loadTensorflow(): Promise<string | undefined> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const dir = resolve(join("node_modules", pkg));
    try {
      await Deno.stat(join(dir, "package.json"));
    } catch {
      continue;
    }
    try {
      const manifest = JSON.parse(await Deno.readTextFile(join(dir, "package.json")));
      await import(join(dir, manifest.main ?? "index.js"));
      if (tf.findBackend("tensorflow")) return pkg;
    } catch {
      // present but broken (e.g. libtensorflow missing): not usable
    }
  }
  return undefined;
}

/** What `deno task bench` measured on this machine (`out/bench/backend.json`). */
export interface BenchRanking {
  /** The benchmark that ranks (the generator's training step). */
  bench: string;
  /** CPU backends, fastest first (webgpu here only as a CPU fallback adapter). */
  cpuRanking: BackendName[];
  /** The WebGPU adapter the bench ran on, when it ran on one. */
  adapter?: string;
  /** Median milliseconds of the ranking benchmark per backend. */
  medians?: Partial<Record<BackendName, number>>;
}

/**
 * Whether to train on WebGPU on a real GPU `adapter`, given what the bench
 * measured on this machine: yes when webgpu's training step was measured on
 * this very adapter and was at least as fast as every CPU backend, or when it
 * was never measured here (a GPU is presumed faster until `deno task bench`
 * says otherwise); no when the bench found a CPU backend faster. The reason
 * names the numbers it followed.
 *
 * @example
 * ```ts
 * import { gpuDecision } from "@halo/kit/tensor";
 * const bench = { bench: "step", cpuRanking: ["wasm" as const], adapter: "H200", medians: { webgpu: 540, wasm: 245 } };
 * console.log(gpuDecision("H200", bench).useGpu); // false
 * console.log(gpuDecision("RTX 4090", bench).useGpu); // true
 * ```
 */
export function gpuDecision(
  adapter: string,
  bench: BenchRanking | undefined,
): { useGpu: boolean; reason: string } {
  const gpuMs = bench?.adapter === adapter ? bench.medians?.webgpu : undefined;
  if (gpuMs === undefined) {
    return {
      useGpu: true,
      reason: `real GPU adapter: ${adapter} (not measured against the CPU route on this machine; ` +
        "`deno task bench` does)",
    };
  }
  const cpu = Object.entries(bench!.medians ?? {})
    .filter(([name, ms]) => name !== "webgpu" && Number.isFinite(ms))
    .sort((a, b) => a[1]! - b[1]!)[0];
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  if (!cpu || gpuMs <= cpu[1]!) {
    return {
      useGpu: true,
      reason: `real GPU adapter: ${adapter}, a training step in ${ms(gpuMs)}${
        cpu ? ` vs ${ms(cpu[1]!)} on ${cpu[0]}` : ""
      } (deno task bench)`,
    };
  }
  return {
    useGpu: false,
    reason: `webgpu on ${adapter} measured ${ms(gpuMs)} a training step, slower than ${cpu[0]}'s ${
      ms(cpu[1]!)
    } (deno task bench)`,
  };
}

async function readBenchRanking(
  file = "out/bench/backend.json",
): Promise<BenchRanking | undefined> {
  try {
    const data = JSON.parse(await Deno.readTextFile(file));
    const ranking = data?.cpuRanking;
    if (
      Array.isArray(ranking) &&
      ranking.every((n) => (BACKEND_NAMES as readonly string[]).includes(n))
    ) {
      return data as BenchRanking;
    }
  } catch {
    // no bench result yet
  }
  return undefined;
}

function ensureRuntimeDir(): void {
  // Mesa's Vulkan loader refuses to start without XDG_RUNTIME_DIR.
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      const dir = join(Deno.env.get("TMPDIR") ?? "/tmp", `halo-xdg-${Deno.uid?.() ?? 0}`);
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      Deno.env.set("XDG_RUNTIME_DIR", dir);
    }
  } catch {
    // without env permission the adapter may still work
  }
}

// Choose at start-up, so that every module that imports the kit finds a ready backend
// (tfjs' wasm backend must be awaited before first use). initBackend({ backend }) still switches.
await initBackend();
