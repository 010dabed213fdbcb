import assert from "node:assert/strict";

import { MAIN, TASK_PERMISSIONS } from "./_helpers.ts";

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...TASK_PERMISSIONS,
      MAIN,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, out: decode(output.stdout), err: decode(output.stderr) };
}

Deno.test("lib/cli/main.ts lists its commands, prints help and rejects bad usage without a stack trace", async () => {
  const list = await run([]);
  assert.equal(list.code, 0);
  assert.match(list.err, /reproduce\s+run the HALO reproduction/);
  const help = await run(["reproduce", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /--videos VALUE/);
  const bad = await run(["reproduce", "--seed", "x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--seed: Expected an integer but found "x"/);
  assert.doesNotMatch(bad.err, /at .*\.ts:\d+/);
  const unknown = await run(["frobnicate"]);
  assert.equal(unknown.code, 2);
});
