/**
 * Pictures people would rather look at than read, as PNG bytes: contact sheets
 * of videos (one row per clip, evenly spaced frames across) and line charts of
 * training curves.
 * @module
 */

import { checkInt, fail } from "./_errors.ts";
import { drawText, textWidth } from "./_font.ts";
import { encodePng } from "./png.ts";
import type { Video } from "./video.ts";

/** Options for {@linkcode videoSheet}. */
export interface VideoSheetOptions {
  /** Frames shown per clip, evenly spaced from first to last. Default 8. */
  frames?: number;
  /** Integer pixel zoom (nearest neighbour). Default 2. */
  scale?: number;
  /** White gap between cells, in pixels. Default 2. */
  gap?: number;
}

/**
 * Lays out clips of one size as a PNG contact sheet: one row per clip, `frames` columns.
 *
 * @example
 * ```ts
 * import { createVideo, decodePng, videoSheet } from "@halo/kit";
 * const clip = createVideo({ frames: new Float32Array(8 * 16 * 16 * 3).fill(0.5), numFrames: 8, height: 16, width: 16 });
 * const { width, height } = decodePng(videoSheet([clip, clip], { frames: 4, scale: 1, gap: 2 }));
 * console.log(width, height); // 70 34
 * ```
 */
export function videoSheet(videos: readonly Video[], options: VideoSheetOptions = {}): Uint8Array {
  const where = "videoSheet";
  if (!Array.isArray(videos) || videos.length === 0) {
    fail(where, "a non-empty array of videos", videos);
  }
  const { numFrames, height, width } = videos[0];
  videos.forEach((v, i) => {
    if (v.numFrames !== numFrames || v.height !== height || v.width !== width) {
      fail(
        `${where} videos[${i}]`,
        `${numFrames} frames of ${width}×${height} like videos[0]`,
        `${v.numFrames} frames of ${v.width}×${v.height}`,
      );
    }
  });
  const shown = checkInt(where, "frames", options.frames ?? 8, 1, numFrames);
  const scale = checkInt(where, "scale", options.scale ?? 2, 1, 64);
  const gap = checkInt(where, "gap", options.gap ?? 2, 0, 64);
  const cellW = width * scale, cellH = height * scale;
  const sheetW = shown * (cellW + gap) - gap;
  const sheetH = videos.length * (cellH + gap) - gap;
  const rgb = new Uint8Array(sheetW * sheetH * 3).fill(255);
  const frameIds = Array.from(
    { length: shown },
    (_, i) => shown === 1 ? 0 : Math.round((i * (numFrames - 1)) / (shown - 1)),
  );
  videos.forEach((video, row) => {
    frameIds.forEach((f, col) => {
      const ox = col * (cellW + gap), oy = row * (cellH + gap);
      for (let y = 0; y < cellH; y++) {
        for (let x = 0; x < cellW; x++) {
          const src = ((f * height + Math.floor(y / scale)) * width + Math.floor(x / scale)) * 3;
          const dst = ((oy + y) * sheetW + ox + x) * 3;
          for (let c = 0; c < 3; c++) {
            rgb[dst + c] = Math.round(Math.min(1, Math.max(0, video.frames[src + c])) * 255);
          }
        }
      }
    });
  });
  return encodePng(rgb, sheetW, sheetH);
}

/** One line of a {@linkcode lineChart}. */
export interface LineSeries {
  /** Legend text; an empty name keeps the line out of the legend. */
  name: string;
  /** `[x, y]` points in drawing order; a non-finite value breaks the line. */
  points: ReadonlyArray<readonly [number, number]>;
  /** RGB colour, 0–255 per channel. */
  color: readonly [number, number, number];
  /** Line thickness in pixels. Default 2. */
  thickness?: number;
}

