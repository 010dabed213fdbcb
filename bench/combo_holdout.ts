/**
 * Issue 21's test of why settings chosen on the validation prompts lose on the test prompts: the
 * validation prompts are of the (colour, shape) combinations post-training trains on, the test
 * prompts of combinations never trained on. This holds a few training combinations out of a pairs
 * file, so a model post-trained on the rest meets them at validation as it meets the test
 * combinations at test — without looking at a test prompt.
 *
 *   # 1. the pairs without the held-out combinations (printed), written beside the input
 *   deno run --allow-read --allow-write=out bench/combo_holdout.ts pairs \
 *     out/pairsG30-shared/pairs.jsonl out/pairsG30-shared/pairs-combo-holdout.jsonl
 *   # 2. post-train on them, evaluate both models on every validation prompt, then
 *   deno run --allow-read bench/combo_holdout.ts compare base=<jsonl> all=<jsonl> holdout=<jsonl>
 *
 * `compare` prints, for the validation clips of the held-out combinations and for the others,
 * each model's paired difference to the first (ShapesBench, colour, count, evaluator, defective
 * patches) and the last two models' difference. The held-out combinations are drawn with `--seed`
 * (default 0): `--count` (default 5) training combinations of distinct colours, at most two per
 * shape, so every colour and shape keeps pairs. Experiment tooling, not a library option.
 * @module
 */

import { parseArgs } from "node:util";
import { basename, dirname } from "node:path";
import { createRng } from "../lib/core/_rng.ts";
import { writeFileAtomic } from "../lib/core/_atomic.ts";
import { readPairs } from "../lib/pairs/file.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { evaluatorMedian, summariseResults } from "../lib/eval/summary.ts";
import { parsePrompt, promptSplits } from "../lib/videos/world.ts";
import { intervalCell, keepClips, readEvaluations } from "./_evals.ts";

const { values, positionals } = parseArgs({
  options: { seed: { type: "string", default: "0" }, count: { type: "string", default: "5" } },
  allowPositionals: true,
});
const [command, ...args] = positionals;
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1 || count > 8) {
  throw new Error(`--count: Expected an integer in [1, 8] but found "${values.count}"`);
}

/** The held-out training combinations, as "colour/shape". */
function heldOutCombos(seed: number, n: number): Set<string> {
  const { train } = promptSplits();
  const combos = [...new Set(train.map((p) => `${p.color}/${p.shape}`))].sort();
  const rng = createRng(seed);
  for (let i = combos.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [combos[i], combos[j]] = [combos[j], combos[i]];
  }
  const out = new Set<string>();
  const shapes = new Map<string, number>();
  const colours = new Set<string>();
  for (const c of combos) {
    const [colour, shape] = c.split("/");
    if (out.size === n || colours.has(colour) || (shapes.get(shape) ?? 0) >= 2) continue;
    out.add(c);
    colours.add(colour);
    shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
  }
  return out;
}

const combo = (prompt: string) => {
  const p = parsePrompt(prompt);
  return `${p.color}/${p.shape}`;
};
const held = heldOutCombos(Number(values.seed), count);
console.log(`held-out combinations (seed ${values.seed}): ${[...held].join(", ")}`);

if (command === "pairs") {
  const [input, output] = args;
  if (
    args.length !== 2 || dirname(input) !== dirname(output) || basename(input) === basename(output)
  ) {
    throw new Error(
      `combo_holdout pairs: Expected IN.jsonl OUT.jsonl in one folder (the clips are shared) but found ${
        JSON.stringify(args)
      }`,
    );
  }
  const pairs = await readPairs(input);
  const kept = pairs.filter((q) => !held.has(combo(q.prompt)));
  await writeFileAtomic(output, kept.map((q) => JSON.stringify(q)).join("\n") + "\n");
  const prompts = new Set(kept.map((q) => q.prompt)).size;
  console.log(`${output}: ${kept.length} of ${pairs.length} pairs kept (${prompts} prompts)`);
} else if (command === "compare") {
  const models = await readEvaluations("combo_holdout compare", args, { min: 2 });
  const names = models.map((m) => m.method);
  const metrics = ["shapesbench", "color", "count", "evaluator", "defectivePatches"];
  const pairsToShow = [
    ...names.slice(1).map((n) => [n, names[0]]),
    ...(names.length > 2 ? [[names.at(-1)!, names.at(-2)!]] : []),
  ];
  for (
    const [label, keep] of [
      ["held out of post-training", (c: ClipEvaluation) => held.has(combo(c.prompt))],
      ["post-trained on", (c: ClipEvaluation) => !held.has(combo(c.prompt))],
    ] as const
  ) {
    const methods = keepClips(models, keep);
    const table = summariseResults(methods, { baseMedian: evaluatorMedian(methods[0].runs[0]) });
    const prompts = new Set(methods[0].runs[0].map((c) => c.prompt)).size;
    console.log(`\nValidation prompts of the combinations ${label}: ${prompts} prompts\n`);
    console.log(`| metric | ${pairsToShow.map(([a, b]) => `${a} − ${b}`).join(" | ")} |`);
    console.log(`|---|${pairsToShow.map(() => "---").join("|")}|`);
    for (const metric of metrics) {
      const cells = pairsToShow.map(([a, b]) => {
        return intervalCell(table.compare(a, b, metric).difference);
      });
      console.log(`| ${metric} | ${cells.join(" | ")} |`);
    }
  }
} else {
  throw new Error(
    `combo_holdout: Expected the command "pairs" or "compare" but found "${command}"`,
  );
}
