/**
 * The report's section type and HTML tables (internal to `report.ts` and its sections).
 * @module
 */

import { escapeHtml } from "./plotly.ts";
import type { Figure } from "./figure.ts";

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
