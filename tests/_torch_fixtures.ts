/**
 * Shared fixtures of the PyTorch package's tests (torch/): a tiny x0-head generator whose every
 * weight matters, a small pairs file in the kit's format, the trainer's command line, and the
 * comparison of two checkpoints' weights.
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { createRng } from "../lib/core/_rng.ts";
import { sha256Hex } from "../lib/core/_hash.ts";
import { createGenerator, type Generator } from "../lib/generator/model.ts";
import { normalArray } from "../lib/generator/diffusion.ts";
import { saveGenerator } from "../lib/generator/io.ts";
import { formatGrid, numPatches, type PatchGrid } from "../lib/videos/patch.ts";
import { renderClip, samplePrompt } from "../lib/videos/world.ts";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import type { PreferencePair } from "../lib/pairs/file.ts";
import { PEER_PYTHON, peerAvailable, TORCH_TRAIN_SCRIPT, torchrunOptions } from "../bench/_peer.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

/** The repository's torch/ folder. */
export const TORCH_DIR: string = new URL("../torch/", import.meta.url).pathname;

/** The trainer's entry point. */
export const TRAIN_SCRIPT: string = TORCH_TRAIN_SCRIPT;

/** Why the torch tests are skipped here ("" when they run: torch found, or CI, where it must be). */
export async function torchSkipReason(test: string): Promise<string> {
  const peer = await peerAvailable();
  // .ci/run installs python3-torch, so in CI a missing torch is a failure, not a skip.
  const reason = peer.ok || Deno.env.get("CI") ? "" : `no PyTorch: ${peer.reason}`;
  if (reason) console.warn(`${test} skipped — ${reason}`);
  return reason;
}

/** The tiny generator of these tests: x0 head, 4 frames of 16×16, 2×2 tokens of 2 frames. */
export const TORCH_TINY = { ...TINY_GENERATOR, prediction: "x0" as const };

/** The patch grid of the fixture's pairs: 2×2 cells × 2 frames (8 patches per clip). */
export const TORCH_GRID: PatchGrid = { rows: 2, cols: 2, framesPerPatch: 2 };

/**
 * A generator of `config` whose zero-initialised layers (adaLN, final, pixel decoder) get seeded
 * random values of standard deviation `std`, so that every weight reaches the output and x̂0 is
 * far from 0; with `scale` > 0 every weight is then multiplied by 1 + scale·N(0, 1) (other draws):
 * a policy away from the reference that the same seed gives without `scale`.
 */
export function randomisedGenerator(
  config: Record<string, unknown>,
  seed: number,
  scale = 0,
  std = 0.2,
): Generator {
  const gen = createGenerator(config, { seed: 0 });
  const rng = createRng(seed);
  const jitter = createRng(seed + 1);
  for (const [name, v] of gen.params) {
    const noise = normalArray(rng, v.size);
    if (/(\.ada\.|final\.|pixel\.)/.test(name)) {
      v.assign(tf.tensor(noise.map((x) => x * std), v.shape));
    }
    if (scale > 0) {
      const factor = normalArray(jitter, v.size).map((x) => 1 + scale * x);
      v.assign(tf.tidy(() => v.mul(tf.tensor(factor, v.shape))));
    }
  }
  return gen;
}

/**
 * Writes `n` preference pairs in the kit's format to `<dir>/pairs.jsonl` (+ `clips/`): rendered
 * ShapesWorld clips of random prompts, the rejected one with seeded pixel noise, and seeded
 * normal patch scores. Returns the file.
 */
export async function writeTinyPairs(
  dir: string,
  n: number,
  options: { frames: number; size: number; seed?: number },
): Promise<string> {
  const rng = createRng(options.seed ?? 3);
  const { frames, size } = options;
  const shape: [number, number, number, number] = [frames, size, size, 3];
  const P = numPatches(TORCH_GRID, frames);
  await Deno.mkdir(join(dir, "clips"), { recursive: true });
  const side = async (prompt: Parameters<typeof renderClip>[0], seed: number, noisy: boolean) => {
    const { video } = renderClip(prompt, { frames, size, seed });
    const bytes = Uint8Array.from(video.frames, (v) => {
      const x = noisy ? v + (rng.next() - 0.5) * 0.4 : v;
      return Math.max(0, Math.min(255, Math.round(x * 255)));
    });
    const sha256 = await sha256Hex(bytes);
    const clip = `clips/${sha256.slice(0, 16)}.rgb`;
    await Deno.writeFile(join(dir, clip), bytes);
    const patch_scores = Array.from({ length: P }, () => 2.5 + rng.normal());
    const video_score = patch_scores.reduce((a, b) => a + b, 0) / P;
    return { clip, sha256, seed, video_score, patch_scores };
  };
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const prompt = samplePrompt(rng);
    const chosen = await side(prompt, 2 * i, false);
    const rejected = await side(prompt, 2 * i + 1, true);
    const pair: PreferencePair = {
      id: `p${String(i).padStart(4, "0")}-c0-c1`,
      prompt: prompt.text,
      grid: formatGrid(TORCH_GRID),
      shape,
      chosen,
      rejected,
      video_gap: chosen.video_score - rejected.video_score,
      patch_gaps: chosen.patch_scores.map((s, k) => s - rejected.patch_scores[k]),
    };
    lines.push(JSON.stringify(pair));
  }
  const file = join(dir, "pairs.jsonl");
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  return file;
}

