/**
 * The top-k hit rate of issue 20 for one or more reward models: `perKind` damaged clips of every
 * defect kind made as the labeller's test set is (`defectCases`, seed 11 like notebook 04), the
 * share of the damaged patches among each model's worst-scored ones (`topKHit`), per kind and over
 * all kinds with a 95% bootstrap interval over clips. Chance is about 2 in 64.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/reward_topk.ts \
 *     [--per-kind 32] data/reward/prm [data/reward/evaluator …]
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { defectCases, topKHit } from "../lib/videos/defect_cases.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel, rewardGrid } from "../lib/reward/model.ts";
import { rewardPatchLabels, scoreRewards } from "../lib/reward/score.ts";
import { bootstrapInterval, formatInterval } from "../lib/core/agreement.ts";

const { values, positionals } = parseArgs({
  options: { "per-kind": { type: "string", default: "32" } },
  allowPositionals: true,
});
const perKind = Number(values["per-kind"]);
if (!Number.isInteger(perKind) || perKind < 1) {
  throw new Error(`--per-kind: Expected a positive integer but found "${values["per-kind"]}"`);
}
if (positionals.length === 0) {
  throw new Error("reward_topk: Expected one or more reward-model folders but found none");
}
await initBackend();

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows: string[] = [];
let kinds: string[] = [];
for (const dir of positionals) {
  const { model } = await loadRewardModel(dir);
  try {
    const cases = defectCases(perKind, { grid: rewardGrid(model.config) });
    const scores = await scoreRewards(model, cases);
    const hits = cases.map((c, i) => topKHit(rewardPatchLabels(model, scores[i]), c.affected));
    kinds = [...new Set(cases.map((c) => c.kind))];
    const byKind = kinds.map((k) => mean(hits.filter((_, i) => cases[i].kind === k)).toFixed(2));
    const all = bootstrapInterval(hits.length, (idx) => mean(Array.from(idx, (i) => hits[i])), {
      seed: 0,
    });
    rows.push(`| ${dir} | ${byKind.join(" | ")} | ${formatInterval(all)} |`);
  } finally {
    disposeRewardModel(model);
  }
}
console.log(`Top-k hit rate on ${perKind} damaged clips per kind (defectCases seed 11):\n`);
console.log(`| model | ${kinds.join(" | ")} | all kinds |`);
console.log(`|---|${kinds.map(() => "---").join("|")}|---|`);
console.log(rows.join("\n"));
