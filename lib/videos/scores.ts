/**
 * The labeller's aspects and 1–4 scale, shared by the judge, the labeller and the reward
 * models: {@linkcode Aspect} and {@linkcode ASPECTS}, the scale {@linkcode SCORE_MIN} …
 * {@linkcode SCORE_MAX}, and what a label is made of ({@linkcode AspectScores},
 * {@linkcode PatchLabel}, {@linkcode VideoLabels}). How labels are asked for and
 * validated is the labelling protocol (`lib/labels/protocol.ts`).
 *
 * Reconstruction: the paper publishes neither its aspects nor its scale; the three aspects
 * (borrowed from VideoScore's visual quality / temporal consistency / text alignment) and the
 * 1–4 scale are our choices. They are part of the labelling protocol's version: change them
 * and bump `PROTOCOL_VERSION` so cached labels are not reused.
 * @module
 */

/** The aspects every patch and video is scored on. */
export type Aspect = "visual_quality" | "temporal_consistency" | "text_alignment";

/** Every aspect, in a fixed order. */
export const ASPECTS: readonly Aspect[] = Object.freeze([
  "visual_quality",
  "temporal_consistency",
  "text_alignment",
]);

/** Lowest score on the scale (clearly defective). */
export const SCORE_MIN = 1;
/** Highest score on the scale (no visible problem). */
export const SCORE_MAX = 4;

/** One score per aspect, integers in `[SCORE_MIN, SCORE_MAX]`. */
export type AspectScores = Record<Aspect, number>;

/** The label of one patch. */
export interface PatchLabel {
  /** Patch id such as `"s0r1c2"`. */
  id: string;
  /** Flat patch index (`(segment·rows + row)·cols + col`). */
  index: number;
  /** Scores per aspect. */
  scores: AspectScores;
  /** Short defect reason; empty when the patch looks fine. */
  reason: string;
}

/** Validated labels of one video. */
export interface VideoLabels {
  /** Whole-video scores. */
  video: AspectScores;
  /** One label per patch, in patch-index order. */
  patches: PatchLabel[];
}