/** Options for {@linkcode lineChart}. */
export interface LineChartOptions {
  /** Picture width in pixels. Default 640. */
  width?: number;
  /** Picture height in pixels. Default 400. */
  height?: number;
  /** Title above the plot. Default none. */
  title?: string;
  /** Label under the x axis. Default none. */
  xLabel?: string;
  /** Label above the y axis. Default none. */
  yLabel?: string;
  /** `[min, max]` of the x axis. Default: the data's range. */
  xRange?: readonly [number, number];
  /** `[min, max]` of the y axis. Default: the data's range. */
  yRange?: readonly [number, number];
  /** Corner of the legend. Default "top-right". */
  legend?: "top-right" | "bottom-right";
  /**
   * x-axis scale: "sqrt" spreads out the start of a training curve, where most
   * of the change happens (x must be ≥ 0). Default "linear".
   */
  xScale?: "linear" | "sqrt";
}

/** About five round tick values (steps of 1, 2 or 5 × 10ᵏ) covering `[lo, hi]`. */
function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * Draws line series on shared axes with grid, tick labels and a legend, as PNG
 * bytes (no canvas or browser needed, so it runs in tests, notebooks and CI).
 *
 * @example
 * ```ts
 * import { decodePng, lineChart } from "@halo/kit";
 * const png = lineChart([
 *   { name: "loss", points: [[0, 1], [1, 0.5], [2, 0.3]], color: [31, 119, 180] },
 * ], { width: 320, height: 200, xLabel: "step" });
 * console.log(decodePng(png).width); // 320
 * ```
 */
