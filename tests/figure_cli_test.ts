import assert from "node:assert/strict";
import { join } from "node:path";
import { figureCommand, reportCommand } from "../lib/cli/figure.ts";
import { efficiencyFigureOf } from "../lib/report/figure_efficiency.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { decodePng } from "../lib/core/png.ts";
import { hasChromium } from "./_browser.ts";
import { writeDpoEvalFixture } from "./_report_fixtures.ts";
import { MAIN, TASK_PERMISSIONS, withTempDir } from "./_helpers.ts";

const ignore = !(await hasChromium()) && !Deno.env.get("CI");

Deno.test("efficiencyFigureOf data/reward/efficiency-v1 (the previous recipe): six-seed budget means and seed 0's full curves", async () => {
  const fig = await efficiencyFigureOf(
    new URL("../data/reward/efficiency-v1", import.meta.url).pathname,
  );
  const names = fig.data.map((t) => t.name);
  assert.deepEqual(names, [
    "continual, seed 0",
    "continual (from VRM), mean of 6 seeds",
    "scratch, seed 0",
    "from scratch, mean of 6 seeds",
  ]);
  assert.equal((fig.data[0].customdata as number[]).length, 81);
  await assert.rejects(() => efficiencyFigureOf("/nonexistent"), /a folder with efficiency\.json/);
});

Deno.test("deno task report and figure: the report's results chart as a PNG, through the CLI", {
  ignore,
}, async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "reproduce");
    await writeDpoEvalFixture(root);
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", ...TASK_PERMISSIONS, MAIN, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const report = await run(["report", "--root", root]);
    assert.ok(report.success, new TextDecoder().decode(report.stderr));
    assert.match(new TextDecoder().decode(report.stdout), /report of eval, dpo \(6 figures\)/);
    const png = join(dir, "results.png");
    const fig = await run([
      "figure",
      "--root",
      root,
      "--id",
      "results",
      "--out",
      png,
      "--width",
      "600",
    ]);
    assert.ok(fig.success, new TextDecoder().decode(fig.stderr));
    assert.equal(decodePng(await Deno.readFile(png)).width, 1200); // 600 CSS px at scale 2
    const bad = await run(["figure", "--root", root, "--id", "nope", "--out", png]);
    assert.equal(bad.code, 1);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /figure --id: Expected one of results, results-more, distribution-1, worst-clip-1, fixed-pair-1, dpo-curves but found "nope"/,
    );
  });
});

Deno.test("figure without --out is refused", async () => {
  const defaults = parseCli([], figureCommand.spec); // what the CLI passes without flags
  await assert.rejects(() => figureCommand.run(defaults), /figure: Expected --out FILE\.png/);
  assert.equal(typeof reportCommand.run, "function");
});
