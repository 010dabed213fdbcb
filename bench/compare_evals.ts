/**
 * Paired difference of two evaluated models on the same prompts and noise (issue 21's validation
 * experiments): reads the per-clip files `deno task evaluate` writes (`<out>/<model>-<hash>.jsonl`)
 * and prints A − B for ShapesBench, its colour and count checks, the evaluator RM and the judge's
 * defective-patch share, each with the results table's paired 95% bootstrap interval over prompts
 * (`summariseResults`, which also checks that both hold the same prompts and sampling seeds).
 *
 *   deno run --allow-read bench/compare_evals.ts \
 *     balanced=out/eval9-newprm-balanced/grandpo-s0-….jsonl random=out/eval9-newprm-random/grandpo-s0-….jsonl
 *
 * When B is one run (Base, say), it also prints A's defects fixed and introduced against B's clips
 * from the same noise (the results table's paired defect measure).
 *
 * `--from N` keeps the prompts from the N-th on: `deno task evaluate --prompts 144` holds the
 * 48 prompts of `--prompts 48` first, so `--from 48` compares on prompts no setting was chosen on,
 * and `--to 48` on those 48 alone (the same clips: a clip's noise depends on its prompt index).
 * @module
 */

import { parseArgs } from "node:util";
import { evaluatorMedian, summariseResults } from "../lib/eval/summary.ts";
import { intervalCell, keepClips, readEvaluations } from "./_evals.ts";

const { values, positionals } = parseArgs({
  options: { from: { type: "string", default: "0" }, to: { type: "string" } },
  allowPositionals: true,
});
const from = Number(values.from);
if (!Number.isInteger(from) || from < 0) {
  throw new Error(`--from: Expected an integer ≥ 0 but found "${values.from}"`);
}
const to = values.to === undefined ? Infinity : Number(values.to);
if (!(Number.isInteger(to) && to > from) && to !== Infinity) {
  throw new Error(`--to: Expected an integer above --from (${from}) but found "${values.to}"`);
}
const methods = keepClips(
  await readEvaluations("compare_evals", positionals, { min: 2, max: 2 }),
  (c) => c.promptIndex >= from && c.promptIndex < to,
);
const [a, b] = methods.map((m) => m.method);
// With one run of B (Base, say), A's paired defect measure against B's clips from the same noise.
const reference = methods[1].runs.length === 1 ? b : undefined;
const table = summariseResults(methods, {
  baseMedian: evaluatorMedian(methods[1].runs[0]),
  reference,
});
const metrics: [string, string][] = [
  ["ShapesBench", "shapesbench"],
  ["colour", "color"],
  ["count", "count"],
  ["evaluator RM", "evaluator"],
  ["defective patches", "defectivePatches"],
];
console.log(`| metric | ${a} | ${b} | ${a} − ${b} [95% interval] |`);
console.log("|---|---|---|---|");
for (const [name, metric] of metrics) {
  const [ra, rb] = table.rows.map((r) => r.metrics[metric].estimate.toFixed(3));
  const d = table.compare(a, b, metric).difference;
  console.log(`| ${name} | ${ra} | ${rb} | ${intervalCell(d)} |`);
}
if (reference) {
  const m = table.rows[0].metrics;
  const cell = (k: string) =>
    `${m[k].estimate.toFixed(3)} [${m[k].lo.toFixed(3)}, ${m[k].hi.toFixed(3)}]`;
  console.log(
    `\n${a}'s defects fixed / introduced against ${b}'s clips: ${cell("defectsFixed")} / ${
      cell("defectsIntroduced")
    }`,
  );
}
