import assert from "node:assert/strict";
import { join } from "node:path";
import { jobPermissions, runJobs, TASK_PERMISSIONS } from "../lib/core/_spawn.ts";
import { withTempDir } from "./_helpers.ts";

const SPAWN = new URL("../lib/core/_spawn.ts", import.meta.url).href;

/** jobPermissions() as seen by a process started with `flags` in `cwd`. */
async function childView(flags: string[], cwd: string): Promise<string[]> {
  const script = join(cwd, "probe.ts");
  await Deno.writeTextFile(
    script,
    `import { jobPermissions } from "${SPAWN}";\nconsole.log(JSON.stringify(jobPermissions()));\n`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script],
    cwd,
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("jobPermissions: a broadly permitted parent passes the broad set", () => {
  assert.deepEqual(jobPermissions(), [...TASK_PERMISSIONS]);
});

Deno.test("jobPermissions: a narrow task's children get its folders and variables, never more", async () => {
  await withTempDir(async (dir) => {
    const env = "--allow-env=HALO_BACKEND,XDG_RUNTIME_DIR,TMPDIR";
    assert.deepEqual(
      await childView(["--allow-read", "--allow-write=out,data", "--allow-run", env], dir),
      [
        "--allow-read",
        `--allow-write=${join(dir, "out")},${join(dir, "data")}`,
        "--allow-env=HALO_BACKEND,XDG_RUNTIME_DIR,TMPDIR",
      ],
    );
    // a parent that may write only out/ and read no variable passes only that
    assert.deepEqual(await childView(["--allow-read", "--allow-write=out"], dir), [
      "--allow-read",
      `--allow-write=${join(dir, "out")}`,
    ]);
  });
});

Deno.test("runJobs: a parent killed with SIGKILL leaves no job running behind it", async () => {
  await withTempDir(async (dir) => {
    // A job that would run for a minute: it writes its pid, then waits.
    const entry = join(dir, "sleeper.ts");
    await Deno.writeTextFile(
      entry,
      `import { readJob } from "${SPAWN}";\n` +
        `const job = await readJob();\n` +
        `await Deno.writeTextFile(job.pidFile + ".tmp", String(Deno.pid));\n` +
        `await Deno.rename(job.pidFile + ".tmp", job.pidFile);\n` + // never read half-written
        `await new Promise((r) => setTimeout(r, 60_000));\n` +
        `Deno.exit(0);\n`,
    );
    const parent = join(dir, "parent.ts");
    const pidFile = join(dir, "child.pid");
    await Deno.writeTextFile(
      parent,
      `import { runJobs } from "${SPAWN}";\n` +
        `await runJobs([{ kind: "sleep", pidFile: ${JSON.stringify(pidFile)} }], ` +
        `{ concurrency: 1, entry: ${JSON.stringify(entry)} });\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_PERMISSIONS, parent],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let pid = 0;
    for (let i = 0; i < 600 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pid = Number(await Deno.readTextFile(pidFile).catch(() => "0"));
    }
    assert.ok(pid > 0, "the job started");
    child.kill("SIGKILL");
    await child.status;
    // The job reads end-of-file on its stdin and exits; an orphan would sleep on for a minute.
    const alive = async () => {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
      return stat !== "" && !/^\d+ \(.*\) Z /.test(stat); // a zombie has exited
    };
    for (let i = 0; i < 300 && await alive(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await alive(), false, `job ${pid} still runs after its parent was killed`);
  });
});

Deno.test("runJobs: a job larger than an argument may be (128 KiB) reaches its child whole", async () => {
  await withTempDir(async (dir) => {
    const entry = join(dir, "echo.ts");
    await Deno.writeTextFile(
      entry,
      `import { runAsChild } from "${SPAWN}";\n` +
        `await runAsChild(async (job) => {\n` +
        `  await Deno.writeTextFile(job.out, String(job.items.length) + " " + job.items.at(-1));\n` +
        `});\n`,
    );
    // About 400 KiB of JSON, with a newline inside a string (JSON escapes it).
    const items = Array.from({ length: 20_000 }, (_, i) => `item ${i}\nof 20000`);
    const out = join(dir, "echo.txt");
    await runJobs([{ kind: "echo", out, items }], { concurrency: 1, entry });
    assert.equal(await Deno.readTextFile(out), `20000 ${items.at(-1)}`);
  });
});
