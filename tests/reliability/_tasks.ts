/** Runs the kit's `deno task`s as child processes with exactly the permissions deno.json gives them. */

import { fileURLToPath } from "node:url";
import { captured } from "./_ledger.ts";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  tasks: Record<string, string>;
};

/** The `deno.json` tasks, by name. */
export const TASKS: Readonly<Record<string, string>> = config.tasks;

/** A task's `deno run` flags, script and sub-command, as deno.json declares them. */
export function taskLine(task: string): { flags: string[]; script: string; rest: string[] } {
  const line = TASKS[task];
  if (!line) throw new Error(`deno.json: Expected a task "${task}" but found none`);
  const words = line.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") {
    throw new Error(`deno.json task ${task}: Expected "deno run …" but found ${line}`);
  }
  const at = words.findIndex((w, i) => i > 1 && !w.startsWith("-"));
  return { flags: words.slice(2, at), script: words[at], rest: words.slice(at + 1) };
}

/** Options of {@linkcode spawnTask}. */
export interface SpawnTaskOptions {
  /** Environment added to the child's. */
  env?: Record<string, string>;
  /** Working directory. Default: the repository root (as `deno task` runs). */
  cwd?: string;
}

/** What a finished task printed. */
export interface TaskOutput {
  /** Exit code. */
  code: number;
  /** Killed by a signal. */
  signal: Deno.Signal | null;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** A running task. */
export interface RunningTask {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Resolves when it ends, with what it printed (also added to the captured output). */
  done: Promise<TaskOutput>;
}

/** Starts `deno task <task> <args>` the way deno.json runs it (its permissions, from the root). */
export function spawnTask(
  task: string,
  args: readonly string[],
  options: SpawnTaskOptions = {},
): RunningTask {
  const { flags, script, rest } = taskLine(task);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}${script}`, ...rest, ...args],
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const done = (async () => {
    const [out, err, status] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    captured.push(out, err);
    return { code: status.code, signal: status.signal, stdout: out, stderr: err };
  })();
  return { child, done };
}

/** Runs a task to the end. */
export function runTask(
  task: string,
  args: readonly string[],
  options: SpawnTaskOptions = {},
): Promise<TaskOutput> {
  return spawnTask(task, args, options).done;
}
