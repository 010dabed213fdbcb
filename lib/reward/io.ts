/**
 * Saving and loading a reward model: {@linkcode saveRewardModel} writes an atomic checkpoint
 * of kind {@linkcode REWARD_KIND} (optionally with the optimiser, for resumption), and
 * {@linkcode loadRewardModel} rebuilds the model from one (e.g. the shipped
 * `data/reward/prm`). Users of a trained model need only this and `score.ts`, not the trainer.
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { Adam } from "../tensor/adam.ts";
import {
  type CheckpointManifest,
  loadCheckpoint,
  readCheckpointManifest,
  saveCheckpoint,
} from "../tensor/checkpoint.ts";
import {
  createRewardModel,
  disposeRewardModel,
  resolveRewardConfig,
  type RewardConfig,
  type RewardModel,
} from "./model.ts";
import { checkpointFile } from "../tensor/_checkpoint_folder.ts";
import type { ModelRef } from "../core/shipped.ts";

/** Checkpoint kind of reward models. */
export const REWARD_KIND = "reward";

/** Options for {@linkcode saveRewardModel}. */
export interface SaveRewardOptions {
  /** Steps done. */
  step?: number;
  /** Optimiser to save along (for resumption). */
  optimizer?: Adam;
  /** Metadata (stage, seed, wall time...). */
  meta?: Record<string, unknown>;
}

/**
 * Saves a reward model checkpoint (atomic).
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, loadRewardModel, saveRewardModel } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * await saveRewardModel(`${dir}/rm`, model, { step: 7 });
 * const { model: back, step } = await loadRewardModel(`${dir}/rm`);
 * console.log(step, back.config.dim); // 7 16
 * disposeRewardModel(model);
 * disposeRewardModel(back);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveRewardModel(
  dir: string,
  model: RewardModel,
  options: SaveRewardOptions = {},
): Promise<void> {
  await saveCheckpoint(dir, {
    kind: REWARD_KIND,
    config: model.config,
    params: model.params,
    ...options,
  });
}

/**
 * Loads a reward model checkpoint (e.g. the shipped `data/reward/prm`),
 * building the model from the stored config; an error names the file.
 */
export async function loadRewardModel(
  dir: ModelRef,
  options: { optimizer?: (model: RewardModel) => Adam } = {},
): Promise<{ model: RewardModel; step: number; manifest: CheckpointManifest; optimizer?: Adam }> {
  const manifest = await readCheckpointManifest(dir);
  const file = checkpointFile(dir, "config.json");
  if (manifest.kind !== REWARD_KIND) fail(file, `a "${REWARD_KIND}" checkpoint`, manifest.kind);
  let config: RewardConfig;
  try {
    config = resolveRewardConfig(manifest.config as Partial<RewardConfig>);
  } catch (error) {
    fail(file, "a valid reward config", (error as Error).message);
  }
  const model = createRewardModel(config);
  const optimizer = options.optimizer?.(model);
  try {
    const loaded = await loadCheckpoint(dir, {
      kind: REWARD_KIND,
      config,
      params: model.params,
      optimizer,
    });
    return { model, step: loaded.step, manifest, optimizer };
  } catch (error) {
    optimizer?.dispose();
    disposeRewardModel(model);
    throw error;
  }
}
