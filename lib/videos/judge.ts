/**
 * The reference judge: a deterministic pixel analysis of a video against its
 * prompt, per patch and per video, on the labeller's aspects and 1–4 scale. On
 * ShapesWorld prompts it checks object colour, shape, count, trajectory and
 * motion direction, off-palette artefacts, blur and temporal flicker; it plays
 * the human annotator of the reproduction (DESIGN §3). On any other prompt it
 * falls back to generic pixel statistics so the labelling plumbing works on
 * real footage (those scores carry no meaning).
 *
 * Reconstruction: the paper's labels come from GPT-4o and humans; every
 * threshold here is our choice, exposed in {@linkcode JudgeOptions}.
 * @module
 */

import { ASPECTS, type AspectScores, type PatchLabel } from "./scores.ts";
import { type PatchGrid, patchId } from "./patch.ts";
import type { Video } from "./video.ts";
import { parsePrompt, type ShapesPrompt } from "./world.ts";
import {
  checkShapes,
  forPatchPixels,
  grade,
  type Judgement,
  type JudgeOptions,
  layoutOf,
  median,
} from "./_judge_common.ts";
import { judgeShapes } from "./_judge_shapes.ts";

export type { Judgement, JudgeOptions, VideoChecks } from "./_judge_common.ts";

/**
 * Judges `video` against `prompt` on `grid`. ShapesWorld prompts get the full
 * analysis; anything else the generic statistics.
 *
 * @example
 * ```ts
 * import { judgeVideo, parsePrompt, renderClip } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const text = "two red circles moving left quickly on a gray background";
 * const { video } = renderClip(parsePrompt(text), { seed: 1 });
 * const j = judgeVideo(video, text, { rows: 4, cols: 4, framesPerPatch: 4 });
 * assert.equal(j.kind, "shapesworld");
 * assert.deepEqual(j.video, { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 });
 * assert.ok(j.patches.every((p) => p.scores.visual_quality >= 3));
 * ```
 */
export function judgeVideo(
  video: Video,
  prompt: string,
  grid: PatchGrid,
  options: JudgeOptions = {},
): Judgement {
  checkShapes(video, grid);
  let parsed: ShapesPrompt | null = null;
  try {
    parsed = parsePrompt(prompt);
  } catch {
    parsed = null;
  }
  return parsed ? judgeShapes(video, parsed, grid, options) : judgeGeneric(video, grid);
}

// ---------------------------------------------------------------------------
// Generic statistics (real footage): no prompt understanding.

/**
 * Judges any video by pixel statistics alone: patches much less sharp than the
 * video's typical patch lose visual quality, patches that change much more
 * abruptly than typical lose temporal consistency; text alignment is not
 * judged (3 everywhere). Meaningless as quality labels; it keeps the labelling
 * plumbing honest on real footage.
 *
 * @example
 * ```ts
 * import { createVideo, judgeGeneric } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const frames = new Float32Array(4 * 8 * 8 * 3).map((_, i) => (i * 7919) % 13 / 13);
 * const video = createVideo({ frames, numFrames: 4, height: 8, width: 8 });
 * const j = judgeGeneric(video, { rows: 2, cols: 2, framesPerPatch: 2 });
 * assert.equal(j.patches.length, 8);
 * assert.equal(j.kind, "generic");
 * ```
 */
export function judgeGeneric(video: Video, grid: PatchGrid): Judgement {
  checkShapes(video, grid);
  const L = layoutOf(video, grid);
  const { H, W } = L;
  const px = video.frames;
  const P = L.segments * grid.rows * grid.cols;
  const sharp = new Float64Array(P);
  const change = new Float64Array(P);
  const count = new Float64Array(P);
  forPatchPixels(L, (patch, f, y, x) => {
    const i = ((f * H + y) * W + x) * 3;
    count[patch]++;
    if (x + 1 < W && y + 1 < H) {
      for (let ch = 0; ch < 3; ch++) {
        sharp[patch] += Math.abs(px[i + ch] - px[i + 3 + ch]) +
          Math.abs(px[i + ch] - px[i + W * 3 + ch]);
      }
    }
    if (f % grid.framesPerPatch > 0) {
      const j = i - H * W * 3;
      for (let ch = 0; ch < 3; ch++) change[patch] += Math.abs(px[i + ch] - px[j + ch]);
    }
  });
  for (let p = 0; p < P; p++) {
    sharp[p] /= count[p];
    change[p] /= count[p];
  }
  const sharpMed = median([...sharp]) + 1e-6;
  const changeMed = median([...change]) + 1e-3;
  const patches: PatchLabel[] = [];
  for (let p = 0; p < P; p++) {
    const blur = sharpMed / (sharp[p] + 1e-6); // > 1: softer than typical
    const jump = change[p] / changeMed; // > 1: more change than typical
    const scores: AspectScores = {
      visual_quality: grade(blur, [3, 6, 12]),
      temporal_consistency: grade(jump, [4, 8, 16]),
      text_alignment: 3,
    };
    const reasons = [];
    if (scores.visual_quality <= 2) reasons.push("much softer than the rest");
    if (scores.temporal_consistency <= 2) reasons.push("abrupt change");
    patches.push({ id: patchId(grid, p), index: p, scores, reason: reasons.join("; ") });
  }
  const video_ = {} as AspectScores;
  for (const a of ASPECTS) {
    video_[a] = Math.round(patches.reduce((s, q) => s + q.scores[a], 0) / P);
  }
  return { video: video_, patches, kind: "generic", checks: null };
}
