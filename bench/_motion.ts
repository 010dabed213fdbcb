/**
 * The objects' speed along a ShapesWorld prompt's direction, by the reference judge's trajectory
 * check (pixels per frame; ShapesBench's direction check passes above {@linkcode DIRECTION_PASS}).
 * Shared by `pairs_motion.ts` and `sample_motion.ts`.
 * @module
 */

import { judgeVideo } from "../lib/videos/judge.ts";
import type { Video } from "../lib/videos/video.ts";
import { parsePrompt } from "../lib/videos/world.ts";

/** The speed above which ShapesBench's direction check passes. */
export const DIRECTION_PASS = 0.15;

/** Speed of `video`'s objects along `prompt`'s direction (negative: the wrong way). */
export function speedAlong(video: Video, prompt: string): number {
  const checks = judgeVideo(video, prompt, { rows: 4, cols: 4, framesPerPatch: 4 }).checks;
  if (!checks) throw new Error(`speedAlong: Expected a ShapesWorld prompt but found "${prompt}"`);
  const d = parsePrompt(prompt).direction;
  return checks.velocity * (d === "right" || d === "down" ? 1 : -1);
}
