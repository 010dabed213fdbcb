/**
 * Videos and what is measured on them: video I/O through ffmpeg
 * (`video.ts`), the patch grid (`patch.ts`: patchify, patch ids, grid
 * pictures), ShapesWorld — the small text-to-video world the reproduction runs
 * in, its prompt grammar and renderer (`world.ts`), injected local defects
 * (`defects.ts`, `defect_cases.ts`), the labeller's aspects and 1–4 scale
 * (`scores.ts`), the reference judge that plays the human annotator
 * (`judge.ts`), ShapesBench (`shapes_bench.ts`) and contact sheets
 * (`sheet.ts`).
 *
 * Paper step: the videos and patches HALO labels (§3.1). Reads: video files
 * (mp4, webm, gif, mov). Writes: GIFs and PNGs. Internal: `_judge_common.ts`,
 * `_judge_shapes.ts` (the judge's shared machinery and its ShapesWorld
 * analysis).
 * @module
 */

export * from "./defect_cases.ts";
export * from "./defects.ts";
export * from "./judge.ts";
export * from "./patch.ts";
export * from "./scores.ts";
export * from "./shapes_bench.ts";
export * from "./sheet.ts";
export * from "./video.ts";
export * from "./world.ts";
