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

import { readJsonLines } from "../lib/core/_atomic.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { evaluatorMedian, summariseResults } from "../lib/eval/summary.ts";
import { parsePrompt, SHAPE_NAMES, type ShapeName } from "../lib/videos/world.ts";

if (Deno.args.length < 2 || !Deno.args.every((a) => a.includes("="))) {
  throw new Error(
    `by_shape: Expected BASE=clips.jsonl NAME=clips.jsonl[,more seeds] … but found ${
      JSON.stringify(Deno.args)
    }`,
  );
}
const methods = await Promise.all(Deno.args.map(async (arg) => {
  const at = arg.indexOf("=");
  const files = arg.slice(at + 1).split(",");
  return {
    method: arg.slice(0, at),
    runs: await Promise.all(files.map((f) => readJsonLines<ClipEvaluation>(f))),
  };
}));
const base = methods[0];
const baseMedian = evaluatorMedian(base.runs[0]);
const metrics: [string, string][] = [
  ["shape", "shape"],
  ["colour", "color"],
  ["count", "count"],
  ["ShapesBench", "shapesbench"],
];
const shapeOf = (c: ClipEvaluation): ShapeName => parsePrompt(c.prompt).shape;
const x = (v: number) => (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(3);
const subsets: (ShapeName | "all")[] = ["all", ...SHAPE_NAMES];
console.log(`| method − ${base.method} | prompts | ${metrics.map(([n]) => n).join(" | ")} |`);
console.log(`|---|---|${metrics.map(() => "---").join("|")}|`);
for (const m of methods.slice(1)) {
  for (const subset of subsets) {
    const keep = (c: ClipEvaluation) => subset === "all" || shapeOf(c) === subset;
    // the subset's prompts numbered 0.. in their order (the summary indexes prompts densely)
    const kept = [...new Set(base.runs[0].filter(keep).map((c) => c.promptIndex))].sort((a, b) =>
      a - b
    );
    const index = new Map(kept.map((p, i) => [p, i]));
    const pick = (e: typeof m) => ({
      method: e.method,
      runs: e.runs.map((r) =>
        r.filter(keep).map((c) => ({ ...c, promptIndex: index.get(c.promptIndex)! }))
      ),
    });
    const table = summariseResults([pick(base), pick(m)], { baseMedian });
    const prompts = kept.length;
    const cells = metrics.map(([, metric]) => {
      const d = table.compare(m.method, base.method, metric).difference;
      return `${x(d.estimate)} [${x(d.lo)}, ${x(d.hi)}]`;
    });
    console.log(`| ${m.method}, ${subset} | ${prompts} | ${cells.join(" | ")} |`);
  }
}
