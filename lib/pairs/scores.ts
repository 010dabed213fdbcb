/**
 * Scoring the preference candidates: one reward model's video and patch
 * scores of each clip (the mean over the aspects, {@linkcode candidateScores}),
 * or an ensemble's, combined clip by clip and patch by patch
 * ({@linkcode ensembleCandidateScores}).
 *
 * **Ensembles (our reconstruction; the paper scores with one PRM).** Several
 * PRMs (e.g. the seeds of `train-rm --seeds`) score every candidate; each
 * model's score of a clip (and of each patch) is its mean over the aspects, and
 * the models' scores are combined by the mean, the minimum, or the mean minus
 * the (population) standard deviation over the models. The pessimistic two are
 * the standard guard against reward hacking: a candidate the models disagree
 * on scores low, so a pair is not chosen for a score one model alone gives
 * (Coste et al. 2023, "Reward model ensembles help mitigate
 * overoptimization"; their uncertainty-weighted form with a coefficient of 1).
 * The combination is of the aspect means the pairs use, not aspect by aspect
 * (`scoreEnsemble` of `lib/reward/ensemble.ts` combines aspect by aspect).
 * @module
 */

import { checkEnsembleModels } from "../reward/_ensemble_check.ts";
import { fail } from "../core/_errors.ts";
import { ENSEMBLE_REDUCES, type EnsembleReduce, reduceScores } from "../reward/ensemble.ts";
import type { RewardModel } from "../reward/model.ts";
import { flattenPatchScores, scoreRewards } from "../reward/score.ts";
import { ASPECTS } from "../videos/scores.ts";
import type { Video } from "../videos/video.ts";

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** A reward model's scores of candidate clips, each the mean over the aspects (1–4). */
export interface CandidateScores {
  /** Video score per clip. */
  video: number[];
  /** Patch scores per clip, in patch-index order. */
  patches: number[][];
}

/**
 * Scores candidate clips of a prompt as the pairs are scored: each clip's
 * video score and its patch scores on the model's grid, the mean over the
 * aspects (the PRM's scores of a Gran-DPO pair).
 *
 * @example
 * ```ts
 * import { createRewardModel, createVideo, disposeRewardModel } from "@halo/kit";
 * import { candidateScores } from "@halo/kit/pairs";
 * const prm = createRewardModel({ frames: 4, size: 16, grid: "2x2x2", dim: 16, depth: 1, heads: 2 }, { seed: 1 });
 * const video = createVideo({ frames: new Float32Array(4 * 16 * 16 * 3).fill(0.3), numFrames: 4, height: 16, width: 16 });
 * const s = await candidateScores(prm, [{ video, prompt: "one red circle moving up slowly on a black background" }]);
 * console.log(s.video.length, s.patches[0].length); // 1 8
 * disposeRewardModel(prm);
 * ```
 */
export async function candidateScores(
  model: RewardModel,
  items: ReadonlyArray<{ video: Video; prompt: string }>,
): Promise<CandidateScores> {
  if (!Array.isArray(items)) fail("candidateScores", "an array of {video, prompt}", items);
  const scores = await scoreRewards(model, [...items]);
  const meanAspects = (s: Record<string, number>) => mean(ASPECTS.map((a) => s[a]));
  return {
    video: scores.map((s) => meanAspects(s.video as unknown as Record<string, number>)),
    patches: scores.map((s) => flattenPatchScores(s.patches).map((a) => mean(a))),
  };
}

/** A scorer of candidate clips for `buildPairs`' `scorer` option. */
export interface PairScorer {
  /** What scores, for the manifest (e.g. "labels: judge server, noise 0.6"). */
  name: string;
  /** One video score and one score per patch (the PRM's grid) for each item, 1–4. */
  score(items: ReadonlyArray<{ video: Video; prompt: string }>): Promise<CandidateScores>;
}

/** What {@linkcode ensembleCandidateScores} returns: the combined scores and the models' spread. */
export interface EnsembleCandidateScores extends CandidateScores {
  /** Standard deviation of the models' video scores, per clip (0 for one model). */
  videoStd: number[];
}

/**
 * Scores candidate clips with every model of an ensemble ({@linkcode candidateScores}
 * each) and combines the video score of each clip and each of its patch
 * scores over the models by `ensemble` (module doc). One model gives exactly
 * its own scores.
 *
 * @example
 * ```ts
 * import { createRewardModel, createVideo, disposeRewardModel } from "@halo/kit";
 * import { candidateScores, ensembleCandidateScores } from "@halo/kit/pairs";
 * const config = { frames: 4, size: 16, grid: "2x2x2", dim: 16, depth: 1, heads: 2 };
 * const models = [1, 2].map((seed) => createRewardModel(config, { seed }));
 * const video = createVideo({ frames: new Float32Array(4 * 16 * 16 * 3).fill(0.3), numFrames: 4, height: 16, width: 16 });
 * const items = [{ video, prompt: "one red circle moving up slowly on a black background" }];
 * const low = await ensembleCandidateScores(models, items, { ensemble: "min" });
 * const [a, b] = await Promise.all(models.map((m) => candidateScores(m, items)));
 * console.log(low.video[0] === Math.min(a.video[0], b.video[0]), low.patches[0].length); // true 8
 * models.forEach(disposeRewardModel);
 * ```
 */
export async function ensembleCandidateScores(
  models: readonly RewardModel[],
  items: ReadonlyArray<{ video: Video; prompt: string }>,
  options: { ensemble?: EnsembleReduce } = {},
): Promise<EnsembleCandidateScores> {
  const where = "ensembleCandidateScores";
  checkEnsembleModels(where, models);
  const ensemble = options.ensemble ?? "mean";
  if (!ENSEMBLE_REDUCES.includes(ensemble)) {
    fail(where, `ensemble one of ${ENSEMBLE_REDUCES.join(", ")}`, ensemble);
  }
  const all: CandidateScores[] = [];
  for (const m of models) all.push(await candidateScores(m, items));
  if (all.length === 1) return { ...all[0], videoStd: all[0].video.map(() => 0) };
  const video = all[0].video.map((_, i) => all.map((s) => s.video[i]));
  return {
    video: video.map((v) => reduceScores(v, ensemble)),
    patches: all[0].patches.map((row, i) =>
      row.map((_, k) => reduceScores(all.map((s) => s.patches[i][k]), ensemble))
    ),
    videoStd: video.map((v) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)))),
  };
}
