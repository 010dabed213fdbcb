/**
 * The "plot defects" view as a plotly figure spec: a video's frames in a row
 * (the middle frame of every temporal segment), the patch-score heatmap laid
 * over them, the worst patches boxed and named, and on hover each patch's id,
 * its scores per aspect and the labeller's reason.
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { escapeLabel, type Figure, type Trace } from "./figure.ts";
import { type Aspect, ASPECTS, type PatchLabel, SCORE_MAX, SCORE_MIN } from "../videos/scores.ts";
import { toBase64 } from "../labels/images.ts";
import {
  checkGrid,
  numPatches,
  numSegments,
  patchCoords,
  type PatchGrid,
} from "../videos/patch.ts";
import { encodePng } from "../core/png.ts";
import type { Video } from "../videos/video.ts";

/** What {@linkcode defectFigure} draws. */
export interface DefectViewInput {
  /** The video. */
  video: Video;
  /** Its patch grid (must divide the video). */
  grid: PatchGrid;
  /**
   * The scores drawn as the heatmap, one per patch in index order: a reward model's
   * (`rewardPatchLabels`) or the labeller's own labels.
   */
  patches: readonly PatchLabel[];
  /** The labeller's labels of the same patches: their scores and reasons are added to the hover. */
  labels?: readonly PatchLabel[];
  /** Title, e.g. the file and its prompt. */
  title?: string;
  /** Name of the heatmap's scorer in the hover. Default "score". */
  scorer?: string;
  /**
   * Another scorer's scores of the same patches, added to the hover under `name`
   * (e.g. a reward model's beside the labeller's heatmap). Default: none.
   */
  beside?: { name: string; patches: readonly PatchLabel[] };
}

/** How one patch's aspect scores become the heatmap's single number. */
export type PatchScoreOf = Aspect | "mean" | "min";

/** Options for {@linkcode defectFigure}. */
export interface DefectViewOptions {
  /** The number drawn: one aspect, or the mean or minimum over aspects. Default "mean". */
  score?: PatchScoreOf;
  /** Worst patches to box. Default 4. */
  worst?: number;
  /** Opacity of the heatmap over the frames at the lowest score (higher scores are fainter). Default 0.75. */
  opacity?: number;
  /** Longest side of a frame in the embedded pictures, pixels (small frames are enlarged). Default 192. */
  frameSide?: number;
}

/** One patch's number for the heatmap. */
export function patchScore(label: PatchLabel, score: PatchScoreOf = "mean"): number {
  const values = ASPECTS.map((a) => label.scores[a]);
  if (score === "mean") return values.reduce((s, v) => s + v, 0) / values.length;
  if (score === "min") return Math.min(...values);
  if (!ASPECTS.includes(score)) {
    fail("patchScore", `"mean", "min" or one of ${ASPECTS.join(", ")}`, score);
  }
  return label.scores[score];
}

/**
 * The `k` lowest-scoring patches, worst first (ties by index), as
 * `{index, id, value}`.
 *
 * @example
 * ```ts
 * import { worstPatches } from "@halo/kit";
 * const label = (index: number, s: number) => ({ id: `p${index}`, index, reason: "", scores: { visual_quality: s, temporal_consistency: s, text_alignment: s } });
 * console.log(worstPatches([label(0, 3), label(1, 1), label(2, 2)], 2).map((p) => p.id)); // [ "p1", "p2" ]
 * ```
 */
export function worstPatches(
  patches: readonly PatchLabel[],
  k: number,
  score: PatchScoreOf = "mean",
): Array<{ index: number; id: string; value: number }> {
  return patches.map((p) => ({ index: p.index, id: p.id, value: patchScore(p, score) }))
    .sort((a, b) => a.value - b.value || a.index - b.index)
    .slice(0, k);
}

/** One frame as a PNG data URL, scaled by an integer factor towards `side` pixels. */
function frameDataUrl(video: Video, f: number, side: number): string {
  const { width: W, height: H } = video;
  const long = Math.max(W, H);
  const up = long < side ? Math.max(1, Math.floor(side / long)) : 1;
  const down = long > side ? Math.ceil(long / side) : 1;
  const w = Math.floor((W * up) / down), h = Math.floor((H * up) / down);
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(H - 1, Math.floor((y * down) / up));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(W - 1, Math.floor((x * down) / up));
      const src = ((f * H + sy) * W + sx) * 3, dst = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        rgb[dst + c] = Math.round(Math.min(1, Math.max(0, video.frames[src + c])) * 255);
      }
    }
  }
  return `data:image/png;base64,${toBase64(encodePng(rgb, w, h))}`;
}

