/**
 * The offline report of a reproduction: `deno task reproduce` ends by calling
 * {@linkcode writeReport}, which reads whatever stage results exist under
 * `<root>/<stage>/result.json` (and the files they point to) and writes one
 * self-contained `report.html` (plotly.js and every picture inlined, no
 * network), with `results.md` and `results.json` beside it. Sections appear for
 * the stages present; a missing stage is named with the command that makes it.
 *
 * The `dpo` and `eval` stages are read in the shapes {@linkcode DpoStageResult}
 * and {@linkcode EvalStageResult}.
 * @module
 */

import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { pathExists, readJsonLines, writeFileAtomic } from "./_atomic.ts";
import { fail } from "./_errors.ts";
import type { AgreementRow } from "./agreement.ts";
import {
  type CurvePanel,
  type CurveSeries,
  distributionFigure,
  type Figure,
  logSeries,
  type ResultRow,
  resultsFigure,
  trainingCurvesFigure,
} from "./figure.ts";
import { defectFigure } from "./figure_defects.ts";
import { type PatchLabel, toBase64 } from "./label_protocol.ts";
import { parseGrid } from "./patch.ts";
import { escapeHtml, figureDiv, htmlPage } from "./plotly.ts";
import { efficiencyFigure, type EfficiencySummary, type SeedReport } from "./reward_seeds.ts";
import type { RewardReport } from "./reward_train.ts";
import { loadVideo } from "./video.ts";

/** One post-training run of the `dpo` stage: a method, a seed, and its training log. */
export interface DpoRunInput {
  /** Method name as in the results table, e.g. "Diffusion-DPO", "patch-only", "HALO". */
  method: string;
  /** Training seed. */
  seed: number;
  /** The log: TRL-style rows `{step, loss, "rewards/accuracies", …}` or a JSONL file of them. */
  log: Record<string, unknown>[] | string;
}

/** What the report reads from `dpo/result.json` (other fields are kept and ignored). */
export interface DpoStageResult {
  /** Every run, for the training curves (per method and seed). */
  runs: DpoRunInput[];
  /** Log keys to plot, one subplot each. Default: the usual TRL keys that are present. */
  keys?: string[];
}

/** A picture (PNG) with a title, e.g. a sample sheet before or after post-training. */
export interface SheetInput {
  /** Title. */
  title: string;
  /** PNG file. */
  path: string;
}

/** A clip to show as a defect heatmap. */
export interface ClipInput {
  /** Title, e.g. method, prompt and score. */
  title: string;
  /** A video file of the clip (gif, mp4, …). */
  video: string;
  /** Patch grid, e.g. "4x4x4". */
  grid: string;
  /** Patch scores drawn as the heatmap (PRM or reference judge), in patch-index order. */
  patches: PatchLabel[];
  /** Labels with reasons, shown on hover. */
  labels?: PatchLabel[];
  /** Who scored `patches`. Default "score". */
  scorer?: string;
}

/** What the report reads from `eval/result.json` (other fields are kept and ignored). */
export interface EvalStageResult {
  /** The results table: every method × metric with its mean and 95% interval. */
  results: ResultRow[];
  /** Metrics where lower is better (e.g. the defect share). */
  lowerIsBetter?: string[];
  /** Per-clip values, e.g. per-clip scores or defect shares per method, as histograms per metric. */
  distributions?: Array<{ metric: string; name: string; values: number[] }>;
  /** Sample sheets, e.g. before/after post-training. */
  sheets?: SheetInput[];
  /** The worst clips, as defect heatmaps. */
  worstClips?: ClipInput[];
}

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

/** One section of the report. */
export interface ReportSection {
  /** Stage it shows. */
  stage: string;
  /** Heading. */
  title: string;
  /** HTML; figures are referenced by their ids. */
  html: string;
  /** Figures of the section, by id (unique in the report). */
  figures: Array<{ id: string; figure: Figure }>;
}

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

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cell = (v: string | number) =>
    typeof v === "number" ? `<td class="num">${fmt(v)}</td>` : `<td>${escapeHtml(v)}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")}</tbody></table>`;
}

const fmt = (v: unknown) =>
  typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? "");
const ci = (i?: { estimate: number; lo: number; hi: number }) =>
  i ? `${i.estimate.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]` : "";

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

async function evalSection(root: string, r: EvalStageResult): Promise<ReportSection> {
  if (!Array.isArray(r.results)) {
    fail(`${root}/eval/result.json: results`, "an array of result rows", r.results);
  }
  const figures: ReportSection["figures"] = [];
  const html: string[] = [];
  const methods = [...new Set(r.results.map((x) => x.method))];
  const metrics = [...new Set(r.results.map((x) => x.metric))];
  html.push(
    `<p>Each cell: mean [95% interval]${r.results[0]?.n ? ", n = clips × seeds" : ""}.</p>`,
    table(
      ["method", ...metrics],
      methods.map((m) => [
        m,
        ...metrics.map((metric) => {
          const x = r.results.find((row) => row.method === m && row.metric === metric);
          return x ? `${x.mean.toFixed(3)} [${x.lo.toFixed(3)}, ${x.hi.toFixed(3)}]` : "";
        }),
      ]),
    ),
  );
  figures.push({
    id: "results",
    figure: resultsFigure(r.results, {
      lowerIsBetter: r.lowerIsBetter,
      title: "results (95% intervals)",
    }),
  });
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
  return {
    stage: "eval",
    title: "Results: Base vs Diffusion-DPO vs patch-only vs HALO",
    html: html.join("\n"),
    figures,
  };
}

