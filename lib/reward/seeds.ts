/**
 * The paper's "training efficiency" claim over several seeds: continual
 * training of the PRM from the VRM against the same PRM trained from scratch.
 *
 * One seed of `train-rm` gives two noisy curves (held-out patch ρ every few
 * stage-2 steps); whether one arm is "faster" flips with the seed. This module
 * runs the whole experiment once per seed (data, VRM, continual PRM, scratch
 * PRM; each run resumable on its own) and summarises the paired curves:
 *
 * - **steps to threshold** — per seed, the first evaluated step whose patch ρ
 *   reaches each absolute threshold, the median over seeds, and in how many
 *   seeds each arm got there first;
 * - **ρ at fixed steps** — mean over seeds of each arm's patch ρ at a few
 *   budgets, and of their paired difference with a 95% bootstrap interval over
 *   seeds (few seeds make that interval coarse; it is reported, not hidden);
 * - **final agreement per seed** — every method's held-out ρ in every seed, so
 *   "the PRM beats the broadcast VRM" is checked beyond the one shipped seed.
 *
 * The paper reports the claim without a protocol; absolute thresholds, paired
 * seeds and these budgets are our reconstruction (DESIGN §2).
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../core/_atomic.ts";
import { checkInt, fail } from "../core/_errors.ts";
import {
  type AgreementRow,
  bootstrapInterval,
  formatInterval,
  type Interval,
} from "../core/agreement.ts";
import type { CurvePoint } from "./train.ts";
import {
  firstStepReaching,
  type RewardReport,
  trainRewardModels,
  type TrainRewardModelsOptions,
} from "./experiment.ts";

/** One seed's finished experiment. */
export interface SeedReport {
  /** The seed of data, weights and batches. */
  seed: number;
  /** Its report (must hold the `prm` and `prm_scratch` curves). */
  report: RewardReport;
}

/** Steps to one patch-ρ threshold, per seed and summarised. */
export interface ThresholdRow {
  /** Held-out patch ρ to reach. */
  threshold: number;
  /** First step of the continual PRM at or above it, per seed (null = never). */
  continual: Array<number | null>;
  /** Same for the from-scratch PRM. */
  scratch: Array<number | null>;
  /** Median over seeds, "never" counted as last (null when the median is never). */
  medianContinual: number | null;
  /** Median over seeds for the from-scratch PRM. */
  medianScratch: number | null;
  /** Seeds where the continual PRM got there strictly first. */
  continualFirst: number;
  /** Seeds where the from-scratch PRM got there strictly first. */
  scratchFirst: number;
  /** Seeds where both got there at the same step, or neither did. */
  ties: number;
}

/** Patch ρ of both arms at one stage-2 step. */
export interface BudgetRow {
  /** Stage-2 step. */
  step: number;
  /** Mean over seeds of the continual PRM's patch ρ. */
  continual: number;
  /** Mean over seeds of the from-scratch PRM's patch ρ. */
  scratch: number;
  /** Mean paired difference (continual − scratch), 95% bootstrap interval over seeds. */
  difference: Interval;
  /** Seeds where the continual PRM is ahead. */
  continualAhead: number;
}

/** One method's held-out Spearman ρ (vs the reference judge) in every seed. */
export interface SeedAgreementRow {
  /** Method, as in the per-seed agreement report. */
  method: string;
  /** "patch" or "video". */
  level: "patch" | "video";
  /** Point estimate per seed (NaN where a seed's report lacks the row). */
  spearman: number[];
  /** Mean over seeds. */
  mean: number;
  /** Smallest and largest over seeds. */
  range: [number, number];
}

/** What {@linkcode summariseEfficiency} returns. */
export interface EfficiencySummary {
  /** Seeds, in the order of the per-seed arrays. */
  seeds: number[];
  /** Stage-2 steps of every run. */
  patchSteps: number;
  /** Steps to each threshold. */
  thresholds: ThresholdRow[];
  /** Patch ρ at fixed budgets. */
  budgets: BudgetRow[];
  /** Final agreement of every method per seed (from each report's agreement table). */
  agreement: SeedAgreementRow[];
  /** Every seed's held-out patch-ρ curves of both arms (absent in summaries written before them). */
  curves?: SeedCurves[];
}