export function lineChart(
  series: readonly LineSeries[],
  options: LineChartOptions = {},
): Uint8Array {
  const where = "lineChart";
  if (!Array.isArray(series) || series.length === 0) {
    fail(where, "a non-empty array of series", series);
  }
  series.forEach((s, i) => {
    if (!s || !Array.isArray(s.points)) fail(`${where} series[${i}]`, "{ name, points, color }", s);
    if (!Array.isArray(s.color) || s.color.length !== 3) {
      fail(`${where} series[${i}].color`, "an [r, g, b] array", s.color);
    }
    checkInt(`${where} series[${i}]`, "thickness", s.thickness ?? 2, 1, 16);
  });
  const width = checkInt(where, "width", options.width ?? 640, 96, 8192);
  const height = checkInt(where, "height", options.height ?? 400, 64, 8192);
  const finite = series.flatMap((s) =>
    s.points.filter(([x, y]: readonly [number, number]) => Number.isFinite(x) && Number.isFinite(y))
  );
  const range = (axis: 0 | 1, given?: readonly [number, number]): [number, number] => {
    if (given) {
      if (!(Number.isFinite(given[0]) && Number.isFinite(given[1]) && given[0] < given[1])) {
        fail(where, `${axis ? "yRange" : "xRange"} as [min, max] with min < max`, given);
      }
      return [given[0], given[1]];
    }
    if (finite.length === 0) fail(where, "at least one finite point", "none");
    let lo = Math.min(...finite.map((p) => p[axis])), hi = Math.max(...finite.map((p) => p[axis]));
    if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
    return [lo, hi];
  };
  const [x0, x1] = range(0, options.xRange);
  const [y0, y1] = range(1, options.yRange);
  const sqrtX = options.xScale === "sqrt";
  if (sqrtX && x0 < 0) fail(where, 'x ≥ 0 with xScale "sqrt"', x0);
  const fx = sqrtX ? Math.sqrt : (x: number) => x;
  const yTicks = ticks(y0, y1);
  const label = (v: number) => String(Number(v.toPrecision(4)));
  const scale = width >= 480 ? 2 : 1;
  const left = 8 * scale + Math.max(...yTicks.map((v) => textWidth(label(v), scale)));
  const top = (options.title || options.yLabel ? 16 : 6) * scale;
  const bottom = (options.xLabel ? 20 : 11) * scale;
  const right = 12;
  const plotW = width - left - right, plotH = height - top - bottom;
  if (plotW < 16 || plotH < 16) {
    fail(where, "a picture large enough for its axes", `${width}×${height}`);
  }
  const px = (x: number) => left + ((fx(x) - fx(x0)) / (fx(x1) - fx(x0))) * plotW;
  // On a sqrt axis, round values (0, 1, 2, 5 × 10ᵏ) at least 40 px apart.
  const xTicks = sqrtX
    ? [0, ...[-1, 0, 1, 2, 3, 4, 5, 6].flatMap((k) => [1, 2, 5].map((m) => m * 10 ** k))]
      .filter((v) => v >= x0 && v <= x1)
      .reduce<number[]>((kept, v) => {
        if (!kept.length || px(v) - px(kept.at(-1)!) >= 40 * scale) kept.push(v);
        return kept;
      }, [])
    : ticks(x0, x1);
  const py = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * plotH;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  const put = (x: number, y: number, c: readonly [number, number, number]) => {
    const xi = Math.round(x), yi = Math.round(y);
    if (xi < left || yi < top || xi > left + plotW || yi > top + plotH) return;
    rgb.set(c, (yi * width + xi) * 3);
  };
  const grey: [number, number, number] = [225, 225, 225], ink: [number, number, number] = [0, 0, 0];
  const text = (x: number, y: number, s: string, color = ink) =>
    drawText(rgb, width, { x: Math.round(x), y: Math.round(y), scale, color, background: null }, s);
  for (const v of yTicks) {
    for (let x = left; x <= left + plotW; x++) put(x, py(v), grey);
    text(left - 4 * scale - textWidth(label(v), scale), py(v) - 2 * scale, label(v));
  }
  for (const v of xTicks) {
    for (let y = top; y <= top + plotH; y++) put(px(v), y, grey);
    text(px(v) - textWidth(label(v), scale) / 2, top + plotH + 3 * scale, label(v));
  }
  for (let x = left; x <= left + plotW; x++) put(x, top + plotH, ink);
  for (let y = top; y <= top + plotH; y++) put(left, y, ink);
  for (const s of series) {
    const t = s.thickness ?? 2;
    const dot = (x: number, y: number) => {
      for (let dy = 0; dy < t; dy++) {
        for (let dx = 0; dx < t; dx++) put(x + dx - (t - 1) / 2, y + dy - (t - 1) / 2, s.color);
      }
    };
    for (let i = 0; i < s.points.length; i++) {
      const [ax, ay] = s.points[i];
      if (!Number.isFinite(ax) || !Number.isFinite(ay)) continue;
      const next = s.points[i + 1];
      if (!next || !Number.isFinite(next[0]) || !Number.isFinite(next[1])) {
        dot(px(ax), py(ay));
        continue;
      }
      const [sx, sy, ex, ey] = [px(ax), py(ay), px(next[0]), py(next[1])];
      const n = Math.max(1, Math.ceil(Math.max(Math.abs(ex - sx), Math.abs(ey - sy))));
      for (let k = 0; k <= n; k++) dot(sx + ((ex - sx) * k) / n, sy + ((ey - sy) * k) / n);
    }
  }
  const named = series.filter((s) => s.name);
  if (named.length) {
    const line = 6 * scale + 4;
    const boxW = 14 * scale + 12 + Math.max(...named.map((s) => textWidth(s.name, scale)));
    const boxH = named.length * line + 6;
    const bx = left + plotW - boxW - 6;
    const by = options.legend === "bottom-right" ? top + plotH - boxH - 6 : top + 6;
    for (let y = by; y <= by + boxH; y++) {
      for (let x = bx; x <= bx + boxW; x++) {
        const edge = y === by || y === by + boxH || x === bx || x === bx + boxW;
        put(x, y, edge ? [160, 160, 160] : [255, 255, 255]);
      }
    }
    named.forEach((s, i) => {
      const y = by + 5 + i * line;
      for (let dx = 0; dx < 10 * scale; dx++) {
        for (let dy = 0; dy < Math.min(3, s.thickness ?? 2); dy++) {
          put(bx + 5 + dx, y + 2 * scale + dy, s.color);
        }
      }
      text(bx + 10 * scale + 9, y, s.name);
    });
  }
  const heading = [options.title, options.yLabel && `y: ${options.yLabel}`].filter(Boolean);
  if (heading.length) text(left, 4 * scale, heading.join("   "));
  if (options.xLabel) {
    const w = textWidth(options.xLabel, scale);
    text(left + plotW / 2 - w / 2, height - 8 * scale, options.xLabel);
  }
  return encodePng(rgb, width, height);
}
