/**
 * Checkpoints: a model's weights (and optionally its optimiser state) plus its
 * config as a directory `config.json` + `weights.bin` (+ `optimizer.bin`).
 * Saving is atomic: everything is written to a temporary sibling directory that
 * is renamed into place, so a crash leaves either the old checkpoint or the
 * new one. Loading checks the format version, the model kind, the config and a
 * SHA-256 of every binary file, and fails with a clear message before touching
 * any weights. A checkpoint is loaded from a local path, a `file:` URL, or an
 * `http:`/`https:` URL (fetched, and checked the same way), so the shipped
 * models load wherever the kit is imported from.
 * @module
 */

import { basename, dirname, join } from "node:path";
import { fail } from "../core/_errors.ts";
import type { ModelRef } from "../core/shipped.ts";
import { sha256Hex as sha256 } from "../core/_hash.ts";
import { checkSavedParams, type Params, readParams, writeParams } from "./nn.ts";
import type { OptimizerState } from "./adam.ts";
import { type CheckpointFolder, checkpointFolder } from "./_checkpoint_folder.ts";

/** Format version written into `config.json`; bump on layout changes. */
export const CHECKPOINT_VERSION = 1;

/** One tensor's place in a binary file. */
export interface TensorEntry {
  /** Parameter name. */
  name: string;
  /** Tensor shape. */
  shape: number[];
  /** Offset in float32 values from the start of the file. */
  offset: number;
}

/** The content of `config.json`. */
export interface CheckpointManifest {
  /** {@linkcode CHECKPOINT_VERSION} at save time. */
  version: number;
  /** Model kind, e.g. `"generator"` or `"reward"`. */
  kind: string;
  /** The model's config, compared on load. */
  config: unknown;
  /** Training steps done. */
  step: number;
  /** Free-form metadata (seed, wall time, loss...). */
  meta: Record<string, unknown>;
  /** Weights layout. */
  weights: { file: string; sha256: string; tensors: TensorEntry[] };
  /** Optimiser state layout, when saved. */
  optimizer?: { file: string; sha256: string; step: number; tensors: TensorEntry[] };
}

/** What {@linkcode saveCheckpoint} writes. */
export interface CheckpointData {
  /** Model kind. */
  kind: string;
  /** Model config (JSON-serialisable). */
  config: unknown;
  /** Weights. */
  params: Params;
  /** Training steps done. Default 0. */
  step?: number;
  /** Optimiser whose state is saved too (for exact resumption). */
  optimizer?: OptimizerState;
  /** Metadata. */
  meta?: Record<string, unknown>;
}

function pack(
  tensors: Array<{ name: string; shape: number[]; values: Float32Array }>,
): { bytes: Uint8Array; entries: TensorEntry[] } {
  const total = tensors.reduce((n, t) => n + t.values.length, 0);
  const all = new Float32Array(total);
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    all.set(t.values, offset);
    entries.push({ name: t.name, shape: t.shape, offset });
    offset += t.values.length;
  }
  return { bytes: new Uint8Array(all.buffer), entries };
}

/**
 * Saves a checkpoint to directory `dir` atomically (temporary sibling, then
 * rename; an existing checkpoint is replaced only once the new one is complete).
 *
 * @example
 * ```ts
 * import { addParam, createParams, disposeParams, loadCheckpoint, saveCheckpoint } from "@halo/kit/tensor";
 * const dir = await Deno.makeTempDir();
 * const params = createParams();
 * addParam(params, "w", [2, 2], { seed: 1 });
 * await saveCheckpoint(`${dir}/ckpt`, { kind: "demo", config: { width: 2 }, params, step: 5 });
 * const loaded = await loadCheckpoint(`${dir}/ckpt`, { kind: "demo", config: { width: 2 }, params });
 * console.log(loaded.step); // 5
 * disposeParams(params);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(dir: string, data: CheckpointData): Promise<void> {
  const weights = pack(await readParams(data.params));
  const manifest: CheckpointManifest = {
    version: CHECKPOINT_VERSION,
    kind: data.kind,
    config: data.config,
    step: data.step ?? 0,
    meta: data.meta ?? {},
    weights: { file: "weights.bin", sha256: await sha256(weights.bytes), tensors: weights.entries },
  };
  let optBytes: Uint8Array | undefined;
  if (data.optimizer) {
    const state = data.optimizer.state();
    const opt = pack(await readParams(state.tensors));
    optBytes = opt.bytes;
    manifest.optimizer = {
      file: "optimizer.bin",
      sha256: await sha256(opt.bytes),
      step: state.step,
      tensors: opt.entries,
    };
  }
  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true });
  const tag = `${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
  const tmp = join(parent, `.${basename(dir)}.${tag}.tmp`);
  const old = join(parent, `.${basename(dir)}.${tag}.old`);
  try {
    await Deno.mkdir(tmp);
    await Deno.writeFile(join(tmp, "weights.bin"), weights.bytes);
    if (optBytes) await Deno.writeFile(join(tmp, "optimizer.bin"), optBytes);
    await Deno.writeTextFile(join(tmp, "config.json"), JSON.stringify(manifest, null, 2) + "\n");
    let hadOld = false;
    try {
      await Deno.rename(dir, old);
      hadOld = true;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    try {
      await Deno.rename(tmp, dir);
    } catch (error) {
      if (hadOld) await Deno.rename(old, dir);
      throw error;
    }
    if (hadOld) await Deno.remove(old, { recursive: true });
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Options for {@linkcode loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** Expected model kind. */
  kind: string;
  /** Expected config: any difference is an error naming the differing fields. */
  config?: unknown;
  /** Weights to overwrite (all names and shapes must match). */
  params?: Params;
  /** Optimiser to restore; the checkpoint must hold optimiser state. */
  optimizer?: OptimizerState;
}

