/**
 * Patch geometry shared by the labeller, the reward models, the generator's
 * loss maps and the plots: grids, patch ids and boxes, exact
 * patchify/unpatchify and per-patch reductions of per-pixel maps.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, fail } from "../core/_errors.ts";
import { drawText } from "../core/_font.ts";
import { encodePng, type RgbImage } from "../core/png.ts";
import type { Video } from "./video.ts";

/**
 * A spatio-temporal patch grid: each frame is cut into `rows × cols` cells and
 * time into segments of `framesPerPatch` frames. A patch is one cell over one
 * segment (a "tube"). Reconstruction: the paper does not publish its patch
 * geometry; every consumer takes the grid as a parameter.
 */
export interface PatchGrid {
  /** Cells along the frame height. */
  readonly rows: number;
  /** Cells along the frame width. */
  readonly cols: number;
  /** Frames per temporal segment. */
  readonly framesPerPatch: number;
}

/** The size of a video (or a batch item) that a grid is laid over. */
export interface VideoShape {
  /** Frames T. */
  readonly numFrames: number;
  /** Height H in pixels. */
  readonly height: number;
  /** Width W in pixels. */
  readonly width: number;
}

/** A patch's place in the grid. */
export interface PatchCoords {
  /** Temporal segment, `0 … segments-1`. */
  segment: number;
  /** Row, `0 … rows-1` (top to bottom). */
  row: number;
  /** Column, `0 … cols-1` (left to right). */
  col: number;
}

/** A patch's pixel box; ends are exclusive. */
export interface PatchBox {
  /** First frame. */
  frameStart: number;
  /** One past the last frame. */
  frameEnd: number;
  /** First pixel row. */
  top: number;
  /** One past the last pixel row. */
  bottom: number;
  /** First pixel column. */
  left: number;
  /** One past the last pixel column. */
  right: number;
}

/** The grid the kit uses unless told otherwise: 4×4 cells over 4-frame segments. */
export const DEFAULT_GRID: PatchGrid = Object.freeze({ rows: 4, cols: 4, framesPerPatch: 4 });

/**
 * Parses `"ROWSxCOLSxFRAMES"` (e.g. `"4x4x4"`) into a {@linkcode PatchGrid}.
 *
 * @example
 * ```ts
 * import { parseGrid } from "@halo/kit";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseGrid("2x3x4"), { rows: 2, cols: 3, framesPerPatch: 4 });
 * ```
 */
export function parseGrid(spec: string): PatchGrid {
  const match = /^\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*$/i.exec(String(spec));
  if (!match) fail("parseGrid", 'a grid "ROWSxCOLSxFRAMES" such as "4x4x4"', spec);
  try {
    return makeGrid({
      rows: Number(match[1]),
      cols: Number(match[2]),
      framesPerPatch: Number(match[3]),
    });
  } catch (error) {
    throw new RangeError(`parseGrid(${JSON.stringify(spec)}): ${(error as Error).message}`);
  }
}

/** Formats a grid as `"ROWSxCOLSxFRAMES"`, the inverse of {@linkcode parseGrid}. */
export function formatGrid(grid: PatchGrid): string {
  return `${grid.rows}x${grid.cols}x${grid.framesPerPatch}`;
}

function makeGrid(grid: PatchGrid): PatchGrid {
  checkInt("PatchGrid", "rows", grid.rows, 1, 4096);
  checkInt("PatchGrid", "cols", grid.cols, 1, 4096);
  checkInt("PatchGrid", "framesPerPatch", grid.framesPerPatch, 1, 100000);
  return Object.freeze({ rows: grid.rows, cols: grid.cols, framesPerPatch: grid.framesPerPatch });
}

/**
 * Checks that `grid` divides a video of `shape` exactly; the error names both sizes.
 *
 * @example
 * ```ts
 * import { checkGrid } from "@halo/kit/videos";
 * import assert from "node:assert/strict";
 * checkGrid({ rows: 4, cols: 4, framesPerPatch: 4 }, { numFrames: 16, height: 32, width: 32 });
 * assert.throws(() => checkGrid({ rows: 5, cols: 4, framesPerPatch: 4 }, { numFrames: 16, height: 32, width: 32 }));
 * ```
 */
