/**
 * The judge server's label noise, shared with the benches that put it back on clean labels:
 * `score + bias + σ·N(0, 1)`, rounded and clipped to the 1–4 grid.
 * @module
 */

import type { Rng } from "../../core/_rng.ts";
import { SCORE_MAX, SCORE_MIN } from "../../videos/scores.ts";

/** One score with the server's noise `noise` (σ) and `bias` on it, on the 1–4 grid. */
export function perturbScore(score: number, noise: number, bias: number, rng: Rng): number {
  const v = score + bias + (noise > 0 ? noise * rng.normal() : 0);
  return Math.max(SCORE_MIN, Math.min(SCORE_MAX, Math.round(v)));
}
