import assert from "node:assert/strict";
import { runCli } from "../lib/cli/_flags.ts";
import { trainRmCommand } from "../lib/cli/train_rm.ts";

async function capture(argv: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...xs: unknown[]) => void lines.push(xs.join(" "));
  try {
    const code = await runCli(argv, { "train-rm": trainRmCommand });
    return { code, text: lines.join("\n") };
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("train-rm lists --seeds and --ablation in its help", async () => {
  const { code, text } = await capture(["train-rm", "--help"]);
  assert.equal(code, 0);
  assert.match(text, /--seeds VALUE\s+comma-separated seeds/);
  assert.match(text, /--ablation\s+also train the from-scratch PRM/);
});

Deno.test("train-rm refuses bad --seeds before any work, naming the option", async () => {
  const { code, text } = await capture(["train-rm", "--seeds", "0,one", "--out", "/nonexistent/x"]);
  assert.equal(code, 1);
  assert.match(text, /--seeds: Expected comma-separated integers but found "0,one"/);
  assert.doesNotMatch(text, /backend/, "fails before choosing a backend");
});
