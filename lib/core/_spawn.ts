/**
 * Child processes for parallel work: tfjs' wasm backend runs on one thread in
 * Deno, so a machine with N cores runs N post-training runs, evaluations or
 * sampling shards at once as `deno run <stage>/_job*.ts` children (`lib/pairs/_candidates_job.ts`,
 * `lib/eval/_jobs.ts`, `lib/reward/_samples_job.ts`) that read their job, one
 * line of JSON, on stdin (an argument is capped at 128 KiB on Linux, and a
 * shard of a few thousand candidates is more), each
 * writing its usual checkpoint, per-clip cache or clip files. The caller then
 * calls the same functions in-process, which find the work done and only read
 * it back — so a parallel run and a serial one give the same files, and a
 * killed parallel run resumes like a serial one.
 * @module
 */

import { join } from "node:path";

/**
 * Broad permissions: those `deno task test` grants. The subprocess tests run
 * the CLI with them, and a job child of a broadly permitted parent gets them
 * (see {@linkcode jobPermissions}); the tasks themselves run with narrower ones
 * (deno.json).
 */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-net=127.0.0.1,localhost",
  "--allow-sys",
];

/** What the narrow tasks may write (deno.json's `--allow-write=out,data`), from the working directory. */
const TASK_WRITE_DIRS = ["out", "data"];

/** What the narrow tasks may read from the environment for the backend (deno.json's `--allow-env=…`). */
const TASK_ENV = [
  "HALO_BACKEND",
  "HALO_WASM_KERNELS",
  "HALO_WEBGPU_KERNELS",
  "HALO_DEBUG",
  "XDG_RUNTIME_DIR",
  "TMPDIR",
];

/**
 * The permissions a job child runs with: its parent's, never more. A parent
 * that may write and read the environment anywhere (`deno test`, a script of
 * your own) passes {@linkcode TASK_PERMISSIONS}; a `deno task` with narrow
 * permissions passes only the folders among `out/` and `data/` it may write
 * (as absolute paths: the child shares its working directory) and the
 * backend's variables it may read. Reading stays open (jobs read checkpoints).
 */
export function jobPermissions(): string[] {
  const granted = (d: Deno.PermissionDescriptor) =>
    Deno.permissions.querySync(d).state === "granted";
  if (granted({ name: "write" }) && granted({ name: "env" })) return [...TASK_PERMISSIONS];
  const cwd = Deno.cwd();
  const dirs = TASK_WRITE_DIRS.map((d) => join(cwd, d))
    .filter((path) => granted({ name: "write", path }));
  const env = TASK_ENV.filter((variable) => granted({ name: "env", variable }));
  return [
    "--allow-read",
    ...(dirs.length ? [`--allow-write=${dirs.join(",")}`] : []),
    ...(env.length ? [`--allow-env=${env.join(",")}`] : []),
  ];
}

/** The default number of parallel jobs: the machine's logical cores. */
export function defaultJobs(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** A job for {@linkcode runJobs}: JSON-able, with a `kind` that the child module (`entry`) knows. */
export type JobSpec = { kind: string } & Record<string, unknown>;

/**
 * Runs `jobs` in child processes, at most `concurrency` at a time, and
 * resolves when all succeeded; the first failure rejects with the child's
 * last lines of stderr, without colours or stack frames, after the running
 * ones end. `onDone` reports progress.
 */
export async function runJobs(
  jobs: readonly JobSpec[],
  options: {
    concurrency: number;
    onDone?: (job: JobSpec, seconds: number) => void;
    /** The module children run (a stage's `_job*.ts`); it reads its job with {@linkcode runAsChild}. */
    entry: string;
  },
): Promise<void> {
  const queue = [...jobs];
  const errors: string[] = [];
  const worker = async () => {
    while (queue.length && errors.length === 0) {
      const job = queue.shift()!;
      const t0 = performance.now();
      // The child's stdin stays open while this process lives: when it ends, even by
      // SIGKILL, the child reads end-of-file and stops (readJob), so a killed run
      // leaves no job writing behind the run that resumes it.
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...jobPermissions(), options.entry],
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      // The job is the first line on the child's stdin (JSON never holds a raw newline); a
      // child that dies before reading it fails below with its own stderr.
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(job) + "\n")).catch(() => {});
      writer.releaseLock();
      const [stderr, out] = await Promise.all([new Response(child.stderr).text(), child.status]);
      await child.stdin.close().catch(() => {});
      if (!out.success) {
        const tail = stderr
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

/**
 * The child side of {@linkcode runJobs}: reads the job, the first line of
 * stdin, then ends this process when stdin closes. The parent holds the pipe
 * open while it lives, so a parent killed with SIGKILL leaves no job running
 * behind it; a child that finishes its job must call `Deno.exit` itself (this
 * watch keeps it alive).
 */
export async function readJob(): Promise<unknown> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) parentEnded();
    text += decoder.decode(value, { stream: true });
  }
  (async () => {
    while (!(await reader.read()).done) {
      // the parent sends nothing more; only the end matters
    }
    parentEnded();
  })();
  return JSON.parse(text.slice(0, text.indexOf("\n")));
}

function parentEnded(): never {
  console.error("the parent process ended: job stopped (a resumed run redoes it)");
  Deno.exit(1);
}

/**
 * The `import.meta.main` body of a child job module: reads the job and watches
 * the parent ({@linkcode readJob}), runs the job, and exits 0, or 1 with the
 * error's message alone on stderr (the parent shows that line; a stack trace
 * would push the message out).
 */
export async function runAsChild<J>(run: (job: J) => Promise<void>): Promise<never> {
  try {
    await run((await readJob()) as J);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(1);
  }
  Deno.exit(0); // the stdin watch would keep the process alive
}