const short: Record<Aspect, string> = {
  visual_quality: "visual",
  temporal_consistency: "temporal",
  text_alignment: "text",
};
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const scoreLine = (label: PatchLabel) =>
  ASPECTS.map((a) => `${short[a]} ${fmt(label.scores[a])}`).join(" · ");

function checkLabels(where: string, list: readonly PatchLabel[], n: number): void {
  if (!Array.isArray(list) || list.length !== n) {
    fail(where, `${n} patch labels (one per patch of the grid)`, list);
  }
  list.forEach((p, i) => {
    if (!p || p.index !== i) fail(`${where}[${i}]`, `the label of patch ${i} (in index order)`, p);
    for (const a of ASPECTS) {
      if (typeof p.scores?.[a] !== "number" || !Number.isFinite(p.scores[a])) {
        fail(`${where}[${i}] (${p.id}).scores.${a}`, "a finite score", p.scores?.[a]);
      }
    }
  });
}

/**
 * Builds the defect view of one video: the middle frame of each segment in a
 * row, the patch scores as a translucent heatmap over them (red = low, on the
 * labeller's 1–4 scale), the `worst` lowest patches boxed with their ids, and
 * hover text per patch with its id, the scores per aspect, and the labeller's
 * scores and reason when `labels` are given.
 *
 * @example
 * ```ts
 * import { createVideo, defectFigure } from "@halo/kit";
 * const grid = { rows: 2, cols: 2, framesPerPatch: 2 };
 * const video = createVideo({ frames: new Float32Array(4 * 8 * 8 * 3).fill(0.5), numFrames: 4, height: 8, width: 8 });
 * const s = (v: number) => ({ visual_quality: v, temporal_consistency: v, text_alignment: v });
 * const patches = Array.from({ length: 8 }, (_, index) => ({ id: `p${index}`, index, scores: s(index === 5 ? 1 : 4), reason: "" }));
 * const fig = defectFigure({ video, grid, patches }, { worst: 1 });
 * console.log(fig.data.length, (fig.layout.shapes as unknown[]).length); // 2 1
 * ```
 */
