/** Fixtures of the labelling tests: ShapesWorld clips with injected defects at known patches. */
import type { PatchGrid } from "../lib/videos/patch.ts";
import type { ShapesPrompt } from "../lib/videos/world.ts";
import { objectPresence } from "../lib/videos/defect_cases.ts";

export { type DefectCase, defectCases, topKHit, worstFirst } from "../lib/videos/defect_cases.ts";

/** The grid of the tests. */
export const GRID: PatchGrid = { rows: 4, cols: 4, framesPerPatch: 4 };

/** A distinctive fake key: tests grep outputs for it. */
export const FAKE_KEY = "sk-test-DO-NOT-LEAK-4f9a2c7e1b3d5a6c8e0f";

/** Per-patch object presence of a default-size render (see {@linkcode objectPresence}). */
export function presence(
  prompt: ShapesPrompt,
  masks: Float32Array,
  grid = GRID,
  T = 16,
  S = 32,
): Float64Array {
  return objectPresence(masks, { count: prompt.count, numFrames: T, height: S, width: S, grid });
}
