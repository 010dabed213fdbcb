/**
 * The paired defect view: Base's clip and a post-trained model's clip sampled
 * from the same noise, one above the other, each with the reference judge's
 * patch scores as a heatmap (`figure_defects.ts`), the patches the method
 * fixed boxed in green on both rows and the patches it broke boxed in red on
 * its row. Patches correspond because the noise is the same (`lib/eval/defects.ts`).
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { Figure, Trace } from "./figure.ts";
import { escapeLabel } from "./_figure_layout.ts";
import { defectFigure } from "./figure_defects.ts";
import { type PairedDefects, pairedDefects } from "../eval/defects.ts";
import { patchDefectKinds } from "../videos/shapes_bench.ts";
import { patchCoords, type PatchGrid } from "../videos/patch.ts";
import type { PatchLabel } from "../videos/scores.ts";
import type { Video } from "../videos/video.ts";

/** One side of a {@linkcode defectPairFigure}: a clip and the judge's labels of its patches. */
export interface DefectPairSide {
  /** Row name, e.g. "Base" or "HALO seed 0". */
  name: string;
  /** The clip. */
  video: Video;
  /** The reference judge's labels, one per patch in index order (`judgeVideo(…).patches`). */
  labels: readonly PatchLabel[];
}

/** What {@linkcode defectPairFigure} draws. */
export interface DefectPairInput {
  /** The patch grid of the labels. */
  grid: PatchGrid;
  /** Base's clip (top row). */
  base: DefectPairSide;
  /** The method's clip from the same noise (bottom row). */
  method: DefectPairSide;
  /** Title, e.g. the prompt and sampling seed. */
  title?: string;
}

/** Plotly's id of axis `n` (1 → "x", 2 → "x2"). */
const axisId = (axis: "x" | "y", n: number) => (n === 1 ? axis : `${axis}${n}`);

/** Moves a one-subplot figure's traces and layout items onto axes `n` (`x2`/`y2` for 2). */
function onAxes(fig: Figure, n: number) {
  const ref = (v: unknown, axis: "x" | "y") => (v === axis ? axisId(axis, n) : v);
  const move = (items: unknown) =>
    ((items ?? []) as Record<string, unknown>[]).map((o) => ({
      ...o,
      xref: ref(o.xref, "x"),
      yref: ref(o.yref, "y"),
    }));
  const layout = fig.layout;
  return {
    data: fig.data.map((t): Trace => ({ ...t, xaxis: axisId("x", n), yaxis: axisId("y", n) })),
    images: move(layout.images),
    shapes: move(layout.shapes),
    annotations: move(layout.annotations),
    xaxis: layout.xaxis as Record<string, unknown>,
    yaxis: layout.yaxis as Record<string, unknown>,
  };
}

/**
 * Base's clip above the method's, both from the same noise, with the judge's
 * worst-aspect patch scores as heatmaps; green boxes: Base's defective
 * patches the method fixed (on both rows), red boxes: clean patches of Base
 * the method made defective (on its row). Resolves to the figure and the
 * paired counts it drew.
 *
 * @example
 * ```ts
 * import { createVideo } from "@halo/kit";
 * import { defectPairFigure } from "@halo/kit/report";
 * const grid = { rows: 2, cols: 2, framesPerPatch: 2 };
 * const video = createVideo({ frames: new Float32Array(2 * 8 * 8 * 3).fill(0.2), numFrames: 2, height: 8, width: 8 });
 * const s = (v: number) => ({ visual_quality: v, temporal_consistency: 4, text_alignment: 4 });
 * const label = (index: number, bad: boolean) => ({ id: `p${index}`, index, scores: s(bad ? 1 : 4), reason: bad ? "blurred edges" : "" });
 * const { figure, defects } = defectPairFigure({ grid,
 *   base: { name: "Base", video, labels: [0, 1, 2, 3].map((i) => label(i, i < 2)) },
 *   method: { name: "HALO", video, labels: [0, 1, 2, 3].map((i) => label(i, i === 1 || i === 3)) } });
 * console.log(defects.fixed, defects.introduced, figure.data.length); // [ 0 ] [ 3 ] 2
 * ```
 */
