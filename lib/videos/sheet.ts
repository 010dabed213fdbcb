/**
 * Contact sheets of videos as PNG bytes (one row per clip, evenly spaced frames
 * across): static pictures where a picture of frames is the point. Charts are
 * plotly figure specs (`figure.ts`), rendered to PNG by `figure_png.ts`.
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import { encodePng } from "../core/png.ts";
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
