/**
 * Defect injectors: put a known local defect (blur, colour bleed, flicker, a
 * missing or an extra object, a frozen patch) into chosen patches of a video
 * and report which patches actually changed. Tests use them to check that the
 * judge and the labeller localise defects; the reward-model stage uses them to
 * make hard negatives with known patch labels.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { numPatches, patchBox, type PatchGrid } from "./patch.ts";
import { createVideo, type Video } from "./video.ts";

/** The kinds of defect {@linkcode injectDefect} can make. */
export type DefectKind =
  | "blur"
  | "color_bleed"
  | "flicker"
  | "missing_object"
  | "extra_object"
  | "frozen";

/** Every defect kind. */
export const DEFECT_KINDS: readonly DefectKind[] = Object.freeze([
  "blur",
  "color_bleed",
  "flicker",
  "missing_object",
  "extra_object",
  "frozen",
]);

/** Options for {@linkcode injectDefect}. */
export interface InjectDefectOptions {
  /** Which defect. */
  kind: DefectKind;
  /** The patch grid the indices refer to. */
  grid: PatchGrid;
  /** Flat indices of the patches to damage. */
  patches: readonly number[];
  /** Severity multiplier; 1 is clearly visible at 32×32. Default 1. */
  strength?: number;
  /** Colour of an extra object, RGB in [0, 1]. Default: the video's dominant non-background colour. */
  color?: readonly [number, number, number];
  /**
   * A pixel must change by more than this (max over channels) to count as damaged.
   * Default 0.05.
   */
  changeThreshold?: number;
}

/** A damaged video and where it was damaged. */
export interface InjectedDefect {
  /** The new video (the input is not modified). */
  video: Video;
  /** The defect kind. */
  kind: DefectKind;
  /** Patches (flat indices, ascending) where at least 2% of the pixels changed visibly. */
  affected: number[];
}

/**
 * Injects a defect into the chosen patches. A requested patch where the defect
 * changes nothing (blurring flat background, erasing where there is no object)
 * is not reported as affected.
 *
 * @example
 * ```ts
 * import { injectDefect, parsePrompt, renderClip } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const { video } = renderClip(parsePrompt("one red circle moving left slowly on a black background"), { seed: 2 });
 * const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
 * const out = injectDefect(video, { kind: "flicker", grid, patches: [0, 21] });
 * assert.deepEqual(out.affected, [0, 21]);
 * ```
 */
