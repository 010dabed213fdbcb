import assert from "node:assert/strict";
import { join } from "node:path";
import { reportSections, writeReport } from "../lib/report.ts";
import { METHODS, METRICS, writeDpoEvalFixture } from "./_report_fixtures.ts";
import { withTempDir } from "./_helpers.ts";

Deno.test("writeReport renders the stages present, names the missing ones, and writes results.{md,json}", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "reproduce");
    await writeDpoEvalFixture(root);
    const written = await writeReport(root);
    assert.equal(written.html, join(dir, "report.html"));
    assert.deepEqual(written.stages, ["eval", "dpo"]);
    // results, one distribution (defect share), one worst clip, the dpo curves
    assert.equal(written.figures, 4);
    const html = await Deno.readTextFile(written.html);
    assert.match(html, /Not run yet: <code>reward<\/code>, <code>labels<\/code>/);
    assert.match(html, /deno task reproduce --only reward,labels,generator,world,videos/);
    assert.match(
      html,
      /<img class="sheet" alt="before and after post-training" src="data:image\/png;base64,/,
    );
    assert.ok(
      !/<script[^>]+src=/i.test(html) && !/<img[^>]+src="(?!data:)/i.test(html),
      "self-contained",
    );
    const json = JSON.parse(await Deno.readTextFile(written.json));
    assert.equal(json.results.length, METHODS.length * METRICS.length);
    assert.equal(json.agreement, null);
    assert.match(
      await Deno.readTextFile(written.markdown),
      /\| HALO \| defect share \| 0\.250 \[0\.220, 0\.290\] \|/,
    );
  });
});

Deno.test("reportSections: dpo curves per logged key, one series per method and seed", async () => {
  await withTempDir(async (root) => {
    await writeDpoEvalFixture(root);
    const { sections } = await reportSections(root);
    const dpo = sections.find((s) => s.stage === "dpo")!;
    const fig = dpo.figures[0].figure;
    const titles = (fig.layout.annotations as Array<{ text: string }>).map((a) => a.text);
    assert.deepEqual(titles, [
      "<b>loss</b>",
      "<b>rewards/accuracies</b>",
      "<b>rewards/margins</b>",
      "<b>patch/accuracies</b>",
      "<b>rewards/chosen</b>",
      "<b>rewards/rejected</b>",
    ]);
    const loss = fig.data.filter((t) => t.xaxis === "x");
    assert.deepEqual(loss.filter((t) => t.showlegend).map((t) => t.name), [
      "Diffusion-DPO",
      "patch-only",
      "HALO",
    ]);
    assert.equal(loss.length, 9); // 3 methods × (2 seeds + mean)
  });
});

Deno.test("a corrupt or malformed stage result is reported in the page, and the rest still renders", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "reproduce");
    await writeDpoEvalFixture(root);
    await Deno.writeTextFile(join(root, "dpo", "result.json"), "{ torn");
    await Deno.mkdir(join(root, "reward"));
    await Deno.writeTextFile(
      join(root, "reward", "result.json"),
      JSON.stringify({ agreement: "x" }),
    );
    await Deno.writeTextFile(join(root, "eval", "result.json"), JSON.stringify({ results: 3 }));
    await Deno.mkdir(join(root, "labels"));
    await Deno.writeTextFile(
      join(root, "labels", "result.json"),
      JSON.stringify({
        judgeNoise: 0.6,
        defects: { clips: 2, topKHitRate: 0.5, byKind: { blur: 0.5 } },
      }),
    );
    const written = await writeReport(root, { out: join(dir, "r.html") });
    const html = await Deno.readTextFile(written.html);
    assert.match(html, /dpo\/result\.json: Expected a stage result \(JSON object\) but found/);
    assert.match(
      html,
      /eval: .*eval\/result\.json: results: Expected an array of result rows but found 3/,
    );
    assert.match(
      html,
      /reward: .*reward\/result\.json: agreement: Expected an array of agreement rows but found &quot;x&quot;/,
    );
    assert.deepEqual(written.stages, ["labels"]);
    assert.match(html, /Top-k hit rate of the labels on 2 damaged clips: <b>0\.500<\/b>/);
  });
});

Deno.test("writeReport refuses a bad root", async () => {
  await assert.rejects(() => writeReport(""), /writeReport: Expected a reproduction output folder/);
});