export function checkGrid(grid: PatchGrid, shape: VideoShape): void {
  makeGrid(grid);
  const { numFrames, height, width } = shape;
  const g = formatGrid(grid);
  const v = `${numFrames} frames of ${height}×${width}`;
  if (
    height % grid.rows !== 0 || width % grid.cols !== 0 || numFrames % grid.framesPerPatch !== 0
  ) {
    throw new RangeError(
      `PatchGrid ${g}: Expected a video whose frame count is a multiple of ${grid.framesPerPatch}, ` +
        `height a multiple of ${grid.rows} and width a multiple of ${grid.cols} but found ${v}`,
    );
  }
}

/** Number of temporal segments of a `numFrames`-frame video. */
export function numSegments(grid: PatchGrid, numFrames: number): number {
  return Math.floor(numFrames / grid.framesPerPatch);
}

/** Number of patches (tubes) of a `numFrames`-frame video. */
export function numPatches(grid: PatchGrid, numFrames: number): number {
  return numSegments(grid, numFrames) * grid.rows * grid.cols;
}

/** Flat patch index of `coords`: `(segment * rows + row) * cols + col`. */
export function patchIndex(grid: PatchGrid, coords: PatchCoords): number {
  return (coords.segment * grid.rows + coords.row) * grid.cols + coords.col;
}

/** The coordinates of flat patch `index`. */
export function patchCoords(grid: PatchGrid, index: number): PatchCoords {
  checkInt("patchCoords", "index", index, 0);
  const col = index % grid.cols;
  const row = Math.floor(index / grid.cols) % grid.rows;
  const segment = Math.floor(index / (grid.cols * grid.rows));
  return { segment, row, col };
}

/**
 * The id of patch `index`, e.g. `"s0r1c2"`: segment, row, column. These ids are
 * what the labeller asks a VLM to score and what label files key on.
 *
 * @example
 * ```ts
 * import { patchId } from "@halo/kit";
 * import { parsePatchId } from "@halo/kit/videos";
 * import assert from "node:assert/strict";
 * const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
 * assert.equal(patchId(grid, 18), "s1r0c2");
 * assert.equal(parsePatchId(grid, "s1r0c2"), 18);
 * ```
 */
export function patchId(grid: PatchGrid, index: number): string {
  const { segment, row, col } = patchCoords(grid, index);
  return `s${segment}r${row}c${col}`;
}

/** The flat index of a patch id like `"s0r1c2"`; throws on ids outside the grid. */
export function parsePatchId(grid: PatchGrid, id: string): number {
  const match = /^s(\d+)r(\d+)c(\d+)$/.exec(String(id));
  if (!match) fail("parsePatchId", 'a patch id like "s0r1c2"', id);
  const [segment, row, col] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (row >= grid.rows || col >= grid.cols) {
    fail("parsePatchId", `row < ${grid.rows} and col < ${grid.cols}`, id);
  }
  return patchIndex(grid, { segment, row, col });
}

/** All patch ids of a `numFrames`-frame video, in index order. */
export function patchIds(grid: PatchGrid, numFrames: number): string[] {
  return Array.from({ length: numPatches(grid, numFrames) }, (_, i) => patchId(grid, i));
}

/** The pixel box of patch `index` in a video of `shape`. */
export function patchBox(grid: PatchGrid, shape: VideoShape, index: number): PatchBox {
  checkGrid(grid, shape);
  const n = numPatches(grid, shape.numFrames);
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    fail("patchBox", `a patch index in [0, ${n})`, index);
  }
  const { segment, row, col } = patchCoords(grid, index);
  const ph = shape.height / grid.rows;
  const pw = shape.width / grid.cols;
  return {
    frameStart: segment * grid.framesPerPatch,
    frameEnd: (segment + 1) * grid.framesPerPatch,
    top: row * ph,
    bottom: (row + 1) * ph,
    left: col * pw,
    right: (col + 1) * pw,
  };
}

function rankOf(x: tf.Tensor, where: string, ranks: readonly number[]): void {
  if (!ranks.includes(x.rank)) {
    fail(
      where,
      `tensor 'x' of rank ${ranks.join(" or ")}`,
      `rank ${x.rank} with shape [${x.shape.join(", ")}]`,
    );
  }
}

