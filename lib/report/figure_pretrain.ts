/**
 * The generator's quality-versus-training-time curve: the validation
 * evaluations that `deno task pretrain --eval-every N` appends to
 * `<out>.eval.jsonl`, drawn against wall-clock minutes.
 * @module
 */

import { readJsonLines } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import type { GeneratorEvaluation } from "../generator/quick_eval.ts";
import { type CurveSeries, type Figure, trainingCurvesFigure } from "./figure.ts";

/** One line of `<out>.eval.jsonl`: the step, wall seconds so far, and the validation metrics. */
export interface PretrainEvalRecord extends Partial<GeneratorEvaluation> {
  /** Training step. */
  step: number;
  /** Wall seconds of training (evaluations included) at that step. */
  seconds: number;
}

/** A named run of {@linkcode pretrainCurveFigure}. */
export interface PretrainRun {
  /** Legend name, e.g. the config. */
  name: string;
  /** Its evaluation records. */
  records: readonly PretrainEvalRecord[];
}

const PANELS: ReadonlyArray<{ title: string; key: keyof GeneratorEvaluation }> = [
  { title: "right colour (judge)", key: "judgeColorAccuracy" },
  { title: "right shape (judge)", key: "judgeShapeAccuracy" },
  { title: "right count (judge)", key: "judgeCountAccuracy" },
  { title: "right direction (judge)", key: "judgeDirectionAccuracy" },
  { title: "blobs per frame ÷ objects asked", key: "blobsPerFrame" },
  { title: "clips with a defective patch (judge)", key: "defectiveClips" },
];

/**
 * Validation quality against training minutes, one subplot per metric, one
 * curve per run (blobs per frame are divided by the objects the prompts ask
 * for, so 1 is right).
 *
 * @example
 * ```ts
 * import { pretrainCurveFigure } from "@halo/kit/report";
 * const records = [60, 120].map((seconds, i) => ({ step: 500 * (i + 1), seconds, judgeColorAccuracy: 0.5 + i / 10, blobsPerFrame: 3, promptCount: 2 }));
 * const fig = pretrainCurveFigure([{ name: "depth 4", records }]);
 * console.log(fig.data.length); // 6
 * ```
 */
export function pretrainCurveFigure(runs: readonly PretrainRun[]): Figure {
  if (!Array.isArray(runs) || runs.length === 0) {
    fail("pretrainCurveFigure", "a non-empty array of runs", runs);
  }
  return trainingCurvesFigure(
    PANELS.map(({ title, key }) => ({
      title,
      series: runs.map((run): CurveSeries => ({
        name: run.name,
        points: run.records.map((r: PretrainEvalRecord) => {
          const v = Number(r[key] ?? NaN);
          const value = key === "blobsPerFrame" ? v / Number(r.promptCount ?? NaN) : v;
          return { step: Math.round(r.seconds / 6) / 10, value };
        }),
      })),
    })),
    { title: "generator: validation quality vs training time", xTitle: "minutes", columns: 3 },
  );
}

/**
 * Reads `<out>.eval.jsonl` files (named `NAME=FILE` or just `FILE`) into
 * {@linkcode pretrainCurveFigure}'s runs.
 */
export async function readPretrainRuns(specs: readonly string[]): Promise<PretrainRun[]> {
  return await Promise.all(specs.map(async (spec) => {
    const at = spec.indexOf("=");
    const file = at > 0 ? spec.slice(at + 1) : spec;
    const records = await readJsonLines<PretrainEvalRecord>(file);
    if (records.length === 0) fail(file, "validation records (pretrain --eval-every N)", "none");
    return { name: at > 0 ? spec.slice(0, at) : file, records };
  }));
}
