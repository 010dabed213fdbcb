/**
 * Figures as plotly.js specs: pure, typed builders that return `{data, layout}`
 * objects for training curves, score distributions, agreement scatters and the
 * results table. They draw nothing themselves: {@linkcode display} shows a
 * spec in a notebook, the report inlines plotly.js to draw it offline, and
 * {@linkcode figurePng} renders the same spec to a PNG in headless Chromium.
 * The defect view lives in `figure_defects.ts`, the results table's bars in
 * `figure_results.ts`.
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { spearman } from "../core/agreement.ts";
import { BASE_CONFIG, escapeLabel, num, subplotTitle } from "./_figure_layout.ts";

export { escapeLabel };

/** One plotly trace: its `type` and any plotly attributes. */
export interface Trace {
  /** Plotly trace type. */
  type: "scatter" | "bar" | "heatmap";
  /** Any other plotly trace attribute. */
  [attribute: string]: unknown;
}

/** A plotly figure spec, the input of `Plotly.newPlot` and the plotly MIME type. */
export interface Figure {
  /** Traces, drawn in order. */
  data: Trace[];
  /** Plotly layout (title, axes, shapes, images, annotations, …). */
  layout: Record<string, unknown>;
  /** Plotly config. Default: responsive, no plotly logo. */
  config?: Record<string, unknown>;
}

/** Plotly's default colour cycle (D3 category 10), used in order for methods and series. */
export const FIGURE_COLORS: readonly string[] = Object.freeze([
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
]);

/** Axis names and layout entries of `n` subplots on a grid of `columns` columns. */
export interface SubplotGrid {
  /** Layout entries `xaxis`, `yaxis`, `xaxis2`, … with their domains. */
  axes: Record<string, Record<string, unknown>>;
  /** For subplot i: its trace references (`x2`, `y2`). */
  refs: Array<{ x: string; y: string }>;
  /** Rows of the grid. */
  rows: number;
  /** Columns of the grid (at most `n`). */
  columns: number;
}

/**
 * Lays out `n` subplots on a grid (row by row), each with its own x and y axes.
 *
 * @example
 * ```ts
 * import { subplotGrid } from "@halo/kit/report";
 * const g = subplotGrid(3, 2);
 * console.log(g.rows, g.refs[2], Object.keys(g.axes).length); // 2 { x: "x3", y: "y3" } 6
 * ```
 */
export function subplotGrid(n: number, columns: number): SubplotGrid {
  checkInt("subplotGrid", "n", n, 1, 64);
  const cols = Math.min(checkInt("subplotGrid", "columns", columns, 1, 16), n);
  const rows = Math.ceil(n / cols);
  const gx = cols > 1 ? 0.08 : 0, gy = rows > 1 ? 0.2 / rows + 0.08 : 0;
  const w = (1 - gx * (cols - 1)) / cols, h = (1 - gy * (rows - 1)) / rows;
  const axes: Record<string, Record<string, unknown>> = {};
  const refs: Array<{ x: string; y: string }> = [];
  for (let i = 0; i < n; i++) {
    const r = Math.floor(i / cols), c = i % cols, k = i === 0 ? "" : String(i + 1);
    axes[`xaxis${k}`] = { domain: [c * (w + gx), c * (w + gx) + w], anchor: `y${k}` };
    // the bottom row ends at 0 up to rounding; plotly refuses a domain below 0
    const top = 1 - r * (h + gy);
    axes[`yaxis${k}`] = { domain: [Math.max(0, top - h), top], anchor: `x${k}` };
    refs.push({ x: `x${k}`, y: `y${k}` });
  }
  return { axes, refs, rows, columns: cols };
}

// ---------------------------------------------------------------- training curves

/** One point of a training curve. */
export interface StepValue {
  /** Training step. */
  step: number;
  /** Logged value; a non-finite value breaks the line. */
  value: number;
}

/** One named curve, e.g. one seed of one method. */
export interface CurveSeries {
  /** Name shown on hover (and in the legend when it is the group's only curve). */
  name: string;
  /** Points in step order. */
  points: readonly StepValue[];
  /** Curves of one group (a method over several seeds) share a colour and a legend entry. Default: `name`. */
  group?: string;
}

/** One subplot of {@linkcode trainingCurvesFigure}: one logged quantity. */
export interface CurvePanel {
  /** Subplot title, e.g. `"loss"` or `"rewards/accuracies"`. */
  title: string;
  /** The curves. */
  series: readonly CurveSeries[];
  /** y-axis title. Default none. */
  yTitle?: string;
}

