/**
 * The results table as a plotly figure: one subplot per metric, one bar per
 * method with its asymmetric 95% interval.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { BASE_CONFIG, escapeLabel, num, subplotTitle } from "./_figure_layout.ts";
import { type Figure, FIGURE_COLORS, subplotGrid, type Trace } from "./figure.ts";

/** One cell of a results table: a method's mean on a metric with its 95% interval. */
export interface ResultRow {
  /** Method, e.g. "Base", "Diffusion-DPO", "patch-only", "HALO". */
  method: string;
  /** Metric, e.g. "ShapesBench mean" or "defect share". */
  metric: string;
  /** Mean (or point estimate). */
  mean: number;
  /** Lower end of the 95% interval. */
  lo: number;
  /** Upper end of the 95% interval. */
  hi: number;
  /** What the mean is over (prompts × seeds), shown on hover. */
  n?: number;
}

/** Options for {@linkcode resultsFigure}. */
export interface ResultsOptions {
  /** Figure title. */
  title?: string;
  /** Subplots per row. Default: up to 3. */
  columns?: number;
  /** Metrics where lower is better (marked "↓" in the subplot title; others "↑"). Default none. */
  lowerIsBetter?: readonly string[];
}

/**
 * The results table as grouped bars: one subplot per metric (each on its own
 * scale), one bar per method in a fixed colour, the 95% interval as an error
 * bar. Hover shows method, metric, mean and interval.
 *
 * @example
 * ```ts
 * import { resultsFigure } from "@halo/kit";
 * const fig = resultsFigure([
 *   { method: "Base", metric: "score", mean: 2.5, lo: 2.3, hi: 2.7 },
 *   { method: "HALO", metric: "score", mean: 2.9, lo: 2.7, hi: 3.1 },
 * ]);
 * console.log(fig.data.length, fig.data[1].error_y); // 2 { type: "data", symmetric: false, array: [ 0.2 ], arrayminus: [ 0.2 ], visible: true }
 * ```
 */
export function resultsFigure(rows: readonly ResultRow[], options: ResultsOptions = {}): Figure {
  const where = "resultsFigure";
  if (!Array.isArray(rows) || rows.length === 0) {
    fail(where, "a non-empty array of result rows", rows);
  }
  const methods: string[] = [], metrics: string[] = [];
  rows.forEach((r, i) => {
    const at = `${where} rows[${i}]`;
    if (!r || typeof r.method !== "string" || typeof r.metric !== "string") {
      fail(at, "{ method, metric, mean, lo, hi }", r);
    }
    for (const k of ["mean", "lo", "hi"] as const) {
      if (typeof r[k] !== "number" || !Number.isFinite(r[k])) {
        fail(`${at} (${r.method}, ${r.metric}).${k}`, "a finite number", r[k]);
      }
    }
    if (!(r.lo <= r.mean && r.mean <= r.hi)) {
      fail(`${at} (${r.method}, ${r.metric})`, "lo ≤ mean ≤ hi", `${r.lo}, ${r.mean}, ${r.hi}`);
    }
    if (!methods.includes(r.method)) methods.push(r.method);
    if (!metrics.includes(r.metric)) metrics.push(r.metric);
  });
  const grid = subplotGrid(metrics.length, options.columns ?? Math.min(3, metrics.length));
  const lower = new Set(options.lowerIsBetter ?? []);
  const data: Trace[] = [];
  metrics.forEach((metric, m) => {
    methods.forEach((method, k) => {
      const r = rows.find((row) => row.method === method && row.metric === metric);
      if (!r) return;
      data.push({
        type: "bar",
        name: method,
        legendgroup: method,
        showlegend: m === 0,
        xaxis: grid.refs[m].x,
        yaxis: grid.refs[m].y,
        x: [method],
        y: [r.mean],
        error_y: {
          type: "data",
          symmetric: false,
          array: [r.hi - r.mean],
          arrayminus: [r.mean - r.lo],
          visible: true,
        },
        customdata: [[num(r.lo), num(r.hi), r.n ?? ""]],
        marker: { color: FIGURE_COLORS[k % FIGURE_COLORS.length] },
        hovertemplate: `<b>${escapeLabel(method)}</b><br>${escapeLabel(metric)}: %{y:.4g} ` +
          `[%{customdata[0]}, %{customdata[1]}]` + (r.n ? `<br>n = %{customdata[2]}` : "") +
          "<extra></extra>",
      });
    });
  });
  const layout: Record<string, unknown> = {
    ...grid.axes,
    height: 60 + 320 * grid.rows,
    margin: { t: options.title ? 80 : 50, l: 60, r: 20, b: 30 },
    showlegend: true,
    annotations: metrics.map((metric, m) =>
      subplotTitle(grid.refs[m], `${metric} ${lower.has(metric) ? "↓" : "↑"}`, grid.columns)
    ),
  };
  if (options.title) layout.title = { text: escapeLabel(options.title) };
  metrics.forEach((_, m) => {
    const k = m === 0 ? "" : String(m + 1);
    (layout[`xaxis${k}`] as Record<string, unknown>).showticklabels = false;
  });
  return { data, layout, config: { ...BASE_CONFIG } };
}