/** One seed's held-out patch-ρ curves over stage-2 steps. */
export interface SeedCurves {
  /** The seed. */
  seed: number;
  /** The PRM continued from the VRM: held-out patch ρ (`value`) at each evaluated `step`. */
  continual: Array<{ step: number; value: number }>;
  /** The PRM trained from scratch, the same way. */
  scratch: Array<{ step: number; value: number }>;
}

/** Options for {@linkcode summariseEfficiency}. */
export interface EfficiencyOptions {
  /**
   * Absolute patch-ρ thresholds. Default 0.10, 0.15, … up to the highest value
   * either arm reached in any seed.
   */
  thresholds?: number[];
  /** Stage-2 steps to compare at. Default 10, 20, 50, 100, 200, 400 and the last step. */
  budgets?: number[];
  /** Bootstrap resamples over seeds. Default 2000. */
  resamples?: number;
}

/** Patch ρ of the last evaluated point at or before `step` (NaN when there is none). */
function rhoAt(curve: readonly CurvePoint[], step: number): number {
  let value = NaN;
  for (const p of curve) {
    if (p.step > step) break;
    if (p.patchRho !== undefined) value = p.patchRho;
  }
  return value;
}

/** Median with `null` as +∞; null when the median itself is +∞. */
function medianSteps(steps: ReadonlyArray<number | null>): number | null {
  const sorted = steps.map((s) => s ?? Infinity).sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const m = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return Number.isFinite(m) ? m : null;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function curvesOf(run: SeedReport, index: number): { prm: CurvePoint[]; scratch: CurvePoint[] } {
  const prm = run?.report?.curves?.prm, scratch = run?.report?.curves?.prm_scratch;
  if (!Array.isArray(prm) || !Array.isArray(scratch) || !prm.length || !scratch.length) {
    fail(
      `summariseEfficiency runs[${index}] (seed ${run?.seed})`,
      "a report with both the prm and prm_scratch curves (train-rm --ablation)",
      Object.keys(run?.report?.curves ?? {}).join(", ") || "no curves",
    );
  }
  return { prm, scratch };
}

/**
 * Summarises continual vs from-scratch stage-2 curves over seeds: steps to
 * absolute patch-ρ thresholds and paired ρ differences at fixed budgets.
 *
 * @example
 * ```ts
 * import { summariseEfficiency } from "@halo/kit/reward";
 * const curve = (rhos: number[]) => rhos.map((patchRho, i) => ({ step: i * 10, loss: 0, seconds: 0, patchRho }));
 * const run = (seed: number, a: number[], b: number[]) => ({
 *   seed,
 *   report: { curves: { prm: curve(a), prm_scratch: curve(b) } } as never,
 * });
 * const s = summariseEfficiency([run(0, [0, 0.2, 0.3], [0, 0.1, 0.3]), run(1, [0, 0.15, 0.3], [0, 0.2, 0.3])], { thresholds: [0.15] });
 * console.log(s.thresholds[0].continual, s.thresholds[0].scratch); // [ 10, 10 ] [ 20, 10 ]
 * ```
 */
export function summariseEfficiency(
  runs: readonly SeedReport[],
  options: EfficiencyOptions = {},
): EfficiencySummary {
  if (!Array.isArray(runs) || runs.length === 0) {
    fail("summariseEfficiency", "a non-empty array of seed reports", runs);
  }
  const curves = runs.map(curvesOf);
  const patchSteps = Math.min(
    ...curves.map((c) => Math.min(c.prm.at(-1)!.step, c.scratch.at(-1)!.step)),
  );
  const best = Math.max(
    ...curves.flatMap((c) => [...c.prm, ...c.scratch].map((p) => p.patchRho ?? -Infinity)),
  );
  const thresholds = options.thresholds ??
    Array.from(
      { length: Math.max(0, Math.floor((best - 0.1) / 0.05 + 1e-9) + 1) },
      (_, i) => Number((0.1 + 0.05 * i).toFixed(2)),
    );
  const resamples = checkInt("summariseEfficiency", "resamples", options.resamples ?? 2000, 1);
  const budgets = [...new Set(options.budgets ?? [10, 20, 50, 100, 200, 400, patchSteps])]
    .filter((s) => s <= patchSteps).sort((a, b) => a - b);
  const agreement: SeedAgreementRow[] = [];
  for (const row of runs[0].report.agreement ?? []) {
    const spearman = runs.map((r) =>
      r.report.agreement?.find((x: AgreementRow) =>
        x.method === row.method && x.level === row.level
      )?.spearman
        .estimate ?? NaN
    );
    const finite = spearman.filter(Number.isFinite);
    agreement.push({
      method: row.method,
      level: row.level,
      spearman,
      mean: finite.length ? mean(finite) : NaN,
      range: finite.length ? [Math.min(...finite), Math.max(...finite)] : [NaN, NaN],
    });
  }
  const rhoPoints = (c: readonly CurvePoint[]) =>
    c.filter((p) => p.patchRho !== undefined).map((p) => ({ step: p.step, value: p.patchRho! }));
  return {
    seeds: runs.map((r) => r.seed),
    patchSteps,
    agreement,
    curves: runs.map((r, i) => ({
      seed: r.seed,
      continual: rhoPoints(curves[i].prm),
      scratch: rhoPoints(curves[i].scratch),
    })),
    thresholds: thresholds.map((threshold) => {
      const continual = curves.map((c) => firstStepReaching(c.prm, threshold));
      const scratch = curves.map((c) => firstStepReaching(c.scratch, threshold));
      let continualFirst = 0, scratchFirst = 0;
      continual.forEach((c, i) => {
        const a = c ?? Infinity, b = scratch[i] ?? Infinity;
        if (a < b) continualFirst++;
        else if (b < a) scratchFirst++;
      });
      return {
        threshold,
        continual,
        scratch,
        medianContinual: medianSteps(continual),
        medianScratch: medianSteps(scratch),
        continualFirst,
        scratchFirst,
        ties: runs.length - continualFirst - scratchFirst,
      };
    }),
    budgets: budgets.map((step) => {
      const a = curves.map((c) => rhoAt(c.prm, step)),
        b = curves.map((c) => rhoAt(c.scratch, step));
      const diff = a.map((x, i) => x - b[i]);
      return {
        step,
        continual: mean(a),
        scratch: mean(b),
        difference: bootstrapInterval(diff.length, (idx) => mean(Array.from(idx, (i) => diff[i])), {
          resamples,
        }),
        continualAhead: diff.filter((d) => d > 0).length,
      };
    }),
  };
}

/**
 * Formats an {@linkcode EfficiencySummary} as Markdown tables.
 *
 * @example
 * ```ts
 * import { formatEfficiency } from "@halo/kit";
 * const md = formatEfficiency({ seeds: [0], patchSteps: 10, thresholds: [], budgets: [], agreement: [] });
 * console.log(md.split("\n")[0]); // ### Stage-2 steps to a held-out patch ρ (1 seeds: 0)
 * ```
 */
export function formatEfficiency(summary: EfficiencySummary): string {
  const n = summary.seeds.length;
  const steps = (s: number | null) => s === null ? "never" : String(s);
  const lines = [
    `### Stage-2 steps to a held-out patch ρ (${n} seeds: ${summary.seeds.join(", ")})`,
    "",
    "| patch ρ ≥ | continual, per seed | scratch, per seed | median continual | median scratch | continual first / scratch first / tie |",
    "|---|---|---|---|---|---|",
    ...summary.thresholds.map((t) =>
      `| ${t.threshold.toFixed(2)} | ${t.continual.map(steps).join(", ")} | ${
        t.scratch.map(steps).join(", ")
      } | ${steps(t.medianContinual)} | ${
        steps(t.medianScratch)
      } | ${t.continualFirst} / ${t.scratchFirst} / ${t.ties} |`
    ),
    "",
    `### Held-out patch ρ at fixed stage-2 budgets (mean over ${n} seeds)`,
    "",
    "| step | continual | scratch | continual − scratch [95% CI over seeds] | seeds with continual ahead |",
    "|---|---|---|---|---|",
    ...summary.budgets.map((b) =>
      `| ${b.step} | ${b.continual.toFixed(3)} | ${b.scratch.toFixed(3)} | ${
        // One seed has no spread to bootstrap: print the difference alone.
        n > 1
          ? formatInterval(b.difference)
          : b.difference.estimate.toFixed(3)} | ${b.continualAhead} of ${n} |`
    ),
  ];
  if (summary.agreement.length) {
    lines.push(
      "",
      `### Final held-out agreement with the reference judge, Spearman ρ per seed (${n} seeds)`,
      "",
      "| method | level | per seed | mean | min–max |",
      "|---|---|---|---|---|",
      ...summary.agreement.map((a) =>
        `| ${a.method} | ${a.level} | ${a.spearman.map((v) => v.toFixed(3)).join(", ")} | ${
          a.mean.toFixed(3)
        } | ${a.range[0].toFixed(3)}–${a.range[1].toFixed(3)} |`
      ),
    );
  }
  return lines.join("\n") + "\n";
}

/** Options for {@linkcode trainRewardSeeds}. */
export interface TrainRewardSeedsOptions extends TrainRewardModelsOptions {
  /** Seeds to run; each gets `<out>/seed-<n>/`. `ship` takes the first seed's models. */
  seeds: number[];
  /** Summary options. */
  summary?: EfficiencyOptions;
}

async function readReport(path: string): Promise<RewardReport | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new Error(`${path}: Expected a train-rm report.json but found unreadable JSON`, {
      cause: error,
    });
  }
}