export function defectFigure(input: DefectViewInput, options: DefectViewOptions = {}): Figure {
  const where = "defectFigure";
  const { video, grid } = input ?? ({} as DefectViewInput);
  if (!video || !(video.frames instanceof Float32Array)) {
    fail(where, "input.video as a Video", video);
  }
  checkGrid(grid, video);
  const n = numPatches(grid, video.numFrames);
  checkLabels(`${where} input.patches`, input.patches, n);
  if (input.labels) checkLabels(`${where} input.labels`, input.labels, n);
  if (input.beside) checkLabels(`${where} input.beside.patches`, input.beside.patches, n);
  const score = options.score ?? "mean";
  const worstCount = checkInt(where, "worst", options.worst ?? 4, 0, n);
  const opacity = checkNumber(where, "opacity", options.opacity ?? 0.75, 0, 1);
  const side = checkInt(where, "frameSide", options.frameSide ?? 192, 16, 2048);
  const scorer = input.scorer ?? "score";
  const { width: W, height: H } = video;
  const segments = numSegments(grid, video.numFrames);
  const gap = Math.max(1, Math.round(W * 0.04));
  const cw = W / grid.cols, ch = H / grid.rows;
  const x0 = (s: number) => s * (W + gap);
  const values = input.patches.map((p) => patchScore(p, score));
  const data: Trace[] = [];
  const images: Record<string, unknown>[] = [];
  for (let s = 0; s < segments; s++) {
    const frame = s * grid.framesPerPatch + Math.floor(grid.framesPerPatch / 2);
    images.push({
      source: frameDataUrl(video, frame, side),
      xref: "x",
      yref: "y",
      x: x0(s),
      y: H,
      sizex: W,
      sizey: H,
      xanchor: "left",
      yanchor: "top",
      sizing: "stretch",
      layer: "below",
    });
    const z: number[][] = [], text: string[][] = [];
    for (let r = 0; r < grid.rows; r++) {
      z.push([]);
      text.push([]);
      for (let c = 0; c < grid.cols; c++) {
        const i = (s * grid.rows + r) * grid.cols + c;
        const p = input.patches[i], label = input.labels?.[i];
        z[r].push(values[i]);
        const lines = [
          `<b>${escapeLabel(p.id)}</b> (segment ${s}: frames ${s * grid.framesPerPatch}–${
            (s + 1) * grid.framesPerPatch - 1
          }, row ${r}, col ${c})`,
          `${escapeLabel(scorer)}: ${scoreLine(p)}`,
        ];
        if (label) lines.push(`labeller: ${scoreLine(label)}`);
        const other = input.beside?.patches[i];
        if (other) lines.push(`${escapeLabel(input.beside!.name)}: ${scoreLine(other)}`);
        const reason = label?.reason || p.reason;
        if (reason) lines.push(`reason: ${escapeLabel(reason)}`);
        text[r].push(lines.join("<br>"));
      }
    }
    data.push({
      type: "heatmap",
      name: `segment ${s}`,
      x: Array.from({ length: grid.cols }, (_, c) => x0(s) + (c + 0.5) * cw),
      y: Array.from({ length: grid.rows }, (_, r) => H - (r + 0.5) * ch),
      z,
      text,
      zmin: SCORE_MIN,
      zmax: SCORE_MAX,
      // low scores strongly red, high ones a faint green, so the frames stay visible
      colorscale: [
        [0, `rgba(215,48,39,${opacity})`],
        [0.5, `rgba(254,224,139,${(opacity * 0.6).toFixed(3)})`],
        [1, `rgba(26,152,80,${(opacity * 0.25).toFixed(3)})`],
      ],
      showscale: s === 0,
      colorbar: {
        title: { text: score === "mean" ? "mean score" : score },
        thickness: 12,
        len: 0.9,
      },
      xgap: 1,
      ygap: 1,
      hovertemplate: "%{text}<extra></extra>",
      hoverongaps: false,
    });
  }
  const worst = worstPatches(input.patches, worstCount, score);
  const shapes = worst.map((w) => {
    const { segment, row, col } = patchCoords(grid, w.index);
    return {
      type: "rect",
      xref: "x",
      yref: "y",
      x0: x0(segment) + col * cw,
      x1: x0(segment) + (col + 1) * cw,
      y0: H - (row + 1) * ch,
      y1: H - row * ch,
      line: { color: "#e0007a", width: 3 },
    };
  });
  const annotations = worst.map((w, k) => {
    const { segment, row, col } = patchCoords(grid, w.index);
    return {
      x: x0(segment) + (col + 0.5) * cw,
      y: H - row * ch,
      xref: "x",
      yref: "y",
      text: `${k + 1}. ${escapeLabel(w.id)}`,
      showarrow: false,
      yanchor: "bottom",
      font: { size: 10, color: "#fff" },
      bgcolor: "#e0007a",
    };
  });
  const totalW = x0(segments - 1) + W;
  const worstText = worst.map((w) => `${w.id} ${w.value.toFixed(2)}`).join(", ");
  const title = [
    input.title ? escapeLabel(input.title) : "",
    worst.length ? `worst${input.scorer ? ` by ${escapeLabel(scorer)}` : ""}: ${worstText}` : "",
  ]
    .filter(Boolean).join("<br><sup>") + (input.title && worst.length ? "</sup>" : "");
  const layout: Record<string, unknown> = {
    title: { text: title, font: { size: 14 } },
    height: Math.max(240, Math.min(560, Math.round((860 * H) / totalW) + 130)),
    margin: { t: 70, l: 20, r: 20, b: 40 },
    xaxis: {
      range: [0, totalW],
      showgrid: false,
      zeroline: false,
      tickvals: Array.from({ length: segments }, (_, s) => x0(s) + W / 2),
      ticktext: Array.from(
        { length: segments },
        (_, s) => `frames ${s * grid.framesPerPatch}–${(s + 1) * grid.framesPerPatch - 1}`,
      ),
    },
    yaxis: {
      range: [0, H],
      scaleanchor: "x",
      showgrid: false,
      zeroline: false,
      showticklabels: false,
      ticks: "",
    },
    images,
    shapes,
    annotations,
    hovermode: "closest",
    plot_bgcolor: "#fff",
  };
  return { data, layout, config: { responsive: true, displaylogo: false } };
}
