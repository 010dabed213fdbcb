/**
 * The results table's statistics (DESIGN §4): per-clip metrics of evaluated
 * clips (`evaluate.ts`), their means per method with 95% percentile bootstrap
 * intervals over prompts and over training seeds when a method has several
 * (both resampled in every replicate), paired comparisons between methods on
 * the same prompts and noise, and the paired defect measure against Base
 * (`defects.ts`: defects fixed and introduced, in total and per kind).
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import type { Interval } from "../core/agreement.ts";
import { SHAPESBENCH_DIMENSIONS } from "../videos/shapes_bench.ts";
import { DEFECT_KINDS } from "../videos/defects.ts";
import type { ClipEvaluation } from "./evaluate.ts";
import { pairedDefects } from "./defects.ts";

/**
 * The per-clip metrics of the results table, by column name: the ShapesBench
 * dimensions, `shapesbench`, `evaluator`, `defectivePatches` (and per defect
 * kind `defectivePatches.<kind>` when the record has `patchDefects`), and the
 * parts of `hiddenDefects` (clips at or above `baseMedian`).
 *
 * @example
 * ```ts
 * import { clipMetrics } from "@halo/kit/eval";
 * const bench = { color: 1, shape: 1, count: 1, direction: 1, temporal: 1, background: 1, artefacts: 0.5, overall: 0.9 };
 * const m = clipMetrics({ prompt: "p", promptIndex: 0, seed: 0, bench, evaluator: 3, judgeWorst: 1, defectivePatches: 0.5,
 *   prmWorstDefective: null, patchDefects: ["blur", null] }, 2.5);
 * console.log(m["defectivePatches.blur"], m.highScoring); // 0.5 1
 * ```
 */
export function clipMetrics(
  clip: ClipEvaluation,
  baseMedian: number,
): Record<string, number> {
  const high = clip.evaluator >= baseMedian;
  const kinds = clip.patchDefects;
  return {
    ...Object.fromEntries(SHAPESBENCH_DIMENSIONS.map((d) => [d, clip.bench[d]])),
    shapesbench: clip.bench.overall,
    evaluator: clip.evaluator,
    highScoring: high ? 1 : 0,
    highDefectivePatches: high ? clip.defectivePatches : 0,
    defectivePatches: clip.defectivePatches,
    ...(kinds
      ? Object.fromEntries(
        DEFECT_KINDS.map((k) => [
          `defectivePatches.${k}`,
          kinds.filter((x) => x === k).length / kinds.length,
        ]),
      )
      : {}),
    ...(clip.prmWorstDefective === null ? {} : { prmPrecision: clip.prmWorstDefective ? 1 : 0 }),
  };
}

/**
 * Counts of the paired defect measure of one clip against the reference
 * model's clip from the same noise (`_`-prefixed: parts of ratios, not shown).
 */
function pairedCounts(
  where: string,
  clip: ClipEvaluation,
  reference: ClipEvaluation,
): Record<string, number> {
  if (!clip.patchDefects || !reference.patchDefects) {
    fail(
      `${where} (prompt ${clip.promptIndex}, seed ${clip.seed})`,
      "clip records with patchDefects (an evaluation cache made before them: run evaluateModel " +
        "on it again, it measures those clips anew)",
      "none",
    );
  }
  const d = pairedDefects(reference.patchDefects, clip.patchDefects);
  const out: Record<string, number> = {
    _baseDefective: d.baseDefective,
    _baseClean: d.baseClean,
    _fixed: d.fixed.length,
    _introduced: d.introduced.length,
  };
  for (const k of DEFECT_KINDS) {
    out[`_baseDefective.${k}`] = d.byKind[k].baseDefective;
    out[`_fixed.${k}`] = d.byKind[k].fixed;
    out[`_introduced.${k}`] = d.byKind[k].introduced;
  }
  return out;
}

/** Metrics that are ratios of two per-clip metrics' means. */
const RATIOS: Record<string, [string, string]> = {
  hiddenDefects: ["highDefectivePatches", "highScoring"],
};

/** The paired defect measure's ratios (rows other than the reference's). */
const PAIRED_RATIOS: Record<string, [string, string]> = {
  defectsFixed: ["_fixed", "_baseDefective"],
  defectsIntroduced: ["_introduced", "_baseClean"],
  ...Object.fromEntries(DEFECT_KINDS.flatMap((k) => [
    [`defectsFixed.${k}`, [`_fixed.${k}`, `_baseDefective.${k}`]],
    [`defectsIntroduced.${k}`, [`_introduced.${k}`, "_baseClean"]],
  ])),
};