/** What {@linkcode loadCheckpoint} returns. */
export interface LoadedCheckpoint {
  /** The manifest (`config.json`). */
  manifest: CheckpointManifest;
  /** Steps done. */
  step: number;
  /** The stored config. */
  config: unknown;
  /** Whether optimiser state was present. */
  hasOptimizer: boolean;
}

/**
 * Reads a checkpoint's manifest without loading weights; an error names the
 * file when it is missing or not a checkpoint. `dir` is a local path (relative
 * to the working directory), a `file:` URL, or an `http:`/`https:` URL of the
 * checkpoint's folder (`config.json` is fetched from it; an HTTP status other
 * than 200 or an unreachable server is an error naming the URL).
 *
 * @example
 * ```ts
 * import { addParam, createParams, disposeParams, readCheckpointManifest, saveCheckpoint } from "@halo/kit/tensor";
 * const dir = await Deno.makeTempDir();
 * const params = createParams();
 * addParam(params, "w", [2], { seed: 1 });
 * await saveCheckpoint(`${dir}/ckpt`, { kind: "demo", config: {}, params, step: 4 });
 * const manifest = await readCheckpointManifest(new URL(`file://${dir}/ckpt`));
 * console.log(manifest.kind, manifest.step); // demo 4
 * disposeParams(params);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readCheckpointManifest(dir: ModelRef): Promise<CheckpointManifest> {
  return await readManifest(checkpointFolder(dir, "readCheckpointManifest"));
}

async function readManifest(folder: CheckpointFolder): Promise<CheckpointManifest> {
  // Only a local folder can hold what an interrupted save left behind.
  if (folder.local !== undefined) await recoverInterruptedSave(folder.local);
  const file = folder.at("config.json");
  const text = new TextDecoder().decode(
    await folder.read("config.json", "a checkpoint's config.json"),
  );
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(text);
  } catch {
    fail(file, "valid JSON", text);
  }
  if (manifest?.version !== CHECKPOINT_VERSION) {
    fail(file, `checkpoint version ${CHECKPOINT_VERSION}`, manifest?.version);
  }
  if (!manifest.weights || !Array.isArray(manifest.weights.tensors)) {
    fail(file, "a weights entry", manifest.weights);
  }
  checkBinaryEntry(`${file}: weights`, manifest.weights);
  if (manifest.optimizer !== undefined) {
    checkBinaryEntry(`${file}: optimizer`, manifest.optimizer);
    if (!Number.isInteger(manifest.optimizer.step) || manifest.optimizer.step < 0) {
      fail(`${file}: optimizer.step`, "an integer ≥ 0", manifest.optimizer.step);
    }
  }
  if (!Number.isInteger(manifest.step) || manifest.step < 0) {
    fail(`${file}: step`, "an integer ≥ 0", manifest.step);
  }
  if (typeof manifest.kind !== "string") fail(`${file}: kind`, "a string", manifest.kind);
  if (manifest.meta === null || typeof manifest.meta !== "object" || Array.isArray(manifest.meta)) {
    fail(`${file}: meta`, "an object", manifest.meta);
  }
  return manifest;
}

/** Checks a binary file entry of a manifest: a plain file name, a hash, tensor entries. */
function checkBinaryEntry(where: string, entry: unknown): void {
  const e = entry as { file?: unknown; sha256?: unknown; tensors?: unknown };
  if (!e || typeof e !== "object") fail(where, "{file, sha256, tensors}", entry);
  if (typeof e.file !== "string" || !/^[\w.-]+$/.test(e.file) || e.file.startsWith(".")) {
    fail(`${where}.file`, "a file name inside the checkpoint", e.file);
  }
  if (typeof e.sha256 !== "string") fail(`${where}.sha256`, "a hex SHA-256", e.sha256);
  if (!Array.isArray(e.tensors)) fail(`${where}.tensors`, "an array", e.tensors);
  e.tensors.forEach((t: unknown, i: number) => {
    const at = `${where}.tensors[${i}]`;
    const { name, shape, offset } = (t ?? {}) as Record<string, unknown>;
    if (typeof name !== "string") fail(`${at}.name`, "a string", name);
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      fail(`${at}.shape`, "an array of integers ≥ 0", shape);
    }
    if (!Number.isInteger(offset) || (offset as number) < 0) {
      fail(`${at}.offset`, "an integer ≥ 0", offset);
    }
  });
}

