/**
 * What the issue's reward-model targets measure, beyond the pooled agreement of
 * `agreementReport`: agreement per aspect with intervals ({@linkcode aspectAgreement}),
 * whether the text-alignment score notices a prompt of another colour, shape or count
 * ({@linkcode textSwapSensitivity}), and whether the model orders same-prompt pairs like the
 * reference judge ({@linkcode directionAgreement}; `deno task pairs` reports the same numbers
 * for its candidate pairs).
 *
 * Our reconstruction (DESIGN §2): the paper reports its reward models' agreement only; these
 * are the blind spots measured in this kit (colour lost in post-training, video direction at
 * chance).
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import {
  bootstrapInterval,
  type BootstrapOptions,
  type Interval,
  type ScoredSet,
  spearman,
} from "../core/agreement.ts";
import { judgeVideo } from "../videos/judge.ts";
import { type Aspect, ASPECTS, type AspectScores } from "../videos/scores.ts";
import { parsePrompt, type ShapesPrompt } from "../videos/world.ts";
import type { RewardModel } from "./model.ts";
import { type ScoreItem, scoreRewards } from "./score.ts";
import { SWAP_KINDS, type SwapKind, swapPrompt, TEXT_SWAP_KINDS } from "./swap.ts";

/** Spearman ρ of one aspect with the reference, at video and patch level, with intervals. */
export interface AspectAgreementRow {
  /** The aspect. */
  aspect: Aspect;
  /** Video-level ρ over the videos. */
  video: Interval;
  /** Patch-level ρ over every patch of every video. */
  patch: Interval;
}

/**
 * Spearman ρ of each aspect against the reference, video and patch level, with percentile
 * bootstrap intervals that resample videos (patches of one video are correlated).
 *
 * @example
 * ```ts
 * import { aspectAgreement } from "@halo/kit/reward";
 * const reference = { video: [[4, 4, 4], [2, 3, 1], [3, 2, 2]], patches: [[[4, 4, 4]], [[1, 3, 2]], [[3, 2, 2]]] };
 * const rows = aspectAgreement(reference, reference, { resamples: 50 });
 * console.log(rows.map((r) => `${r.aspect} ${r.video.estimate}`)); // each 1
 * ```
 */
export function aspectAgreement(
  set: ScoredSet,
  reference: ScoredSet,
  options: BootstrapOptions = {},
): AspectAgreementRow[] {
  const where = "aspectAgreement";
  const nv = reference?.video?.length ?? 0;
  if (nv < 1) fail(where, "a reference with at least one video", nv);
  if (set?.video?.length !== nv || set?.patches?.length !== nv) {
    fail(where, `${nv} videos like the reference`, set?.video?.length);
  }
  set.patches.forEach((p, v) => {
    if (p.length !== reference.patches[v].length) {
      fail(`${where} video ${v}`, `${reference.patches[v].length} patches`, p.length);
    }
  });
  return ASPECTS.map((aspect, a) => {
    const rho = (level: "video" | "patch") => (idx: Int32Array) => {
      const x: number[] = [], y: number[] = [];
      for (const v of idx) {
        if (level === "video") {
          x.push(set.video[v][a]);
          y.push(reference.video[v][a]);
        } else {
          set.patches[v].forEach((p, k) => {
            x.push(p[a]);
            y.push(reference.patches[v][k][a]);
          });
        }
      }
      return spearman(x, y);
    };
    return {
      aspect,
      video: bootstrapInterval(nv, rho("video"), options),
      patch: bootstrapInterval(nv, rho("patch"), options),
    };
  });
}

/** Scores videos at video level (one score per aspect): a reward model, an ensemble, a test double. */
export type VideoScorer = (items: readonly ScoreItem[]) => Promise<AspectScores[]>;

/** Options for {@linkcode textSwapSensitivity}. */
export interface TextSwapOptions extends BootstrapOptions {
  /** Kinds of swap. Default colour, shape and count ({@linkcode TEXT_SWAP_KINDS}). */
  kinds?: readonly SwapKind[];
  /** Seed of the swapped values (and of the bootstrap). Default 0. */
  seed?: number;
  /** Also report how often the reference judge's text alignment drops. Default true. */
  judge?: boolean;
}

