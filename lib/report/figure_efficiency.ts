/**
 * The reward models' training-efficiency figure (the paper's "continual training is faster"
 * claim over several seeds): {@linkcode efficiencyFigure} draws a summary of
 * `train-rm --seeds` (made by `summariseEfficiency`), and
 * {@linkcode efficiencyFigureOf} reads one from an output or ship folder. The report and
 * `deno task figure --efficiency` draw it from here.
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import { type CurveSeries, type Figure, trainingCurvesFigure } from "./figure.ts";
import type { CurvePoint } from "../reward/train.ts";
import type { EfficiencySummary, SeedCurves, SeedReport } from "../reward/seeds.ts";

const CONTINUAL = "continual (from VRM)", SCRATCH = "from scratch";

/**
 * The efficiency experiment as a figure: every seed's held-out patch-ρ curve of
 * both arms (thin) and their mean (thick), on a square-root step axis. A
 * summary written before per-seed curves were kept draws the means at its
 * budgets instead, with the curves of whatever seed reports are passed.
 *
 * @example
 * ```ts
 * import { efficiencyFigure } from "@halo/kit";
 * import { summariseEfficiency } from "@halo/kit/reward";
 * const curve = (k: number) => [0, 10, 20].map((step) => ({ step, loss: 0, seconds: 0, patchRho: k * step }));
 * const runs = [0, 1].map((seed) => ({ seed, report: { curves: { prm: curve(0.02), prm_scratch: curve(0.01) } } as never }));
 * const fig = efficiencyFigure(summariseEfficiency(runs, { resamples: 10 }));
 * console.log(fig.data.length); // 6
 * ```
 */
export function efficiencyFigure(
  summary: EfficiencySummary,
  reports: readonly SeedReport[] = [],
): Figure {
  if (!summary || !Array.isArray(summary.seeds) || !Array.isArray(summary.budgets)) {
    fail("efficiencyFigure", "an efficiency summary (efficiency.json)", summary);
  }
  const rho = (c: readonly CurvePoint[] | undefined) =>
    (c ?? []).filter((p) => typeof p.patchRho === "number").map((p) => ({
      step: p.step,
      value: p.patchRho!,
    }));
  const complete = summary.curves?.length === summary.seeds.length;
  const curves: SeedCurves[] = complete ? summary.curves! : reports.map((r) => ({
    seed: r.seed,
    continual: rho(r.report?.curves?.prm),
    scratch: rho(r.report?.curves?.prm_scratch),
  }));
  const series: CurveSeries[] = curves.flatMap((c) => [
    { name: `continual, seed ${c.seed}`, group: CONTINUAL, points: c.continual },
    { name: `scratch, seed ${c.seed}`, group: SCRATCH, points: c.scratch },
  ]);
  if (!complete) {
    const n = summary.seeds.length;
    series.push(
      {
        name: `${CONTINUAL}, mean of ${n} seeds`,
        group: CONTINUAL,
        points: summary.budgets.map((b) => ({ step: b.step, value: b.continual })),
      },
      {
        name: `${SCRATCH}, mean of ${n} seeds`,
        group: SCRATCH,
        points: summary.budgets.map((b) => ({ step: b.step, value: b.scratch })),
      },
    );
  }
  if (!series.length) fail("efficiencyFigure", "curves in the summary or seed reports", "none");
  const seeds = summary.seeds.length;
  const title = complete
    ? `held-out patch ρ, ${seeds} seeds (thin: each seed, thick: mean)`
    : `held-out patch ρ: mean of ${seeds} seeds at fixed budgets` +
      (curves.length ? `; full curve of seed ${curves.map((c) => c.seed).join(", ")}` : "");
  const fig = trainingCurvesFigure([{ title, series, yTitle: "Spearman ρ vs the reference" }], {
    xTitle: "stage-2 step",
    xScale: "sqrt",
    mean: complete,
    columns: 1,
  });
  if (!complete) {
    for (const t of fig.data) {
      const means = String(t.name).includes("mean of");
      t.opacity = means ? 1 : 0.5;
      (t.line as Record<string, unknown>).width = means ? 3 : 1.2;
      if (means) t.mode = "lines+markers";
      t.showlegend = means;
    }
  }
  fig.layout.height = 440;
  return fig;
}

/**
 * The efficiency figure of a `train-rm --seeds` output or ship folder: its
 * `efficiency.json`, plus `report.json` (the shipped seed) and
 * `seed-<n>/report.json` curves when the summary predates per-seed curves.
 */
export async function efficiencyFigureOf(dir: string): Promise<Figure> {
  const file = join(dir, "efficiency.json");
  if (!(await pathExists(file))) {
    fail(`figure --efficiency ${dir}`, "a folder with efficiency.json", "none");
  }
  const summary = JSON.parse(await Deno.readTextFile(file)) as EfficiencySummary;
  const reports: SeedReport[] = [];
  for (const seed of summary.seeds ?? []) {
    for (const path of [join(dir, `seed-${seed}`, "report.json"), join(dir, "report.json")]) {
      if (!(await pathExists(path))) continue;
      const report = JSON.parse(await Deno.readTextFile(path));
      if (report?.facts?.seed === seed) {
        reports.push({ seed, report });
        break;
      }
    }
  }
  return efficiencyFigure(summary, reports);
}
