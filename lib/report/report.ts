/**
 * The offline report of a reproduction: `deno task reproduce` ends by calling
 * {@linkcode writeReport}, which reads whatever stage results exist under
 * `<root>/<stage>/result.json` (and the files they point to) and writes one
 * self-contained `report.html` (plotly.js and every picture inlined, no
 * network) beside the `results.md` and `results.json` that the eval stage
 * writes. Sections appear for the stages present; a missing stage is named
 * with the command that makes it.
 *
 * The `dpo` and `eval` stages are read in the shapes of `report_inputs.ts`.
 * @module
 */

import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { pathExists, readJsonLines, writeFileAtomic } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import {
  type CurvePanel,
  type CurveSeries,
  distributionFigure,
  type Figure,
  logSeries,
  trainingCurvesFigure,
} from "./figure.ts";
import { type ResultRow, resultsFigure } from "./figure_results.ts";
import { defectFigure } from "./figure_defects.ts";
import { defectPairFigure } from "./figure_defect_pairs.ts";
import { toBase64 } from "../labels/images.ts";
import { parseGrid } from "../videos/patch.ts";
import { escapeHtml, figureDiv, htmlPage } from "./plotly.ts";
import { fmt, table } from "./_section.ts";
import { rewardSection } from "./_report_reward.ts";
import { loadVideo } from "../videos/video.ts";
import type {
  DpoPairsInput,
  DpoStageResult,
  EvalStageResult,
  ResultsTableRow,
} from "./report_inputs.ts";
import { RESULT_COLUMNS, RESULT_METHODS } from "../eval/results.ts";

/** The stages the report knows, in order, and the command that makes each. */
export const REPORT_STAGES: readonly string[] = Object.freeze([
  "eval",
  "dpo",
  "reward",
  "labels",
  "generator",
  "world",
  "videos",
]);

export type { ReportSection } from "./_section.ts";
import type { ReportSection } from "./_section.ts";

type Json = Record<string, unknown>;

/** A path written by a stage: as given (relative to where the run was), else beside its result. */
async function locate(root: string, stage: string, path: string): Promise<string | null> {
  if (typeof path !== "string" || path === "") return null;
  const beside = join(root, stage, basename(path));
  const candidates = isAbsolute(path) ? [path, beside] : [path, join(root, stage, path), beside];
  for (const candidate of candidates) if (await pathExists(candidate)) return candidate;
  return null;
}

async function imageTag(root: string, stage: string, path: string, alt: string): Promise<string> {
  const found = await locate(root, stage, path);
  if (!found) return `<p class="note">(${escapeHtml(path)} is missing)</p>`;
  const bytes = await Deno.readFile(found);
  return `<img class="sheet" alt="${escapeHtml(alt)}" src="data:image/png;base64,${
    toBase64(bytes)
  }">`;
}

/** Reads `<root>/<stage>/result.json`; null when absent, an error value when unreadable. */
async function readStage(root: string, stage: string): Promise<Json | { error: string } | null> {
  const path = join(root, stage, "result.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null) throw new Error("not an object");
    return value;
  } catch (error) {
    return {
      error: `${path}: Expected a stage result (JSON object) but found ${(error as Error).message}`,
    };
  }
}

const DPO_KEYS = [
  "loss",
  "rewards/accuracies",
  "rewards/margins",
  "patch/accuracies",
  "rewards/chosen",
  "rewards/rejected",
];

/**
 * The rows of `results.json` (`{method, metrics: {key: interval}}`) as one
 * {@linkcode ResultRow} per method and metric of the table's columns
 * (`RESULT_COLUMNS`; per-kind and helper metrics stay in `results.json`),
 * named by their headers, ready for {@linkcode resultsFigure}.
 *
 * @example
 * ```ts
 * import { resultsTableRows } from "@halo/kit/report";
 * const rows = resultsTableRows([{ method: "HALO", metrics: { defectsFixed: { estimate: 0.4, lo: 0.3, hi: 0.5 } } }]);
 * console.log(rows); // [ { method: "HALO", metric: "Defects fixed (vs Base)", mean: 0.4, lo: 0.3, hi: 0.5 } ]
 * ```
 */
