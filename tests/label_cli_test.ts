import assert from "node:assert/strict";
import { folderSource, shapesSource } from "../lib/labels/folder.ts";
import { MAIN, SHARED_VIDEOS, TASK_PERMISSIONS } from "./_helpers.ts";

Deno.test("shapesSource renders the same clip for the same index and seed, others for others", async () => {
  const a = shapesSource(5, { size: 16, frames: 4, seed: 1 });
  const b = shapesSource(5, { size: 16, frames: 4, seed: 2 });
  const [a0, a0again, a1, b0] = [
    await a.load(0),
    await a.load(0),
    await a.load(1),
    await b.load(0),
  ];
  assert.deepEqual(a0.video.frames, a0again.video.frames);
  assert.equal(a0.prompt, a0again.prompt);
  assert.notDeepEqual(a0.video.frames, a1.video.frames);
  assert.notDeepEqual(a0.video.frames, b0.video.frames);
  assert.throws(() => shapesSource(0), /count/);
});

Deno.test("folderSource decodes one real video at a time, trimmed to the grid", async () => {
  const source = await folderSource(SHARED_VIDEOS, { frames: 16 });
  assert.equal(source.count, 4);
  const item = await source.load(2);
  assert.equal(item.video.numFrames, 16);
  assert.equal(item.video.width % 4, 0);
  assert.ok(item.prompt.length > 0);
});

Deno.test("`deno task label --dry-run` prints a plan for 100,000 real-size videos within the limits", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      MAIN,
      "label",
      "--dry-run",
      "--videos",
      SHARED_VIDEOS,
      "--frames",
      "16",
      "--count",
      "100000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.match(text, /plan for 100,000 videos \(4 requests built and measured/);
  assert.match(text, /within the Batch API's limits/);
  const files = Number(/batch files: ([\d,]+)/.exec(text)![1].replace(/,/g, ""));
  assert.ok(files >= 2, text);
  assert.match(text, /cost: +\$[\d,.]+ on the Batch API, \$[\d,.]+ direct/);
});