/**
 * Runs the reward-model experiment (with the from-scratch ablation) once per
 * seed into `<out>/seed-<n>/`, then writes the summary to
 * `<out>/efficiency.{json,md}` (and to `ship` too, with the first seed's
 * models). A seed whose `report.json` exists with the same settings is not
 * re-run, so a killed multi-seed run resumes seed by seed (and inside a seed,
 * stage by stage).
 *
 * @example
 * ```ts ignore
 * import { trainRewardSeeds } from "@halo/kit";
 * const { summary } = await trainRewardSeeds({ seeds: [0, 1, 2], out: "out/reward" });
 * console.log(summary.budgets.at(-1));
 * ```
 */
export async function trainRewardSeeds(
  options: TrainRewardSeedsOptions,
): Promise<{ runs: SeedReport[]; summary: EfficiencySummary }> {
  const where = "trainRewardSeeds";
  const seeds = options?.seeds;
  if (!Array.isArray(seeds) || seeds.length === 0) fail(where, "a non-empty seeds array", seeds);
  seeds.forEach((s, i) => checkInt(where, `seeds[${i}]`, s, 0, 0xffffffff));
  if (new Set(seeds).size !== seeds.length) fail(where, "distinct seeds", seeds.join(","));
  for (const name of ["videoEpochs", "patchEpochs"] as const) {
    if (options[name] !== undefined) fail(where, `steps, not ${name}`, options[name]);
  }
  const out = options.out ?? "out/reward";
  const expected: Record<string, number | undefined> = {
    videoSteps: options.videoSteps ?? 600,
    patchSteps: options.patchSteps ?? 800,
    batchSize: options.batchSize ?? 16,
    train: options.data?.train,
    heldOut: options.data?.heldOut,
  };
  const runs: SeedReport[] = [];
  for (const [i, seed] of seeds.entries()) {
    const dir = join(out, `seed-${seed}`);
    const ship = i === 0 ? options.ship : undefined;
    let report = ship ? null : await readReport(join(dir, "report.json"));
    if (report) {
      for (const [key, value] of Object.entries({ ...expected, seed })) {
        if (value !== undefined && report.facts[key] !== value) {
          fail(
            `${where} ${join(dir, "report.json")}`,
            `${key} ${value} like this run (delete the folder to start over)`,
            `${key} ${JSON.stringify(report.facts[key])}`,
          );
        }
      }
      if (!options.quiet) console.error(`reward seeds: seed ${seed} done before, reusing ${dir}`);
    } else {
      if (!options.quiet) {
        console.error(`reward seeds: seed ${seed} (${i + 1} of ${seeds.length}) in ${dir}`);
      }
      report = await trainRewardModels({
        ...options,
        seed,
        out: dir,
        ship,
        ablation: true,
        fromScratch: false,
      });
    }
    runs.push({ seed, report });
  }
  const summary = summariseEfficiency(runs, options.summary);
  for (const dir of options.ship ? [out, options.ship] : [out]) {
    await writeFileAtomic(join(dir, "efficiency.json"), JSON.stringify(summary, null, 2) + "\n");
    await writeFileAtomic(join(dir, "efficiency.md"), formatEfficiency(summary));
  }
  return { runs, summary };
}
