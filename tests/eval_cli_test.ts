import assert from "node:assert/strict";
import { parseCli } from "../lib/cli/_flags.ts";
import { evaluateCommand } from "../lib/cli/evaluate.ts";

const run = (args: string[]) => evaluateCommand.run(parseCli(args, evaluateCommand.spec));

Deno.test("evaluate: bad flags are refused, named, before any model is loaded", async () => {
  // the checkpoints do not exist: each error comes from the flags, not from loading
  await assert.rejects(() => run([]), /evaluate: Expected --checkpoint METHOD=DIR/);
  await assert.rejects(
    () => run(["--checkpoint", "sft=/nonexistent"]),
    /--checkpoint: Expected METHOD among dpo, grandpo, patch-only but found "sft"/,
  );
  await assert.rejects(
    () => run(["--checkpoint", "dpo="]),
    /--checkpoint: Expected a folder after dpo= but found "dpo="/,
  );
  await assert.rejects(
    () => run(["--checkpoint", "/nonexistent", "--split", "train"]),
    /--split: Expected "test" or "validation" but found "train"/,
  );
  await assert.rejects(
    () => run(["--checkpoint", "/nonexistent", "--prompts", "many"]),
    /--prompts/,
  );
  await assert.rejects(
    () => run(["--checkpoint", "/nonexistent", "--guidance", "strong"]),
    /--guidance: Expected a number but found "strong"/,
  );
});
