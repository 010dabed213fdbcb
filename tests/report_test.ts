import assert from "node:assert/strict";
import { join } from "node:path";
import { reportSections, writeReport } from "../lib/report/report.ts";
import { writeDpoEvalFixture } from "./_report_fixtures.ts";
import { withTempDir } from "./_helpers.ts";

Deno.test("writeReport renders the stages present, names the missing ones, and is self-contained", async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, "reproduce");
    await writeDpoEvalFixture(root);
    const written = await writeReport(root);
    assert.equal(written.html, join(dir, "report.html"));
    assert.deepEqual(written.stages, ["eval", "dpo"]);
    // results, results-more, one distribution (defect share), one worst clip, one Base/HALO
    // pair, the dpo curves
    assert.equal(written.figures, 6);
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
    // the pairs the runs trained on, above the curves
    assert.match(
      html,
      /<p>8 preference pairs from 16 candidate clips \(8 prompts × 2, 4 sampling steps\) drawn from one x<sub>T<\/sub> per prompt \(DDIM η 0\.5: a pair differs in local detail\); pairing best-worst, margin 0\. The reference judge agrees with the pairs' video direction on 60% of the pairs where it tells the clips apart \(it ties 38%\), and with their patch directions \(\|gap\| ≥ 0\.25\) on 50% \(ties 25%\)\.<\/p>/,
    );
    // the results table from the eval stage's results.json, with the claims
    assert.match(html, /<td>HALO \(video \+ patch\)<\/td><td>0\.620 \[0\.590, 0\.660\]<\/td>/);
    assert.match(
      html,
      /<td>HALO cuts the defective patches by at least 30% relative to Base<\/td><td>no<\/td>/,
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
      "Diffusion-DPO (video)",
      "Gran-DPO patch-only",
      "HALO (video + patch)",
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
      /eval: .*eval\/result\.json: results: Expected an array of result rows or result files but found 3/,
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