/** Options for {@linkcode trainingCurvesFigure}. */
export interface TrainingCurvesOptions {
  /** Figure title. */
  title?: string;
  /** x-axis title. Default "step". */
  xTitle?: string;
  /** "sqrt" spreads out the start of training, where most change happens (steps ≥ 0). Default "linear". */
  xScale?: "linear" | "sqrt";
  /**
   * Draw the mean of each group with several curves (at the steps every curve
   * of the group logged) as a thick line, the curves themselves thin. Default true.
   */
  mean?: boolean;
  /** Subplots per row. Default 2. */
  columns?: number;
}

/** Round tick values for a sqrt axis up to `max`. */
function sqrtTicks(max: number): number[] {
  const out = [0];
  for (let k = 0; 10 ** k <= max * 10; k++) {
    for (const m of [1, 2, 5]) if (m * 10 ** k <= max) out.push(m * 10 ** k);
  }
  // keep about 8, at least 1/10 of the axis apart
  return out.filter((v, i) =>
    i === 0 || Math.sqrt(v) - Math.sqrt(out[i - 1]) >= Math.sqrt(max) / 12 || v === out.at(-1)
  );
}

/**
 * Training curves, one subplot per logged quantity, several series (methods ×
 * seeds) per subplot: the curves of one group share its colour and legend
 * entry, and their mean is drawn thick. Hover shows series, step and value.
 *
 * @example
 * ```ts
 * import { trainingCurvesFigure } from "@halo/kit";
 * const seed = (s: number) => ({ name: `HALO seed ${s}`, group: "HALO", points: [0, 10, 20].map((step) => ({ step, value: 1 / (1 + step + s) })) });
 * const fig = trainingCurvesFigure([{ title: "loss", series: [seed(0), seed(1)] }]);
 * console.log(fig.data.length, fig.data[2].name); // 3 "HALO"
 * ```
 */
