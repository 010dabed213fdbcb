/**
 * How far each post-training run drifted from its reference (issue 21's investigation of why
 * Diffusion-DPO loses colour on shared-noise pairs): reads the `<run>.log.jsonl` files that
 * `deno task post-train` writes and prints, averaged over the last `--last` logged steps, the
 * policy's denoising error on the chosen clips over the reference's (`mse/policy_chosen` /
 * `mse/ref_chosen`: 1 means no drift; DPO's failure mode is both errors rising), the TRL rewards
 * and their accuracy.
 *
 *   deno run --allow-read bench/dpo_drift.ts [--last 5] out/final/dpo/dpo-s0.log.jsonl \
 *     out/g30-shared/dpo/dpo-s0.log.jsonl
 *
 * Diagnostics only: nothing here picks a setting.
 * @module
 */

import { parseArgs } from "node:util";
import { readJsonLines } from "../lib/core/_atomic.ts";

const { values, positionals } = parseArgs({
  options: { last: { type: "string", default: "5" } },
  allowPositionals: true,
});
const last = Number(values.last);
if (!Number.isInteger(last) || last < 1) {
  throw new Error(`--last: Expected an integer ≥ 1 but found "${values.last}"`);
}
if (positionals.length === 0) {
  throw new Error("dpo_drift: Expected one or more <run>.log.jsonl files but found none");
}

const keys = ["rewards/chosen", "rewards/rejected", "rewards/accuracies"] as const;
console.log(
  `| run | last step | mse/policy_chosen ÷ mse/ref_chosen | ${keys.join(" | ")} |`,
);
console.log(`|---|---|---|${keys.map(() => "---").join("|")}|`);
for (const file of positionals) {
  const rows = (await readJsonLines<Record<string, number>>(file)).slice(-last);
  if (rows.length === 0) throw new Error(`${file}: Expected logged steps but found none`);
  const mean = (k: string) => rows.reduce((s, r) => s + r[k], 0) / rows.length;
  console.log(
    `| ${file} | ${rows.at(-1)!.step} | ${
      (mean("mse/policy_chosen") / mean("mse/ref_chosen")).toFixed(2)
    } | ${keys.map((k) => mean(k).toFixed(3)).join(" | ")} |`,
  );
}
