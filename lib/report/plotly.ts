/**
 * Showing {@linkcode Figure} specs with plotly.js, offline: plotly.js comes from
 * the npm package `plotly.js-dist-min` (never a CDN) and is inlined into the
 * pages and notebook outputs that need it. {@linkcode display} shows a figure in
 * Jupyter (Deno kernel) as the plotly MIME bundle with an HTML fallback, so it
 * renders in JupyterLab, VS Code and exported HTML alike.
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { Figure } from "./figure.ts";

/** The MIME type of plotly figures in Jupyter. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

let source: Promise<string> | undefined;

/**
 * The minified plotly.js bundle from the npm package, read once per process.
 *
 * @example
 * ```ts
 * import { plotlySource } from "@halo/kit/report";
 * console.log((await plotlySource()).includes("plotly.js v")); // true
 * ```
 */
export function plotlySource(): Promise<string> {
  source ??= import("plotly.js-dist-min/plotly.min.js", { with: { type: "text" } })
    .then((m) => m.default as string);
  return source;
}

/**
 * A `<script>` that defines `window.Plotly` from the inlined bundle and then
 * draws every figure queued before it loaded. The bundle runs with `define`,
 * `exports` and `module` hidden, so a page with require.js (classic Jupyter)
 * still gets a global `Plotly`.
 */
export async function plotlyScript(): Promise<string> {
  const js = (await plotlySource()).replace(/<\/script/gi, "<\\/script");
  return `<script type="text/javascript">(function (define, exports, module) {\n${js}\n})();\n` +
    `(window.__haloPlotlyQueue || []).splice(0).forEach(function (draw) { draw(); });</script>`;
}

/** JSON that is safe inside a `<script>` element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function checkFigure(where: string, fig: Figure): void {
  if (!fig || !Array.isArray(fig.data) || typeof fig.layout !== "object" || fig.layout === null) {
    fail(where, "a figure { data: [...], layout: {...} }", fig);
  }
}

/**
 * An HTML fragment that draws `fig` into a `<div id>` with plotly.js: at once
 * when `window.Plotly` exists, otherwise as soon as {@linkcode plotlyScript} runs.
 *
 * @example
 * ```ts
 * import { figureDiv } from "@halo/kit/report";
 * import { resultsFigure } from "@halo/kit";
 * const fig = resultsFigure([{ method: "Base", metric: "score", mean: 2, lo: 1.8, hi: 2.2 }]);
 * console.log(figureDiv(fig, "fig-1").startsWith('<div class="halo-figure" id="fig-1"')); // true
 * ```
 */
export function figureDiv(fig: Figure, id: string): string {
  checkFigure("figureDiv", fig);
  if (!/^[A-Za-z][\w-]*$/.test(id)) fail("figureDiv", "an id of letters, digits, - and _", id);
  const height = typeof fig.layout.height === "number" ? fig.layout.height : 450;
  const spec = scriptJson({
    data: fig.data,
    layout: fig.layout,
    config: fig.config ?? { responsive: true, displaylogo: false },
  });
  return `<div class="halo-figure" id="${id}" style="width:100%;min-height:${height}px"></div>` +
    `<script type="text/javascript">(function () { var spec = ${spec};\n` +
    `function draw() { window.Plotly.newPlot("${id}", spec.data, spec.layout, spec.config); }\n` +
    `if (window.Plotly) draw(); else (window.__haloPlotlyQueue = window.__haloPlotlyQueue || []).push(draw);` +
    `})();</script>`;
}

/** Options for {@linkcode figureMimeBundle} and {@linkcode display}. */
export interface DisplayOptions {
  /**
   * Inline plotly.js into the HTML fallback: `true` always, `false` never (the page must
   * already have it), `"once"` on the first figure of the process (a kernel session), like
   * plotly.py's notebook mode. Default "once".
   */
  includePlotlyJs?: boolean | "once";
}

let inlinedOnce = false;

/**
 * The Jupyter MIME bundle of a figure: the plotly JSON (drawn by JupyterLab's and
 * VS Code's plotly renderers), an HTML fallback that draws it with inlined
 * plotly.js, and a plain-text line.
 *
 * @example
 * ```ts
 * import { figureMimeBundle, PLOTLY_MIME } from "@halo/kit/report";
 * import { resultsFigure } from "@halo/kit";
 * const fig = resultsFigure([{ method: "Base", metric: "score", mean: 2, lo: 1.8, hi: 2.2 }]);
 * const bundle = await figureMimeBundle(fig, { includePlotlyJs: false });
 * console.log(Object.keys(bundle).sort(), bundle[PLOTLY_MIME] !== undefined);
 * // [ "application/vnd.plotly.v1+json", "text/html", "text/plain" ] true
 * ```
 */
