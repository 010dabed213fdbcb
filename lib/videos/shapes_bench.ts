/**
 * ShapesBench, our VBench-like benchmark (DESIGN §4), computed by the
 * reference judge per clip, every dimension a share in [0, 1] where higher is
 * better: `color`, `shape`, `count`, `direction` (the judge's whole-video
 * checks), `temporal` (share of patches without noticeable flicker),
 * `background` (share of object-free pixels that keep the prompt's background
 * colour), `artefacts` (1 − the share of defective patches); `overall` is
 * their unweighted mean. A patch is *defective* when the judge scores any
 * aspect ≤ {@linkcode DEFECT_SCORE}; its *kind* is the defect the judge
 * names first (its lowest-scored finding: blur, colour bleed, flicker, frozen,
 * missing or extra object), so every defective patch has exactly one kind.
 *
 * Reconstruction: the paper evaluates with VBench; these dimensions are our
 * choice for ShapesWorld.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { type Judgement, judgeVideo } from "./judge.ts";
import { SHAPES_DEFECT_REASONS } from "./_judge_shapes.ts";
import { DEFECT_KINDS, type DefectKind } from "./defects.ts";
import type { PatchLabel } from "./scores.ts";
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
  /** Per patch (patch-index order): the kind of its defect, null when it is clean. */
  kinds: Array<DefectKind | null>;
  /** The judge's whole judgement. */
  judgement: Judgement;
}

/**
 * The kind of a ShapesWorld judge label's defect: the first reason it gives
 * (the judge lists them worst first), or null when it gives none.
 *
 * @example
 * ```ts
 * import { defectKindOf } from "@halo/kit/videos";
 * const scores = { visual_quality: 2, temporal_consistency: 1, text_alignment: 4 };
 * console.log(defectKindOf({ id: "s0r0c0", index: 0, scores, reason: "flicker; blurred edges" })); // "flicker"
 * ```
 */
export function defectKindOf(label: PatchLabel): DefectKind | null {
  if (typeof label?.reason !== "string") fail("defectKindOf", "a patch label with a reason", label);
  const first = label.reason.split(";")[0].trim();
  if (first === "") return null;
  const kind = DEFECT_KINDS.find((k) => SHAPES_DEFECT_REASONS[k] === first);
  if (!kind) {
    fail(
      `defectKindOf (${label.id})`,
      `a reason of the ShapesWorld judge (${Object.values(SHAPES_DEFECT_REASONS).join(", ")})`,
      first,
    );
  }
  return kind;
}

/**
 * Per patch of a ShapesWorld judgement: the kind of its defect when the judge
 * finds it defective (any aspect ≤ {@linkcode DEFECT_SCORE}), else null.
 *
 * @example
 * ```ts
 * import { patchDefectKinds } from "@halo/kit/videos";
 * const s = (v: number) => ({ visual_quality: v, temporal_consistency: 4, text_alignment: 4 });
 * const kinds = patchDefectKinds([
 *   { id: "s0r0c0", index: 0, scores: s(1), reason: "off-palette colour" },
 *   { id: "s0r0c1", index: 1, scores: s(3), reason: "" },
 * ]);
 * console.log(kinds); // [ "color_bleed", null ]
 * ```
 */
export function patchDefectKinds(labels: readonly PatchLabel[]): Array<DefectKind | null> {
  if (!Array.isArray(labels)) fail("patchDefectKinds", "an array of patch labels", labels);
  return labels.map((p) => {
    const defective = Math.min(...Object.values(p?.scores ?? {}) as number[]) <= DEFECT_SCORE;
    if (!defective) return null;
    const kind = defectKindOf(p);
    if (!kind) fail("patchDefectKinds", `a defect reason for defective patch ${p.id}`, "none");
    return kind;
  });
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
 * console.log(b.bench.color, b.bench.overall > 0.9, b.defectivePatches, b.kinds.every((k) => k === null)); // 1 true 0 true
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
  const kinds = patchDefectKinds(j.patches);
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
    kinds,
    judgement: j,
  };
}
