/**
 * Real browser test: headless Chromium (Debian's `chromium` through
 * playwright-core), network off, opens a reproduction report and an inspect
 * report of `../shared/videos`, and checks that every figure renders: plot
 * elements per figure, a hover label after a real mouse move, a non-blank
 * screenshot, no page errors and no network request.
 *
 * `HALO_REPORT=path/to/report.html` checks that report too (CI points it at
 * the report of `deno task reproduce --profile tiny`).
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { inspectVideos } from "../lib/report/inspect.ts";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { writeReport } from "../lib/report/report.ts";
import { checkPage, type FigureCheck, hasChromium } from "./_browser.ts";
import { DIMENSIONS, METHODS, METRICS, writeReportFixture } from "./_report_fixtures.ts";
import { SHARED_VIDEOS, withTempDir } from "./_helpers.ts";

const available = await hasChromium();
// CI installs Chromium, so there the tests never skip.
const ignore = !available && !Deno.env.get("CI");

function assertDrawn(f: FigureCheck): void {
  const drawn = f.heatmaps + f.points + f.lines;
  assert.ok(f.traces > 0 && drawn > 0, `${f.id}: nothing drawn (${JSON.stringify(f)})`);
  assert.ok(f.hover.trim().length > 0, `${f.id}: no hover label`);
  assert.ok(
    f.inked > 0.005 && f.colors > 20,
    `${f.id}: screenshot looks blank (${f.inked}, ${f.colors} colours)`,
  );
}

Deno.test({
  name:
    "browser: the inspect report of ../shared/videos draws one defect heatmap per video, offline",
  ignore,
  async fn() {
    await withTempDir(async (dir) => {
      const server = startJudgeServer({ port: 0 });
      let report;
      try {
        report = await inspectVideos(SHARED_VIDEOS, {
          baseURL: server.url,
          out: join(dir, "videos-report.html"),
          quiet: true,
        });
      } finally {
        await server.close();
      }
      const page = await checkPage(report.out);
      assert.deepEqual(page.errors, []);
      assert.deepEqual(page.blocked, [], "no network request");
      assert.equal(page.figures.length, 4, "one figure per video");
      for (const f of page.figures) {
        assertDrawn(f);
        assert.equal(f.heatmaps, 4, `${f.id}: one heatmap per segment`);
        assert.equal(f.images, 4, `${f.id}: one frame per segment`);
        assert.equal(f.shapes, 3, `${f.id}: the 3 worst patches boxed`);
        assert.match(f.hover, /s0r0c0/, `${f.id}: hover names the patch`);
        // real clips: the labeller ranks, the ShapesWorld PRM's scores are beside it, caveated
        assert.match(
          f.hover,
          /PRM \(not trained on clips like this\): visual [\d.]+ · temporal [\d.]+ · text [\d.]+/,
        );
        assert.match(f.hover, /labeller: visual \d/);
      }
      const worst = page.tables["worst-patches"];
      assert.equal(worst.length, 12, "3 worst patches per video");
      assert.ok(worst.every((row) => /^s\dr\dc\d$/.test(row[1])));
    });
  },
});

Deno.test({
  name: "browser: the reproduction report renders every figure of every stage present, offline",
  ignore,
  async fn() {
    await withTempDir(async (dir) => {
      const root = join(dir, "reproduce");
      await writeReportFixture(root);
      const written = await writeReport(root);
      assert.deepEqual(written.stages, ["eval", "dpo", "reward", "labels", "world", "videos"]);
      const page = await checkPage(written.html);
      assert.deepEqual(page.errors, []);
      assert.deepEqual(page.blocked, []);
      assert.equal(page.figures.length, written.figures);
      const byId = Object.fromEntries(page.figures.map((f) => [f.id, f]));
      for (const f of page.figures) assertDrawn(f);
      // results: one bar per method and metric, hover with the interval
      assert.equal(byId["fig-results"].points, METHODS.length * METRICS.length);
      assert.equal(byId["fig-results-more"].points, METHODS.length * DIMENSIONS.length);
      assert.match(byId["fig-results"].hover, /Base.*\[[\d.]+, [\d.]+\]/s);
      // dpo: 6 logged keys × (6 runs + 3 means), minus patch/accuracies of Diffusion-DPO (2 runs + mean)
      assert.equal(byId["fig-dpo-curves"].lines, 6 * 9 - 3);
      assert.match(byId["fig-dpo-curves"].hover, /step \d+/);
      assert.equal(byId["fig-worst-clip-1"].heatmaps, 4);
      assert.match(byId["fig-worst-clip-1"].hover, /s0r0c0/);
      // Base above HALO from the same noise: 4 segments per row
      assert.equal(byId["fig-fixed-pair-1"].heatmaps, 8);
      assert.match(byId["fig-fixed-pair-1"].hover, /reference judge/);
      assert.ok(byId["fig-efficiency"].lines >= 4);
      assert.ok(byId["fig-agreement"].points >= 8);
      // vrm, prm, prm_scratch × 3 aspects × video and patch, less the temporal video ρ the
      // judge leaves undefined (it gives every held-out clip the same temporal score)
      assert.equal(byId["fig-reward-aspects"].points, 3 * 3 * 2 - 3);
      // 3 models × (3 text swaps + 2 pair-direction shares)
      assert.equal(byId["fig-reward-directions"].points, 3 * 5);
      assert.match(byId["fig-reward-directions"].hover, /swap scored lower/);
    });
  },
});

const external = Deno.env.get("HALO_REPORT");
Deno.test({
  name: `browser: ${external ?? "HALO_REPORT (unset)"} renders every figure, offline`,
  ignore: ignore || !external,
  async fn() {
    const page = await checkPage(resolve(external!));
    assert.deepEqual(page.errors, []);
    assert.deepEqual(page.blocked, []);
    assert.ok(page.figures.length > 0, "the report has figures");
    for (const f of page.figures) assertDrawn(f);
  },
});
