/**
 * HTML tables of the report (internal).
 * @module
 */

import { escapeHtml } from "./plotly.ts";

/** An HTML table: strings escaped, numbers right-aligned with 3 decimals. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cell = (v: string | number) =>
    typeof v === "number" ? `<td class="num">${fmt(v)}</td>` : `<td>${escapeHtml(v)}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")}</tbody></table>`;
}

/** A number with 3 decimals (integers as they are), anything else as text. */
export const fmt = (v: unknown) =>
  typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? "");
/** An interval as `estimate [lo, hi]`, or "" when absent. */
export const ci = (i?: { estimate: number; lo: number; hi: number }) =>
  i ? `${i.estimate.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]` : "";
