/**
 * Private layout helpers of the plotly figure builders: label escaping and
 * numbers, subplot titles that wrap to their column, the shared config.
 * @module
 */

/**
 * Escapes text for plotly's hover and annotation labels, which accept a subset of HTML.
 *
 * @example
 * ```ts
 * import { escapeLabel } from "./_figure_layout.ts";
 * console.log(escapeLabel("a<b> & c")); // "a&lt;b&gt; &amp; c"
 * ```
 */
export function escapeLabel(text: string): string {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Numbers for labels: 4 significant digits, no trailing zeros. */
export function num(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(4))) : "n/a";
}

/** Breaks `text` into lines of at most about `width` characters at spaces. */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(" ")) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= width) lines[last] += " " + word;
    else lines.push(word);
  }
  return lines;
}

/**
 * A subplot title, placed above subplot `ref` of a grid `columns` wide; a title
 * wider than its column (about 104 characters across the figure) wraps, so
 * neighbours do not overlap.
 */
export function subplotTitle(
  ref: { x: string; y: string },
  text: string,
  columns: number,
): Record<string, unknown> {
  const width = Math.floor(104 / columns);
  return {
    text: `<b>${wrapWords(text, width).map(escapeLabel).join("<br>")}</b>`,
    xref: `${ref.x} domain`,
    yref: `${ref.y} domain`,
    x: 0.5,
    y: 1.02,
    xanchor: "center",
    yanchor: "bottom",
    showarrow: false,
    font: { size: 13 },
  };
}

export const BASE_CONFIG = { responsive: true, displaylogo: false };