export function injectDefect(video: Video, options: InjectDefectOptions): InjectedDefect {
  const where = "injectDefect";
  const { kind, grid } = options;
  if (!DEFECT_KINDS.includes(kind)) fail(where, `kind one of ${DEFECT_KINDS.join(", ")}`, kind);
  const strength = options.strength ?? 1;
  if (!(strength > 0 && Number.isFinite(strength))) fail(where, "strength > 0", strength);
  const n = numPatches(grid, video.numFrames);
  for (const p of options.patches) {
    if (!Number.isInteger(p) || p < 0 || p >= n) fail(where, `patch indices in [0, ${n})`, p);
  }
  const { numFrames: T, height: H, width: W } = video;
  const src = video.frames;
  const out = new Float32Array(src);
  const bg = backgroundColors(video);
  const objectColor = options.color ?? dominantColor(video, bg);
  for (const p of new Set(options.patches)) {
    const box = patchBox(grid, video, p);
    const each = (fn: (f: number, y: number, x: number, i: number) => void): void => {
      for (let f = box.frameStart; f < box.frameEnd; f++) {
        for (let y = box.top; y < box.bottom; y++) {
          for (let x = box.left; x < box.right; x++) fn(f, y, x, ((f * H + y) * W + x) * 3);
        }
      }
    };
    if (kind === "blur") {
      for (let f = box.frameStart; f < box.frameEnd; f++) {
        const blurred = blurFrame(src, f, H, W, 1.5 * strength);
        for (let y = box.top; y < box.bottom; y++) {
          for (let x = box.left; x < box.right; x++) {
            const i = (y * W + x) * 3;
            for (let c = 0; c < 3; c++) out[f * H * W * 3 + i + c] = blurred[i + c];
          }
        }
      }
    } else if (kind === "color_bleed") {
      // The object's colour smears outwards and shifts hue: a halo of a colour that
      // belongs to nothing in the scene.
      const tint = foreignTint(bg[box.frameStart], objectColor);
      for (let f = box.frameStart; f < box.frameEnd; f++) {
        const objectness = new Float32Array(H * W * 3);
        for (let i = 0; i < H * W; i++) {
          const p0 = (f * H * W + i) * 3;
          const dist = Math.hypot(
            src[p0] - bg[f][0],
            src[p0 + 1] - bg[f][1],
            src[p0 + 2] - bg[f][2],
          );
          objectness[3 * i] = objectness[3 * i + 1] = objectness[3 * i + 2] = Math.min(1, dist * 2);
        }
        const halo = blurFrame(objectness, 0, H, W, 2);
        for (let y = box.top; y < box.bottom; y++) {
          for (let x = box.left; x < box.right; x++) {
            const h = Math.min(
              1,
              2.5 * Math.max(halo[(y * W + x) * 3], objectness[(y * W + x) * 3]),
            );
            const mix = Math.min(1, 0.7 * strength * h);
            const i = ((f * H + y) * W + x) * 3;
            for (let c = 0; c < 3; c++) out[i + c] = src[i + c] * (1 - mix) + tint[c] * mix;
          }
        }
      }
    } else if (kind === "flicker") {
      const delta = 0.3 * strength;
      each((f, _y, _x, i) => {
        const sign = (f - box.frameStart) % 2 === 1 ? 1 : -1;
        for (let c = 0; c < 3; c++) out[i + c] = clamp01(src[i + c] + sign * delta);
      });
    } else if (kind === "missing_object") {
      each((f, _y, _x, i) => {
        for (let c = 0; c < 3; c++) out[i + c] = bg[f][c];
      });
    } else if (kind === "extra_object") {
      const cx = (box.left + box.right) / 2, cy = (box.top + box.bottom) / 2;
      const r = 0.45 * Math.min(box.right - box.left, box.bottom - box.top) * Math.min(1, strength);
      each((_f, y, x, i) => {
        let hits = 0;
        for (let sy = 0; sy < 4; sy++) {
          for (let sx = 0; sx < 4; sx++) {
            const dx = x + (sx + 0.5) / 4 - cx, dy = y + (sy + 0.5) / 4 - cy;
            if (dx * dx + dy * dy <= r * r) hits++;
          }
        }
        const cov = hits / 16;
        for (let c = 0; c < 3; c++) out[i + c] = src[i + c] * (1 - cov) + objectColor[c] * cov;
      });
    } else {
      // frozen: the first frame of the segment held over the whole segment.
      each((f, y, x, i) => {
        const j = ((box.frameStart * H + y) * W + x) * 3;
        if (f !== box.frameStart) { for (let c = 0; c < 3; c++) out[i + c] = src[j + c]; }
      });
    }
  }
  const threshold = options.changeThreshold ?? 0.05;
  const affected: number[] = [];
  for (let p = 0; p < n; p++) {
    const box = patchBox(grid, video, p);
    let changed = 0, total = 0;
    for (let f = box.frameStart; f < box.frameEnd; f++) {
      for (let y = box.top; y < box.bottom; y++) {
        for (let x = box.left; x < box.right; x++) {
          const i = ((f * H + y) * W + x) * 3;
          total++;
          if (
            Math.abs(out[i] - src[i]) > threshold ||
            Math.abs(out[i + 1] - src[i + 1]) > threshold ||
            Math.abs(out[i + 2] - src[i + 2]) > threshold
          ) changed++;
        }
      }
    }
    if (changed >= Math.max(1, 0.02 * total)) affected.push(p);
  }
  return {
    video: createVideo({
      frames: out,
      numFrames: T,
      height: H,
      width: W,
      fps: video.fps,
      source: `${video.source}+${kind}`,
    }),
    kind,
    affected,
  };
}

