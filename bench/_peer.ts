/**
 * The kit's side of the PyTorch peer (torch/generator_peer.py): finds a
 * Python with torch, exports a generator's weights and one batch (x0, t, ε,
 * prompt tokens, prompt-dropout mask) as raw float32 + JSON together with the
 * kit's plain and weighted ε-MSE on those inputs before and after one step of
 * the kit's own `trainStep` (loss weight min(1/ᾱ_t, maxWeight), Adam), runs
 * the peer, and reads back its losses and training-step timings.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { readParams } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { createRng } from "../lib/core/_rng.ts";
import {
  createGenerator,
  type Generator,
  type GeneratorConfig,
  predictNoise,
  predictNoiseAndClean,
} from "../lib/generator/model.ts";
import {
  addNoise,
  alphaBars,
  type DiffusionBatch,
  normalArray,
} from "../lib/generator/diffusion.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { trainStep } from "../lib/generator/train_step.ts";

/** Debian's Python, which carries `python3-torch`; `python3` on PATH may be another one. */
export const PEER_PYTHON = "/usr/bin/python3";

/** The peer script. */
export const PEER_SCRIPT: string = new URL("../torch/generator_peer.py", import.meta.url).pathname;

/** The Gran-DPO trainer for torchrun (torch/train.py, halo_torch.train). */
export const TORCH_TRAIN_SCRIPT: string = new URL("../torch/train.py", import.meta.url).pathname;

/**
 * The torchrun options the kit's launches pass: Debian's torch 1.13 under Python 3.11 fails to
 * parse torchrun's default `--redirects 0 --tee 0` (its Std flag enum yields no member 0:
 * "'NoneType' object has no attribute 'get'"), so the workers' stderr is teed (2) explicitly,
 * into `logDir`; the agent polls its workers every 0.2 s instead of 5 s.
 *
 * @example
 * ```ts
 * import { torchrunOptions } from "./_peer.ts";
 * console.log(torchrunOptions("/tmp/logs").slice(0, 4)); // ["--redirects", "2", "--tee", "2"]
 * ```
 */
export function torchrunOptions(logDir: string): string[] {
  return ["--redirects", "2", "--tee", "2", "--log_dir", logDir, "--monitor_interval", "0.2"];
}

/** The shipped generator checkpoint (used for parity when present). */
export const SHIPPED_GENERATOR: string = new URL("../data/generator/", import.meta.url).pathname;

/** Whether the peer can run here (with `python`, default {@linkcode PEER_PYTHON}), and if not, why. */
export async function peerAvailable(
  python: string = PEER_PYTHON,
): Promise<{ ok: boolean; reason: string }> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import torch; print(torch.__version__)"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      return {
        ok: false,
        reason: `${python} has no torch (apt-get install python3-torch): ${
          new TextDecoder().decode(out.stderr).trim().split("\n").pop()
        }`,
      };
    }
    return { ok: true, reason: `torch ${new TextDecoder().decode(out.stdout).trim()}` };
  } catch (error) {
    return { ok: false, reason: `${python} cannot run: ${(error as Error).message}` };
  }
}

/**
 * A generator whose every weight matters: the shipped checkpoint when present
 * (the peer follows its architecture: output head, depth, cross-token
 * context), otherwise a fresh default generator whose zero-initialised layers
 * (adaLN, output, skip) are given seeded random values, so that parity covers every path.
 */
export async function parityGenerator(): Promise<{ gen: Generator; source: string }> {
  try {
    await Deno.stat(join(SHIPPED_GENERATOR, "config.json"));
    const { generator } = await loadGenerator(SHIPPED_GENERATOR);
    return { gen: generator, source: "data/generator" };
  } catch {
    return {
      gen: randomisedGenerator(),
      source: "fresh default generator, zero-initialised layers randomised",
    };
  }
}

/**
 * A fresh generator of `config` (default: the default ε-head config) whose
 * zero-initialised layers (adaLN, output, skip) get seeded random values, so
 * that parity covers every path.
 */
export function randomisedGenerator(config: Partial<GeneratorConfig> = {}): Generator {
  const gen = createGenerator(config, { seed: 0 });
  const rng = createRng(17);
  for (const [name, v] of gen.params) {
    if (/(\.ada\.|final\.|skip\.|pixel\.)/.test(name)) {
      v.assign(tf.tensor(normalArray(rng, v.size).map((x) => x * 0.05), v.shape));
    }
  }
  return gen;
}