/**
 * Cuts a video tensor `[T,H,W,C]` (or a batch `[B,T,H,W,C]`) into patch tokens
 * `[N,D]` (or `[B,N,D]`), with N ordered by (segment, row, col) and each
 * token's D = framesPerPatch·(H/rows)·(W/cols)·C values ordered (frame, y, x,
 * channel). Pure data movement: {@linkcode unpatchify} inverts it bit-exactly.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { patchify, unpatchify } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const grid = { rows: 2, cols: 2, framesPerPatch: 2 };
 * const x = tf.randomUniform([4, 8, 8, 3]);
 * const tokens = patchify(x, grid);
 * assert.deepEqual(tokens.shape, [8, 2 * 4 * 4 * 3]);
 * const back = unpatchify(tokens, grid, { numFrames: 4, height: 8, width: 8, channels: 3 });
 * assert.deepEqual(await back.data(), await x.data());
 * ```
 */
export function patchify(x: tf.Tensor, grid: PatchGrid): tf.Tensor {
  rankOf(x, "patchify", [4, 5]);
  const batched = x.rank === 5;
  const [b, t, h, w, c] = batched ? x.shape : [1, ...x.shape];
  checkGrid(grid, { numFrames: t, height: h, width: w });
  const s = t / grid.framesPerPatch;
  const ph = h / grid.rows;
  const pw = w / grid.cols;
  // Ranks stay ≤ 6: the webgpu backend has no transpose above rank 6.
  return tf.tidy(() => {
    const y = x.reshape([b * s, grid.framesPerPatch, grid.rows, ph, grid.cols, pw * c])
      .transpose([0, 2, 4, 1, 3, 5])
      .reshape([b, s * grid.rows * grid.cols, grid.framesPerPatch * ph * pw * c]);
    return batched ? y : y.squeeze([0]);
  });
}

/** The video size and channel count that {@linkcode unpatchify} rebuilds. */
export interface UnpatchifyShape extends VideoShape {
  /** Channels per pixel (3 for RGB). */
  readonly channels: number;
}

/** Reassembles patch tokens `[N,D]` / `[B,N,D]` into `[T,H,W,C]` / `[B,T,H,W,C]`. */
export function unpatchify(tokens: tf.Tensor, grid: PatchGrid, shape: UnpatchifyShape): tf.Tensor {
  rankOf(tokens, "unpatchify", [2, 3]);
  checkGrid(grid, shape);
  const { numFrames: t, height: h, width: w, channels: c } = shape;
  const s = t / grid.framesPerPatch;
  const ph = h / grid.rows;
  const pw = w / grid.cols;
  const batched = tokens.rank === 3;
  const n = s * grid.rows * grid.cols;
  const d = grid.framesPerPatch * ph * pw * c;
  const [b, tn, td] = batched ? tokens.shape : [1, ...tokens.shape];
  if (tn !== n || td !== d) {
    fail(
      "unpatchify",
      `tensor 'tokens' of shape [${batched ? "B, " : ""}${n}, ${d}]`,
      `[${tokens.shape.join(", ")}]`,
    );
  }
  return tf.tidy(() => {
    const y = tokens.reshape([b * s, grid.rows, grid.cols, grid.framesPerPatch, ph, pw * c])
      .transpose([0, 3, 1, 4, 2, 5])
      .reshape([b, t, h, w, c]);
    return batched ? y : y.squeeze([0]);
  });
}

/**
 * Per-patch mean of a per-pixel map: `[B,T,H,W]` or `[B,T,H,W,C]` (channels
 * averaged too) → `[B, segments, rows, cols]`. Used for loss maps and reward maps.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { reducePatches } from "@halo/kit/videos";
 * import assert from "node:assert/strict";
 * const map = tf.ones([1, 4, 8, 8]);
 * const means = reducePatches(map, { rows: 2, cols: 2, framesPerPatch: 2 });
 * assert.deepEqual(means.shape, [1, 2, 2, 2]);
 * assert.ok(Array.from(await means.data()).every((v) => v === 1));
 * ```
 */
