/**
 * Section 2, limits: the `--max-cost` labelling budget stops cleanly and a
 * rerun with more budget pays only for the rest; caps on video size, frames
 * and patch count answer with a clear message.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startJudgeServer } from "../../lib/labels/judge_server/server.ts";
import { buildLabelRequest } from "../../lib/labels/protocol.ts";
import { readJsonLines } from "../../lib/core/_atomic.ts";
import { createVideo, loadVideo, saveVideo } from "../../lib/videos/video.ts";
import { CANARY_KEY, ledger, suiteDir } from "./_ledger.ts";
import { labelArgs, tinyItems, videoFolder } from "./_responses.ts";
import { runTask } from "./_tasks.ts";

Deno.test("limits: --max-cost stops cleanly, and a rerun with more budget pays only for the rest", async () => {
  ledger.sections.add("limits");
  const n = 10;
  const videos = await videoFolder("budget-videos", n, 81);
  const dir = await suiteDir("budget");
  const server = startJudgeServer({ port: 0 });
  const env = { OPENAI_API_KEY: CANARY_KEY };
  const args = (out: string, extra: string[]) =>
    labelArgs(videos, out, server.url, ["--concurrency", "1", ...extra]);
  try {
    const reference = join(dir, "reference.jsonl");
    assert.equal((await runTask("label", args(reference, []), { env })).code, 0);
    const costs = (await readJsonLines<{ costUsd: number }>(reference)).map((r) => r.costUsd);
    const total = costs.reduce((a, b) => a + b, 0);
    const out = join(dir, "labels.jsonl");
    // Nothing fits in a zero budget: no call, a clear message, nothing written.
    let calls = server.stats.chat;
    const none = await runTask("label", args(out, ["--max-cost", "0"]), { env });
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /budget: stopped at an estimated \$0\.0000 of --max-cost \$0 with 10 of 10 videos not labelled; rerun with a higher --max-cost/,
    );
    assert.equal(server.stats.chat, calls);
    // About 40% of the total: it stops part-way, within the limit.
    const limit = Number((total * 0.4).toFixed(6));
    const part = await runTask("label", args(out, ["--max-cost", String(limit)]), { env });
    assert.equal(part.code, 1, part.stderr);
    const m = /with (\d+) of 10 videos not labelled/.exec(part.stderr);
    assert.ok(m, part.stderr);
    const first = await readJsonLines<{ costUsd: number }>(out);
    assert.ok(first.length >= 1 && first.length < n, `${first.length} labelled`);
    assert.equal(first.length + Number(m[1]), n);
    const spent = first.reduce((a, r) => a + r.costUsd, 0);
    assert.ok(spent <= limit, `spent $${spent} of $${limit}`);
    assert.equal(server.stats.chat - calls, first.length, "no call was made that was not stored");
    // The rest, with more budget: only the missing videos are asked for.
    calls = server.stats.chat;
    const rest = await runTask("label", args(out, ["--max-cost", String(total * 2)]), { env });
    assert.equal(rest.code, 0, rest.stderr);
    assert.equal(server.stats.chat - calls, n - first.length, "paid only for the rest");
    assert.deepEqual(await Deno.readFile(out), await Deno.readFile(reference));
    ledger.paidTwice += Math.max(0, server.stats.chat - 2 * n);
    ledger.lost += n - (await readJsonLines(out)).length;
    ledger.inputs += 2;
  } finally {
    await server.close();
  }
});

Deno.test("limits: caps on file size, frames, frame side, decoded bytes and patch count answer clearly", async () => {
  const dir = await suiteDir("caps");
  const clip = tinyItems(1, 91)[0].video; // 8 frames of 16×16
  const path = join(dir, "clip.gif");
  await saveVideo(clip, path);
  const cases: Array<[() => Promise<unknown>, RegExp]> = [
    [
      () => loadVideo(path, { maxFrames: 4 }),
      /Expected at most 4 frames \(maxFrames\) but found more; pass fps/,
    ],
    [
      () => loadVideo(path, { maxSide: 8 }),
      /Expected frames of at most 8 pixels a side \(maxSide\) but found 16x16/,
    ],
    [
      () => loadVideo(path, { maxFileBytes: 64 }),
      /Expected a file of at most 64 bytes \(maxFileBytes\) but found \d+ bytes/,
    ],
    [
      () => loadVideo(path, { maxDecodedBytes: 4000 }),
      /Expected at most 4000 bytes of decoded frames \(maxDecodedBytes\) but found more/,
    ],
    [() => loadVideo(path, { maxFrames: 0 }), /maxFrames to be a positive integer but found 0/],
  ];
  // A wide clip past the default side cap (4096 px): tiny to store, refused before it is kept.
  const wide = join(dir, "wide.gif");
  await saveVideo(
    createVideo({
      frames: new Float32Array(1 * 4 * 4100 * 3).fill(0.5),
      numFrames: 1,
      height: 4,
      width: 4100,
    }),
    wide,
  );
  cases.push([
    () => loadVideo(wide),
    /Expected frames of at most 4096 pixels a side \(maxSide\) but found 4100x4/,
  ]);
  // Too many patches for one request: 8 frames at 8×8 cells, one frame each.
  cases.push([
    () =>
      Promise.resolve().then(() =>
        buildLabelRequest(clip, "p", { rows: 8, cols: 8, framesPerPatch: 1 })
      ),
    /Expected at most 256 patches per request \(maxPatches\) but found 512 \(8 frames at grid 8x8x1\); load fewer frames/,
  ]);
  for (const [run, message] of cases) {
    ledger.inputs++;
    await assert.rejects(run(), message);
  }
  // Within the caps it loads.
  assert.equal((await loadVideo(path, { maxFrames: 8, maxSide: 16 })).numFrames, 8);
});
