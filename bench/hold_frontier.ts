/**
 * What holding the policy to Base costs in repairs (issue 21's trade between objects kept and
 * defects fixed): for each post-trained run, the objects it erases on prompts no pair trained on
 * (`deno task pairs --seed 1 --shared-noise` under the run and under Base; a clip is lost when
 * ShapesBench's count check finds no object in the run's clip and one in Base's from the same
 * noise) against the share of Base's defective patches it fixes on the validation prompts (the
 * results table's paired measure, with its 95% bootstrap interval). Prints the table and, with
 * `--png FILE`, draws it (objects lost across, defects fixed up, one line per family of runs).
 *
 *   deno run --allow-read --allow-write --allow-env --allow-sys --allow-run \
 *     bench/hold_frontier.ts --png data/results/validation-g30/hold-frontier.png \
 *     out/pairsG30-shared/pairs-rmsn10kpp16-m0.1.jsonl out/fitG30-s1/base out/evalG30-val/base-cb53943c0b44.jsonl \
 *     "KL anchor/KL=out/fitG30-s1/halo-snpp16-both-ptx1000,out/evalG30-val/grandpo-s0-24e6f2119094.jsonl" \
 *     "guidance hold/1000=out/fitG30-s1/halo-snpp16-both-ptx1000-gh1000,out/evalG30-val/grandpo-s0-2dee7bdeecbf.jsonl"
 *
 * Each run is `FAMILY/LABEL=FIT_DIR,EVAL.jsonl`; the runs of a family are joined in the order
 * given. Diagnostics only: nothing here picks a setting. ShapesWorld prompts only.
 * @module
 */

import { parseArgs } from "node:util";
import { readJsonLines } from "../lib/core/_atomic.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { evaluatorMedian, summariseResults } from "../lib/eval/summary.ts";
import { figurePng } from "../lib/report/figure_png.ts";
import { type Figure, FIGURE_COLORS, type Trace } from "../lib/report/figure.ts";
import { unseenClips } from "./_object_share.ts";

const where = "hold_frontier";
const { values, positionals } = parseArgs({
  options: { png: { type: "string" } },
  allowPositionals: true,
});
const [pairsFile, baseFit, baseEval, ...runs] = positionals;
const parsed = runs.map((r) => /^([^/=]+)\/([^=]+)=([^,]+),(.+)$/.exec(r));
if (!pairsFile || !baseFit || !baseEval || runs.length === 0 || parsed.some((m) => !m)) {
  const bad = runs.find((_, i) => !parsed[i]);
  throw new Error(
    `${where}: Expected PAIRS.jsonl BASE_FIT_DIR BASE_EVAL.jsonl FAMILY/LABEL=FIT_DIR,EVAL.jsonl … ` +
      `(FAMILY without "/" or "=") but found ${JSON.stringify(bad ?? positionals)}`,
  );
}

const base = await readJsonLines<ClipEvaluation>(baseEval);
const rows: Array<{ family: string; label: string; lost: number; of: number; fixed: number[] }> =
  [];
console.log("| family | run | objects lost (unseen prompts) | defects fixed [95%] | introduced |");
console.log("|---|---|---|---|---|");
for (const m of parsed as RegExpExecArray[]) {
  const [, family, label, fit, evalFile] = m;
  const clips = await unseenClips(pairsFile, { base: baseFit, policy: fit }, where);
  const lost = clips.filter((c) => c.lost).length;
  const table = summariseResults([
    { method: label, runs: [await readJsonLines<ClipEvaluation>(evalFile)] },
    { method: "Base", runs: [base] },
  ], { baseMedian: evaluatorMedian(base), reference: "Base" });
  const f = table.rows[0].metrics.defectsFixed, i = table.rows[0].metrics.defectsIntroduced;
  rows.push({ family, label, lost, of: clips.length, fixed: [f.estimate, f.lo, f.hi] });
  console.log(
    `| ${family} | ${label} | ${lost} of ${clips.length} | ${f.estimate.toFixed(3)} [${
      f.lo.toFixed(3)
    }, ${f.hi.toFixed(3)}] | ${i.estimate.toFixed(3)} |`,
  );
}

if (values.png) {
  const families = [...new Set(rows.map((r) => r.family))];
  const data: Trace[] = families.map((family, k) => {
    const rs = rows.filter((r) => r.family === family);
    return {
      type: "scatter",
      mode: "lines+markers+text",
      name: family,
      x: rs.map((r) => r.lost),
      y: rs.map((r) => r.fixed[0]),
      text: rs.map((r) => r.label),
      textposition: ["top right", "bottom right", "top left", "middle right"][k % 4],
      marker: { size: 9, color: FIGURE_COLORS[k % FIGURE_COLORS.length] },
      line: { color: FIGURE_COLORS[k % FIGURE_COLORS.length] },
      error_y: {
        type: "data",
        symmetric: false,
        array: rs.map((r) => r.fixed[2] - r.fixed[0]),
        arrayminus: rs.map((r) => r.fixed[0] - r.fixed[1]),
        thickness: 1,
      },
    };
  });
  const of = rows[0].of;
  const fig: Figure = {
    data,
    layout: {
      title: { text: "Objects kept against defects repaired (one training seed each)" },
      xaxis: { title: { text: `clips whose objects the run erases, of ${of} on unseen prompts` } },
      yaxis: { title: { text: "share of Base's defective patches fixed (validation, 95%)" } },
      height: 480,
      legend: { orientation: "h", y: -0.2 },
    },
  };
  await Deno.writeFile(values.png, await figurePng(fig, { width: 860 }));
  console.log(`\nwrote ${values.png}`);
}