export function reducePatches(map: tf.Tensor, grid: PatchGrid): tf.Tensor4D {
  rankOf(map, "reducePatches", [4, 5]);
  const [b, t, h, w] = map.shape;
  checkGrid(grid, { numFrames: t, height: h, width: w });
  const s = t / grid.framesPerPatch;
  return tf.tidy(() => {
    const m = map.rank === 5 ? map.mean(-1) : map;
    return m.reshape([
      b * s,
      grid.framesPerPatch,
      grid.rows,
      h / grid.rows,
      grid.cols,
      w / grid.cols,
    ])
      .mean([1, 3, 5])
      .reshape([b, s, grid.rows, grid.cols]) as tf.Tensor4D;
  });
}

/** A per-pixel map held in a plain array, with its layout. */
export interface PixelMapShape extends VideoShape {
  /** Values per pixel (1 for a scalar map, 3 for RGB). */
  readonly channels: number;
}

/**
 * Per-patch mean of a per-pixel map held in a plain array `[T,H,W,C]`; returns
 * one value per patch in index order. The array twin of {@linkcode reducePatches}.
 *
 * @example
 * ```ts
 * import { patchMeans } from "@halo/kit/videos";
 * import assert from "node:assert/strict";
 * const map = new Float32Array(2 * 4 * 4).fill(0.5);
 * const means = patchMeans(map, { numFrames: 2, height: 4, width: 4, channels: 1 }, { rows: 2, cols: 2, framesPerPatch: 2 });
 * assert.deepEqual(Array.from(means), [0.5, 0.5, 0.5, 0.5]);
 * ```
 */
export function patchMeans(
  map: ArrayLike<number>,
  shape: PixelMapShape,
  grid: PatchGrid,
): Float32Array {
  checkGrid(grid, shape);
  const { numFrames: t, height: h, width: w, channels: c } = shape;
  if (map.length !== t * h * w * c) {
    fail(
      "patchMeans",
      `a map of length ${t}·${h}·${w}·${c} = ${t * h * w * c}`,
      `length ${map.length}`,
    );
  }
  const sums = new Float64Array(numPatches(grid, t));
  const ph = h / grid.rows;
  const pw = w / grid.cols;
  for (let f = 0; f < t; f++) {
    const seg = Math.floor(f / grid.framesPerPatch);
    for (let y = 0; y < h; y++) {
      const rowBase = (seg * grid.rows + Math.floor(y / ph)) * grid.cols;
      for (let x = 0; x < w; x++) {
        const p = rowBase + Math.floor(x / pw);
        const base = ((f * h + y) * w + x) * c;
        for (let k = 0; k < c; k++) sums[p] += map[base + k];
      }
    }
  }
  const count = grid.framesPerPatch * ph * pw * c;
  return Float32Array.from(sums, (v) => v / count);
}

/** Options for {@linkcode gridImage}. */
export interface GridImageOptions {
  /** Frame indices to show. Default: the middle frame of every segment. */
  frames?: readonly number[];
  /** Integer upscaling (nearest neighbour). Default: enough to make frames at least 256 px tall. */
  scale?: number;
  /** Grid line colour, RGB 0–255. Default magenta, which ShapesWorld backgrounds never use. */
  lineColor?: readonly [number, number, number];
  /** Write `r{row}c{col}` into every cell and `s{segment} f{frame}` above each frame. Default true. */
  labels?: boolean;
  /** Flat patch indices to outline in red on the frames of their segment (e.g. defective patches). */
  highlight?: readonly number[];
}

/**
 * Draws sub-sampled frames side by side with the patch grid and patch ids on
 * them, as RGB pixels. {@linkcode gridImage} returns the same as PNG bytes.
 */