export function trainingCurvesFigure(
  panels: readonly CurvePanel[],
  options: TrainingCurvesOptions = {},
): Figure {
  const where = "trainingCurvesFigure";
  if (!Array.isArray(panels) || panels.length === 0) {
    fail(where, "a non-empty array of panels", panels);
  }
  const sqrtX = (options.xScale ?? "linear") === "sqrt";
  const groups: string[] = [];
  panels.forEach((panel, p) => {
    if (!panel || typeof panel.title !== "string" || !Array.isArray(panel.series)) {
      fail(`${where} panels[${p}]`, "{ title, series }", panel);
    }
    if (panel.series.length === 0) {
      fail(`${where} panels[${p}] (${panel.title})`, "a curve", "none");
    }
    panel.series.forEach((s: CurveSeries, i: number) => {
      const at = `${where} panels[${p}].series[${i}]`;
      if (!s || typeof s.name !== "string" || !Array.isArray(s.points)) {
        fail(at, "{ name, points: [{ step, value }] }", s);
      }
      s.points.forEach((pt: StepValue, j: number) => {
        if (!pt || typeof pt.step !== "number" || !Number.isFinite(pt.step)) {
          fail(`${at} (${s.name}).points[${j}].step`, "a finite step", pt?.step);
        }
        if (sqrtX && pt.step < 0) {
          fail(`${at} (${s.name}).points[${j}].step`, "≥ 0 on a sqrt axis", pt.step);
        }
        if (typeof pt.value !== "number") {
          fail(`${at} (${s.name}).points[${j}].value`, "a number", pt.value);
        }
      });
      const g = s.group ?? s.name;
      if (!groups.includes(g)) groups.push(g);
    });
  });
  const color = (g: string) => FIGURE_COLORS[groups.indexOf(g) % FIGURE_COLORS.length];
  const grid = subplotGrid(panels.length, options.columns ?? 2);
  const fx = sqrtX ? Math.sqrt : (x: number) => x;
  const data: Trace[] = [];
  const legendShown = new Set<string>();
  const line = (
    ref: { x: string; y: string },
    name: string,
    group: string,
    points: readonly StepValue[],
    thick: boolean,
    faint: boolean,
  ): Trace => {
    const showlegend = !faint && !legendShown.has(group);
    if (showlegend) legendShown.add(group);
    return {
      type: "scatter",
      mode: points.length === 1 ? "markers" : "lines",
      name,
      legendgroup: group,
      showlegend,
      xaxis: ref.x,
      yaxis: ref.y,
      x: points.map((p) => fx(p.step)),
      y: points.map((p) => (Number.isFinite(p.value) ? p.value : null)),
      customdata: points.map((p) => p.step),
      line: { color: color(group), width: thick ? 3 : 1.2 },
      opacity: faint ? 0.45 : 1,
      hovertemplate: `<b>${escapeLabel(name)}</b><br>step %{customdata}<br>%{y:.4g}<extra></extra>`,
    };
  };
  let maxStep = 0;
  panels.forEach((panel, p) => {
    const ref = grid.refs[p];
    const byGroup = new Map<string, CurveSeries[]>();
    for (const s of panel.series) {
      const g = s.group ?? s.name;
      byGroup.set(g, [...(byGroup.get(g) ?? []), s]);
      for (const pt of s.points) maxStep = Math.max(maxStep, pt.step);
    }
    for (const [group, list] of byGroup) {
      const several = list.length > 1 && (options.mean ?? true);
      for (const s of list) data.push(line(ref, s.name, group, s.points, false, several));
      if (several) {
        const steps = list.map((s) => new Set(s.points.map((pt) => pt.step)));
        const common = [...steps[0]].filter((st) => steps.every((set) => set.has(st)))
          .sort((a, b) => a - b);
        const meanPoints = common.map((step) => ({
          step,
          value: list.reduce((acc, s) => acc + s.points.find((pt) => pt.step === step)!.value, 0) /
            list.length,
        }));
        data.push(line(ref, `${group} (mean of ${list.length})`, group, meanPoints, true, false));
        data.at(-1)!.name = group;
      }
    }
  });
  const layout: Record<string, unknown> = {
    ...grid.axes,
    height: 80 + 300 * grid.rows,
    margin: { t: options.title ? 70 : 40, l: 60, r: 20, b: 50 },
    hovermode: "closest",
    annotations: panels.map((panel, p) => subplotTitle(grid.refs[p], panel.title, grid.columns)),
  };
  if (options.title) layout.title = { text: escapeLabel(options.title) };
  panels.forEach((panel, p) => {
    const k = p === 0 ? "" : String(p + 1);
    const xaxis = layout[`xaxis${k}`] as Record<string, unknown>;
    xaxis.title = {
      text: escapeLabel(options.xTitle ?? "step") + (sqrtX ? " (square-root scale)" : ""),
    };
    if (sqrtX) {
      const ticks = sqrtTicks(maxStep);
      xaxis.tickvals = ticks.map(Math.sqrt);
      xaxis.ticktext = ticks.map(String);
    }
    if (panel.yTitle) {
      (layout[`yaxis${k}`] as Record<string, unknown>).title = { text: escapeLabel(panel.yTitle) };
    }
  });
  return { data, layout, config: { ...BASE_CONFIG } };
}

/** Options for {@linkcode logSeries}. */
export interface LogSeriesOptions {
  /** Series name. Default: the key. */
  name?: string;
  /** Group (e.g. the method, when the series is one seed). */
  group?: string;
  /** Key of the step in each row. Default "step". */
  stepKey?: string;
}

/**
 * Picks one logged quantity out of a training log — rows such as TRL's
 * `{step, loss, "rewards/accuracies", "rewards/margins", …}` — as a curve;
 * rows without the key (or with a non-numeric value) are skipped.
 *
 * @example
 * ```ts
 * import { logSeries } from "@halo/kit";
 * const log = [{ step: 1, loss: 0.69 }, { step: 2, "rewards/accuracies": 0.5 }, { step: 3, loss: 0.6 }];
 * console.log(logSeries(log, "loss").points); // [ { step: 1, value: 0.69 }, { step: 3, value: 0.6 } ]
 * ```
 */
export function logSeries(
  rows: readonly Record<string, unknown>[],
  key: string,
  options: LogSeriesOptions = {},
): CurveSeries {
  const where = "logSeries";
  if (!Array.isArray(rows)) fail(where, "an array of log rows", rows);
  if (typeof key !== "string" || key === "") fail(where, "a key", key);
  const stepKey = options.stepKey ?? "step";
  const points: StepValue[] = [];
  rows.forEach((row, i) => {
    const value = row?.[key];
    if (typeof value !== "number") return;
    const step = row[stepKey];
    if (typeof step !== "number" || !Number.isFinite(step)) {
      fail(`${where} rows[${i}].${stepKey}`, "a finite step number", step);
    }
    points.push({ step, value });
  });
  return { name: options.name ?? key, points, ...(options.group ? { group: options.group } : {}) };
}

