import assert from "node:assert/strict";
import { join } from "node:path";
import { reproduce, STAGES } from "../lib/reproduce/reproduce.ts";
import { MAIN, SHARED_VIDEOS, TASK_PERMISSIONS, withTempDir } from "./_helpers.ts";
import { checkPage, hasChromium } from "./_browser.ts";

Deno.test("reproduce runs the stages, resumes past finished ones and rejects unknown names", async () => {
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
      only: ["videos", "world"],
      log: (l) => lines.push(l),
    });
    assert.deepEqual(second.map((o) => [o.name, o.status]), [["videos", "cached"], [
      "world",
      "done",
    ]]);
    assert.ok(lines.some((l) => /^Wall time: .* for profile default/.test(l)));
    const world = JSON.parse(await Deno.readTextFile(join(dir, "world", "result.json")));
    assert.equal(world.prompts.length, 8);
    assert.ok(STAGES.every((s) => s.run), "every stage of the paper is built");
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
    await assert.rejects(
      () => reproduce({ outDir: dir, only: ["dpo"], log: () => {} }),
      /Expected the reward stage's PRM at .*reward\/seed-0\/prm \(run the reward stage first\)/,
    );
    await assert.rejects(
      () => reproduce({ outDir: dir, only: ["eval"], log: () => {} }),
      /run the dpo stage first/,
    );
    // a finished dpo stage is not reused for a run that asks for other candidates
    await Deno.mkdir(join(dir, "dpo"), { recursive: true });
    await Deno.writeTextFile(
      join(dir, "dpo", "result.json"),
      JSON.stringify({ stage: "dpo", pairs: { settings: { sharedNoise: false } } }),
    );
    await assert.rejects(
      () => reproduce({ outDir: dir, only: ["dpo"], sharedNoise: true, log: () => {} }),
      /reproduce: Expected the finished dpo stage in .*dpo to have pairs of sharedNoise true \(or --force, or another --out\) but found false/,
    );
    await assert.rejects(
      () => reproduce({ outDir: dir, profile: "huge" as never, log: () => {} }),
      /profile: Expected one of default, tiny/,
    );
  });
});

Deno.test("deno task reproduce --profile tiny runs the whole pipeline and writes the results table", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "reproduce");
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...TASK_PERMISSIONS,
          MAIN,
          "reproduce",
          "--profile",
          "tiny",
          "--out",
          out,
          "--videos",
          SHARED_VIDEOS,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const first = await run();
    const text = new TextDecoder().decode(first.stdout);
    assert.ok(first.success, new TextDecoder().decode(first.stderr).slice(-2000));
    assert.match(text, /Wall time: .* for profile tiny; videos .* dpo \d+ s, eval \d+ s/);
    const results = JSON.parse(await Deno.readTextFile(join(dir, "results.json")));
    assert.deepEqual(results.rows.map((r: { method: string }) => r.method), [
      "Base",
      "Diffusion-DPO (video)",
      "Gran-DPO patch-only",
      "HALO (video + patch)",
    ]);
    assert.ok(
      results.rows.every((r: { metrics: Record<string, { lo: number; hi: number }> }) =>
        ["shapesbench", "evaluator", "defectivePatches"].every((m) =>
          r.metrics[m].lo <= r.metrics[m].hi
        )
      ),
    );
    assert.equal(results.config.profile, "tiny");
    assert.ok(results.claims.length >= 9);
    const md = await Deno.readTextFile(join(dir, "results.md"));
    assert.match(md, /\| HALO \(video \+ patch\) \| 2 \|/);
    // the offline report of the tiny run, opened in real headless Chromium (network off):
    // every figure draws, answers a hover and is not blank (CI installs Chromium)
    assert.match(text, /report of eval, dpo, reward, labels, generator, world, videos → /);
    if ((await hasChromium()) || Deno.env.get("CI")) {
      const page = await checkPage(join(dir, "report.html"));
      assert.deepEqual(page.errors, []);
      assert.deepEqual(page.blocked, []);
      const ids = page.figures.map((f) => f.id);
      for (const id of ["fig-results", "fig-dpo-curves", "fig-agreement", "fig-efficiency"]) {
        assert.ok(ids.includes(id), `${id} in ${ids.join(", ")}`);
      }
      for (const f of page.figures) {
        assert.ok(f.traces > 0 && f.heatmaps + f.points + f.lines > 0, `${f.id} draws nothing`);
        assert.ok(f.hover.trim().length > 0, `${f.id}: no hover label`);
        assert.ok(f.inked > 0.005 && f.colors > 20, `${f.id}: blank screenshot`);
      }
    }
    const again = await run();
    assert.ok(again.success);
    const stages = new TextDecoder().decode(again.stdout).match(/already done/g) ?? [];
    assert.equal(stages.length, STAGES.length);
  });
});