/** How often one kind of swap lowers the text-alignment score. */
export interface TextSwapRow {
  /** What was swapped. */
  kind: SwapKind;
  /** Clips scored. */
  clips: number;
  /** Share of clips whose text-alignment video score is strictly lower with the swapped prompt. */
  drops: Interval;
  /** Mean of original − swapped text-alignment score. */
  meanDrop: number;
  /** The same share for the reference judge (its ceiling here), or null when not asked. */
  judgeDrops: number | null;
  /**
   * The model's share among the clips whose reference text alignment drops (a clip the judge
   * already scores 1, or whose swap the judge does not notice, has nothing to notice), or null
   * when the judge was not asked or never drops.
   */
  dropsWhereJudgeDrops: number | null;
}

/**
 * Text-swap sensitivity: every clip is scored with its own prompt and with a prompt of another
 * colour, shape or count (one swap per clip and kind, {@linkcode swapPrompt}); per kind, the
 * share of clips whose text-alignment video score drops, with a bootstrap interval over clips.
 * The target is ≥ 0.95 for each kind. The reference judge's own share is reported
 * beside it, and the model's share among the clips where the judge's score drops: a clip the
 * judge already scores 1 for text alignment has nothing to notice.
 *
 * @example
 * ```ts
 * import { parsePrompt, renderClip } from "@halo/kit";
 * import { textSwapSensitivity } from "@halo/kit/reward";
 * const prompt = "one red circle moving up slowly on a black background";
 * const items = [{ video: renderClip(parsePrompt(prompt)).video, prompt }];
 * // a scorer that reads the prompt: text alignment 4 for red, 1 otherwise
 * const scorer = (xs: readonly { prompt: string }[]) =>
 *   Promise.resolve(xs.map((x) => ({ visual_quality: 4, temporal_consistency: 4, text_alignment: x.prompt.includes(" red ") ? 4 : 1 })));
 * const rows = await textSwapSensitivity(scorer, items, { resamples: 20 });
 * console.log(rows.map((r) => `${r.kind} ${r.drops.estimate}`)); // ["color 1", "shape 0", "count 0"]
 * ```
 */
export async function textSwapSensitivity(
  scorer: RewardModel | VideoScorer,
  items: readonly ScoreItem[],
  options: TextSwapOptions = {},
): Promise<TextSwapRow[]> {
  const where = "textSwapSensitivity";
  const score = asScorer(scorer, where);
  if (!Array.isArray(items) || items.length === 0) {
    fail(where, "a non-empty array of {video, prompt}", items);
  }
  const kinds = options.kinds ?? TEXT_SWAP_KINDS;
  if (!Array.isArray(kinds) || kinds.length === 0 || kinds.some((k) => !SWAP_KINDS.includes(k))) {
    fail(where, `kinds from ${SWAP_KINDS.join(", ")}`, kinds);
  }
  const seed = checkInt(where, "seed", options.seed ?? 0, 0, 0xffffffff);
  const parsed: ShapesPrompt[] = items.map((item, i) => {
    try {
      return parsePrompt(item?.prompt);
    } catch {
      return fail(`${where}: item ${i}`, "a ShapesWorld prompt", item?.prompt);
    }
  });
  const ta = async (xs: readonly ScoreItem[]) => {
    const scores = await score(xs);
    if (!Array.isArray(scores) || scores.length !== xs.length) {
      fail(`${where}: the scorer`, `${xs.length} scores`, scores?.length);
    }
    return scores.map((s, i) =>
      checkNumber(`${where}: score ${i}`, "text_alignment", s?.text_alignment)
    );
  };
  const original = await ta(items);
  const judgeTa = (item: ScoreItem, prompt: string) =>
    judgeVideo(item.video, prompt, { rows: 1, cols: 1, framesPerPatch: item.video.numFrames })
      .video.text_alignment;
  const judgeOriginal = options.judge === false
    ? null
    : items.map((item) => judgeTa(item, item.prompt));
  const rng = createRng(seed);
  const rows: TextSwapRow[] = [];
  for (const kind of kinds) {
    const swapped = parsed.map((p) => swapPrompt(p, { kind, random: rng }).text);
    const after = await ta(items.map((item, i) => ({ video: item.video, prompt: swapped[i] })));
    const dropped = original.map((o, i) => (after[i] < o ? 1 : 0));
    const share = (idx: Int32Array) => {
      let s = 0;
      for (const i of idx) s += dropped[i];
      return s / idx.length;
    };
    const judged = judgeOriginal === null
      ? null
      : items.map((item, i) => (judgeTa(item, swapped[i]) < judgeOriginal[i] ? 1 : 0));
    const judgedCount = judged?.reduce((a: number, b) => a + b, 0) ?? 0;
    rows.push({
      kind,
      clips: items.length,
      drops: bootstrapInterval(items.length, share, { ...options, seed }),
      meanDrop: original.reduce((acc, o, i) => acc + o - after[i], 0) / items.length,
      judgeDrops: judged === null ? null : judgedCount / items.length,
      dropsWhereJudgeDrops: judged === null || judgedCount === 0
        ? null
        : dropped.reduce((acc: number, d, i) => acc + d * judged[i], 0) / judgedCount,
    });
  }
  return rows;
}