/** What {@linkcode exportForPeer} wrote besides the files. */
export interface PeerExport {
  /** The kit's plain ε-MSE on the exported inputs (what `trainStep` reports). */
  loss: number;
  /** The kit's plain ε-MSE on the same inputs after one `trainStep`. */
  lossAfterStep: number;
  /** The weighted ε-MSE that `trainStep` differentiates, on the exported inputs. */
  weightedLoss: number;
  /** The weighted ε-MSE after the step. */
  weightedLossAfterStep: number;
}

/** Options for {@linkcode exportForPeer}. */
export interface ExportOptions {
  /** Seed of t, ε and the dropout mask (drawn as `trainStep` draws them). Default 1. */
  seed?: number;
  /** Adam learning rate of the parity step. Default 1e-3. */
  learningRate?: number;
  /** `trainStep`'s promptDropout for the parity step. Default 0.5, so the null prompt is covered. */
  promptDropout?: number;
  /** `trainStep`'s maxWeight (cap of the per-clip weight min(1/ᾱ_t, cap)). Default 10, as trainStep. */
  maxWeight?: number;
}

/** The bytes of a float32 array (little-endian on every platform the kit runs on). */
export function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** One weight's place in a flat float32 file, as the peers read it. */
export interface ParamEntry {
  /** The kit's parameter name. */
  name: string;
  /** Its shape. */
  shape: number[];
  /** Offset into the flat file, in floats. */
  offset: number;
}

/**
 * Writes `params` as one flat float32 file `dir/file` (sorted by name, as
 * `readParams` returns them) and returns where each weight lies in it.
 */
export async function writeParamsFile(
  dir: string,
  file: string,
  params: Awaited<ReturnType<typeof readParams>>,
): Promise<ParamEntry[]> {
  let offset = 0;
  const entries = params.map((p) => {
    const e = { name: p.name, shape: p.shape, offset };
    offset += p.values.length;
    return e;
  });
  const flat = new Float32Array(offset);
  params.forEach((p, i) => flat.set(p.values, entries[i].offset));
  await Deno.writeFile(join(dir, file), f32Bytes(flat));
  return entries;
}

/**
 * The per-clip loss weights of `trainStep` (lib/generator/train_step.ts): min(1/ᾱ_t, cap)
 * in float32, normalised to mean 1 over the batch (all 1 for an x0 head, whose
 * loss is the plain x0-MSE). Written out here because trainStep does not
 * export them; {@linkcode exportForPeer} checks the plain MSE trainStep
 * reports against its own, and the post-step losses check the weighted gradient.
 */
export function lossWeights(
  alphaBar: Float64Array,
  t: Int32Array,
  cap: number,
  prediction: "eps" | "x0" = "eps",
): Float32Array {
  if (prediction === "x0") return new Float32Array(t.length).fill(1);
  const weights = Float32Array.from(t, (v) => Math.min(1 / alphaBar[v], cap));
  const sum = weights.reduce((x, y) => x + y, 0);
  return weights.map((v) => v * t.length / sum);
}

/**
 * Writes `gen`'s weights and `batch` with seeded t, ε and dropout mask to
 * `dir`, computes the kit's plain and weighted ε-MSE there, takes one step of
 * the kit's `trainStep` on exactly those draws (this changes `gen`'s weights)
 * and computes both losses again on the same inputs.
 */