export function resultsTableRows(rows: readonly ResultsTableRow[]): ResultRow[] {
  if (!Array.isArray(rows)) fail("resultsTableRows", "an array of results rows", rows);
  return rows.flatMap((row: ResultsTableRow) =>
    Object.entries(row.metrics ?? {}).filter(([key, i]) =>
      Number.isFinite(i?.estimate) && RESULT_COLUMNS.some((c) => c.key === key)
    ).map((
      [key, i],
    ) => ({
      method: row.method,
      metric: RESULT_COLUMNS.find((c) => c.key === key)?.header ?? key,
      mean: i.estimate,
      lo: Number.isFinite(i.lo) ? Math.min(i.lo, i.estimate) : i.estimate,
      hi: Number.isFinite(i.hi) ? Math.max(i.hi, i.estimate) : i.estimate,
    }))
  );
}

/**
 * The results table as a grouped-bar figure with 95% intervals: the headline
 * metrics (ShapesBench, evaluator RM, defects fixed and introduced against
 * Base, defective patches), or with `part: "more"` the ShapesBench dimensions
 * and the rest. Per-kind metrics (`defectsFixed.blur`, …) stay in `results.md`.
 *
 * @example
 * ```ts
 * import { resultsTableFigure } from "@halo/kit";
 * const fig = resultsTableFigure([{ method: "Base", metrics: { shapesbench: { estimate: 0.5, lo: 0.4, hi: 0.6 } } }]);
 * console.log(fig?.data.length); // 1
 * ```
 */
export function resultsTableFigure(
  rows: readonly ResultsTableRow[],
  part: "headline" | "more" = "headline",
): Figure | null {
  const all = resultsTableRows(rows);
  const headline = new Set(RESULT_COLUMNS.filter((c) => c.headline).map((c) => c.header));
  const pick = all.filter((x) => headline.has(x.metric) === (part === "headline"));
  if (!pick.length) return null;
  return resultsFigure(pick, {
    lowerIsBetter: RESULT_COLUMNS.filter((c) => c.lower).map((c) => c.header),
    title: part === "headline"
      ? "results (95% intervals)"
      : "ShapesBench dimensions and more (95% intervals)",
    columns: 4,
  });
}

/** Result rows from `results` given inline or as the stage's `results.json` (`{rows, claims}`). */
async function resultRows(
  root: string,
  r: EvalStageResult,
): Promise<
  { rows: ResultRow[]; lower: string[]; claims: Array<{ claim: string; holds: boolean }> }
> {
  const where = `${root}/eval/result.json: results`;
  if (!Array.isArray(r.results)) fail(where, "an array of result rows or result files", r.results);
  if (!r.results.some((x) => typeof x === "string")) {
    return { rows: r.results as ResultRow[], lower: r.lowerIsBetter ?? [], claims: r.claims ?? [] };
  }
  const file = (r.results as string[]).find((f) => f.endsWith(".json"));
  const found = file ? await locate(root, "eval", file) : null;
  if (!found) fail(where, "a results .json file that exists", r.results.join(", "));
  const data = JSON.parse(await Deno.readTextFile(found)) as {
    rows?: ResultsTableRow[];
    claims?: Array<{ claim: string; holds: boolean }>;
  };
  if (!Array.isArray(data.rows)) fail(`${found}: rows`, "an array of results rows", data.rows);
  const rows = resultsTableRows(data.rows);
  const lower = RESULT_COLUMNS.filter((c) => c.lower).map((c) => c.header);
  return { rows, lower, claims: r.claims ?? data.claims ?? [] };
}

