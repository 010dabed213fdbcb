/**
 * The results table of the reproduction: Base, Diffusion-DPO (video only),
 * Gran-DPO patch-only and HALO (video + patch) as rows; ShapesBench, the
 * evaluator RM and the patch-defect share as columns, each a mean with a 95%
 * interval (`lib/eval/evaluate.ts`); the paper's claims checked as paired differences;
 * and its Markdown and JSON forms (`out/results.md`, `out/results.json`).
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { Interval } from "../core/agreement.ts";
import {
  type ClipEvaluation,
  type Comparison,
  evaluatorMedian,
  type MethodEvaluation,
  type ResultsRow,
  summariseResults,
} from "./evaluate.ts";
import { SHAPESBENCH_DIMENSIONS } from "../videos/shapes_bench.ts";

/** The four rows of the paper's table, in order. */
export const RESULT_METHODS = {
  base: "Base",
  dpo: "Diffusion-DPO (video)",
  "patch-only": "Gran-DPO patch-only",
  grandpo: "HALO (video + patch)",
} as const;

/** A claim of the paper, checked on the table. */
export interface Claim {
  /** The claim in words. */
  claim: string;
  /** The paired comparison it rests on. */
  comparison: Comparison;
  /** What "holds" requires. */
  rule: string;
  /** Whether the interval supports it. */
  holds: boolean;
}

/** Everything `out/results.json` holds. */
export interface HaloResults {
  /** Rows of the table. */
  rows: ResultsRow[];
  /** The paper's claims, checked. */
  claims: Claim[];
  /** The median evaluator score of Base clips (the defect share's bar). */
  baseMedian: number;
  /** Settings and seeds that made the table. */
  config: Record<string, unknown>;
}

/** The table's columns: metric key, header, and whether lower is better. */
export const RESULT_COLUMNS: ReadonlyArray<{ key: string; header: string; lower?: boolean }> = [
  { key: "shapesbench", header: "ShapesBench overall" },
  { key: "evaluator", header: "Evaluator RM (1–4)" },
  { key: "defectShare", header: "Patch-defect share", lower: true },
  { key: "hiddenDefects", header: "Defective patches of clips ≥ Base median", lower: true },
  { key: "defectivePatches", header: "Defective patches", lower: true },
  ...SHAPESBENCH_DIMENSIONS.map((d) => ({ key: d, header: d })),
  { key: "prmPrecision", header: "PRM worst-patch precision" },
];

/** Options of {@linkcode haloResults}. */
export interface HaloResultsOptions {
  /** Bootstrap resamples. Default 1000. */
  resamples?: number;
  /** Settings to record. */
  config?: Record<string, unknown>;
}

/**
 * Builds the table and checks the paper's claims from evaluated clips: `base`
 * (one list) and each method's clips per training seed.
 *
 * @example
 * ```ts
 * import { haloResults } from "@halo/kit";
 * const clip = (evaluator: number, v: number) => ({
 *   prompt: "p", promptIndex: 0, seed: 0, evaluator, judgeWorst: v > 0.5 ? 3 : 1, defectivePatches: 1 - v, prmWorstDefective: true,
 *   bench: { color: v, shape: v, count: v, direction: v, temporal: v, background: v, artefacts: v, overall: v },
 * });
 * const r = haloResults({ base: [clip(3, 0)], methods: { dpo: [[clip(3, 0.2)]], "patch-only": [[clip(3, 0.4)]], grandpo: [[clip(3.2, 0.8)]] } }, { resamples: 20 });
 * console.log(r.rows.map((row) => row.method)); // ["Base", "Diffusion-DPO (video)", "Gran-DPO patch-only", "HALO (video + patch)"]
 * ```
 */
