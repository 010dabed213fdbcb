import assert from "node:assert/strict";
import { formatSeconds, Progress } from "../lib/core/_progress.ts";

Deno.test("Progress prints a line with counts, rate, ETA and fields; the final tick always prints", () => {
  const lines: string[] = [];
  const bar = new Progress(4, {
    label: "train",
    unit: "steps",
    interval: 3600,
    write: (t) => lines.push(t),
  });
  bar.tick(1, { loss: 0.5 });
  bar.tick(3, { loss: 0.25 });
  assert.equal(lines.length, 2, "first and final ticks print; the ones between are throttled");
  assert.match(
    lines[1],
    /^train █+ 4\/4 [\d.]+ steps\/s elapsed [\d.]+s eta [\d.]+s loss=0\.25\n$/,
  );
  const resumed = new Progress(10, { initial: 6, write: (t) => lines.push(t) });
  assert.match(resumed.render(), / 6\/10 /);
  const quiet = new Progress(2, {
    quiet: true,
    write: () => assert.fail("quiet bars print nothing"),
  });
  quiet.tick(2);
});

Deno.test("formatSeconds", () => {
  assert.equal(formatSeconds(3.21), "3.2s");
  assert.equal(formatSeconds(125), "2m05s");
  assert.equal(formatSeconds(3725), "1h02m05s");
  assert.equal(formatSeconds(NaN), "?");
});
