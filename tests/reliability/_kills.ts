/**
 * Section 4, kills: `deno task label` and `deno task train-rm` killed with
 * SIGKILL at random points and resumed, again and again; the final label file
 * and checkpoints must equal an uninterrupted run's, byte for byte where the
 * computation is deterministic.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startJudgeServer } from "../../lib/labels/judge_server/server.ts";
import { readJsonLines } from "../../lib/core/_atomic.ts";
import { createRng, type Rng } from "../../lib/core/_rng.ts";
import { startFaultProxy } from "./_fault_proxy.ts";
import { CANARY_KEY, countCycles, ledger, suiteDir } from "./_ledger.ts";
import { labelArgs, videoFolder } from "./_responses.ts";
import { type RunningTask, runTask, spawnTask, type TaskOutput } from "./_tasks.ts";

function sleep(ms: number): Promise<"timer"> {
  return new Promise((resolve) => setTimeout(() => resolve("timer"), ms));
}

/** Options of {@linkcode killAndResume}. */
export interface KillLoopOptions {
  /** Starts one run (a fresh process that resumes from what is on disk). */
  start: () => RunningTask;
  /** Kills to land before the last, uninterrupted resume. */
  kills: number;
  /** Delay before each kill, drawn uniformly in [min, max] ms. */
  delayMs: [number, number];
  /** Seeded draws. */
  rng: Rng;
  /**
   * Ends a round whose run finished on its own before `kills` kills landed (the
   * machine got faster than the window was measured for): checks that round's
   * outputs against the uninterrupted run's, then removes them, so a new round
   * starts from nothing with the window above its minimum halved. Without it,
   * such a run ends the loop.
   */
  nextRound?: (final: TaskOutput) => Promise<void>;
  /** Rounds at most (default 4). */
  maxRounds?: number;
}

/**
 * Starts, kills with SIGKILL after a random delay, and starts again until
 * `kills` kills have landed on a running process; then lets the last resume
 * finish. A run that finishes before its kill ends the round: with
 * `nextRound`, a new round starts (a shorter window, the kills so far kept),
 * else the loop ends early.
 */
export async function killAndResume(
  options: KillLoopOptions,
): Promise<{ kills: number; final: TaskOutput; runs: number; rounds: number }> {
  let kills = 0, runs = 0, rounds = 1;
  let [lo, hi] = options.delayMs;
  while (true) {
    const task = options.start();
    runs++;
    if (kills >= options.kills) return { kills, final: await task.done, runs, rounds };
    const winner = await Promise.race([
      task.done.then(() => "done" as const),
      sleep(lo + options.rng.next() * (hi - lo)),
    ]);
    if (winner === "done") {
      const final = await task.done;
      assert.equal(final.code, 0, `a run ended on its own but failed: ${final.stderr}`);
      if (!options.nextRound || rounds >= (options.maxRounds ?? 4)) {
        return { kills, final, runs, rounds };
      }
      await options.nextRound(final);
      rounds++;
      hi = lo + (hi - lo) / 2;
      continue;
    }
    task.child.kill("SIGKILL");
    const killed = await task.done;
    if (killed.signal === "SIGKILL") kills++;
  }
}

/** Milliseconds a command takes to start (load the kit's modules) and print its help. */
export async function startupMs(task: string): Promise<number> {
  const t0 = performance.now();
  const out = await runTask(task, ["--help"]);
  assert.equal(out.code, 0, out.stderr);
  return performance.now() - t0;
}

