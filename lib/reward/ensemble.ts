/**
 * Scoring with an ensemble of reward models (e.g. the seeds of `train-rm --seeds`): every
 * model scores the same videos and the scores are combined per video, aspect and patch by the
 * mean, the minimum, or the mean minus the standard deviation over the models (a pessimistic
 * score, lower where the seeds disagree). Our reconstruction: the paper scores with one reward
 * model; the issue lists an ensemble scored by the minimum or mean − std as a candidate for
 * pair scoring.
 * @module
 */

import { checkEnsembleModels } from "./_ensemble_check.ts";
import { fail } from "../core/_errors.ts";
import { ASPECTS, type AspectScores } from "../videos/scores.ts";
import type { RewardModel } from "./model.ts";
import { type RewardScores, type ScoreItem, type ScoreOptions, scoreRewards } from "./score.ts";

/** How an ensemble's scores are combined. */
export type EnsembleReduce = "mean" | "min" | "mean-std";

/** Every way of combining, in report order. */
export const ENSEMBLE_REDUCES: readonly EnsembleReduce[] = Object.freeze([
  "mean",
  "min",
  "mean-std",
]);

/** Options for {@linkcode scoreEnsemble}. */
export interface EnsembleScoreOptions extends ScoreOptions {
  /** How the models' scores are combined. Default `"mean"`. */
  reduce?: EnsembleReduce;
}

/**
 * Combines numbers by `reduce`: the mean, the minimum, or the mean minus the population
 * standard deviation.
 *
 * @example
 * ```ts
 * import { reduceScores } from "@halo/kit/reward";
 * console.log(reduceScores([2, 4], "mean"), reduceScores([2, 4], "min"), reduceScores([2, 4], "mean-std")); // 3 2 2
 * ```
 */
export function reduceScores(values: readonly number[], reduce: EnsembleReduce): number {
  const where = "reduceScores";
  if (!Array.isArray(values) || values.length === 0) fail(where, "a non-empty array", values);
  if (!ENSEMBLE_REDUCES.includes(reduce)) {
    fail(where, `reduce one of ${ENSEMBLE_REDUCES.join(", ")}`, reduce);
  }
  if (reduce === "min") return Math.min(...values);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (reduce === "mean") return mean;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return mean - Math.sqrt(variance);
}

/**
 * Scores videos with every model (all of one config's frames, size and grid) and combines the
 * video and patch scores by `reduce`. One model gives exactly its own scores.
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, parsePrompt, renderClip } from "@halo/kit";
 * import { scoreEnsemble } from "@halo/kit/reward";
 * const models = [1, 2].map((seed) => createRewardModel({ dim: 16, depth: 1, heads: 2 }, { seed }));
 * const prompt = "one red circle moving up slowly on a black background";
 * const items = [{ video: renderClip(parsePrompt(prompt)).video, prompt }];
 * const [low] = await scoreEnsemble(models, items, { reduce: "min" });
 * console.log(low.video.text_alignment >= 1); // true
 * models.forEach(disposeRewardModel);
 * ```
 */
export async function scoreEnsemble(
  models: readonly RewardModel[],
  items: readonly ScoreItem[],
  options: EnsembleScoreOptions = {},
): Promise<RewardScores[]> {
  const where = "scoreEnsemble";
  checkEnsembleModels(where, models);
  const reduce = options.reduce ?? "mean";
  if (!ENSEMBLE_REDUCES.includes(reduce)) {
    fail(where, `reduce one of ${ENSEMBLE_REDUCES.join(", ")}`, reduce);
  }
  const all: RewardScores[][] = [];
  for (const m of models) all.push(await scoreRewards(m, items, options));
  return all[0].map((first, i) => {
    const video = {} as AspectScores;
    for (const a of ASPECTS) video[a] = reduceScores(all.map((s) => s[i].video[a]), reduce);
    const patches = first.patches.map((row, r) =>
      row.map((col, c) =>
        col.map((seg, s) =>
          seg.map((_, a) => reduceScores(all.map((x) => x[i].patches[r][c][s][a]), reduce))
        )
      )
    );
    return { video, patches };
  });
}