async function evalSection(root: string, r: EvalStageResult): Promise<ReportSection> {
  const { rows, lower, claims } = await resultRows(root, r);
  const figures: ReportSection["figures"] = [];
  const html: string[] = [];
  const methods = [...new Set(rows.map((x) => x.method))];
  const metrics = [...new Set(rows.map((x) => x.metric))];
  html.push(
    `<p>Each cell: mean [95% interval] over prompts and training seeds.</p>`,
    table(
      ["method", ...metrics],
      methods.map((m) => [
        m,
        ...metrics.map((metric) => {
          const x = rows.find((row) => row.method === m && row.metric === metric);
          return x ? `${x.mean.toFixed(3)} [${x.lo.toFixed(3)}, ${x.hi.toFixed(3)}]` : "";
        }),
      ]),
    ),
  );
  if (claims.length) {
    html.push(
      table(
        ["the paper's claim", "holds here"],
        claims.map((c) => [c.claim, c.holds ? "yes" : "no"]),
      ),
    );
  }
  // the headline metrics in one chart, the ShapesBench dimensions and the rest in another
  const headline = new Set(RESULT_COLUMNS.filter((c) => c.headline).map((c) => c.header));
  const main = rows.filter((x) => headline.has(x.metric));
  const parts = main.length
    ? [["results", main, "results (95% intervals)"], [
      "results-more",
      rows.filter((x) => !headline.has(x.metric)),
      "ShapesBench dimensions and more (95% intervals)",
    ]] as const
    : [["results", rows, "results (95% intervals)"]] as const;
  for (const [id, part, title] of parts) {
    if (part.length) {
      figures.push({
        id,
        figure: resultsFigure(part, { lowerIsBetter: lower, title, columns: 4 }),
      });
    }
  }
  const byMetric = new Map<string, Array<{ name: string; values: number[] }>>();
  for (const d of r.distributions ?? []) {
    byMetric.set(d.metric, [...(byMetric.get(d.metric) ?? []), d]);
  }
  [...byMetric].forEach(([metric, sets], k) => {
    figures.push({
      id: `distribution-${k + 1}`,
      figure: distributionFigure(sets, { title: `per-clip ${metric}`, xTitle: metric }),
    });
  });
  for (const s of r.sheets ?? []) {
    html.push(`<h3>${escapeHtml(s.title)}</h3>`, await imageTag(root, "eval", s.path, s.title));
  }
  for (const [k, clip] of (r.worstClips ?? []).entries()) {
    const file = await locate(root, "eval", clip.video);
    if (!file) {
      html.push(`<p class="note">(${escapeHtml(clip.video)} is missing)</p>`);
      continue;
    }
    const grid = parseGrid(clip.grid);
    const video = await loadVideo(file);
    figures.push({
      id: `worst-clip-${k + 1}`,
      figure: defectFigure({
        video,
        grid,
        patches: clip.patches,
        labels: clip.labels,
        title: clip.title,
        scorer: clip.scorer,
      }),
    });
  }
  for (const [k, pair] of (r.fixedPairs ?? []).entries()) {
    const files = await Promise.all(
      [pair.base.video, pair.method.video].map((v) => locate(root, "eval", v)),
    );
    if (files.some((f) => !f)) {
      html.push(`<p class="note">(a clip of "${escapeHtml(pair.title)}" is missing)</p>`);
      continue;
    }
    const [base, method] = await Promise.all(files.map((f) => loadVideo(f!)));
    figures.push({
      id: `fixed-pair-${k + 1}`,
      figure: defectPairFigure({
        grid: parseGrid(pair.grid),
        base: { name: pair.base.name, video: base, labels: pair.base.labels },
        method: { name: pair.method.name, video: method, labels: pair.method.labels },
        title: pair.title,
      }).figure,
    });
  }
  return {
    stage: "eval",
    title: "Results: Base vs Diffusion-DPO vs patch-only vs HALO",
    html: html.join("\n"),
    figures,
  };
}

