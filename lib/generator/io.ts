/**
 * Saving and loading the generator: {@linkcode saveGenerator} writes an atomic checkpoint of
 * kind `"generator"` (optionally with the optimiser, for resumption), and
 * {@linkcode loadGenerator} rebuilds the model from one (e.g. the shipped `data/generator`),
 * optionally checking its config.
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { OptimizerState } from "../tensor/adam.ts";
import {
  type CheckpointManifest,
  loadCheckpoint,
  readCheckpointManifest,
  saveCheckpoint,
} from "../tensor/checkpoint.ts";
import {
  createGenerator,
  disposeGenerator,
  type Generator,
  type GeneratorConfig,
  resolveGeneratorConfig,
} from "./model.ts";
import { checkpointFile } from "../tensor/_checkpoint_folder.ts";
import type { ModelRef } from "../core/shipped.ts";

/** Options for {@linkcode saveGenerator}. */
export interface SaveGeneratorOptions {
  /** Training steps done. */
  step?: number;
  /** Optimiser to save along (for resumption). */
  optimizer?: OptimizerState;
  /** Metadata (seed, wall time...). */
  meta?: Record<string, unknown>;
}

/** Saves a generator checkpoint (atomic; see {@linkcode saveCheckpoint}). */
export async function saveGenerator(
  dir: string,
  gen: Generator,
  options: SaveGeneratorOptions = {},
): Promise<void> {
  await saveCheckpoint(dir, {
    kind: "generator",
    config: gen.config,
    params: gen.params,
    ...options,
  });
}

/** Options for {@linkcode loadGenerator}. */
export interface LoadGeneratorOptions {
  /** Expected config; a checkpoint of another config is an error naming the differing fields. */
  config?: Partial<GeneratorConfig>;
}

/**
 * Loads a generator checkpoint (e.g. the shipped one, `shipped.generator`),
 * building the model from the stored config. `dir` is a local path, a `file:`
 * URL or an `http:`/`https:` URL of the checkpoint's folder (see
 * {@linkcode loadCheckpoint}).
 *
 * @example The shipped generator, wherever the kit is imported from
 * ```ts
 * import { disposeGenerator, loadGenerator, shipped } from "@halo/kit";
 * const { generator } = await loadGenerator(shipped.generator);
 * console.log(generator.config.frames, generator.config.size); // 16 32
 * disposeGenerator(generator);
 * ```
 *
 * @example A checkpoint of your own
 * ```ts
 * import { createGenerator, disposeGenerator, loadGenerator, saveGenerator } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2 });
 * await saveGenerator(`${dir}/g`, gen, { step: 3 });
 * const { generator, step } = await loadGenerator(`${dir}/g`);
 * console.log(step, generator.config.dim); // 3 16
 * disposeGenerator(gen);
 * disposeGenerator(generator);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadGenerator(
  dir: ModelRef,
  options: LoadGeneratorOptions = {},
): Promise<{ generator: Generator; step: number; manifest: CheckpointManifest }> {
  const manifest = await readCheckpointManifest(dir);
  const file = checkpointFile(dir, "config.json");
  if (manifest.kind !== "generator") fail(file, 'a "generator" checkpoint', manifest.kind);
  const expected = options.config ? resolveGeneratorConfig(options.config) : undefined;
  let stored: GeneratorConfig;
  try {
    stored = resolveGeneratorConfig(manifest.config as Partial<GeneratorConfig>);
  } catch (error) {
    fail(file, "a valid generator config", (error as Error).message);
  }
  const generator = createGenerator(stored);
  try {
    const loaded = await loadCheckpoint(dir, {
      kind: "generator",
      config: expected ?? stored,
      params: generator.params,
    });
    return { generator, step: loaded.step, manifest };
  } catch (error) {
    disposeGenerator(generator);
    throw error;
  }
}
