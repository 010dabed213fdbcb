/**
 * ShapesBench, our VBench-like benchmark (DESIGN §4), computed by the
 * reference judge per clip, every dimension a share in [0, 1] where higher is
 * better: `color`, `shape`, `count`, `direction` (the judge's whole-video
 * checks), `temporal` (share of patches without noticeable flicker),
 * `background` (share of object-free pixels that keep the prompt's background
 * colour), `artefacts` (1 − the share of defective patches); `overall` is
 * their unweighted mean. A patch is *defective* when the judge scores any
 * aspect ≤ {@linkcode DEFECT_SCORE}.
 *
 * Reconstruction: the paper evaluates with VBench; these dimensions are our
 * choice for ShapesWorld.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { type Judgement, judgeVideo } from "./judge.ts";
import type { Video } from "./video.ts";

/** A patch is defective when the judge scores any aspect at or below this (then it gives a reason). */
export const DEFECT_SCORE = 2;

/** ShapesBench's dimensions, in report order. */
export const SHAPESBENCH_DIMENSIONS = [
  "color",
  "shape",
  "count",
  "direction",
  "temporal",
  "background",
  "artefacts",
] as const;

/** One ShapesBench dimension. */
export type ShapesBenchDimension = typeof SHAPESBENCH_DIMENSIONS[number];

/** What {@linkcode shapesBench} finds in one clip. */
export interface ShapesBenchScores {
  /** ShapesBench dimensions and `overall`. */
  bench: Record<ShapesBenchDimension | "overall", number>;
  /** Lowest judge score of any patch and aspect. */
  judgeWorst: number;
  /** Share of patches the judge finds defective. */
  defectivePatches: number;
  /** Per patch (patch-index order): whether the judge finds it defective. */
  defective: boolean[];
  /** The judge's whole judgement. */
  judgement: Judgement;
}

/**
 * The reference judge's ShapesBench scores of one clip, plus its worst patch
 * score and defective-patch share.
 *
 * @example
 * ```ts
 * import { parsePrompt, renderClip, shapesBench } from "@halo/kit";
 * const text = "one red circle moving right slowly on a black background";
 * const { video } = renderClip(parsePrompt(text), { seed: 2 });
 * const b = shapesBench(video, text);
 * console.log(b.bench.color, b.bench.overall > 0.9, b.defectivePatches); // 1 true 0
 * ```
 */
export function shapesBench(
  video: Video,
  prompt: string,
): ShapesBenchScores {
  const j = judgeVideo(video, prompt, { rows: 4, cols: 4, framesPerPatch: 4 });
  if (!j.checks) fail("shapesBench", "a ShapesWorld prompt", prompt);
  const worst = j.patches.map((p) => Math.min(...Object.values(p.scores)));
  const defective = worst.map((w) => w <= DEFECT_SCORE);
  const share = defective.filter(Boolean).length / defective.length;
  const c = j.checks;
  const dims: Record<ShapesBenchDimension, number> = {
    color: c.colorOk ? 1 : 0,
    shape: c.shapeOk ? 1 : 0,
    count: c.countOk ? 1 : 0,
    direction: c.directionOk ? 1 : 0,
    temporal: c.steadyShare,
    background: c.backgroundShare,
    artefacts: 1 - share,
  };
  const overall = SHAPESBENCH_DIMENSIONS.reduce((s, d) => s + dims[d], 0) /
    SHAPESBENCH_DIMENSIONS.length;
  return {
    bench: { ...dims, overall },
    judgeWorst: Math.min(...worst),
    defectivePatches: share,
    defective,
    judgement: j,
  };
}
