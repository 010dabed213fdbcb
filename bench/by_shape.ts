/**
 * What post-training changes, shape by shape (issue 21): reads the per-clip files
 * `deno task evaluate` writes (`<out>/<model>-<hash>.jsonl`, one per training seed) and prints each
 * method − Base for the ShapesBench checks, on all prompts and on the prompts of each shape
 * (circle, square, triangle), with the results table's paired 95% bootstrap interval over prompts
 * and training seeds (`summariseResults`). The first argument is the reference; a method with
 * several training seeds lists their files separated by commas.
 *
 *   deno run --allow-read bench/by_shape.ts base=out/eval9-test-ds3default/base-….jsonl \
 *     halo=out/eval9-test-ds3default/grandpo-s0-….jsonl,…-s1-….jsonl,…-s2-….jsonl dpo=…
 * @module
 */

import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { evaluatorMedian, summariseResults } from "../lib/eval/summary.ts";
import { parsePrompt, SHAPE_NAMES, type ShapeName } from "../lib/videos/world.ts";
import { intervalCell, keepClips, readEvaluations } from "./_evals.ts";

const methods = await readEvaluations("by_shape", Deno.args, { min: 2 });
const base = methods[0];
const baseMedian = evaluatorMedian(base.runs[0]);
const metrics: [string, string][] = [
  ["shape", "shape"],
  ["colour", "color"],
  ["count", "count"],
  ["ShapesBench", "shapesbench"],
];
const shapeOf = (c: ClipEvaluation): ShapeName => parsePrompt(c.prompt).shape;
const subsets: (ShapeName | "all")[] = ["all", ...SHAPE_NAMES];
console.log(`| method − ${base.method} | prompts | ${metrics.map(([n]) => n).join(" | ")} |`);
console.log(`|---|---|${metrics.map(() => "---").join("|")}|`);
for (const m of methods.slice(1)) {
  for (const subset of subsets) {
    const keep = (c: ClipEvaluation) => subset === "all" || shapeOf(c) === subset;
    const [b, e] = keepClips([base, m], keep);
    const table = summariseResults([b, e], { baseMedian });
    const prompts = new Set(b.runs[0].map((c) => c.promptIndex)).size;
    const cells = metrics.map(([, metric]) => {
      const d = table.compare(m.method, base.method, metric).difference;
      return intervalCell(d);
    });
    console.log(`| ${m.method}, ${subset} | ${prompts} | ${cells.join(" | ")} |`);
  }
}