/** One paragraph on the pairs the runs trained on: how they were drawn and how the judge sees them. */
function pairsParagraph(pairs: DpoPairsInput | undefined): string {
  const s = pairs?.settings;
  const n = pairs?.counts?.pairs;
  if (!s || typeof n !== "number") return "";
  const pct = (x: number | undefined) => typeof x === "number" ? `${(100 * x).toFixed(0)}%` : "–";
  const drawn = s.sharedNoise
    ? `from one x<sub>T</sub> per prompt (DDIM η ${s.eta ?? "–"}: a pair differs in local detail)`
    : "from independent noise, as in the paper";
  const d = pairs?.diagnostics;
  const judge = d
    ? ` The reference judge agrees with the pairs' video direction on ${
      pct(d.judgeAgreesWithVideoDirectionWhereItDiffers)
    } of the pairs where it tells the clips apart (it ties ${pct(d.judgeTiesVideo)}), and with ` +
      `their patch directions (|gap| ≥ 0.25) on ${pct(d.judgeAgreesWithPatchDirection)} (ties ${
        pct(d.judgeTiesPatchDirection)
      }).`
    : "";
  return `<p>${n} preference pairs from ${pairs?.counts?.candidates ?? "–"} candidate clips (${
    s.prompts ?? "–"
  } prompts × ${s.candidates ?? "–"}, ${s.steps ?? "–"} sampling steps) drawn ${drawn}; pairing ${
    escapeHtml(String(s.pairing ?? "–"))
  }, margin ${s.margin ?? "–"}.${judge}</p>\n`;
}

async function dpoSection(root: string, r: DpoStageResult): Promise<ReportSection> {
  if (!Array.isArray(r.runs)) {
    fail(`${root}/dpo/result.json: runs`, "an array of { method, seed, log }", r.runs);
  }
  const logs = await Promise.all(r.runs.map(async (run) => {
    if (Array.isArray(run.log)) return run.log;
    const file = await locate(root, "dpo", run.log ?? (run.dir ? `${run.dir}.log.jsonl` : ""));
    return file ? await readJsonLines<Record<string, unknown>>(file) : [];
  }));
  const name = (method: string) =>
    (RESULT_METHODS as Readonly<Record<string, string>>)[method] ?? method;
  const present = (key: string) =>
    logs.some((log) => log.some((row) => typeof row[key] === "number"));
  const keys = (r.keys ?? DPO_KEYS).filter(present);
  const panels: CurvePanel[] = keys.map((key) => ({
    title: key,
    series: r.runs.map((run, i): CurveSeries =>
      logSeries(logs[i], key, {
        name: `${name(run.method)} seed ${run.seed}`,
        group: name(run.method),
      })
    ).filter((s) => s.points.length > 0),
  }));
  const figures = panels.length
    ? [{
      id: "dpo-curves",
      figure: trainingCurvesFigure(panels, {
        title: "post-training (thin: each seed, thick: mean)",
      }),
    }]
    : [];
  const html = pairsParagraph(r.pairs) + table(
    ["method", "seed", "steps logged", "last loss"],
    r.runs.map((run, i) => [name(run.method), run.seed, logs[i].length, fmt(logs[i].at(-1)?.loss)]),
  );
  return {
    stage: "dpo",
    title: "Post-training curves (Diffusion-DPO and Gran-DPO)",
    html,
    figures,
  };
}

async function simpleSection(root: string, stage: string, r: Json): Promise<ReportSection> {
  const html: string[] = [];
  let title = stage;
  if (stage === "labels") {
    title = "Distilled patch labels";
    const d = r.defects as
      | { clips: number; topKHitRate: number; byKind: Record<string, number> }
      | undefined;
    if (d) {
      html.push(
        `<p>Top-k hit rate of the labels on ${d.clips} damaged clips: <b>${
          d.topKHitRate.toFixed(3)
        }</b> ` +
          `(judge noise σ = ${fmt(r.judgeNoise)}).</p>`,
        table(["defect kind", "top-k hit rate"], Object.entries(d.byKind).map(([k, v]) => [k, v])),
      );
    }
  } else if (stage === "generator") {
    title = "The pretrained generator";
    if (typeof r.picture === "string") {
      html.push(await imageTag(root, stage, r.picture, "generator samples"));
    }
    const e = r.evaluation as Json | undefined;
    if (e) {
      html.push(table(
        ["measure", "value"],
        Object.entries(e).filter(([, v]) => typeof v === "number").map((
          [k, v],
        ) => [k, v as number]),
      ));
    }
  } else if (stage === "world") {
    title = "ShapesWorld";
    if (typeof r.picture === "string") {
      html.push(await imageTag(root, stage, r.picture, "held-out prompts"));
    }
  } else if (stage === "videos") {
    title = "Real videos and their patch grids";
    const videos = (r.videos ?? []) as Json[];
    html.push(
      table(
        ["file", "prompt", "frames", "size"],
        videos.map((
          v,
        ) => [String(v.file), String(v.prompt), Number(v.frames), `${v.width}×${v.height}`]),
      ),
    );
    for (const v of videos.slice(0, 2)) {
      if (typeof v.gridImage === "string") {
        html.push(await imageTag(root, stage, v.gridImage, String(v.file)));
      }
    }
  }
  return { stage, title, html: html.join("\n"), figures: [] };
}