// ---------------------------------------------------------------- distributions

/** One set of values of {@linkcode distributionFigure}. */
export interface Distribution {
  /** Legend name. */
  name: string;
  /** The values (non-finite ones are dropped and counted in the hover). */
  values: readonly number[];
}

/** Options for {@linkcode distributionFigure}. */
export interface DistributionOptions {
  /** Figure title. */
  title?: string;
  /** x-axis title. Default "value". */
  xTitle?: string;
  /** Number of bins. Default 20. */
  bins?: number;
  /** `[min, max]` of the bins. Default: the data's range. */
  range?: readonly [number, number];
}

/**
 * Overlaid histograms (share of each set per bin), e.g. video vs patch score
 * distributions or per-clip defect shares before and after post-training.
 * Bins are computed here, so the spec holds exact counts; hover shows the
 * bin, the count and the share.
 *
 * @example
 * ```ts
 * import { distributionFigure } from "@halo/kit";
 * const fig = distributionFigure([{ name: "PRM", values: [1, 2, 2, 3] }], { bins: 3, range: [1, 4] });
 * console.log(fig.data[0].y); // [ 0.25, 0.5, 0.25 ]
 * ```
 */
export function distributionFigure(
  sets: readonly Distribution[],
  options: DistributionOptions = {},
): Figure {
  const where = "distributionFigure";
  if (!Array.isArray(sets) || sets.length === 0) {
    fail(where, "a non-empty array of { name, values }", sets);
  }
  sets.forEach((s, i) => {
    if (!s || typeof s.name !== "string" || !Array.isArray(s.values)) {
      fail(`${where} sets[${i}]`, "{ name, values }", s);
    }
  });
  const bins = checkInt(where, "bins", options.bins ?? 20, 1, 1000);
  const finite = sets.map((s) =>
    s.values.filter((v: number) => typeof v === "number" && Number.isFinite(v))
  );
  let lo: number, hi: number;
  if (options.range) {
    [lo, hi] = options.range;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) {
      fail(where, "range as [min, max] with min < max", options.range);
    }
  } else {
    const all = finite.flat();
    if (all.length === 0) fail(where, "at least one finite value", "none");
    lo = Math.min(...all);
    hi = Math.max(...all);
    if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  }
  const width = (hi - lo) / bins;
  const data: Trace[] = sets.map((s, i) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of finite[i]) {
      if (v < lo || v > hi) continue;
      counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
    }
    const n = finite[i].length;
    const dropped = s.values.length - n;
    return {
      type: "bar",
      name: `${s.name} (n = ${n}${dropped ? `, ${dropped} not finite` : ""})`,
      x: counts.map((_, b) => lo + (b + 0.5) * width),
      y: counts.map((c) => (n ? c / n : 0)),
      width: width,
      customdata: counts.map((c, b) => [num(lo + b * width), num(lo + (b + 1) * width), c]),
      marker: { color: FIGURE_COLORS[i % FIGURE_COLORS.length] },
      opacity: sets.length > 1 ? 0.55 : 0.9,
      hovertemplate: `<b>${escapeLabel(s.name)}</b><br>[%{customdata[0]}, %{customdata[1]}): ` +
        `%{customdata[2]} of ${n} (%{y:.1%})<extra></extra>`,
    };
  });
  const layout: Record<string, unknown> = {
    barmode: "overlay",
    bargap: 0,
    height: 360,
    margin: { t: options.title ? 60 : 30, l: 60, r: 20, b: 50 },
    xaxis: { title: { text: escapeLabel(options.xTitle ?? "value") }, range: [lo, hi] },
    yaxis: { title: { text: "share" }, tickformat: ".0%" },
    legend: { orientation: "h", y: 1.02, yanchor: "bottom" },
  };
  if (options.title) layout.title = { text: escapeLabel(options.title) };
  return { data, layout, config: { ...BASE_CONFIG } };
}

// ---------------------------------------------------------------- agreement scatter

/** One set of (reference, model) pairs of {@linkcode agreementScatterFigure}. */
export interface ScatterSeries {
  /** Legend name (Spearman ρ is appended). */
  name: string;
  /** Reference scores (x). */
  x: readonly number[];
  /** Model scores (y). */
  y: readonly number[];
  /** Hover label of each point (e.g. a patch id). */
  labels?: readonly string[];
}