export async function exportForPeer(
  gen: Generator,
  batch: DiffusionBatch,
  dir: string,
  options: ExportOptions = {},
): Promise<PeerExport> {
  const c = gen.config;
  const b = batch.x0.shape[0];
  const seed = options.seed ?? 1;
  const promptDropout = options.promptDropout ?? 0.5;
  const maxWeight = options.maxWeight ?? 10;
  // trainStep's draws, in trainStep's order, so that trainStep(rng = createRng(seed)) sees them
  const rng = createRng(seed);
  const tVals = Int32Array.from({ length: b }, () => rng.int(c.timesteps));
  const keepVals = Float32Array.from({ length: b }, () => (rng.next() < promptDropout ? 0 : 1));
  const noiseVals = normalArray(rng, batch.x0.size);
  const alphaBar = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
  const weights = lossWeights(alphaBar, tVals, maxWeight, c.prediction);
  await Deno.mkdir(dir, { recursive: true });
  const entries = await writeParamsFile(dir, "params.f32", await readParams(gen.params));
  await Deno.writeTextFile(join(dir, "params.json"), JSON.stringify(entries));
  await writePeerConfig(dir, c);
  await Deno.writeFile(join(dir, "x0.f32"), f32Bytes(await batch.x0.data() as Float32Array));
  await Deno.writeFile(join(dir, "noise.f32"), f32Bytes(noiseVals));
  const tokens = Array.from(await batch.tokens.array() as number[][]);
  await Deno.writeTextFile(
    join(dir, "batch.json"),
    JSON.stringify({
      shape: batch.x0.shape,
      t: Array.from(tVals),
      keep: Array.from(keepVals),
      tokens,
    }),
  );
  const t = tf.tensor1d(tVals, "int32");
  const keep = tf.tensor1d(keepVals);
  const noise = tf.tensor(noiseVals, batch.x0.shape);
  const w = tf.tensor1d(weights);
  const losses = async (): Promise<[number, number]> => {
    const [plain, weighted] = tf.tidy(() => {
      const xt = addNoise(c, batch.x0, t, noise);
      const inputs = { xt, t, tokens: batch.tokens };
      const perClip = (c.prediction === "x0"
        ? predictNoiseAndClean(gen, inputs, { keep }).clean.sub(batch.x0)
        : predictNoise(gen, inputs, { keep }).sub(noise))
        .square().mean([1, 2, 3, 4]);
      return [perClip.mean(), perClip.mul(w).mean()];
    });
    try {
      const [p, q] = await Promise.all([plain.data(), weighted.data()]);
      return [p[0], q[0]];
    } finally {
      tf.dispose([plain, weighted]);
    }
  };
  const learningRate = options.learningRate ?? 1e-3;
  const adam = createAdam(gen.params, { learningRate });
  let before: [number, number], after: [number, number];
  try {
    before = await losses();
    const stepLoss = await trainStep(gen, adam, batch, {
      rng: createRng(seed),
      promptDropout,
      maxWeight,
    });
    if (Math.abs(stepLoss - before[0]) > 1e-5 * Math.abs(before[0])) {
      throw new Error(
        `exportForPeer: Expected trainStep's loss to equal the exported batch's ${before[0]} ` +
          `but found ${stepLoss}: trainStep draws t, ε or the dropout mask differently now`,
      );
    }
    after = await losses();
  } finally {
    adam.dispose();
    tf.dispose([t, keep, noise, w]);
  }
  const result: PeerExport = {
    loss: before[0],
    weightedLoss: before[1],
    lossAfterStep: after[0],
    weightedLossAfterStep: after[1],
  };
  await Deno.writeTextFile(
    join(dir, "expected.json"),
    JSON.stringify({ ...result, learningRate, clipNorm: adam.options.clipNorm, maxWeight }),
  );
  return result;
}

/** A peer's loss beside the kit's, before and after one step on the same inputs. */
export interface LossParity {
  /** The peer's loss on the kit's inputs. */
  loss: number;
  /** The kit's loss. */
  kitLoss: number;
  /** |peer − kit| / kit. */
  lossRelDiff: number;
  /** The peer's loss after one Adam step. */
  lossAfterStep: number;
  /** The kit's loss after one Adam step. */
  kitLossAfterStep: number;
  /** |peer − kit| / kit after the step. */
  lossAfterStepRelDiff: number;
}

/** What the peer reports. */
export interface PeerReport extends LossParity {
  /** torch version. */
  torch: string;
  /** torch intra-op threads used. */
  threads: number;
  /** The peer's weighted ε-MSE (per-clip weight min(1/ᾱ_t, maxWeight), mean 1). */
  weightedLoss: number;
  /** The kit's weighted ε-MSE. */
  kitWeightedLoss: number;
  /** |peer − kit| / kit, weighted. */
  weightedLossRelDiff: number;
  /** The peer's weighted ε-MSE after one Adam step. */
  weightedLossAfterStep: number;
  /** The kit's weighted ε-MSE after one Adam step. */
  kitWeightedLossAfterStep: number;
  /** |peer − kit| / kit, weighted, after the step. */
  weightedLossAfterStepRelDiff: number;
  /** Weights the peer loaded. */
  params: number;
  /** Timed training steps, milliseconds. */
  timesMs: number[];
  /** CPU time of the same steps (user + system, all threads), milliseconds. */
  cpuTimesMs: number[];
  /** Peak RSS of the peer process, MiB. */
  rssMiB: number;
}