export async function figureMimeBundle(
  fig: Figure,
  options: DisplayOptions = {},
): Promise<Record<string, unknown>> {
  checkFigure("figureMimeBundle", fig);
  const include = options.includePlotlyJs ?? "once";
  const inline = include === true || (include === "once" && !inlinedOnce);
  if (include === "once") inlinedOnce = true;
  const id = `halo-${crypto.randomUUID()}`;
  const title = (fig.layout.title as { text?: string } | undefined)?.text;
  return {
    [PLOTLY_MIME]: { data: fig.data, layout: fig.layout, config: fig.config ?? {} },
    "text/html": (inline ? await plotlyScript() : "") + figureDiv(fig, id),
    "text/plain": `plotly figure: ${fig.data.length} traces${
      title ? ` — ${title.replace(/<[^>]*>/g, " ")}` : ""
    }`,
  };
}

/**
 * Shows a figure in a Jupyter notebook on the Deno kernel (through
 * `Deno.jupyter.display` and {@linkcode figureMimeBundle}). Outside a kernel
 * it throws, naming what to use instead.
 *
 * @example
 * ```ts
 * import { display, resultsFigure } from "@halo/kit";
 * const fig = resultsFigure([{ method: "Base", metric: "score", mean: 2, lo: 1.8, hi: 2.2 }]);
 * await display(fig).catch(() => {}); // draws in a notebook; throws elsewhere
 * ```
 */
export async function display(fig: Figure, options: DisplayOptions = {}): Promise<void> {
  let jupyter: { display(value: unknown, options: { raw: boolean }): Promise<void> } | undefined;
  try {
    // outside `deno jupyter` the getter throws
    jupyter = (Deno as unknown as { jupyter?: typeof jupyter }).jupyter;
  } catch {
    jupyter = undefined;
  }
  if (!jupyter?.display) {
    fail(
      "display",
      "to run inside the Deno Jupyter kernel (Deno.jupyter); outside notebooks use figurePage or figurePng",
      "no Deno.jupyter",
    );
  }
  const bundle = await figureMimeBundle(fig, options);
  await jupyter.display(bundle, { raw: true });
  // The kernel sends a display message in the background; one that carries plotly.js (about
  // 5 MB) can still be in flight when the cell ends, and a headless run (nbconvert) would then
  // lose the cell's outputs. Give it about a second per megabyte.
  const bytes = (bundle["text/html"] as string).length;
  if (bytes > 1e6) await new Promise((done) => setTimeout(done, Math.ceil(bytes / 1e6) * 1000));
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** Options for {@linkcode htmlPage}. */
export interface HtmlPageOptions {
  /** Page title. */
  title: string;
  /** Body HTML (figures from {@linkcode figureDiv}, tables, text). */
  body: string;
  /** Extra CSS. */
  css?: string;
}

const PAGE_CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1.5rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-size: 0.9rem; } .error { color: #b00020; }
img.sheet { max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
.halo-figure { margin: 0.6rem 0 1.4rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }`;

/**
 * A complete, self-contained HTML page: plotly.js inlined once in the head,
 * so every {@linkcode figureDiv} in `body` draws offline.
 *
 * @example
 * ```ts
 * import { figureDiv, htmlPage } from "@halo/kit/report";
 * import { resultsFigure } from "@halo/kit";
 * const fig = resultsFigure([{ method: "Base", metric: "score", mean: 2, lo: 1.8, hi: 2.2 }]);
 * const page = await htmlPage({ title: "results", body: figureDiv(fig, "f1") });
 * console.log(page.startsWith("<!doctype html>"), page.includes("https://cdn")); // true false
 * ```
 */
export async function htmlPage(options: HtmlPageOptions): Promise<string> {
  if (typeof options?.title !== "string" || typeof options.body !== "string") {
    fail("htmlPage", "{ title, body } strings", options);
  }
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${escapeHtml(options.title)}</title>\n<style>${PAGE_CSS}${
      options.css ?? ""
    }</style>\n` +
    `${await plotlyScript()}\n</head>\n<body>\n${options.body}\n</body></html>\n`;
}

/**
 * A self-contained page showing one figure (plotly.js inlined).
 *
 * @example
 * ```ts
 * import { figurePage } from "@halo/kit/report";
 * import { resultsFigure } from "@halo/kit";
 * const fig = resultsFigure([{ method: "Base", metric: "score", mean: 2, lo: 1.8, hi: 2.2 }]);
 * console.log((await figurePage(fig, "results")).includes('id="figure"')); // true
 * ```
 */
export async function figurePage(fig: Figure, title = "figure"): Promise<string> {
  return await htmlPage({ title, body: figureDiv(fig, "figure") });
}
