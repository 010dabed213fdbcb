/**
 * Child processes for parallel work: tfjs' wasm backend runs on one thread in
 * Deno, so a machine with N cores runs N post-training runs, evaluations or
 * sampling shards at once as `deno run lib/_jobs.ts JSON` children, each
 * writing its usual checkpoint, per-clip cache or clip files. The caller then
 * calls the same functions in-process, which find the work done and only read
 * it back — so a parallel run and a serial one give the same files, and a
 * killed parallel run resumes like a serial one.
 * @module
 */

/** The permissions the kit's tasks run with (deno.json); children get the same. */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-net=127.0.0.1,localhost",
  "--allow-sys",
];

/** The job runner children execute. */
export const JOBS_ENTRY: string = new URL("./_jobs.ts", import.meta.url).href;

/** The default number of parallel jobs: the machine's logical cores. */
export function defaultJobs(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** A job for {@linkcode runJobs}: JSON-able, with a `kind` that `lib/_jobs.ts` knows. */
export type JobSpec = { kind: string } & Record<string, unknown>;

/**
 * Runs `jobs` in child processes, at most `concurrency` at a time, and
 * resolves when all succeeded; the first failure rejects with the child's
 * last lines of stderr, without colours or stack frames, after the running
 * ones end. `onDone` reports progress.
 */
export async function runJobs(
  jobs: readonly JobSpec[],
  options: { concurrency: number; onDone?: (job: JobSpec, seconds: number) => void },
): Promise<void> {
  const queue = [...jobs];
  const errors: string[] = [];
  const worker = async () => {
    while (queue.length && errors.length === 0) {
      const job = queue.shift()!;
      const t0 = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...TASK_PERMISSIONS, JOBS_ENTRY, JSON.stringify(job)],
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      if (!out.success) {
        const tail = new TextDecoder().decode(out.stderr)
          .split("\n")
          .filter((line) => line.trim() && !/^\s*at /.test(line))
          .slice(-4)
          .join(" | ");
        errors.push(`${job.kind} job failed (exit ${out.code}): ${tail}`);
      } else options.onDone?.(job, (performance.now() - t0) / 1000);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  if (errors.length) throw new Error(errors[0]);
}