/**
 * Writes the trainer's fixture: a tiny generator checkpoint `<dir>/gen` (zero-initialised layers
 * at std 0.05) and `n` pairs in `<dir>/pairs`.
 */
export async function torchFixture(
  dir: string,
  n: number,
): Promise<{ gen: string; pairs: string }> {
  const gen = randomisedGenerator(TORCH_TINY, 5, 0, 0.05);
  await saveGenerator(join(dir, "gen"), gen);
  const c = gen.config;
  tf.dispose([...gen.params.values()]);
  const pairs = await writeTinyPairs(join(dir, "pairs"), n, { frames: c.frames, size: c.size });
  return { gen: join(dir, "gen"), pairs };
}

/** What a run of a python command gave. */
export interface PythonRun {
  /** Exit code. */
  code: number;
  /** The last JSON line of stdout, parsed (null when there is none). */
  json: Record<string, unknown> | null;
  /** stderr. */
  stderr: string;
}

/** The environment of the torch tests' processes: one thread each (the machine is shared). */
export const TORCH_ENV = { OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };

/**
 * Runs the trainer with `args`: one process (`python3 torch/train.py`) or `nproc` processes
 * under `python3 -m torch.distributed.run --standalone` (torchrun's logs in `logDir`).
 */
export async function runTrainer(args: string[], nproc = 0, logDir = ""): Promise<PythonRun> {
  const launch = nproc > 0
    ? [
      ...["-m", "torch.distributed.run", "--standalone", `--nproc_per_node=${nproc}`],
      ...torchrunOptions(logDir || await Deno.makeTempDir({ prefix: "halo-torchrun-" })),
      TRAIN_SCRIPT,
    ]
    : [TRAIN_SCRIPT];
  const out = await new Deno.Command(PEER_PYTHON, {
    args: [...launch, "--threads", "1", "--device", "cpu", "--quiet", ...args],
    env: TORCH_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return parseRun(out);
}

/** The exit code, last stdout JSON line and stderr of a finished process. */
export function parseRun(out: Deno.CommandOutput): PythonRun {
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const last = stdout.split("\n").pop() ?? "";
  let json: Record<string, unknown> | null = null;
  try {
    json = last ? JSON.parse(last) : null;
  } catch {
    json = null;
  }
  return { code: out.code, json, stderr: new TextDecoder().decode(out.stderr) };
}

/** The float32 weights of a checkpoint, in its table order, with their names. */
export async function checkpointWeights(dir: string): Promise<Map<string, Float32Array>> {
  const manifest = await readCheckpointManifest(dir);
  const bytes = await Deno.readFile(join(dir, manifest.weights.file));
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return new Map(manifest.weights.tensors.map((t) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    return [t.name, all.slice(t.offset, t.offset + size)];
  }));
}

/**
 * How far apart two checkpoints' weights are: ‖a − b‖₂ / ‖b‖₂ over all weights as one vector
 * (`rel`), and how many tensors are not bit-identical (`differ`).
 */
export async function weightsRelDiff(
  a: string,
  b: string,
): Promise<{ rel: number; differ: number }> {
  const wa = await checkpointWeights(a), wb = await checkpointWeights(b);
  if ([...wa.keys()].join() !== [...wb.keys()].join()) {
    throw new Error(`Expected the same weights in ${a} and ${b} but found other names`);
  }
  let d = 0, n = 0, differ = 0;
  for (const [name, x] of wa) {
    const y = wb.get(name)!;
    let same = true;
    for (let i = 0; i < x.length; i++) {
      d += (x[i] - y[i]) ** 2;
      n += y[i] ** 2;
      if (x[i] !== y[i]) same = false;
    }
    if (!same) differ++;
  }
  return { rel: Math.sqrt(d / n), differ };
}