/** The median of the base model's evaluator scores: the bar of the defect share. */
export function evaluatorMedian(clips: readonly ClipEvaluation[]): number {
  if (clips.length === 0) fail("evaluatorMedian", "at least one clip", 0);
  const s = clips.map((c) => c.evaluator).sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One method's evaluated clips: one list per training seed, on the same prompts and sampling seeds. */
export interface MethodEvaluation {
  /** Row name, e.g. "HALO (video + patch)". */
  method: string;
  /** Clips per training seed (the base model: one list). */
  runs: ClipEvaluation[][];
}

/** A results-table row: every metric with its interval. */
export interface ResultsRow {
  /** Method name. */
  method: string;
  /** Training seeds. */
  seeds: number;
  /** Metric → estimate with a 95% interval. */
  metrics: Record<string, Interval>;
}

/** A paired difference between two methods. */
export interface Comparison {
  /** "A − B". */
  name: string;
  /** Metric compared. */
  metric: string;
  /** Difference with its 95% interval. */
  difference: Interval;
  /** Relative difference (A − B)/B with its interval, for shares (absent where B is a constant). */
  relative?: Interval;
}

/** One term of a {@linkcode SummaryTable}'s `combine`: weight × a method's metric. */
export interface ContrastTerm {
  /** Method name. */
  method: string;
  /** Metric key. */
  metric: string;
  /** Weight (e.g. 1 and −2 for "fixed − 2 × introduced"). */
  weight: number;
}

/** What {@linkcode summariseResults} returns. */
export interface SummaryTable {
  /** One row per method, every metric with its interval. */
  rows: ResultsRow[];
  /** A paired difference A − B on one metric, absolute and relative to B. */
  compare(a: string, b: string, metric: string): Required<Comparison>;
  /** A weighted sum of methods' metrics, with its paired interval (same resampled prompts and seeds). */
  combine(terms: readonly ContrastTerm[]): Interval;
}

/** Options of {@linkcode summariseResults}. */
export interface SummariseOptions {
  /** Median evaluator score of the base model (the bar of `hiddenDefects`). */
  baseMedian: number;
  /**
   * The method the paired defect measure compares against (Base): every other
   * row gets `defectsFixed` and `defectsIntroduced`, in total and per kind.
   * Default: none (no paired defect measure).
   */
  reference?: string;
  /** Bootstrap resamples. Default 1000. */
  resamples?: number;
  /** Bootstrap seed. Default 0. */
  seed?: number;
}

/**
 * Per-(seed, prompt) means of each metric: `[seed][prompt] → metrics`; with a
 * `reference` run (same layout), the paired defect counts against its clips too.
 */
function cellMeans(
  m: MethodEvaluation,
  options: { baseMedian: number; prompts: number; reference?: ClipEvaluation[] },
): Array<Array<Record<string, number>>> {
  const { baseMedian, prompts, reference } = options;
  return m.runs.map((clips) => {
    const cells: Array<Record<string, number>[]> = Array.from({ length: prompts }, () => []);
    clips.forEach((c, i) => {
      const paired = reference ? pairedCounts("summariseResults", c, reference[i]) : {};
      cells[c.promptIndex].push({ ...clipMetrics(c, baseMedian), ...paired });
    });
    return cells.map((list) => {
      const out: Record<string, number> = {};
      for (const k of Object.keys(list[0] ?? {})) {
        out[k] = list.reduce((s, r) => s + r[k], 0) / list.length;
      }
      return out;
    });
  });
}

function checkRuns(methods: readonly MethodEvaluation[]): number {
  if (methods.length === 0) fail("summariseResults", "at least one method", 0);
  const ref = methods[0].runs[0];
  if (!ref?.length) fail("summariseResults", `clips for ${methods[0].method}`, ref);
  const layout = (clips: ClipEvaluation[]) => clips.map((c) => `${c.promptIndex}/${c.seed}`).join();
  for (const m of methods) {
    for (const run of m.runs) {
      if (layout(run) !== layout(ref)) {
        fail(
          "summariseResults",
          `${m.method} evaluated on the same prompts and sampling seeds as ${methods[0].method}`,
          `${run.length} clips in another layout`,
        );
      }
    }
  }
  return Math.max(...ref.map((c) => c.promptIndex)) + 1;
}

/**
 * The results table (one row per method, every metric with a 95% interval:
 * bootstrap over prompts and training seeds) and paired comparisons between
 * methods (each replicate resamples the same prompts for both methods). With
 * `reference`, every other row also gets the paired defect measure against
 * the reference's clips from the same noise (`defects.ts`): ratios of sums
 * over the resampled prompts and seeds.
 *
 * @example
 * ```ts
 * import { summariseResults } from "@halo/kit";
 * const clip = (evaluator: number, color: number) => ({
 *   prompt: "p", promptIndex: 0, seed: 0, evaluator, judgeWorst: 1, defectivePatches: 0.5, prmWorstDefective: true,
 *   bench: { color, shape: 0, count: 0, direction: 0, temporal: 1, background: 1, artefacts: 0.5, overall: 0.5 },
 * });
 * const t = summariseResults([{ method: "Base", runs: [[clip(3, 0)]] }, { method: "HALO", runs: [[clip(3.5, 1)]] }],
 *   { baseMedian: 3, resamples: 50 });
 * console.log(t.rows[1].metrics.color.estimate); // 1
 * ```
 */
export function summariseResults(
  methods: readonly MethodEvaluation[],
  options: SummariseOptions,
): SummaryTable {
  const baseMedian = checkNumber("summariseResults", "baseMedian", options.baseMedian);
  const resamples = checkInt("summariseResults", "resamples", options.resamples ?? 1000, 1);
  const prompts = checkRuns(methods);
  const refName = options.reference;
  const ref = refName === undefined ? undefined : methods.find((m) => m.method === refName);
  if (refName !== undefined && ref?.runs.length !== 1) {
    fail("summariseResults", "reference to name a method of the table with one run", refName);
  }
  const cells = new Map(methods.map((m) => [
    m.method,
    cellMeans(m, {
      baseMedian,
      prompts,
      reference: ref && m !== ref ? ref.runs[0] : undefined,
    }),
  ]));
  const ratios = (method: string) =>
    ref && method !== ref.method ? { ...RATIOS, ...PAIRED_RATIOS } : RATIOS;
  const metricsOf = (method: string) => [
    ...Object.keys(cells.get(method)![0][0]).filter((k) => !k.startsWith("_")),
    ...Object.keys(ratios(method)),
  ];
  // One replicate = seeds of each method and prompts (shared) drawn with replacement.
  const draws: Array<{ prompts: Int32Array; seeds: Map<string, Int32Array> }> = [];
  const rng = createRng(options.seed ?? 0);
  for (let r = 0; r < resamples; r++) {
    const p = Int32Array.from({ length: prompts }, () => rng.int(prompts));
    const seeds = new Map(
      methods.map((m) => [m.method, Int32Array.from(m.runs, () => rng.int(m.runs.length))]),
    );
    draws.push({ prompts: p, seeds });
  }
  const allPrompts = Int32Array.from({ length: prompts }, (_, i) => i);
  const statistic = (method: string, metric: string, p: Int32Array, s: Int32Array): number => {
    const ratio = ratios(method)[metric];
    if (ratio) return statistic(method, ratio[0], p, s) / statistic(method, ratio[1], p, s);
    const c = cells.get(method)!;
    let total = 0;
    for (const si of s) for (const pi of p) total += c[si][pi][metric];
    return total / (s.length * p.length);
  };
  const interval = (f: (p: Int32Array, s: (m: string) => Int32Array) => number): Interval => {
    const estimate = f(allPrompts, (m) => Int32Array.from(cells.get(m)!, (_, i) => i));
    const values = draws.map((d) => f(d.prompts, (m) => d.seeds.get(m)!)).filter(Number.isFinite)
      .sort((a, b) => a - b);
    const q = (x: number) => {
      const pos = x * (values.length - 1);
      const lo = Math.floor(pos), hi = Math.ceil(pos);
      return values[lo] + (values[hi] - values[lo]) * (pos - lo);
    };
    return { estimate, lo: q(0.025), hi: q(0.975), resamples: values.length };
  };
  const rows = methods.map((m) => ({
    method: m.method,
    seeds: m.runs.length,
    metrics: Object.fromEntries(
      metricsOf(m.method).map((
        k,
      ) => [k, interval((p, s) => statistic(m.method, k, p, s(m.method)))]),
    ),
  }));
  const check = (where: string, method: string, metric: string) => {
    if (!cells.has(method)) fail(where, "a method of the table", method);
    if (!metricsOf(method).includes(metric)) {
      fail(where, `a metric of ${method} among ${metricsOf(method)}`, metric);
    }
  };
  const combine = (terms: readonly ContrastTerm[]): Interval => {
    if (!Array.isArray(terms) || terms.length === 0) fail("combine", "at least one term", terms);
    for (const t of terms) {
      check("combine", t?.method, t?.metric);
      checkNumber("combine", "weight", t.weight);
    }
    return interval((p, s) =>
      terms.reduce((sum, t) => sum + t.weight * statistic(t.method, t.metric, p, s(t.method)), 0)
    );
  };
  const compare = (a: string, b: string, metric: string): Required<Comparison> => {
    for (const name of [a, b]) check("compare", name, metric);
    return {
      name: `${a} − ${b}`,
      metric,
      difference: interval((p, s) => statistic(a, metric, p, s(a)) - statistic(b, metric, p, s(b))),
      relative: interval((p, s) => {
        const base = statistic(b, metric, p, s(b));
        return (statistic(a, metric, p, s(a)) - base) / base;
      }),
    };
  };
  return { rows, compare, combine };
}
