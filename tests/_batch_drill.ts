/**
 * The Batch API kill-and-resume drill (issue 14): `deno task label --batch` labels N small
 * ShapesWorld clips through a judge server whose per-file request limit is lowered so the run
 * needs several input files; the labeller is killed with SIGKILL once part of the labels are in
 * the cache, run again, and the server's own counters show whether any request was answered —
 * paid — twice. tests/label_batch_test.ts runs it on a few hundred clips; the full run:
 *
 *   deno run --allow-read --allow-write --allow-run --allow-env --allow-net=127.0.0.1,localhost \
 *     --allow-sys tests/_batch_drill.ts --clips 10000 --max-requests-per-file 2000
 *
 * prints one line of JSON ({@linkcode DrillResult}) and exits non-zero if a check fails.
 */
import { join } from "node:path";
import { parseCli } from "../lib/cli/_flags.ts";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { LabelCache } from "../lib/labels/cache.ts";
import { FAKE_KEY } from "./_label_fixtures.ts";
import { MAIN, TASK_PERMISSIONS } from "./_helpers.ts";

/** Options of {@linkcode runBatchDrill}. */
export interface DrillOptions {
  /** Clips to label. */
  clips: number;
  /** Requests per input file (the server enforces the same limit). */
  maxRequestsPerFile: number;
  /** Folder for the labels and the batch state. */
  dir: string;
  /** Kill once this many labels are in the cache. Default a quarter of the clips. */
  killAfter?: number;
  /** Batches in flight. Default 2. */
  maxInFlight?: number;
}

/** What the drill measured. */
export interface DrillResult {
  /** Clips labelled. */
  clips: number;
  /** The resumed run's closing line (`labelled …, cached …, failed 0 → …`). */
  summary: string;
  /** Labels in the cache when the first run was killed. */
  cachedAtKill: number;
  /** Input files the server received, both runs. */
  files: number;
  /** Batches the server created, both runs. */
  batches: number;
  /** Batch requests the server answered (what the API bills), both runs. */
  billed: number;
  /** Distinct requests answered. */
  distinctBilled: number;
  /** Most answers for one request (1: nothing paid twice). */
  maxBilledPerRequest: number;
  /** Labels in the cache at the end (identical clips share one). */
  labelled: number;
  /** Wall-clock seconds of the killed run and of the resumed run. */
  seconds: { killed: number; resumed: number };
}

/** Runs the drill; throws if the killed run finished first or the resumed run failed. */
export async function runBatchDrill(options: DrillOptions): Promise<DrillResult> {
  const server = startJudgeServer({
    port: 0,
    batchStepMs: 20,
    batchLimits: { maxRequestsPerFile: options.maxRequestsPerFile },
  });
  const out = join(options.dir, "labels.jsonl");
  const run = (): Deno.ChildProcess =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...TASK_PERMISSIONS,
        MAIN,
        "label",
        "--batch",
        "--shapes",
        String(options.clips),
        "--size",
        "16",
        "--frames",
        "4",
        "--grid",
        "2x2x4",
        "--frame-side",
        "32",
        "--sheet-side",
        "32",
        "--max-requests-per-file",
        String(options.maxRequestsPerFile),
        "--max-in-flight",
        String(options.maxInFlight ?? 2),
        "--poll-ms",
        "50",
        "--base-url",
        server.url,
        "--out",
        out,
        "--quiet",
      ],
      env: { OPENAI_API_KEY: FAKE_KEY },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const lineCount = () =>
    Deno.readTextFile(out).then((t) => t.split("\n").length - 1).catch(() => 0);
  try {
    const killAfter = options.killAfter ?? Math.ceil(options.clips / 4);
    let t0 = performance.now();
    const first = run();
    let exited = false;
    first.status.then(() => exited = true);
    while (!exited && await lineCount() < killAfter) await sleep(50);
    if (exited) {
      const err = new TextDecoder().decode((await first.output()).stderr);
      throw new Error(`the first run ended before the kill: ${err.slice(-400)}`);
    }
    first.kill("SIGKILL");
    await first.status;
    await Promise.all([first.stdout.cancel(), first.stderr.cancel()]);
    const killed = (performance.now() - t0) / 1000;
    const cachedAtKill = (await LabelCache.open(out)).size;
    t0 = performance.now();
    const second = await run().output();
    const resumed = (performance.now() - t0) / 1000;
    if (!second.success) {
      throw new Error(`the resumed run failed: ${new TextDecoder().decode(second.stderr)}`);
    }
    const counts = [...server.stats.billedIds.values()];
    const summary = new TextDecoder().decode(second.stdout).trim().split("\n").at(-1) ?? "";
    return {
      clips: options.clips,
      summary,
      cachedAtKill,
      files: server.stats.files,
      batches: server.stats.batches,
      billed: server.stats.batchLines,
      distinctBilled: counts.length,
      maxBilledPerRequest: Math.max(0, ...counts),
      labelled: (await LabelCache.open(out)).size,
      seconds: { killed, resumed },
    };
  } finally {
    await server.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (import.meta.main) {
  const values = parseCli(Deno.args, {
    clips: { type: "string", default: "10000", description: "clips to label" },
    "max-requests-per-file": {
      type: "string",
      default: "2000",
      description: "requests per input file",
    },
    "max-in-flight": { type: "string", default: "2", description: "batches at once" },
    dir: { type: "string", description: "folder for the labels (default: a temporary one)" },
  });
  const dir = typeof values.dir === "string" ? values.dir : await Deno.makeTempDir();
  const result = await runBatchDrill({
    clips: Number(values.clips),
    maxRequestsPerFile: Number(values["max-requests-per-file"]),
    maxInFlight: Number(values["max-in-flight"]),
    dir,
  });
  console.log(JSON.stringify(result));
  // Every clip labelled (failed 0), every distinct request answered — paid — exactly once.
  const ok = /, failed 0 /.test(result.summary) && result.maxBilledPerRequest === 1 &&
    result.billed === result.labelled && result.distinctBilled === result.labelled &&
    result.files >= 5;
  if (!ok) {
    console.error("drill failed: expected every clip labelled, once, from at least 5 input files");
    Deno.exit(1);
  }
}