export function gridImageRgb(
  video: Video,
  grid: PatchGrid,
  options: GridImageOptions = {},
): RgbImage {
  checkGrid(grid, video);
  const segments = numSegments(grid, video.numFrames);
  const frames = options.frames ??
    Array.from(
      { length: segments },
      (_, s) => s * grid.framesPerPatch + Math.floor(grid.framesPerPatch / 2),
    );
  for (const f of frames) {
    if (!Number.isInteger(f) || f < 0 || f >= video.numFrames) {
      fail("gridImage", `frame indices in [0, ${video.numFrames})`, f);
    }
  }
  const scale = options.scale ?? Math.max(1, Math.ceil(256 / video.height));
  checkInt("gridImage", "scale", scale, 1, 64);
  const labels = options.labels ?? true;
  const line = options.lineColor ?? [255, 0, 255];
  const fh = video.height * scale;
  const fw = video.width * scale;
  const font = Math.max(1, Math.floor(Math.min(fh / grid.rows, fw / grid.cols) / 24));
  const header = labels ? 8 * font : 0;
  const gap = 4;
  const width = frames.length * fw + (frames.length - 1) * gap;
  const height = fh + header;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  frames.forEach((f, k) => {
    const ox = k * (fw + gap);
    for (let y = 0; y < fh; y++) {
      const sy = Math.floor(y / scale);
      for (let x = 0; x < fw; x++) {
        const src = ((f * video.height + sy) * video.width + Math.floor(x / scale)) * 3;
        const dst = ((y + header) * width + ox + x) * 3;
        for (let c = 0; c < 3; c++) rgb[dst + c] = Math.round(video.frames[src + c] * 255);
      }
    }
    const thick = Math.max(1, Math.round(scale / 4), font);
    for (let r = 0; r <= grid.rows; r++) {
      const y0 = Math.min(
        fh - thick,
        Math.round((r * fh) / grid.rows) - (r > 0 ? Math.floor(thick / 2) : 0),
      );
      for (let y = y0; y < y0 + thick; y++) {
        for (let x = 0; x < fw; x++) rgb.set(line, ((y + header) * width + ox + x) * 3);
      }
    }
    for (let c = 0; c <= grid.cols; c++) {
      const x0 = Math.min(
        fw - thick,
        Math.round((c * fw) / grid.cols) - (c > 0 ? Math.floor(thick / 2) : 0),
      );
      for (let y = 0; y < fh; y++) {
        for (let x = x0; x < x0 + thick; x++) rgb.set(line, ((y + header) * width + ox + x) * 3);
      }
    }
    const segment = Math.floor(f / grid.framesPerPatch);
    for (const index of options.highlight ?? []) {
      const box = patchBox(grid, video, index);
      if (box.frameStart !== segment * grid.framesPerPatch) continue;
      const [x0, x1, y0, y1] = [
        box.left * scale,
        box.right * scale,
        box.top * scale,
        box.bottom * scale,
      ];
      const edge = 2 * thick;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          if (y - y0 < edge || y1 - 1 - y < edge || x - x0 < edge || x1 - 1 - x < edge) {
            rgb.set([255, 32, 32], ((y + header) * width + ox + x) * 3);
          }
        }
      }
    }
    if (!labels) return;
    drawText(
      rgb,
      width,
      { x: ox + font, y: font, scale: font, color: [255, 255, 255] },
      `s${Math.floor(f / grid.framesPerPatch)} f${f}`,
    );
    for (let r = 0; r < grid.rows; r++) {
      for (let c = 0; c < grid.cols; c++) {
        const x = ox + Math.round((c * fw) / grid.cols) + thick + font;
        const y = header + Math.round((r * fh) / grid.rows) + thick + font;
        drawText(rgb, width, { x, y, scale: font, color: [255, 255, 0] }, `r${r}c${c}`);
      }
    }
  });
  return { width, height, rgb };
}

/**
 * Draws sub-sampled frames side by side with the patch grid and patch ids
 * (`r{row}c{col}` in each cell, `s{segment} f{frame}` above each frame) and
 * returns PNG bytes: the picture the labeller sends to the VLM.
 *
 * @example
 * ```ts
 * import { createVideo, gridImage } from "@halo/kit";
 * const video = createVideo({ frames: new Float32Array(8 * 32 * 32 * 3).fill(0.2), numFrames: 8, height: 32, width: 32 });
 * const png = gridImage(video, { rows: 4, cols: 4, framesPerPatch: 4 });
 * console.log(png.length > 0);
 * ```
 */
export function gridImage(
  video: Video,
  grid: PatchGrid,
  options: GridImageOptions = {},
): Uint8Array {
  const image = gridImageRgb(video, grid, options);
  return encodePng(image.rgb, image.width, image.height);
}
