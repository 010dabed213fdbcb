import assert from "node:assert/strict";
import { join } from "node:path";
import { reproduce, STAGES } from "../lib/reproduce.ts";
import { SHARED_VIDEOS, withTempDir } from "./_helpers.ts";

Deno.test("reproduce runs the built stages, resumes past finished ones and says what is not built", async () => {
  await withTempDir(async (parent) => {
    const dir = join(parent, "reproduce");
    const lines: string[] = [];
    const first = await reproduce({
      outDir: dir,
      videosDir: SHARED_VIDEOS,
      only: ["videos"],
      log: (l) => lines.push(l),
    });
    assert.deepEqual(first.map((o) => [o.name, o.status]), [["videos", "done"]]);
    const result = JSON.parse(await Deno.readTextFile(join(dir, "videos", "result.json")));
    assert.equal(result.videos.length, 4);
    assert.ok(result.videos.every((v: { patchifyExact: boolean }) => v.patchifyExact));
    await Deno.stat(join(dir, "videos", "duck_grid.png"));
    const second = await reproduce({
      outDir: dir,
      videosDir: SHARED_VIDEOS,
      only: ["videos", "world", "dpo"],
      log: (l) => lines.push(l),
    });
    assert.deepEqual(second.map((o) => [o.name, o.status]), [["videos", "cached"], [
      "world",
      "done",
    ], ["dpo", "not built yet"]]);
    assert.ok(lines.some((l) => l.startsWith("Not built yet: dpo")));
    const world = JSON.parse(await Deno.readTextFile(join(dir, "world", "result.json")));
    assert.equal(world.prompts.length, 8);
    assert.ok(STAGES.some((s) => !s.run), "stages of unfiled issues are listed, not faked");
    // the offline report of the stages present, beside the output folder
    assert.ok(lines.some((l) => l.startsWith("report of world, videos → ")));
    const report = await Deno.readTextFile(join(parent, "report.html"));
    assert.match(report, /<h2 id="world">ShapesWorld<\/h2>/);
    assert.match(
      report,
      /Not run yet: <code>eval<\/code>, <code>dpo<\/code>, <code>reward<\/code>/,
    );
    await assert.rejects(
      () => reproduce({ outDir: dir, only: ["nope"], log: () => {} }),
      /Expected a stage among/,
    );
  });
});
