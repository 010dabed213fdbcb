/**
 * Private parts of the reference judge shared by its two analyses (`judge.ts`'s generic
 * statistics and `_judge_shapes.ts`'s ShapesWorld analysis): the judgement's types (exported
 * to users from `judge.ts`), the input check, the patch layout and its pixel walk, the 1–4
 * grading and the median.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { type AspectScores, type PatchLabel, SCORE_MAX, SCORE_MIN } from "./scores.ts";
import { numSegments, type PatchGrid } from "./patch.ts";
import type { Video } from "./video.ts";
import type { ShapeName } from "./world.ts";

/** What the judge found in one video. */
export interface Judgement {
  /** Whole-video scores. */
  video: AspectScores;
  /** One label per patch, in patch-index order. */
  patches: PatchLabel[];
  /** `"shapesworld"` when the prompt parsed, `"generic"` otherwise. */
  kind: "shapesworld" | "generic";
  /** Whole-video checks (ShapesWorld only). */
  checks: VideoChecks | null;
}

/** Whole-video findings of a ShapesWorld judgement. */
export interface VideoChecks {
  /** Objects found (tracked lanes of motion). */
  count: number;
  /** The count matches the prompt. */
  countOk: boolean;
  /** Share of object-like pixels on the prompt's palette line. */
  colorShare: number;
  /** The colour matches the prompt. */
  colorOk: boolean;
  /** Best-fitting shape. */
  shape: ShapeName | null;
  /** The shape matches the prompt. */
  shapeOk: boolean;
  /** Mean velocity along the prompt's motion axis, px/frame (signed: right/down positive). */
  velocity: number;
  /** The motion direction matches the prompt. */
  directionOk: boolean;
  /** Share of patches whose flicker grades 3 or better (no noticeable flicker). */
  steadyShare: number;
  /**
   * Share of the pixels (all frames) where the fitted object tracks put no object that have
   * the prompt's background colour (within 0.25 RGB distance): speckle, stray blobs and a
   * wrong or drifting background lower it.
   */
  backgroundShare: number;
}

/** Thresholds of the judge; the defaults are tuned on ShapesWorld renders at 32×32. */
export interface JudgeOptions {
  /** Colour distance from the prompt's palette line above which a pixel is an artefact. Default 0.15. */
  paletteTolerance?: number;
  /**
   * Source frame index of each frame of `video` (when it holds a subsample of the
   * original frames, as the judge server receives). Default `0 … T-1`.
   */
  frameTimes?: readonly number[];
  /** Score at and below which a patch gets a defect reason. Default 2. */
  reasonBelow?: number;
}

/** Checks that `video` is a Video and `grid` no finer than it; errors name `judgeVideo`. */
export function checkShapes(video: Video, grid: PatchGrid): void {
  const where = "judgeVideo";
  if (!video || !(video.frames instanceof Float32Array)) fail(where, "a Video", video);
  const { numFrames: T, height: H, width: W } = video;
  if (video.frames.length !== T * H * W * 3) {
    fail(where, `${T * H * W * 3} frame values`, video.frames.length);
  }
  if (!grid || grid.rows > H || grid.cols > W || grid.framesPerPatch > T) {
    fail(where, `a grid no finer than the video (${T} frames of ${W}x${H})`, grid);
  }
}

/** Cell boundaries that also work when the grid does not divide the size. */
function edges(n: number, parts: number): number[] {
  return Array.from({ length: parts + 1 }, (_, i) => Math.round(i * n / parts));
}

/** Where a video's patches lie: sizes, segments and the cell boundaries of the grid. */
export interface Layout {
  T: number;
  H: number;
  W: number;
  segments: number;
  ys: number[];
  xs: number[];
  grid: PatchGrid;
}

/** The {@linkcode Layout} of `grid` over `video`. */
export function layoutOf(video: Video, grid: PatchGrid): Layout {
  return {
    T: video.numFrames,
    H: video.height,
    W: video.width,
    segments: numSegments(grid, video.numFrames),
    ys: edges(video.height, grid.rows),
    xs: edges(video.width, grid.cols),
    grid,
  };
}

/** Calls `visit(patch, f, y, x)` for every pixel of every patch's tube. */
export function forPatchPixels(
  L: Layout,
  visit: (patch: number, f: number, y: number, x: number) => void,
): void {
  const { grid } = L;
  for (let s = 0; s < L.segments; s++) {
    for (let r = 0; r < grid.rows; r++) {
      for (let c = 0; c < grid.cols; c++) {
        const patch = (s * grid.rows + r) * grid.cols + c;
        for (let f = s * grid.framesPerPatch; f < (s + 1) * grid.framesPerPatch; f++) {
          for (let y = L.ys[r]; y < L.ys[r + 1]; y++) {
            for (let x = L.xs[c]; x < L.xs[c + 1]; x++) visit(patch, f, y, x);
          }
        }
      }
    }
  }
}

/** 4 − (number of thresholds exceeded), clamped to the scale. */
export function grade(value: number, thresholds: readonly [number, number, number]): number {
  let s = SCORE_MAX;
  for (const t of thresholds) if (value > t) s--;
  return Math.max(SCORE_MIN, s);
}

/** Median of `values` (0 for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
