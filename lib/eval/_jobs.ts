/**
 * The child side of `lib/core/_spawn.ts` for the experiment: `deno run
 * lib/eval/_jobs.ts`, its job one line of JSON on stdin, runs one job — a
 * post-training run or an evaluation — with the same functions the parent
 * would call in-process.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { initBackend } from "../tensor/backend.ts";
import { runAsChild } from "../core/_spawn.ts";
import { disposeGenerator } from "../generator/model.ts";
import { loadGenerator } from "../generator/io.ts";
import { postTrain, type PostTrainOptions } from "../dpo/post_train.ts";
import { evaluateModel, type EvaluateModelOptions } from "./evaluate.ts";
import { loadRewardModel } from "../reward/io.ts";
import { disposeRewardModel } from "../reward/model.ts";

/** One unit of work for a child process. */
export type Job =
  | { kind: "post-train"; options: PostTrainOptions }
  | {
    kind: "evaluate";
    generatorDir: string;
    evaluatorDir: string;
    prmDir: string;
    options: Omit<EvaluateModelOptions, "evaluator" | "prm">;
  };

/** Runs one job in this process. */
export async function runJob(job: Job): Promise<void> {
  if (job.kind === "post-train") {
    await postTrain({ ...job.options, quiet: true });
    return;
  }
  if (job.kind !== "evaluate") fail("runJob", 'a "post-train" or "evaluate" job', job);
  const { generator } = await loadGenerator(job.generatorDir);
  try {
    const evaluator = (await loadRewardModel(job.evaluatorDir)).model;
    const prm = (await loadRewardModel(job.prmDir)).model;
    try {
      await evaluateModel(generator, { ...job.options, evaluator, prm, quiet: true });
    } finally {
      disposeRewardModel(evaluator);
      disposeRewardModel(prm);
    }
  } finally {
    disposeGenerator(generator);
  }
}

if (import.meta.main) {
  await runAsChild(async (job: Job) => {
    await initBackend();
    await runJob(job);
  });
}
