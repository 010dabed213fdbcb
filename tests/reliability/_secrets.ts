/**
 * Section 5, secrets and permissions: each task's Deno permissions are the
 * narrow ones the README's table lists; the canary key is in no file the suite
 * wrote and no output it printed. Then the summary line.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startJudgeServer } from "../../lib/labels/judge_server/server.ts";
import { startFaultProxy } from "./_fault_proxy.ts";
import { CANARY_KEY, captured, ledger, removeSuiteRoot, suiteDir, suiteRoot } from "./_ledger.ts";
import { labelArgs, videoFolder } from "./_responses.ts";
import { ROOT, runTask, TASKS } from "./_tasks.ts";

/** The flags of a `deno run` task line, as a sorted list. */
function runFlags(line: string): string[] | null {
  const words = line.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run") return null;
  return words.slice(2).filter((w) => w.startsWith("-")).sort();
}

/** The README's permissions table: task → flags. */
async function readmeTable(): Promise<Map<string, string[]>> {
  const text = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = text.slice(text.indexOf("## Permissions"));
  const rows = new Map<string, string[]>();
  for (const line of section.split("\n").slice(1)) {
    if (line.startsWith("## ")) break;
    const m = /^\|\s*`([\w:-]+)`\s*\|\s*`([^`]*)`\s*\|/.exec(line);
    if (m) rows.set(m[1], m[2].trim().split(/\s+/).sort());
  }
  return rows;
}

/** Tasks that may read or write anywhere, or run any program, and why (the README says so too). */
const BROAD: Record<string, string[]> = {
  // the user's videos folder and label file can be anywhere
  label: ["--allow-write"],
  // the kit's own child processes (Deno.execPath) and ffmpeg
  reproduce: ["--allow-run"],
  evaluate: ["--allow-run"],
  pairs: ["--allow-run"],
  "train-rm": ["--allow-run"],
  // headless Chromium through playwright-core (the whole environment, the OS, a temporary
  // profile); inspect also writes its report beside the user's videos
  inspect: ["--allow-write", "--allow-run", "--allow-env", "--allow-sys"],
  figure: ["--allow-write", "--allow-run", "--allow-env", "--allow-sys"],
  // measures the machine: the PyTorch peer, a temporary folder, load averages
  bench: ["--allow-write", "--allow-run", "--allow-env", "--allow-sys"],
  // the same on a GPU machine: the peer on CUDA (any python), nvidia-smi, Vulkan's environment
  "bench:gpu": ["--allow-write", "--allow-run", "--allow-env", "--allow-sys"],
};

Deno.test("permissions: each task declares narrow permissions, and the README's table matches deno.json", async () => {
  ledger.sections.add("secrets");
  const table = await readmeTable();
  const runTasks = Object.entries(TASKS).filter(([, line]) => runFlags(line) !== null);
  assert.ok(runTasks.length >= 10, `${runTasks.length} run tasks`);
  for (const [task, line] of runTasks) {
    const flags = runFlags(line)!;
    const where = `deno.json task ${task}`;
    assert.ok(!flags.some((f) => f === "-A" || f === "--allow-all"), `${where}: -A`);
    const broad = flags.filter((f) => !f.includes("=") && f !== "--allow-read");
    for (const f of broad) {
      assert.ok(BROAD[task]?.includes(f), `${where}: ${f} without a list (narrow it or say why)`);
    }
    for (const f of flags.filter((f) => f.startsWith("--allow-net="))) {
      const hosts = f.slice("--allow-net=".length).split(",");
      const allowed = ["127.0.0.1", "localhost", "api.openai.com"];
      assert.ok(hosts.every((h) => allowed.includes(h)), `${where}: ${f}`);
    }
    for (const f of flags.filter((f) => f.startsWith("--allow-run="))) {
      assert.deepEqual(f, "--allow-run=ffmpeg", `${where}: runs only ffmpeg`);
    }
    assert.deepEqual(table.get(task), flags, `README's permissions row for \`${task}\``);
  }
  for (const task of table.keys()) {
    assert.ok(TASKS[task], `README lists a task ${task} deno.json lacks`);
  }
});

Deno.test("secrets: an error that echoes the key is scrubbed before it is printed", async () => {
  const videos = await videoFolder("secrets-videos", 2, 101);
  const out = join(await suiteDir("secrets"), "labels.jsonl");
  const server = startJudgeServer({ port: 0 });
  const proxy = startFaultProxy(server.url, () => "echo_key");
  try {
    const run = await runTask("label", labelArgs(videos, out, proxy.url, ["--max-attempts", "2"]), {
      env: { OPENAI_API_KEY: CANARY_KEY },
    });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /HTTP 500: 500 upstream failed for Bearer \[redacted\] \(after 2 attempts\)/,
    );
  } finally {
    ledger.faults += proxy.faults;
    await proxy.close();
    await server.close();
  }
});

async function* files(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) yield* files(path);
    else if (e.isFile) yield path;
  }
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = haystack.indexOf(needle[0]); i >= 0; i = haystack.indexOf(needle[0], i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The canary key is in no file the suite wrote (labels, caches, checkpoints, logs) and no output. */
export async function scanForKey(): Promise<void> {
  const needles = [CANARY_KEY, CANARY_KEY.slice(-16)].map((s) => new TextEncoder().encode(s));
  const leaks: string[] = [];
  const root = suiteRoot();
  if (root) {
    for await (const path of files(root)) {
      ledger.scanned++;
      const bytes = await Deno.readFile(path);
      if (needles.some((n) => contains(bytes, n))) leaks.push(path);
    }
  }
  captured.forEach((text, i) => {
    ledger.scanned++;
    if (needles.some((n) => contains(new TextEncoder().encode(text), n))) {
      leaks.push(`output #${i}`);
    }
  });
  ledger.leaks += leaks.length;
  assert.deepEqual(leaks, [], "files or outputs with the key");
  assert.ok(ledger.scanned >= 100, `${ledger.scanned} files and outputs scanned`);
}

/** Prints the summary line and, when every section ran, holds the totals to the bars. */
export async function summary(): Promise<void> {
  const seconds = (performance.now() - ledger.started) / 1000;
  // Loopback only: this process cannot reach another host, and every server it used was local.
  const outside = await Deno.permissions.query({ name: "net", host: "api.openai.com" });
  const loopback = outside.state !== "granted";
  const by = Object.entries(ledger.cyclesBy).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(
    `reliability: inputs tried ${ledger.inputs}, faults injected ${ledger.faults} responses, ` +
      `kill/resume cycles ${ledger.cycles} (${by}), items lost ${ledger.lost}, ` +
      `items paid twice ${ledger.paidTwice}, key leaks ${ledger.leaks} ` +
      `(${ledger.scanned} files and outputs scanned), ${seconds.toFixed(0)} s, ` +
      `${loopback ? "loopback only" : "NOT loopback only"}`,
  );
  await removeSuiteRoot();
  const all = ["responses", "limits", "inputs", "kills", "secrets"];
  if (!all.every((s) => ledger.sections.has(s))) return; // a filtered run: no totals to judge
  assert.ok(ledger.inputs >= 200, `inputs tried ${ledger.inputs}`);
  assert.ok(ledger.faults >= 1000, `faults injected ${ledger.faults}`);
  assert.ok(ledger.cycles >= 20, `kill/resume cycles ${ledger.cycles}`);
  assert.equal(ledger.lost, 0);
  assert.equal(ledger.paidTwice, 0);
  assert.equal(ledger.leaks, 0);
  assert.ok(loopback);
}
