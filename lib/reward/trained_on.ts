/**
 * What a reward model was trained on, as its checkpoint records it (`meta.trainedOn`):
 * ShapesWorld clips labelled through the judge server (`deno task train-rm`), or a label
 * file written by `deno task label` (`deno task train-rm --labels FILE --videos DIR`).
 * {@linkcode readTrainedOn} reads the record, {@linkcode judgesClipsOf} says whether a
 * model's opinion of a kind of clip is worth ranking by (`deno task inspect` asks), and
 * {@linkcode describeTrainedOn} words the record for a caveat line.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { parsePrompt } from "../videos/world.ts";

/** The kind of clip a reward model judges: a ShapesWorld clip, or any other (real) video. */
export type ClipKind = "shapesworld" | "videos";

/** What a reward model was trained on (the checkpoint's `meta.trainedOn`). */
export type RewardTrainedOn =
  | {
    /** Generated ShapesWorld clips (renders, injected defects, generator samples). */
    kind: "shapesworld";
    /** Training clips. */
    clips: number;
    /** Patch grid of their labels. */
    grid: string;
    /** Frames and frame side of the clips. */
    frames: number;
    /** Frame side of the clips. */
    size: number;
    /** False when inferred for a checkpoint written before the record existed. */
    recorded: boolean;
  }
  | {
    /** A label file written by `deno task label`. */
    kind: "labels";
    /** The label file, as given. */
    file: string;
    /** The folder its video files were read from (null: only `shapes:` clips, re-rendered). */
    videos: string | null;
    /** Labelled clips trained on. */
    clips: number;
    /** Patch grid of the labels. */
    grid: string;
    /** What kind of clips they were: all ShapesWorld, all video files, or both. */
    domain: ClipKind | "mixed";
  }
  | {
    /** No record, and nothing to infer one from. */
    kind: "unknown";
  };

/**
 * Reads what a reward checkpoint's metadata says it was trained on. Checkpoints
 * written before the record existed were all made by `deno task train-rm` on
 * ShapesWorld clips: one whose `meta.command` is such a command is taken as
 * ShapesWorld-trained (`recorded: false`); anything else is `unknown`.
 *
 * @example
 * ```ts
 * import { readTrainedOn } from "@halo/kit/reward";
 * console.log(readTrainedOn({ command: "deno task train-rm --ship data/reward" }).kind); // shapesworld
 * console.log(readTrainedOn({}).kind); // unknown
 * ```
 */
export function readTrainedOn(
  meta: Record<string, unknown>,
  config: { frames: number; size: number; grid: string } = { frames: 16, size: 32, grid: "4x4x4" },
): RewardTrainedOn {
  if (!meta || typeof meta !== "object") fail("readTrainedOn", "checkpoint metadata", meta);
  const record = meta.trainedOn as RewardTrainedOn | undefined;
  if (record !== undefined) {
    if (
      !record || typeof record !== "object" ||
      !["shapesworld", "labels", "unknown"].includes(record.kind)
    ) {
      fail("readTrainedOn: meta.trainedOn", 'a record of kind "shapesworld" or "labels"', record);
    }
    return record;
  }
  const command = typeof meta.command === "string" ? meta.command : "";
  if (/^deno task (train-rm|reproduce)\b/.test(command) && !/--labels\b/.test(command)) {
    return {
      kind: "shapesworld",
      clips: NaN,
      grid: config.grid,
      frames: config.frames,
      size: config.size,
      recorded: false,
    };
  }
  return { kind: "unknown" };
}

/**
 * The kind of a clip: ShapesWorld when its prompt is a sentence of the ShapesWorld
 * grammar, a real video otherwise.
 *
 * @example
 * ```ts
 * import { clipKind } from "@halo/kit/reward";
 * console.log(clipKind("one red circle moving left slowly on a black background")); // shapesworld
 * console.log(clipKind("A rabbit, low-poly game art style")); // videos
 * ```
 */
export function clipKind(prompt: string): ClipKind {
  try {
    parsePrompt(prompt);
    return "shapesworld";
  } catch {
    return "videos";
  }
}

/**
 * Whether a reward model trained on `trainedOn` was trained on labels of clips
 * of `kind`, so that ranking such clips by it is its trainers' judgement and not
 * a guess outside its data: a ShapesWorld-trained model judges ShapesWorld clips;
 * a model trained on a label file judges the kinds of clip that file labelled.
 *
 * @example
 * ```ts
 * import { judgesClipsOf } from "@halo/kit/reward";
 * const shapes = { kind: "shapesworld", clips: 1000, grid: "4x4x4", frames: 16, size: 32, recorded: true } as const;
 * console.log(judgesClipsOf(shapes, "shapesworld"), judgesClipsOf(shapes, "videos")); // true false
 * ```
 */
export function judgesClipsOf(trainedOn: RewardTrainedOn, kind: ClipKind): boolean {
  if (kind !== "shapesworld" && kind !== "videos") {
    fail("judgesClipsOf", '"shapesworld" or "videos"', kind);
  }
  if (trainedOn.kind === "shapesworld") return kind === "shapesworld";
  if (trainedOn.kind === "labels") return trainedOn.domain === kind || trainedOn.domain === "mixed";
  return false;
}

/**
 * A record in words, for the caveat beside a model's scores.
 *
 * @example
 * ```ts
 * import { describeTrainedOn } from "@halo/kit/reward";
 * const t = { kind: "labels", file: "l.jsonl", videos: "clips", clips: 4, grid: "4x4x4", domain: "videos" } as const;
 * console.log(describeTrainedOn(t)); // trained on the labels in l.jsonl of 4 video files in clips (grid 4x4x4)
 * ```
 */
export function describeTrainedOn(trainedOn: RewardTrainedOn): string {
  switch (trainedOn.kind) {
    case "shapesworld":
      return `trained on ${
        Number.isFinite(trainedOn.clips) ? `${trainedOn.clips} ` : ""
      }ShapesWorld clips of ${trainedOn.frames} frames of ${trainedOn.size}×${trainedOn.size} ` +
        `(grid ${trainedOn.grid})` +
        (trainedOn.recorded ? "" : ", as its train-rm command says (no record in its checkpoint)");
    case "labels": {
      const what = trainedOn.domain === "shapesworld"
        ? "ShapesWorld clips"
        : trainedOn.domain === "videos"
        ? "video files"
        : "ShapesWorld clips and video files";
      return `trained on the labels in ${trainedOn.file} of ${trainedOn.clips} ${what}` +
        (trainedOn.videos ? ` in ${trainedOn.videos}` : "") + ` (grid ${trainedOn.grid})`;
    }
    default:
      return "trained on data its checkpoint does not record";
  }
}
