import assert from "node:assert/strict";
import { parseCli } from "../lib/cli/_flags.ts";
import { pairsCommand } from "../lib/cli/pairs.ts";

const run = (args: string[]) => pairsCommand.run(parseCli(args, pairsCommand.spec));

Deno.test("pairs: bad flags are refused, named, before any model is loaded", async () => {
  const missing = ["--generator", "/nonexistent", "--prm", "/nonexistent"];
  await assert.rejects(
    () => run([...missing, "--pairing", "best"]),
    /--pairing: Expected "best-worst" or "all" but found "best"/,
  );
  await assert.rejects(() => run([...missing, "--candidates", "1.5"]), /--candidates/);
  await assert.rejects(() => run([...missing, "--margin", "wide"]), /--margin/);
});