Deno.test("kills: `deno task label` killed at random points resumes to the uninterrupted label file, byte for byte", async () => {
  ledger.sections.add("kills");
  const n = 24;
  const videos = await videoFolder("kill-label-videos", n, 61);
  const dir = await suiteDir("kill-label");
  const server = startJudgeServer({ port: 0, latencyMs: 60 });
  // Every request passes through the proxy, which checks whether its item is already stored.
  const killed = join(dir, "killed.jsonl");
  const stored = (): Set<string> => {
    let text = "";
    try {
      text = Deno.readTextFileSync(killed);
    } catch {
      return new Set();
    }
    const lines = text.split("\n").slice(0, -1); // a torn last line is not stored
    return new Set(lines.map((l) => JSON.parse(l).prompt));
  };
  let paidTwice = 0;
  const proxy = startFaultProxy(server.url, ({ prompt }) => {
    if (prompt !== null && stored().has(prompt)) paidTwice++;
    return "ok";
  });
  const args = (out: string) => labelArgs(videos, out, proxy.url, ["--concurrency", "1"]);
  const env = { OPENAI_API_KEY: CANARY_KEY };
  try {
    const reference = join(dir, "reference.jsonl");
    const t0 = performance.now();
    const clean = await runTask("label", args(reference), { env });
    const total = performance.now() - t0;
    assert.equal(clean.code, 0, clean.stderr);
    const boot = await startupMs("label");
    const before = proxy.requests;
    const check = async () => {
      const a = await Deno.readFile(killed), b = await Deno.readFile(reference);
      const records = await readJsonLines(killed);
      ledger.lost += n - records.length;
      assert.equal(records.length, n);
      assert.deepEqual(a, b, "the resumed label file equals the uninterrupted one byte for byte");
    };
    const { kills, final, rounds } = await killAndResume({
      start: () => spawnTask("label", args(killed), { env }),
      kills: 9,
      delayMs: [boot * 0.5, boot + 0.2 * Math.max(0, total - boot)],
      rng: createRng(61),
      nextRound: async () => {
        await check();
        await Deno.remove(killed);
      },
    });
    countCycles("label", kills);
    assert.equal(final.code, 0, final.stderr);
    await check();
    ledger.paidTwice += paidTwice;
    assert.equal(paidTwice, 0, "no item was asked for after it was stored");
    assert.ok(kills >= 6, `${kills} kills landed`);
    // Each kill can lose at most the one answer in flight (concurrency 1); each round pays n.
    const calls = proxy.requests - before;
    assert.ok(calls <= rounds * n + kills, `${calls} calls in ${rounds} rounds`);
    console.log(
      `label: ${kills} kills in ${rounds} round(s), ${calls} calls for ${n} videos, equal bytes`,
    );
  } finally {
    await proxy.close();
    await server.close();
  }
});

/** The outputs of a `train-rm` run that must not depend on kills. */
async function trainState(out: string): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const stage of ["vrm", "prm"]) {
    for (const file of ["weights.bin", "optimizer.bin"]) {
      const bytes = await Deno.readFile(join(out, stage, file));
      const digest = await crypto.subtle.digest("SHA-256", bytes);
      state[`${stage}/${file}`] = Array.from(new Uint8Array(digest), (x) => x.toString(16))
        .join("");
    }
    const config = JSON.parse(await Deno.readTextFile(join(out, stage, "config.json")));
    delete config.meta.wallSeconds; // wall time is the one thing a kill changes
    delete config.weights.sha256; // covered by the bytes above
    delete config.optimizer?.sha256;
    state[`${stage}/config.json`] = JSON.stringify(config);
    const curve = await readJsonLines<Record<string, unknown>>(join(out, `${stage}.curve.jsonl`));
    state[`${stage}.curve.jsonl`] = JSON.stringify(curve.map(({ seconds: _, ...rest }) => rest));
  }
  const labels = (await Deno.readTextFile(join(out, "labels.jsonl"))).split("\n").filter(Boolean);
  state["labels.jsonl (sorted lines)"] = JSON.stringify(labels.sort());
  const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  state["report.json agreement"] = JSON.stringify(report.agreement);
  return state;
}

Deno.test("kills: `deno task train-rm` killed at random points resumes to the uninterrupted checkpoints, byte for byte", async () => {
  // A tiny experiment in its own working directory (the task writes under out/).
  const args = [
    "--out",
    "out/rm",
    "--train",
    "8",
    "--held-out",
    "4",
    "--video-steps",
    "24",
    "--patch-steps",
    "24",
    "--batch-size",
    "2",
    "--eval-every",
    "8",
    "--checkpoint-every",
    "4",
    "--resamples",
    "20",
    "--quiet",
  ];
  const env = { OPENAI_API_KEY: CANARY_KEY, HALO_BACKEND: "wasm" };
  const cleanDir = await suiteDir("kill-rm-clean");
  const t0 = performance.now();
  const clean = await runTask("train-rm", args, { env, cwd: cleanDir });
  const total = performance.now() - t0;
  assert.equal(clean.code, 0, clean.stderr);
  const boot = await startupMs("train-rm");
  const killedDir = await suiteDir("kill-rm-killed");
  const b = await trainState(join(cleanDir, "out/rm"));
  const check = async () => {
    const a = await trainState(join(killedDir, "out/rm"));
    for (const key of Object.keys(b)) assert.equal(a[key], b[key], `${key} differs after kills`);
  };
  const { kills, final, rounds } = await killAndResume({
    start: () => spawnTask("train-rm", args, { env, cwd: killedDir }),
    kills: 9,
    delayMs: [boot * 0.7, boot + 0.15 * Math.max(0, total - boot)],
    rng: createRng(71),
    nextRound: async () => {
      await check();
      await Deno.remove(join(killedDir, "out"), { recursive: true });
    },
  });
  countCycles("train-rm", kills);
  assert.equal(final.code, 0, final.stderr);
  await check();
  assert.ok(kills >= 6, `${kills} kills landed`);
  console.log(
    `train-rm: ${kills} kills in ${rounds} round(s); ${Object.keys(b).length} outputs equal`,
  );
});
