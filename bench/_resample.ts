/**
 * Samples again the very clips an evaluation measured (`evaluationClip`: same prompt, same noise)
 * and judges each one, appending one record per clip to a JSON-lines file; clips already in the
 * file are skipped, so a killed run resumes. Shared by `bench/colour_share.ts` and
 * `bench/count_errors.ts`, whose arguments are `NAME=CHECKPOINT:clips.jsonl …`.
 * @module
 */

import { appendJsonLines, readJsonLines } from "../lib/core/_atomic.ts";
import { Progress } from "../lib/core/_progress.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { evaluationClip } from "../lib/eval/evaluate.ts";
import { disposeGenerator, loadGenerator } from "../lib/generator/mod.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import type { VideoChecks } from "../lib/videos/judge.ts";
import type { Video } from "../lib/videos/video.ts";

/** The patch grid the evaluations judge on. */
const GRID = { rows: 4, cols: 4, framesPerPatch: 4 };

/** What every record of a resampled clip holds. */
export interface ResampledRecord {
  model: string;
  prompt: string;
  promptIndex: number;
  seed: number;
}

/**
 * For each `NAME=CHECKPOINT:clips.jsonl` argument, samples the clips of the evaluation file again
 * from the checkpoint, judges them, and appends `record(clip, video, checks)` under `NAME` to
 * `out`. Returns every record of `out` afterwards (with no arguments, those already there).
 */
export async function resampleEvaluations<R extends ResampledRecord>(
  args: readonly string[],
  options: {
    out: string;
    label: string;
    record: (
      clip: ClipEvaluation,
      video: Video,
      checks: VideoChecks,
    ) => Omit<R, keyof ResampledRecord>;
  },
): Promise<R[]> {
  const key = (r: ResampledRecord) => `${r.model}/${r.promptIndex}/${r.seed}`;
  const before = await readJsonLines<R>(options.out);
  // no arguments: summarise what the file already holds
  if (
    (args.length === 0 && before.length === 0) || !args.every((a) => /^[^=]+=[^:]+:.+$/.test(a))
  ) {
    throw new Error(
      `${options.label}: Expected NAME=CHECKPOINT:clips.jsonl …, or none with records in ${options.out}, ` +
        `but found ${JSON.stringify(args)}`,
    );
  }
  const done = new Set(before.map(key));
  for (const arg of args) {
    const at = arg.indexOf("="), colon = arg.indexOf(":", at);
    const model = arg.slice(0, at), dir = arg.slice(at + 1, colon), file = arg.slice(colon + 1);
    const clips = (await readJsonLines<ClipEvaluation>(file)).filter((c) =>
      !done.has(key({ ...c, model }))
    );
    const { generator: gen } = await loadGenerator(dir);
    const progress = new Progress(clips.length, {
      label: `${options.label} ${model}`,
      unit: "clips",
    });
    for (const c of clips) {
      const video = await evaluationClip(gen, c, { eta: c.eta });
      const checks = judgeVideo(video, c.prompt, GRID).checks!;
      const base = { model, prompt: c.prompt, promptIndex: c.promptIndex, seed: c.seed };
      await appendJsonLines(options.out, [{ ...base, ...options.record(c, video, checks) }]);
      progress.tick(1);
    }
    disposeGenerator(gen);
  }
  return await readJsonLines<R>(options.out);
}
