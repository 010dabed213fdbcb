/**
 * Issue 20's text-swap check, split by where the held-out clip came from: a reward model may
 * notice a wrong shape on clean renders and not on the generator's samples (whose blob often is
 * not the prompt's shape to begin with). Rebuilds a `train-rm` run's dataset from its label cache
 * (the data flags must be that run's, as in `bench/ensemble_held_out.ts`) and runs
 * `textSwapSensitivity` on each origin's held-out clips, for each model.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-run --allow-env --allow-net=127.0.0.1 \
 *     --allow-sys bench/swap_by_origin.ts --labels out/rmswap/labels.jsonl --train 3000 \
 *     --clips-per-prompt 2 --generator-share 0.25 --swap-rate 1 out/rmswap/prm out/rmswap-short/prm
 *
 * Diagnostics: it picks nothing.
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { formatInterval } from "../lib/core/agreement.ts";
import { rebuildRewardDataset, rewardDataFlags } from "./_rm_data.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { textSwapSensitivity } from "../lib/reward/metrics.ts";

const { values, positionals: dirs } = parseArgs({
  options: {
    ...rewardDataFlags({ train: 3000, clipsPerPrompt: 2, generatorShare: 0.25, swapRate: 1 }),
  },
  allowPositionals: true,
});
if (dirs.length === 0) throw new Error("Expected one or more reward-model folders but found none");
await initBackend();
const data = await rebuildRewardDataset(values, { quiet: true });
// renders that show their prompt (clean or with local defects) against the generator's samples;
// renders of a mismatched prompt show another colour, shape or direction than theirs
const groups = {
  "renders of their prompt": data.heldOut.filter((e) =>
    e.origin === "clean" || e.origin === "defect"
  ),
  "generator samples": data.heldOut.filter((e) => e.origin === "generator"),
  "renders of another prompt": data.heldOut.filter((e) => e.origin === "mismatch"),
};
console.log(
  "| model | held-out clips | colour swap lower [judge] | shape swap lower [judge] | count swap lower [judge] |",
);
console.log("|---|---|---|---|---|");
for (const dir of dirs) {
  const { model } = await loadRewardModel(dir);
  try {
    for (const [name, set] of Object.entries(groups)) {
      if (set.length === 0) continue;
      const rows = await textSwapSensitivity(model, set, { resamples: 1000, seed: 0 });
      const cells = rows.map((r) => `${formatInterval(r.drops, 2)} [${r.judgeDrops?.toFixed(2)}]`);
      console.log(`| ${dir} | ${name} (${set.length}) | ${cells.join(" | ")} |`);
    }
  } finally {
    disposeRewardModel(model);
  }
}