export function haloResults(
  clips: {
    base: ClipEvaluation[];
    methods: Partial<Record<"dpo" | "patch-only" | "grandpo", ClipEvaluation[][]>>;
  },
  options: HaloResultsOptions = {},
): HaloResults {
  if (!clips?.base?.length) fail("haloResults", "clips of the base model", clips?.base);
  const methods: MethodEvaluation[] = [{ method: RESULT_METHODS.base, runs: [clips.base] }];
  for (const key of ["dpo", "patch-only", "grandpo"] as const) {
    const runs = clips.methods[key];
    if (runs?.length) methods.push({ method: RESULT_METHODS[key], runs });
  }
  const baseMedian = evaluatorMedian(clips.base);
  const table = summariseResults(methods, { baseMedian, resamples: options.resamples ?? 1000 });
  const has = (name: string) => methods.some((m) => m.method === name);
  const claims: Claim[] = [];
  const above = (claim: string, a: string, b: string, metric: string) => {
    if (!has(a) || !has(b)) return;
    const comparison = table.compare(a, b, metric);
    claims.push({
      claim,
      comparison,
      rule: "the 95% interval of the paired difference is above 0",
      holds: comparison.difference.lo > 0,
    });
  };
  const { base, dpo, grandpo: halo } = RESULT_METHODS;
  const patch = RESULT_METHODS["patch-only"];
  for (const [metric, name] of [["shapesbench", "ShapesBench"], ["evaluator", "evaluator RM"]]) {
    above(`HALO above Base (${name})`, halo, base, metric);
    above(`HALO above Diffusion-DPO (${name})`, halo, dpo, metric);
    above(`HALO above patch-only: the video term matters (${name})`, halo, patch, metric);
    above(`patch-only above Base: the patch term carries signal (${name})`, patch, base, metric);
  }
  if (has(halo)) {
    for (
      const [metric, what] of [
        ["defectShare", "the patch-defect share"],
        ["hiddenDefects", "the defective patches of clips at or above the Base median"],
      ]
    ) {
      const comparison = table.compare(halo, base, metric);
      claims.push({
        claim: `HALO cuts ${what} by at least 30% relative to Base`,
        comparison,
        rule: "relative change ≤ −30% and the interval of the difference below 0",
        holds: comparison.relative.estimate <= -0.3 && comparison.difference.hi < 0,
      });
    }
  }
  return { rows: table.rows, claims, baseMedian, config: options.config ?? {} };
}

function cell(i: Interval | undefined, digits = 3): string {
  if (!i) return "–";
  return `${i.estimate.toFixed(digits)} [${i.lo.toFixed(digits)}, ${i.hi.toFixed(digits)}]`;
}

/**
 * The results as Markdown: the main table, the ShapesBench dimensions, and
 * the claims with their paired differences.
 *
 * @example
 * ```ts
 * import { formatResults, haloResults } from "@halo/kit";
 * const clip = (v: number) => ({ prompt: "p", promptIndex: 0, seed: 0, evaluator: 3, judgeWorst: 1, defectivePatches: 0.5, prmWorstDefective: null,
 *   bench: { color: v, shape: v, count: v, direction: v, temporal: v, background: v, artefacts: v, overall: v } });
 * console.log(formatResults(haloResults({ base: [clip(0.5)], methods: { grandpo: [[clip(0.6)]] } }, { resamples: 10 })).split("\n")[0]);
 * ```
 */
export function formatResults(results: HaloResults): string {
  const main = RESULT_COLUMNS.slice(0, 5);
  const dims = RESULT_COLUMNS.slice(5);
  const table = (cols: typeof RESULT_COLUMNS) => [
    `| method | seeds | ${cols.map((c) => c.header + (c.lower ? " ↓" : "")).join(" | ")} |`,
    `| --- | --- | ${cols.map(() => "---").join(" | ")} |`,
    ...results.rows.map((r) =>
      `| ${r.method} | ${r.seeds} | ${cols.map((c) => cell(r.metrics[c.key])).join(" | ")} |`
    ),
  ];
  const claims = results.claims.map((c) => {
    const d = c.comparison.difference, rel = c.comparison.relative;
    return `| ${c.claim} | ${c.comparison.name} | ${c.comparison.metric} | ${cell(d)} | ${
      cell(rel, 2)
    } | ${c.holds ? "**holds**" : "does not hold"} |`;
  });
  return [
    "## Results (mean [95% interval]; bootstrap over prompts and training seeds)",
    "",
    ...(Object.keys(results.config).length
      ? ["Made with: `" + JSON.stringify(results.config) + "`", ""]
      : []),
    ...table(main),
    "",
    "### ShapesBench dimensions",
    "",
    ...table(dims),
    "",
    `Patch-defect share: clips whose evaluator score is at or above the Base median (${
      results.baseMedian.toFixed(3)
    }) and whose worst patch the reference judge finds defective (any aspect ≤ 2). ` +
    "Defective patches of clips ≥ Base median: the share of the judge's defective patches " +
    "within those clips.",
    "",
    "### The paper's claims (paired differences on the same prompts and noise)",
    "",
    "| claim | comparison | metric | difference | relative | verdict |",
    "| --- | --- | --- | --- | --- | --- |",
    ...claims,
    "",
  ].join("\n");
}
