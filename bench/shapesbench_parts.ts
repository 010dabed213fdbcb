/**
 * Where a method's ShapesBench difference to Base comes from (issue 21): ShapesBench's overall
 * score is the plain mean of its seven dimensions, so each dimension's difference over 7 is its
 * share of the overall difference. Reads the `results.json` that `deno task evaluate` or
 * `deno task reproduce` writes and prints, per method, each dimension's share, and for Base the
 * most each dimension could still add ((1 − Base's score) / 7).
 *
 *   deno run --allow-read bench/shapesbench_parts.ts data/results/g30-shared/results.json
 * @module
 */

import { SHAPESBENCH_DIMENSIONS } from "../lib/videos/shapes_bench.ts";
import { signed } from "./_evals.ts";

const file = Deno.args[0];
if (!file || Deno.args.length !== 1) {
  throw new Error(
    `shapesbench_parts: Expected one results.json but found ${Deno.args.length} arguments`,
  );
}
type Row = { method: string; metrics: Record<string, { estimate: number }> };
const { rows } = JSON.parse(await Deno.readTextFile(file)) as { rows: Row[] };
const base = rows.find((r) => r.method === "Base");
if (!base) throw new Error(`${file}: Expected a Base row but found ${rows.map((r) => r.method)}`);
const dims = [...SHAPESBENCH_DIMENSIONS];
const n = dims.length;
console.log(`| | ${dims.join(" | ")} | overall |`);
console.log(`|---|${dims.map(() => "---").join("|")}|---|`);
console.log(
  `| Base: what is left, (1 − score) / ${n} | ${
    dims.map((d) => ((1 - base.metrics[d].estimate) / n).toFixed(3)).join(" | ")
  } | ${(1 - base.metrics.shapesbench.estimate).toFixed(3)} |`,
);
for (const r of rows.filter((r) => r !== base)) {
  const parts = dims.map((d) => (r.metrics[d].estimate - base.metrics[d].estimate) / n);
  console.log(
    `| ${r.method} − Base | ${parts.map(signed).join(" | ")} | ${
      signed(r.metrics.shapesbench.estimate - base.metrics.shapesbench.estimate)
    } |`,
  );
}