/** The candidate colour farthest from the segment between background and object colour. */
function foreignTint(bg: readonly number[], fg: readonly number[]): number[] {
  const candidates = [[1, 0, 1], [0, 1, 0], [0, 0.6, 1], [1, 0.6, 0], [1, 1, 0], [0, 1, 1]];
  const d = [fg[0] - bg[0], fg[1] - bg[1], fg[2] - bg[2]];
  const dd = d[0] ** 2 + d[1] ** 2 + d[2] ** 2 || 1;
  let best = candidates[0], bestDist = -1;
  for (const c of candidates) {
    const a = Math.min(
      1,
      Math.max(0, ((c[0] - bg[0]) * d[0] + (c[1] - bg[1]) * d[1] + (c[2] - bg[2]) * d[2]) / dd),
    );
    const dist = Math.hypot(
      c[0] - bg[0] - a * d[0],
      c[1] - bg[1] - a * d[1],
      c[2] - bg[2] - a * d[2],
    );
    if (dist > bestDist) {
      bestDist = dist;
      best = c;
    }
  }
  return best;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Per-frame background estimate: the per-channel median of the frame's border pixels. */
function backgroundColors(video: Video): number[][] {
  const { numFrames: T, height: H, width: W, frames } = video;
  const out: number[][] = [];
  for (let f = 0; f < T; f++) {
    const channels: number[][] = [[], [], []];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (y !== 0 && y !== H - 1 && x !== 0 && x !== W - 1) continue;
        const i = ((f * H + y) * W + x) * 3;
        for (let c = 0; c < 3; c++) channels[c].push(frames[i + c]);
      }
    }
    out.push(channels.map((v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]));
  }
  return out;
}

/** Median colour of the pixels far from the background; white when there are none. */
function dominantColor(video: Video, bg: number[][]): [number, number, number] {
  const { numFrames: T, height: H, width: W, frames } = video;
  const channels: number[][] = [[], [], []];
  for (let f = 0; f < T; f++) {
    for (let i = 0; i < H * W; i++) {
      const p = (f * H * W + i) * 3;
      const dist = Math.hypot(
        frames[p] - bg[f][0],
        frames[p + 1] - bg[f][1],
        frames[p + 2] - bg[f][2],
      );
      if (dist > 0.4) { for (let c = 0; c < 3; c++) channels[c].push(frames[p + c]); }
    }
  }
  if (channels[0].length === 0) return [1, 1, 1];
  return channels.map((v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]) as [
    number,
    number,
    number,
  ];
}

/** Separable Gaussian blur of frame `f` of an RGB `[T,H,W,3]` array; returns `[H,W,3]`. */
function blurFrame(
  src: Float32Array,
  f: number,
  H: number,
  W: number,
  sigma: number,
): Float32Array {
  const radius = Math.max(1, Math.ceil(2.5 * sigma));
  const kernel: number[] = [];
  for (let k = -radius; k <= radius; k++) kernel.push(Math.exp(-(k * k) / (2 * sigma * sigma)));
  const tmp = new Float32Array(H * W * 3);
  const out = new Float32Array(H * W * 3);
  const base = f * H * W * 3;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0, wsum = 0;
        for (let k = -radius; k <= radius; k++) {
          const xx = x + k;
          if (xx < 0 || xx >= W) continue;
          s += kernel[k + radius] * src[base + (y * W + xx) * 3 + c];
          wsum += kernel[k + radius];
        }
        tmp[(y * W + x) * 3 + c] = s / wsum;
      }
    }
  }
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0, wsum = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = y + k;
          if (yy < 0 || yy >= H) continue;
          s += kernel[k + radius] * tmp[(yy * W + x) * 3 + c];
          wsum += kernel[k + radius];
        }
        out[(y * W + x) * 3 + c] = s / wsum;
      }
    }
  }
  return out;
}
