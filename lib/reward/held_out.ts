/**
 * The issue's reward-model targets on held-out clips in one call ({@linkcode heldOutMetrics}):
 * pooled patch and video ρ, ρ per aspect, text-swap sensitivity and the direction of
 * same-prompt pairs, for one model or an ensemble; and their Markdown
 * ({@linkcode formatHeldOutMetrics}), which the reward experiment's report includes.
 * @module
 */

import { tieCeiling } from "./_tie_ceiling.ts";
import { fail } from "../core/_errors.ts";
import {
  agreementReport,
  type BootstrapOptions,
  formatInterval,
  type Interval,
  type ScoredSet,
} from "../core/agreement.ts";
import { ASPECTS } from "../videos/scores.ts";
import type { RewardModel } from "./model.ts";
import { flattenPatchScores } from "./score.ts";
import type { RewardExample } from "./data.ts";
import { type EnsembleReduce, scoreEnsemble } from "./ensemble.ts";
import {
  aspectAgreement,
  type AspectAgreementRow,
  type DirectionAgreement,
  directionAgreement,
  samePromptPairs,
  type TextSwapRow,
  textSwapSensitivity,
} from "./metrics.ts";

/** Options for {@linkcode heldOutMetrics}. */
export interface HeldOutMetricsOptions extends BootstrapOptions {
  /** How an ensemble's scores are combined. Default `"mean"`. */
  reduce?: EnsembleReduce;
}

/** The held-out metrics of a model (see {@linkcode heldOutMetrics}). */
export interface HeldOutMetrics {
  /** Held-out clips. */
  clips: number;
  /** Patch-level Spearman ρ, mean over aspects. */
  patchRho: Interval;
  /**
   * Patch-level Spearman ρ of the model's patch scores rounded to the 1–4 grid the labels and
   * the judge score on, mean over aspects. The judge gives most patches of clean clips the same
   * 4, and ρ against such a tied reference is capped for any score without ties
   * ({@linkcode HeldOutMetrics.patchRhoCeiling}); a score on the judge's own grid ties where it
   * ties.
   */
  patchRhoOnScale: Interval;
  /**
   * The highest patch ρ (mean over aspects) any score without ties can reach against these
   * held-out patches: the ρ of a score that orders every patch as the reference does and
   * breaks the reference's ties arbitrarily. With a share `q` of patches below 4 and the rest
   * tied at 4 it is about √(3q(1−q)).
   */
  patchRhoCeiling: number;
  /** Video-level Spearman ρ, mean over aspects. */
  videoRho: Interval;
  /** ρ per aspect. */
  aspects: AspectAgreementRow[];
  /** Text-swap sensitivity per kind of swap. */
  textSwap: TextSwapRow[];
  /** Video direction (mean over aspects) of the held-out same-prompt pairs against the reference. */
  direction: DirectionAgreement;
}

/**
 * Scores held-out examples (with reference labels) with a model or an ensemble (combined by
 * `reduce`) and measures everything the issue's target table asks of a reward model.
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, judgeVideo, parsePrompt, renderClip } from "@halo/kit";
 * import { heldOutMetrics } from "@halo/kit/reward";
 * const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
 * const held = [1, 2, 3].map((seed) => {
 *   const prompt = "two red circles moving up slowly on a black background";
 *   const video = renderClip(parsePrompt(prompt), { seed }).video;
 *   const j = judgeVideo(video, prompt, grid);
 *   return { video, prompt, origin: "clean" as const, defects: [], labels: j, reference: j };
 * });
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const m = await heldOutMetrics(model, held, { resamples: 20 });
 * console.log(m.clips, m.textSwap.length, m.direction.pairs); // 3 3 3
 * disposeRewardModel(model);
 * ```
 */