export function defectPairFigure(
  input: DefectPairInput,
): { figure: Figure; defects: PairedDefects } {
  const where = "defectPairFigure";
  if (!input?.base || !input?.method) fail(where, "input.base and input.method", input);
  const { grid } = input;
  const defects = pairedDefects(
    patchDefectKinds(input.base.labels),
    patchDefectKinds(input.method.labels),
  );
  const view = (side: DefectPairSide) =>
    defectFigure(
      { video: side.video, grid, patches: side.labels, scorer: "reference judge (worst aspect)" },
      { score: "min", worst: 0 },
    );
  const top = onAxes(view(input.base), 1), bottom = onAxes(view(input.method), 2);
  bottom.data.forEach((t) => (t.showscale = false));
  const { width: W, height: H } = input.base.video;
  const box = (n: number, segmentX: number[], index: number, color: string) => {
    const { segment, row, col } = patchCoords(grid, index);
    const cw = W / grid.cols, ch = H / grid.rows;
    return {
      type: "rect",
      xref: axisId("x", n),
      yref: axisId("y", n),
      x0: segmentX[segment] + col * cw,
      x1: segmentX[segment] + (col + 1) * cw,
      y0: H - (row + 1) * ch,
      y1: H - row * ch,
      line: { color, width: 3 },
    };
  };
  // the x of each segment's frame: the tick positions minus half a frame
  const segmentX = ((top.xaxis.tickvals ?? []) as number[]).map((x) => x - W / 2);
  const shapes = [
    ...defects.fixed.flatMap((
      i,
    ) => [box(1, segmentX, i, "#1a9850"), box(2, segmentX, i, "#1a9850")]),
    ...defects.introduced.map((i) => box(2, segmentX, i, "#d73027")),
  ];
  const rowTitle = (n: number, text: string) => ({
    text: `<b>${escapeLabel(text)}</b>`,
    xref: `${axisId("x", n)} domain`,
    yref: `${axisId("y", n)} domain`,
    x: 0,
    y: 1.02,
    xanchor: "left",
    yanchor: "bottom",
    showarrow: false,
    font: { size: 12 },
  });
  const counts = `fixed ${defects.fixed.length} of ${defects.baseDefective} defective patches ` +
    `(green), introduced ${defects.introduced.length} of ${defects.baseClean} clean ones (red)`;
  const title = [input.title ? escapeLabel(input.title) : "", counts].filter(Boolean)
    .join("<br><sup>") + (input.title ? "</sup>" : "");
  const layout: Record<string, unknown> = {
    title: { text: title, font: { size: 14 } },
    height: Math.max(360, Math.min(760, 2 * Math.round((860 * H) / (segmentX.at(-1)! + W)) + 180)),
    margin: { t: 80, l: 20, r: 20, b: 40 },
    xaxis: { ...top.xaxis, anchor: "y" },
    yaxis: { ...top.yaxis, domain: [0.54, 0.94], scaleanchor: "x" },
    xaxis2: { ...bottom.xaxis, anchor: "y2" },
    yaxis2: { ...bottom.yaxis, domain: [0, 0.4], scaleanchor: "x2" },
    images: [...top.images, ...bottom.images],
    shapes: [...top.shapes, ...bottom.shapes, ...shapes],
    annotations: [
      ...top.annotations,
      ...bottom.annotations,
      rowTitle(1, input.base.name),
      rowTitle(2, `${input.method.name}, same noise`),
    ],
    hovermode: "closest",
    plot_bgcolor: "#fff",
  };
  return {
    figure: {
      data: [...top.data, ...bottom.data],
      layout,
      config: { responsive: true, displaylogo: false },
    },
    defects,
  };
}