/** Reads every stage result under `root` into report sections (absent stages are skipped). */
export async function reportSections(
  root: string,
): Promise<{ sections: ReportSection[]; missing: string[]; errors: string[] }> {
  const sections: ReportSection[] = [], missing: string[] = [], errors: string[] = [];
  for (const stage of REPORT_STAGES) {
    const r = await readStage(root, stage);
    if (!r) {
      missing.push(stage);
      continue;
    }
    if ("error" in r && typeof r.error === "string" && Object.keys(r).length === 1) {
      errors.push(r.error);
      continue;
    }
    try {
      sections.push(
        stage === "eval"
          ? await evalSection(root, r as unknown as EvalStageResult)
          : stage === "dpo"
          ? await dpoSection(root, r as unknown as DpoStageResult)
          : stage === "reward"
          ? await rewardSection(root, r as Json)
          : await simpleSection(root, stage, r as Json),
      );
    } catch (error) {
      errors.push(`${stage}: ${(error as Error).message}`);
    }
  }
  return { sections, missing, errors };
}

/** Options for {@linkcode writeReport}. */
export interface WriteReportOptions {
  /** Report file. Default `report.html` beside `root` (`out/report.html` for `out/reproduce`). */
  out?: string;
}

/** What {@linkcode writeReport} wrote. */
export interface WrittenReport {
  /** The HTML report. */
  html: string;
  /** Stages shown. */
  stages: string[];
  /** Figures drawn. */
  figures: number;
}

/**
 * Writes the offline report of the stage results under `root` (see the module
 * doc), atomically.
 *
 * @example
 * ```ts
 * import { writeReport } from "@halo/kit";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/eval`);
 * await Deno.writeTextFile(`${root}/eval/result.json`, JSON.stringify({
 *   results: [{ method: "Base", metric: "ShapesBench", mean: 0.5, lo: 0.4, hi: 0.6 }],
 * }));
 * const written = await writeReport(root, { out: `${root}/report.html` });
 * console.log(written.stages, written.figures); // [ "eval" ] 1
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function writeReport(
  root: string,
  options: WriteReportOptions = {},
): Promise<WrittenReport> {
  if (typeof root !== "string" || root === "") {
    fail("writeReport", "a reproduction output folder", root);
  }
  const out = options.out ?? join(dirname(resolve(root)), "report.html");
  const { sections, missing, errors } = await reportSections(root);
  const body: string[] = [
    `<h1>HALO reproduction report</h1>`,
    `<p>From the stage results in <code>${escapeHtml(root)}</code>. Every figure is interactive ` +
    `(hover for values) and drawn offline by the inlined plotly.js.</p>`,
  ];
  if (missing.length) {
    body.push(
      `<p class="note">Not run yet: ${missing.map((m) => `<code>${m}</code>`).join(", ")} ` +
        `(<code>deno task reproduce --only ${missing.join(",")}</code>).</p>`,
    );
  }
  for (const e of errors) body.push(`<p class="error">${escapeHtml(e)}</p>`);
  for (const s of sections) {
    body.push(`<h2 id="${s.stage}">${escapeHtml(s.title)}</h2>`, s.html);
    for (const f of s.figures) body.push(figureDiv(f.figure, `fig-${f.id}`));
  }
  await writeFileAtomic(
    out,
    await htmlPage({ title: "HALO reproduction report", body: body.join("\n") }),
  );
  return {
    html: out,
    stages: sections.map((s) => s.stage),
    figures: sections.reduce((n, s) => n + s.figures.length, 0),
  };
}