export async function heldOutMetrics(
  models: RewardModel | readonly RewardModel[],
  heldOut: readonly RewardExample[],
  options: HeldOutMetricsOptions = {},
): Promise<HeldOutMetrics> {
  const where = "heldOutMetrics";
  const list: readonly RewardModel[] = Array.isArray(models as unknown)
    ? models as readonly RewardModel[]
    : [models as RewardModel];
  if (!Array.isArray(heldOut as unknown) || heldOut.length === 0) {
    fail(where, "a non-empty array of held-out examples", heldOut);
  }
  heldOut.forEach((e, i) => {
    if (!e?.reference) fail(`${where}: example ${i}`, "reference labels", e?.reference);
  });
  const reduce = options.reduce ?? "mean";
  const scores = await scoreEnsemble(list, heldOut, { reduce, note: () => {} });
  const set: ScoredSet = {
    video: scores.map((s) => ASPECTS.map((a) => s.video[a])),
    patches: scores.map((s) => flattenPatchScores(s.patches)),
  };
  const reference: ScoredSet = {
    video: heldOut.map((e) => ASPECTS.map((a) => e.reference!.video[a])),
    patches: heldOut.map((e) => e.reference!.patches.map((p) => ASPECTS.map((a) => p.scores[a]))),
  };
  const onScale: ScoredSet = {
    video: set.video,
    patches: set.patches.map((v) => v.map((p) => p.map((x) => Math.round(x)))),
  };
  const rows = agreementReport({ model: set, onScale }, reference, options);
  const patchRow = (method: string) =>
    rows.find((r) => r.method === method && r.level === "patch")!.spearman;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const direction = directionAgreement(
    samePromptPairs(heldOut.map((e) => e.prompt)).map(([i, j]) => ({
      model: [mean(set.video[i]), mean(set.video[j])] as const,
      reference: [mean(reference.video[i]), mean(reference.video[j])] as const,
    })),
  );
  const scorer = async (xs: readonly { video: RewardExample["video"]; prompt: string }[]) =>
    (await scoreEnsemble(list, xs, { reduce, note: () => {} })).map((s) => s.video);
  return {
    clips: heldOut.length,
    patchRho: patchRow("model"),
    patchRhoOnScale: patchRow("onScale"),
    patchRhoCeiling: meanTieCeiling(reference.patches),
    videoRho: rows.find((r) => r.method === "model" && r.level === "video")!.spearman,
    aspects: aspectAgreement(set, reference, options),
    textSwap: await textSwapSensitivity(scorer, heldOut, options),
    direction,
  };
}

/** Mean over aspects (where the reference varies) of the tie ceiling of the pooled patches. */
function meanTieCeiling(patches: number[][][]): number {
  const flat = patches.flat();
  let sum = 0, k = 0;
  for (let a = 0; a < ASPECTS.length; a++) {
    const rho = tieCeiling(flat.map((p) => p[a]));
    if (Number.isFinite(rho)) (sum += rho), k++;
  }
  return k ? sum / k : NaN;
}

/**
 * Formats {@linkcode HeldOutMetrics} of named models as Markdown tables: ρ (pooled and per
 * aspect, video level), text-swap sensitivity per kind, and pair direction.
 *
 * @example
 * ```ts
 * import { formatHeldOutMetrics } from "@halo/kit/reward";
 * console.log(formatHeldOutMetrics({}).startsWith("### Held-out")); // true
 * ```
 */
export function formatHeldOutMetrics(metrics: Record<string, HeldOutMetrics>): string {
  const f = (i: Interval) => formatInterval(i);
  const entries = Object.entries(metrics);
  const kinds = entries[0]?.[1].textSwap.map((r) => r.kind) ?? [];
  const lines = [
    "### Held-out targets (vs the reference judge; 95% bootstrap intervals over clips)",
    "",
    `| model | patch ρ | patch ρ on the 1–4 grid | ceiling without ties | video ρ | ${
      ASPECTS.map((a) => `video ρ ${a}`).join(" | ")
    } |`,
    `|---|---|---|---|---|${ASPECTS.map(() => "---").join("|")}|`,
    ...entries.map(([name, m]) =>
      `| ${name} | ${f(m.patchRho)} | ${m.patchRhoOnScale ? f(m.patchRhoOnScale) : "–"} | ${
        m.patchRhoCeiling?.toFixed(3) ?? "–"
      } | ${f(m.videoRho)} | ${m.aspects.map((a) => f(a.video)).join(" | ")} |`
    ),
    "",
    `| model | ${ASPECTS.map((a) => `patch ρ ${a}`).join(" | ")} |`,
    `|---|${ASPECTS.map(() => "---").join("|")}|`,
    ...entries.map(([name, m]) => `| ${name} | ${m.aspects.map((a) => f(a.patch)).join(" | ")} |`),
    "",
    `| model | ${
      kinds.map((k) => `text-swap ${k}: share lower [judge's share; model where judge lower]`)
        .join(" | ")
    } | same-prompt pairs: agree where judge differs / ties (n) |`,
    `|---|${kinds.map(() => "---").join("|")}|---|`,
    ...entries.map(([name, m]) =>
      `| ${name} | ${
        m.textSwap.map((r) =>
          `${f(r.drops)} [${r.judgeDrops === null ? "–" : r.judgeDrops.toFixed(2)}; ${
            r.dropsWhereJudgeDrops === null ? "–" : r.dropsWhereJudgeDrops.toFixed(2)
          }]`
        ).join(" | ")
      } | ${m.direction.agreeWhereReferenceDiffers.toFixed(3)} / ${
        m.direction.ties.toFixed(3)
      } (${m.direction.pairs}) |`
    ),
  ];
  return lines.join("\n") + "\n";
}
