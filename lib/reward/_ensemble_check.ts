/**
 * The up-front check every reward-model ensemble shares, internal.
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { RewardModel } from "./model.ts";

/**
 * Checks an ensemble's models before any scoring: a non-empty array of models of one clip
 * geometry and patch grid (`where` names the caller in the error).
 */
export function checkEnsembleModels(where: string, models: readonly RewardModel[]): void {
  if (!Array.isArray(models) || models.length === 0) {
    fail(where, "a non-empty array of reward models", models);
  }
  const c0 = models[0].config;
  models.forEach((m, i) => {
    const c = m?.config;
    if (!c || c.frames !== c0.frames || c.size !== c0.size || c.grid !== c0.grid) {
      fail(
        `${where}: model ${i}`,
        `${c0.frames} frames of ${c0.size}×${c0.size}, grid ${c0.grid} like model 0`,
        c ? `${c.frames} frames of ${c.size}×${c.size}, grid ${c.grid}` : m,
      );
    }
  });
}
