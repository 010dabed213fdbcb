/**
 * The noise seed of each evaluated clip, shared by every model evaluated (internal).
 * @module
 */

import { createRng } from "../core/_rng.ts";

/** The noise seed of (prompt, sampling seed): the same for every model evaluated. */
export function clipSeed(promptIndex: number, seed: number): number {
  return createRng((promptIndex * 0x9e3779b1 + seed * 0x85ebca6b + 0xe7a1) >>> 0).seed();
}