function asScorer(scorer: RewardModel | VideoScorer, where: string): VideoScorer {
  if (typeof scorer === "function") return scorer;
  if (scorer && typeof scorer === "object" && "params" in scorer && "config" in scorer) {
    const model = scorer;
    return async (xs) => (await scoreRewards(model, xs, { note: () => {} })).map((s) => s.video);
  }
  return fail(where, "a reward model or a scoring function", scorer);
}

/** One pair's scores, by the model under test and by the reference, in the same order. */
export interface ScoredPair {
  /** The model's scores of the pair's first and second clip. */
  model: readonly [number, number];
  /** The reference's scores of the same clips. */
  reference: readonly [number, number];
}

/** How often a model orders pairs like the reference (shares of all pairs unless said). */
export interface DirectionAgreement {
  /** Pairs. */
  pairs: number;
  /** The model and the reference prefer the same clip. */
  agree: number;
  /** They prefer different clips. */
  disagree: number;
  /** The reference scores both clips alike. */
  ties: number;
  /** The reference differs but the model's gap is within the tolerance. */
  modelTies: number;
  /** `agree` among the pairs where the reference differs (the target: ≥ 0.8). */
  agreeWhereReferenceDiffers: number;
}

/**
 * Direction agreement of pairs: whether the model's preferred clip is the reference's. A pair
 * the reference ties counts as a tie whatever the model says; a model gap within `tolerance`
 * counts as a model tie. Shares are NaN for no pairs.
 *
 * @example
 * ```ts
 * import { directionAgreement } from "@halo/kit/reward";
 * const d = directionAgreement([
 *   { model: [3, 2], reference: [4, 1] },
 *   { model: [3, 2], reference: [1, 4] },
 *   { model: [3, 2], reference: [2, 2] },
 * ]);
 * console.log(d.agree, d.ties, d.agreeWhereReferenceDiffers); // 0.333… 0.333… 0.5
 * ```
 */
export function directionAgreement(
  pairs: readonly ScoredPair[],
  options: { tolerance?: number } = {},
): DirectionAgreement {
  const where = "directionAgreement";
  if (!Array.isArray(pairs)) fail(where, "an array of {model, reference} pairs", pairs);
  const tolerance = checkNumber(where, "tolerance", options.tolerance ?? 0, 0);
  let agree = 0, disagree = 0, ties = 0, modelTies = 0;
  pairs.forEach((p, i) => {
    const ok = (xs: unknown) =>
      Array.isArray(xs) && xs.length === 2 && xs.every((x) => Number.isFinite(x));
    if (!ok(p?.model) || !ok(p?.reference)) {
      fail(`${where}: pair ${i}`, "two finite model and reference scores", p);
    }
    const r = Math.sign(p.reference[0] - p.reference[1]);
    const gap = p.model[0] - p.model[1];
    if (r === 0) ties++;
    else if (Math.abs(gap) <= tolerance) modelTies++;
    else if (Math.sign(gap) === r) agree++;
    else disagree++;
  });
  const n = pairs.length;
  const share = (k: number, of = n) => (of ? k / of : NaN);
  return {
    pairs: n,
    agree: share(agree),
    disagree: share(disagree),
    ties: share(ties),
    modelTies: share(modelTies),
    agreeWhereReferenceDiffers: share(agree, n - ties),
  };
}

/**
 * Every pair `[i, j]` (`i < j`) of items with the same prompt: the same-prompt pairs of a set
 * of clips, as `deno task pairs` compares candidates of one prompt.
 *
 * @example
 * ```ts
 * import { samePromptPairs } from "@halo/kit/reward";
 * console.log(samePromptPairs(["a", "b", "a", "a"])); // [[0, 2], [0, 3], [2, 3]]
 * ```
 */
export function samePromptPairs(prompts: readonly string[]): Array<[number, number]> {
  if (!Array.isArray(prompts)) fail("samePromptPairs", "an array of prompts", prompts);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < prompts.length; i++) {
    for (let j = i + 1; j < prompts.length; j++) if (prompts[i] === prompts[j]) out.push([i, j]);
  }
  return out;
}
