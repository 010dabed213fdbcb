/**
 * The generator's cross-token context (`crossContext`): per-token values
 * interpolated to every pixel across token edges, as constant matmuls.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { PatchGrid } from "../videos/patch.ts";

/** The geometry the interpolation needs (a generator config has it). */
export interface TokenGeometry {
  /** Frames per clip. */
  frames: number;
  /** Frame height and width. */
  size: number;
  /** Token grid. */
  tokenGrid: PatchGrid;
}

/**
 * Token values `[B, S·P, C]` (segment-major, as {@linkcode patchify} orders
 * tokens) interpolated to every pixel `[B, T, H, W, C]`: linearly between
 * token centres along rows, columns and frames (edges clamped), written as
 * two matmuls with constant interpolation matrices.
 */
export function interpolateTokens(
  x: tf.Tensor,
  c: TokenGeometry,
  channels: number,
): tf.Tensor {
  const s = c.frames / c.tokenGrid.framesPerPatch;
  const n = c.tokenGrid.rows * c.tokenGrid.cols;
  const b = x.shape[0];
  const hw = c.size * c.size;
  const { space, time } = interpolationMatrices(c);
  return tf.tidy(() => {
    // space: [B·S·C, P] × [P, H·W]
    let y = x.reshape([b, s, n, channels]).transpose([0, 1, 3, 2]).reshape([b * s * channels, n])
      .matMul(space);
    // time: [B·C·H·W, S] × [S, T]
    y = y.reshape([b, s, channels * hw]).transpose([0, 2, 1]).reshape([b * channels * hw, s])
      .matMul(time);
    return y.reshape([b, channels, c.size, c.size, c.frames]).transpose([0, 4, 2, 3, 1]);
  });
}

/** 1-D linear interpolation weights from `cells` cell centres to `length` pixel centres `[cells, length]`. */
export function lerpWeights(cells: number, length: number): Float32Array {
  const w = new Float32Array(cells * length);
  const per = length / cells;
  for (let i = 0; i < length; i++) {
    const u = Math.min(cells - 1, Math.max(0, (i + 0.5) / per - 0.5));
    const lo = Math.floor(u);
    const hi = Math.min(cells - 1, lo + 1);
    w[lo * length + i] += 1 - (u - lo);
    w[hi * length + i] += u - lo;
  }
  return w;
}

const interpolationCache = new Map<string, { space: tf.Tensor2D; time: tf.Tensor2D }>();
function interpolationMatrices(c: TokenGeometry): { space: tf.Tensor2D; time: tf.Tensor2D } {
  const g = c.tokenGrid;
  const key = `${g.rows}x${g.cols}x${g.framesPerPatch}:${c.size}:${c.frames}:${tf.getBackend()}`;
  const hit = interpolationCache.get(key);
  if (hit && !hit.space.isDisposed && !hit.time.isDisposed) return hit;
  const rows = lerpWeights(g.rows, c.size);
  const cols = lerpWeights(g.cols, c.size);
  const s = c.frames / g.framesPerPatch;
  const n = g.rows * g.cols;
  const space = new Float32Array(n * c.size * c.size);
  for (let r = 0; r < g.rows; r++) {
    for (let q = 0; q < g.cols; q++) {
      for (let y = 0; y < c.size; y++) {
        for (let x = 0; x < c.size; x++) {
          space[(r * g.cols + q) * c.size * c.size + y * c.size + x] = rows[r * c.size + y] *
            cols[q * c.size + x];
        }
      }
    }
  }
  const made = {
    space: tf.keep(tf.tensor2d(space, [n, c.size * c.size])),
    time: tf.keep(tf.tensor2d(lerpWeights(s, c.frames), [s, c.frames])),
  };
  interpolationCache.set(key, made);
  return made;
}
