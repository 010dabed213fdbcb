import assert from "node:assert/strict";
import { join } from "node:path";
import { jobPermissions, TASK_PERMISSIONS } from "../lib/_spawn.ts";
import { withTempDir } from "./_helpers.ts";

const SPAWN = new URL("../lib/_spawn.ts", import.meta.url).href;

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
