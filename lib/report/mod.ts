/**
 * Pictures and pages: plotly figure specs (`figure.ts`, `figure_results.ts`,
 * `figure_defects.ts`, `figure_efficiency.ts`, `figure_pretrain.ts`: the
 * generator's quality-versus-training-time curve), their MIME bundles and HTML
 * (`plotly.ts`), PNGs rendered in headless Chromium (`figure_png.ts`), the
 * offline report of a reproduction (`report.ts`, `report_inputs.ts`) and the
 * defect report of your own videos (`inspect.ts`).
 *
 * Paper step: the paper's figures. Reads: stage results. Writes: HTML and
 * PNG. Internal: `_chromium.ts`, `_figure_layout.ts`.
 * @module
 */

export * from "./figure.ts";
export * from "./figure_defect_pairs.ts";
export * from "./figure_defects.ts";
export * from "./figure_efficiency.ts";
export * from "./figure_png.ts";
export * from "./figure_pretrain.ts";
export * from "./figure_results.ts";
export * from "./inspect.ts";
export * from "./plotly.ts";
export * from "./report.ts";
export * from "./report_inputs.ts";
