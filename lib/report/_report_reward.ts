/**
 * The reward stage's section of the report (internal to `report.ts`).
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import type { AgreementRow, Interval } from "../core/agreement.ts";
import type { EfficiencySummary, SeedReport } from "../reward/seeds.ts";
import type { RewardReport } from "../reward/experiment.ts";
import type { HeldOutMetrics } from "../reward/held_out.ts";
import { TEXT_SWAP_KINDS as SWAP_KINDS } from "../reward/swap.ts";
import { trainingCurvesFigure } from "./figure.ts";
import { type ResultRow, resultsFigure } from "./figure_results.ts";
import { efficiencyFigure } from "./figure_efficiency.ts";
import { ci, type ReportSection, table } from "./_section.ts";

type Json = Record<string, unknown>;

/** A finite interval as a results-figure cell, or null (a tiny run can leave ρ undefined). */
function cell(method: string, metric: string, i: Interval | undefined): ResultRow | null {
  if (!i || ![i.estimate, i.lo, i.hi].every(Number.isFinite)) return null;
  return {
    method,
    metric,
    mean: i.estimate,
    lo: Math.min(i.lo, i.estimate),
    hi: Math.max(i.hi, i.estimate),
  };
}

/**
 * The held-out targets as two figures: Spearman ρ per aspect (video and patch level), and the
 * text-swap shares beside the same-prompt pair directions (a share of pairs, no interval).
 */
export function rewardTargetFigures(
  targets: Record<string, HeldOutMetrics>,
): ReportSection["figures"] {
  const models = Object.entries(targets);
  const aspects = models.flatMap(([m, t]) =>
    t.aspects.flatMap((a) => [
      cell(m, `${a.aspect} (video)`, a.video),
      cell(m, `${a.aspect} (patch)`, a.patch),
    ])
  ).filter((r): r is ResultRow => r !== null);
  const share = (v: number): Interval => ({ estimate: v, lo: v, hi: v, resamples: 0 });
  const directions = models.flatMap(([m, t]) => [
    ...t.textSwap.map((s) => cell(m, `${s.kind} swap scored lower`, s.drops)),
    cell(m, "pairs: agree where the judge differs", share(t.direction.agreeWhereReferenceDiffers)),
    cell(m, "pairs: the judge ties", share(t.direction.ties)),
  ]).filter((r): r is ResultRow => r !== null);
  const out: ReportSection["figures"] = [];
  if (aspects.length) {
    out.push({
      id: "reward-aspects",
      figure: resultsFigure(aspects, {
        title: "Spearman ρ per aspect vs the reference judge (95% intervals)",
      }),
    });
  }
  if (directions.length) {
    out.push({
      id: "reward-directions",
      figure: resultsFigure(directions, {
        title: "a wrong prompt scored lower (95% intervals); same-prompt pair directions",
        lowerIsBetter: ["pairs: the judge ties"],
      }),
    });
  }
  return out;
}

/**
 * The reward stage's section: agreement table and figure, the issue-20 targets per model (ρ per
 * aspect; text swaps and pair directions) as a table and two figures, the continual-vs-scratch
 * efficiency figure, the training curves and the score distributions.
 */
export async function rewardSection(root: string, r: Json): Promise<ReportSection> {
  const figures: ReportSection["figures"] = [];
  if (r.agreement !== undefined && !Array.isArray(r.agreement)) {
    fail(`${root}/reward/result.json: agreement`, "an array of agreement rows", r.agreement);
  }
  const agreement = (r.agreement ?? []) as AgreementRow[];
  const html: string[] = [];
  if (agreement.length) {
    html.push(
      "<p>Held-out agreement with the reference judge; 95% bootstrap intervals over videos.</p>",
      table(
        ["method", "level", "Spearman ρ", "pairwise accuracy"],
        agreement.map((a) => [a.method, a.level, ci(a.spearman), ci(a.pairwise)]),
      ),
    );
    // a tiny run can leave a ρ undefined (constant scores): those rows stay in the table only
    const finite = agreement.map((a) => cell(a.method, `${a.level} Spearman ρ`, a.spearman))
      .filter((row): row is ResultRow => row !== null);
    if (finite.length) {
      figures.push({
        id: "agreement",
        figure: resultsFigure(finite, {
          title: "agreement with the reference judge (95% intervals)",
        }),
      });
    }
  }
  if (r.targets !== undefined) {
    if (typeof r.targets !== "object" || r.targets === null || Array.isArray(r.targets)) {
      fail(`${root}/reward/result.json: targets`, "held-out metrics by model", r.targets);
    }
    const targets = r.targets as Record<string, HeldOutMetrics>;
    html.push(
      "<p>What issue 20 asks of a reward model, on the same held-out clips: the share of clips " +
        "scored lower on text alignment under a prompt of another colour, shape or count (95% " +
        "intervals), and whether the model prefers the judge's clip of a same-prompt pair.</p>",
      table(
        [
          "model",
          ...SWAP_KINDS.map((k) => `${k} swap scored lower`),
          "pairs: agree where the judge differs",
          "pairs: judge ties",
        ],
        Object.entries(targets).map(([m, t]) => [
          m,
          ...SWAP_KINDS.map((k) => ci(t.textSwap.find((s) => s.kind === k)?.drops)),
          t.direction.agreeWhereReferenceDiffers,
          t.direction.ties,
        ]),
      ),
    );
    figures.push(...rewardTargetFigures(targets));
  }
  const summary = r.efficiency as EfficiencySummary | undefined;
  const reports: SeedReport[] = [];
  for (const seed of summary?.seeds ?? []) {
    const file = join(root, "reward", `seed-${seed}`, "report.json");
    if (await pathExists(file)) {
      reports.push({ seed, report: JSON.parse(await Deno.readTextFile(file)) as RewardReport });
    }
  }
  if (summary?.budgets) {
    figures.push({ id: "efficiency", figure: efficiencyFigure(summary, reports) });
  }
  if (reports.length) {
    const curves = reports[0].report.curves ?? {};
    const series = (key: "loss" | "patchRho") =>
      Object.entries(curves).map(([name, points]) => ({
        name,
        points: points.filter((p) => typeof p[key] === "number").map((p) => ({
          step: p.step,
          value: p[key] as number,
        })),
      })).filter((s) => s.points.length);
    figures.push({
      id: "reward-curves",
      figure: trainingCurvesFigure([
        { title: "training loss", series: series("loss") },
        { title: "held-out patch ρ", series: series("patchRho") },
      ], { title: `reward-model training, seed ${reports[0].seed}` }),
    });
  }
  const dist = r.distributions as
    | Record<string, { video: { mean: number; std: number }; patch: { mean: number; std: number } }>
    | undefined;
  if (dist) {
    html.push(
      "<p>Score distributions on held-out clips (mean ± standard deviation).</p>",
      table(
        ["model", "video scores", "patch scores"],
        Object.entries(dist).map((
          [m, d],
        ) => [
          m,
          `${d.video.mean.toFixed(2)} ± ${d.video.std.toFixed(2)}`,
          `${d.patch.mean.toFixed(2)} ± ${d.patch.std.toFixed(2)}`,
        ]),
      ),
    );
  }
  return {
    stage: "reward",
    title: "Reward models: agreement and training efficiency",
    html: html.join("\n"),
    figures,
  };
}