async function dpoSection(root: string, r: DpoStageResult): Promise<ReportSection> {
  if (!Array.isArray(r.runs)) {
    fail(`${root}/dpo/result.json: runs`, "an array of { method, seed, log }", r.runs);
  }
  const logs = await Promise.all(r.runs.map(async (run) => {
    if (Array.isArray(run.log)) return run.log;
    const file = await locate(root, "dpo", run.log);
    return file ? await readJsonLines<Record<string, unknown>>(file) : [];
  }));
  const present = (key: string) =>
    logs.some((log) => log.some((row) => typeof row[key] === "number"));
  const keys = (r.keys ?? DPO_KEYS).filter(present);
  const panels: CurvePanel[] = keys.map((key) => ({
    title: key,
    series: r.runs.map((run, i): CurveSeries =>
      logSeries(logs[i], key, { name: `${run.method} seed ${run.seed}`, group: run.method })
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
  const html = table(
    ["method", "seed", "steps logged", "last loss"],
    r.runs.map((run, i) => [run.method, run.seed, logs[i].length, fmt(logs[i].at(-1)?.loss)]),
  );
  return {
    stage: "dpo",
    title: "Post-training curves (Diffusion-DPO and Gran-DPO)",
    html,
    figures,
  };
}

async function rewardSection(root: string, r: Json): Promise<ReportSection> {
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
    figures.push({
      id: "agreement",
      figure: resultsFigure(
        agreement.map((a) => ({
          method: a.method,
          metric: `${a.level} Spearman ρ`,
          mean: a.spearman.estimate,
          lo: a.spearman.lo,
          hi: a.spearman.hi,
        })),
        { title: "agreement with the reference judge (95% intervals)" },
      ),
    });
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
  /** `results.md` beside it. */
  markdown: string;
  /** `results.json` beside it. */
  json: string;
  /** Stages shown. */
  stages: string[];
  /** Figures drawn. */
  figures: number;
}

/**
 * Writes the offline report of the stage results under `root` (see the module
 * doc), atomically, with `results.md` and `results.json` beside it.
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
  const results = await resultsSummary(root);
  const json = join(dirname(out), "results.json"), markdown = join(dirname(out), "results.md");
  await writeFileAtomic(json, JSON.stringify(results, null, 2) + "\n");
  await writeFileAtomic(markdown, resultsMarkdown(results));
  return {
    html: out,
    markdown,
    json,
    stages: sections.map((s) => s.stage),
    figures: sections.reduce((n, s) => n + s.figures.length, 0),
  };
}

/** The headline numbers of every stage present, as written to `results.json`. */
export interface ResultsSummary {
  /** Output folder read. */
  root: string;
  /** Stages present. */
  stages: string[];
  /** The results table (eval). */
  results: ResultRow[] | null;
  /** Agreement rows (reward). */
  agreement: AgreementRow[] | null;
  /** Continual vs scratch patch ρ at fixed budgets (reward). */
  efficiency: EfficiencySummary["budgets"] | null;
  /** Top-k hit rate of the distilled labels (labels). */
  labelsTopKHitRate: number | null;
  /** The generator's evaluation (generator). */
  generator: Json | null;
}

async function resultsSummary(root: string): Promise<ResultsSummary> {
  const read = async (s: string) => {
    const r = await readStage(root, s);
    return r && !("error" in r && Object.keys(r).length === 1) ? r as Json : null;
  };
  const [ev, reward, labels, generator] = await Promise.all(
    ["eval", "reward", "labels", "generator"].map(read),
  );
  const stages: string[] = [];
  for (const s of REPORT_STAGES) if (await read(s)) stages.push(s);
  return {
    root,
    stages,
    results: (ev?.results as ResultRow[]) ?? null,
    agreement: (reward?.agreement as AgreementRow[]) ?? null,
    efficiency: (reward?.efficiency as EfficiencySummary | undefined)?.budgets ?? null,
    labelsTopKHitRate: (labels?.defects as { topKHitRate?: number } | undefined)?.topKHitRate ??
      null,
    generator: (generator?.evaluation as Json) ?? null,
  };
}

function resultsMarkdown(r: ResultsSummary): string {
  const lines = [
    `# HALO reproduction results`,
    "",
    `From \`${r.root}\`; stages: ${r.stages.join(", ") || "none"}.`,
    "",
  ];
  if (r.results?.length) {
    lines.push(
      "## Results (mean [95% interval])",
      "",
      "| method | metric | mean [95% CI] |",
      "|---|---|---|",
    );
    for (const x of r.results) {
      lines.push(
        `| ${x.method} | ${x.metric} | ${x.mean.toFixed(3)} [${x.lo.toFixed(3)}, ${
          x.hi.toFixed(3)
        }] |`,
      );
    }
    lines.push("");
  }
  if (r.agreement?.length) {
    lines.push(
      "## Agreement with the reference judge",
      "",
      "| method | level | Spearman ρ | pairwise accuracy |",
      "|---|---|---|---|",
    );
    for (const a of r.agreement) {
      lines.push(`| ${a.method} | ${a.level} | ${ci(a.spearman)} | ${ci(a.pairwise)} |`);
    }
    lines.push("");
  }
  if (r.efficiency?.length) {
    lines.push(
      "## Patch ρ at fixed stage-2 budgets",
      "",
      "| step | continual | scratch |",
      "|---|---|---|",
    );
    for (const b of r.efficiency) {
      lines.push(`| ${b.step} | ${b.continual.toFixed(3)} | ${b.scratch.toFixed(3)} |`);
    }
    lines.push("");
  }
  if (r.labelsTopKHitRate !== null) {
    lines.push(`Distilled labels' top-k hit rate: ${r.labelsTopKHitRate.toFixed(3)}`, "");
  }
  return lines.join("\n");
}