/** Options for {@linkcode agreementScatterFigure}. */
export interface ScatterOptions {
  /** Figure title. */
  title?: string;
  /** x-axis title. Default "reference". */
  xTitle?: string;
  /** y-axis title. Default "model". */
  yTitle?: string;
  /** Horizontal jitter, in x units, to spread discrete reference scores (deterministic). Default 0. */
  jitter?: number;
  /** Points drawn per series at most (an even subsample; ρ uses all). Default 3000. */
  maxPoints?: number;
}

/**
 * Model vs reference scores as a scatter, one colour per series, each named
 * with its Spearman ρ over all its points; the diagonal of a perfect
 * (linear) agreement is dashed.
 *
 * @example
 * ```ts
 * import { agreementScatterFigure } from "@halo/kit";
 * const fig = agreementScatterFigure([{ name: "PRM", x: [1, 2, 3, 4], y: [1.2, 2.5, 2.9, 3.8] }]);
 * console.log(fig.data[0].name); // "PRM (ρ = 1, n = 4)"
 * ```
 */
export function agreementScatterFigure(
  series: readonly ScatterSeries[],
  options: ScatterOptions = {},
): Figure {
  const where = "agreementScatterFigure";
  if (!Array.isArray(series) || series.length === 0) {
    fail(where, "a non-empty array of series", series);
  }
  const jitter = checkNumber(where, "jitter", options.jitter ?? 0, 0, 1e6);
  const maxPoints = checkInt(where, "maxPoints", options.maxPoints ?? 3000, 1);
  let lo = Infinity, hi = -Infinity;
  const data: Trace[] = series.map((s, i) => {
    if (!s || typeof s.name !== "string" || !Array.isArray(s.x) || !Array.isArray(s.y)) {
      fail(`${where} series[${i}]`, "{ name, x, y }", s);
    }
    if (s.x.length !== s.y.length) {
      fail(
        `${where} series[${i}] (${s.name})`,
        `as many y as x values (${s.x.length})`,
        s.y.length,
      );
    }
    if (s.labels && s.labels.length !== s.x.length) {
      fail(`${where} series[${i}] (${s.name}).labels`, `${s.x.length} labels`, s.labels.length);
    }
    const stride = Math.max(1, Math.ceil(s.x.length / maxPoints));
    const keep: number[] = s.x.map((_: number, j: number) => j).filter((j: number) =>
      j % stride === 0
    );
    for (const j of keep) {
      for (const v of [s.x[j], s.y[j]]) {
        if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
      }
    }
    // deterministic jitter in [-jitter, jitter]
    const jit = (j: number) => jitter * (((Math.imul(j + 1, 2654435761) >>> 0) / 2 ** 32) * 2 - 1);
    const rho = spearman(s.x, s.y);
    const shown = keep.length < s.x.length ? `, ${keep.length} of ${s.x.length} drawn` : "";
    return {
      type: "scatter",
      mode: "markers",
      name: `${s.name} (ρ = ${num(rho)}, n = ${s.x.length}${shown})`,
      x: keep.map((j) => s.x[j] + jit(j)),
      y: keep.map((j) => s.y[j]),
      customdata: keep.map((j) => [s.x[j], s.labels?.[j] ?? `#${j}`]),
      marker: { color: FIGURE_COLORS[i % FIGURE_COLORS.length], size: 5, opacity: 0.55 },
      hovertemplate:
        `<b>${escapeLabel(s.name)}</b> %{customdata[1]}<br>reference %{customdata[0]:.3g}` +
        `<br>model %{y:.3g}<extra></extra>`,
    };
  });
  if (!Number.isFinite(lo)) fail(where, "at least one finite point", "none");
  const layout: Record<string, unknown> = {
    height: 460,
    margin: { t: options.title ? 60 : 30, l: 60, r: 20, b: 50 },
    hovermode: "closest",
    xaxis: { title: { text: escapeLabel(options.xTitle ?? "reference") } },
    yaxis: { title: { text: escapeLabel(options.yTitle ?? "model") } },
    legend: { orientation: "h", y: 1.02, yanchor: "bottom" },
    shapes: [{
      type: "line",
      x0: lo,
      y0: lo,
      x1: hi,
      y1: hi,
      xref: "x",
      yref: "y",
      line: { color: "#888", dash: "dash", width: 1 },
    }],
  };
  if (options.title) layout.title = { text: escapeLabel(options.title) };
  return { data, layout, config: { ...BASE_CONFIG } };
}