/** A save killed between its two renames leaves only the `.old` sibling: put it back. */
async function recoverInterruptedSave(dir: string): Promise<void> {
  try {
    await Deno.stat(dir);
    return;
  } catch {
    // missing: look for a sibling left by an interrupted save
  }
  const parent = dirname(dir);
  const prefix = `.${basename(dir)}.`;
  try {
    for await (const entry of Deno.readDir(parent)) {
      if (entry.isDirectory && entry.name.startsWith(prefix) && entry.name.endsWith(".old")) {
        await Deno.rename(join(parent, entry.name), dir);
        return;
      }
    }
  } catch {
    // no parent directory: nothing to recover
  }
}

async function readBinary(
  folder: CheckpointFolder,
  entry: { file: string; sha256: string; tensors: TensorEntry[] },
): Promise<Array<{ name: string; shape: number[]; values: Float32Array }>> {
  const path = folder.at(entry.file);
  const bytes = await folder.read(entry.file, "a weights file");
  const hash = await sha256(bytes);
  if (hash !== entry.sha256) {
    fail(
      path,
      `weights with SHA-256 ${entry.sha256.slice(0, 12)}… (file corrupt or truncated)`,
      `${hash.slice(0, 12)}… over ${bytes.length} bytes`,
    );
  }
  if (bytes.length % 4 !== 0) {
    fail(path, "a whole number of float32 values", `${bytes.length} bytes`);
  }
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return entry.tensors.map((t) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset + size > all.length) {
      fail(path, `${t.offset + size} values for "${t.name}"`, all.length);
    }
    const values = all.slice(t.offset, t.offset + size);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      fail(path, `finite values in "${t.name}"`, `${values[bad]} at index ${bad}`);
    }
    return { name: t.name, shape: t.shape, values };
  });
}

/** Lists the top-level fields where two configs differ (for the mismatch error). */
function configDiff(expected: unknown, found: unknown): string[] {
  if (typeof expected !== "object" || typeof found !== "object" || !expected || !found) {
    return JSON.stringify(expected) === JSON.stringify(found) ? [] : ["(whole config)"];
  }
  const keys = new Set([...Object.keys(expected), ...Object.keys(found)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    const a = JSON.stringify((expected as Record<string, unknown>)[k]);
    const b = JSON.stringify((found as Record<string, unknown>)[k]);
    if (a !== b) out.push(`${k}: expected ${a} but found ${b}`);
  }
  return out;
}

/**
 * Loads a checkpoint into `params` (and `optimizer`), after checking version,
 * kind, config and file hashes. On any error nothing has been overwritten.
 * `dir` is a local path, a `file:` URL, or an `http:`/`https:` URL of the
 * checkpoint's folder, whose `config.json`, `weights.bin` (and
 * `optimizer.bin` when an optimizer is given) are fetched and SHA-256-checked
 * like local files.
 *
 * @example
 * ```ts
 * import { addParam, createParams, disposeParams, loadCheckpoint, saveCheckpoint } from "@halo/kit/tensor";
 * const dir = await Deno.makeTempDir();
 * const params = createParams();
 * addParam(params, "w", [2, 2], { seed: 1 });
 * await saveCheckpoint(`${dir}/ckpt`, { kind: "demo", config: {}, params, step: 2 });
 * const target = createParams();
 * addParam(target, "w", [2, 2], { init: "zeros" });
 * const { step } = await loadCheckpoint(`file://${dir}/ckpt`, { kind: "demo", params: target });
 * console.log(step); // 2
 * disposeParams(params);
 * disposeParams(target);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadCheckpoint(
  dir: ModelRef,
  options: LoadCheckpointOptions,
): Promise<LoadedCheckpoint> {
  const folder = checkpointFolder(dir, "loadCheckpoint");
  const manifest = await readManifest(folder);
  const file = folder.at("config.json");
  if (manifest.kind !== options.kind) fail(file, `a "${options.kind}" checkpoint`, manifest.kind);
  if (options.config !== undefined) {
    const diff = configDiff(options.config, manifest.config);
    if (diff.length > 0) {
      fail(file, "a checkpoint of the same config", `a different config (${diff.join("; ")})`);
    }
  }
  const weights = await readBinary(folder, manifest.weights);
  let opt: Array<{ name: string; shape: number[]; values: Float32Array }> | undefined;
  if (options.optimizer) {
    if (!manifest.optimizer) fail(file, "optimizer state (saved with an optimizer)", "none");
    opt = await readBinary(folder, manifest.optimizer);
  }
  // Validate both before assigning either, so a failure leaves the model untouched.
  if (options.params) checkSavedParams(options.params, weights, folder.at(manifest.weights.file));
  if (options.optimizer && opt) {
    checkSavedParams(options.optimizer.state().tensors, opt, folder.at(manifest.optimizer!.file));
  }
  if (options.params) writeParams(options.params, weights, folder.at(manifest.weights.file));
  if (options.optimizer && opt) {
    options.optimizer.load(manifest.optimizer!.step, opt);
  }
  return {
    manifest,
    step: manifest.step,
    config: manifest.config,
    hasOptimizer: !!manifest.optimizer,
  };
}
