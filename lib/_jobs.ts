/**
 * Parallel jobs for the experiment stages: tfjs' wasm backend runs on one
 * thread in Deno, so a machine with N cores runs N post-training runs or
 * evaluations at once as child processes (`deno run lib/_jobs.ts JSON`), each
 * writing its usual checkpoint or per-clip cache. The parent then calls the
 * same functions in-process, which find the work done (a finished checkpoint,
 * a complete cache) and only read it back — so a parallel run and a serial
 * one give the same files, and a killed parallel run resumes like a serial one.
 * @module
 */

import { fail } from "./_errors.ts";
import { initBackend } from "./backend.ts";
import { disposeGenerator, loadGenerator } from "./generator.ts";
import { postTrain, type PostTrainOptions } from "./post_train.ts";
import { evaluateModel, type EvaluateModelOptions } from "./eval.ts";
import { loadRewardModel } from "./reward_train.ts";
import { disposeRewardModel } from "./reward.ts";

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

/** The permissions the kit's tasks run with (deno.json); children get the same. */
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-net=127.0.0.1,localhost",
  "--allow-sys",
];

/** Runs one job in this process. */
export async function runJob(job: Job): Promise<void> {
  if (job.kind === "post-train") {
    await postTrain({ ...job.options, quiet: true });
    return;
  }
  if (job.kind !== "evaluate") fail("runJob", 'a "post-train" or "evaluate" job', job);
  const { generator } = await loadGenerator(job.generatorDir);
  const evaluator = (await loadRewardModel(job.evaluatorDir)).model;
  const prm = (await loadRewardModel(job.prmDir)).model;
  try {
    await evaluateModel(generator, { ...job.options, evaluator, prm, quiet: true });
  } finally {
    disposeGenerator(generator);
    disposeRewardModel(evaluator);
    disposeRewardModel(prm);
  }
}

/** The default number of parallel jobs: the machine's logical cores. */
export function defaultJobs(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/**
 * Runs `jobs` in child processes, at most `concurrency` at a time, and
 * resolves when all succeeded; the first failure rejects with the child's
 * last lines of stderr (after the running ones end). `onDone` reports progress.
 */
export async function runJobs(
  jobs: readonly Job[],
  options: { concurrency: number; onDone?: (job: Job, seconds: number) => void },
): Promise<void> {
  const queue = [...jobs];
  const errors: string[] = [];
  const worker = async () => {
    while (queue.length && errors.length === 0) {
      const job = queue.shift()!;
      const t0 = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...PERMISSIONS, import.meta.url, JSON.stringify(job)],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) {
        const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-4).join(" | ");
        errors.push(`${job.kind} job failed (exit ${out.code}): ${tail}`);
      } else options.onDone?.(job, (performance.now() - t0) / 1000);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  if (errors.length) throw new Error(errors[0]);
}

if (import.meta.main) {
  await initBackend();
  await runJob(JSON.parse(Deno.args[0]) as Job);
}