/** Options for {@linkcode runPeer}. */
export interface RunPeerOptions {
  /** Seconds of timed steps. Default 3. */
  seconds?: number;
  /** Minimum timed steps. Default 5. */
  minRuns?: number;
  /** Untimed warm-up steps. Default 2. */
  warmup?: number;
  /** torch threads (0: torch's default). Default 0. */
  threads?: number;
  /** The Python that runs the peer. Default {@linkcode PEER_PYTHON}. */
  python?: string;
  /** More arguments for the peer script (e.g. `["--device", "cuda"]`). */
  args?: readonly string[];
}

/** Runs the peer on a directory written by {@linkcode exportForPeer}. */
export function runPeer(dir: string, options: RunPeerOptions = {}): Promise<PeerReport> {
  return runPeerScript<PeerReport>(PEER_SCRIPT, dir, options);
}

/**
 * Runs a peer script on an export directory with the timing options and
 * parses the one JSON line it prints last; throws with its stderr's last
 * lines when it fails.
 */
export async function runPeerScript<T>(
  script: string,
  dir: string,
  options: RunPeerOptions = {},
): Promise<T> {
  const where = script.split("/").pop();
  const out = await new Deno.Command(options.python ?? PEER_PYTHON, {
    args: [
      script,
      dir,
      "--seconds",
      String(options.seconds ?? 3),
      "--min-runs",
      String(options.minRuns ?? 5),
      "--warmup",
      String(options.warmup ?? 2),
      "--threads",
      String(options.threads ?? 0),
      ...options.args ?? [],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(
      `${where}: Expected the peer to exit 0 but found exit ${out.code}: ${
        new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ")
      }`,
    );
  }
  try {
    return JSON.parse(stdout.split("\n").pop()!) as T;
  } catch {
    throw new Error(
      `${where}: Expected one JSON line from the peer but found ${stdout.slice(0, 200)}`,
    );
  }
}

/** Writes a generator config with its ᾱ schedule as the peers read it (`dir/config.json`). */
export async function writePeerConfig(dir: string, config: GeneratorConfig): Promise<void> {
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({
      ...config,
      alphaBars: Array.from(alphaBars(config.timesteps, config.schedule, config.scheduleShift)),
    }),
  );
}

/**
 * Writes what the peer's timing-only mode (`generator_peer.py DIR
 * --random-weights`) needs: `gen`'s config and its weights' names and shapes
 * (no values: the peer draws random weights, clips and prompt tokens).
 */
export async function writePeerShapes(gen: Generator, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writePeerConfig(dir, gen.config);
  let offset = 0;
  const entries: ParamEntry[] = [...gen.params].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, v]) => {
      const e = { name, shape: [...v.shape], offset };
      offset += v.size;
      return e;
    });
  await Deno.writeTextFile(join(dir, "params.json"), JSON.stringify(entries));
}

/** What the peer's timing-only mode reports. */
export interface PeerTiming {
  /** torch version. */
  torch: string;
  /** torch intra-op threads. */
  threads: number;
  /** "cpu" or "cuda". */
  device: string;
  /** The CUDA device's name (cuda only). */
  deviceName?: string;
  /** torch's CUDA version (cuda only). */
  cuda?: string;
  /** Peak memory torch allocated on the GPU, MiB (cuda only). */
  gpuPeakMiB?: number;
  /** Weights of the model. */
  params: number;
  /** Clips per step. */
  batch: number;
  /** The plain ε-MSE of one more step after the timed ones (finite when the step is sound). */
  loss: number;
  /** Timed training steps, milliseconds. */
  timesMs: number[];
  /** CPU time of the same steps, milliseconds. */
  cpuTimesMs: number[];
  /** Peak RSS of the peer process, MiB. */
  rssMiB: number;
}

/** Options for {@linkcode timePeer}. */
export interface TimePeerOptions extends Omit<RunPeerOptions, "args"> {
  /** Where the timed steps run. Default "cpu". */
  device?: "cpu" | "cuda";
  /** The peer script. Default {@linkcode PEER_SCRIPT}. */
  script?: string;
}

/**
 * Times the peer's training step with random weights on a directory written
 * by {@linkcode writePeerShapes}, at `batch` clips per step.
 */
export function timePeer(
  dir: string,
  batch: number,
  options: TimePeerOptions = {},
): Promise<PeerTiming> {
  const { device = "cpu", script = PEER_SCRIPT, ...rest } = options;
  return runPeerScript<PeerTiming>(script, dir, {
    ...rest,
    args: ["--random-weights", "--batch", String(batch), "--device", device],
  });
}
