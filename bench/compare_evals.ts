/**
 * Paired difference of two evaluated models on the same prompts and noise (issue 21's validation
 * experiments): reads the per-clip files `deno task evaluate` writes (`<out>/<model>-<hash>.jsonl`)
 * and prints A − B for ShapesBench, its colour and count checks, the evaluator RM and the judge's
 * defective-patch share, each with a 95% bootstrap interval over prompts.
 *
 *   deno run --allow-read bench/compare_evals.ts \
 *     balanced=out/eval9-newprm-balanced/grandpo-s0-….jsonl random=out/eval9-newprm-random/grandpo-s0-….jsonl
 *
 * Both files must hold the same prompts and sampling seeds (both evaluations used the same split,
 * prompt count and seeds); an error names the first clip that one of them lacks.
 * @module
 */

import { bootstrapInterval } from "../lib/core/agreement.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";

interface Clip {
  promptIndex: number;
  seed: number;
  bench: Record<string, number>;
  evaluator: number;
  defectivePatches: number;
}

if (Deno.args.length !== 2 || !Deno.args.every((a) => a.includes("="))) {
  throw new Error(
    `compare_evals: Expected NAME=clips.jsonl NAME=clips.jsonl but found ${
      JSON.stringify(Deno.args)
    }`,
  );
}
const [[nameA, fileA], [nameB, fileB]] = Deno.args.map((a) => [
  a.slice(0, a.indexOf("=")),
  a.slice(a.indexOf("=") + 1),
]);
const key = (c: Clip) => `${c.promptIndex}/${c.seed}`;
const a = await readJsonLines<Clip>(fileA),
  b = new Map((await readJsonLines<Clip>(fileB)).map((c) => [key(c), c]));
const prompts = [...new Set(a.map((c) => c.promptIndex))];
const byPrompt = prompts.map((p) =>
  a.filter((c) => c.promptIndex === p).map((c) => {
    const other = b.get(key(c));
    if (!other) throw new Error(`${fileB}: Expected clip ${key(c)} (prompt/seed) but found none`);
    return [c, other] as const;
  })
);
const metrics: [string, (c: Clip) => number][] = [
  ["ShapesBench", (c) => c.bench.overall],
  ["colour", (c) => c.bench.color],
  ["count", (c) => c.bench.count],
  ["evaluator RM", (c) => c.evaluator],
  ["defective patches", (c) => c.defectivePatches],
];
console.log(
  `| metric | ${nameA} | ${nameB} | ${nameA} − ${nameB} [95% interval over ${prompts.length} prompts] |`,
);
console.log("|---|---|---|---|");
for (const [name, f] of metrics) {
  const mean = (side: 0 | 1, idx: ArrayLike<number>) => {
    let s = 0, n = 0;
    for (const i of Array.from(idx)) for (const pair of byPrompt[i]) (s += f(pair[side])), n++;
    return s / n;
  };
  const ci = bootstrapInterval(prompts.length, (idx) => mean(0, idx) - mean(1, idx), {
    resamples: 2000,
  });
  const all = Array.from({ length: prompts.length }, (_, i) => i);
  const x = (v: number) => (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(3);
  console.log(
    `| ${name} | ${mean(0, all).toFixed(3)} | ${mean(1, all).toFixed(3)} | ${x(ci.estimate)} [${
      x(ci.lo)
    }, ${x(ci.hi)}] |`,
  );
}
