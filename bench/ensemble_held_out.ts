/**
 * Issue 20's held-out targets for reward models trained on one dataset (`train-rm --data-seed`)
 * and for their ensemble: rebuilds the dataset from its label cache (no labelling, no sampling when
 * the cache is whole) and measures each model and the ensemble, combined by `--reduce`, on its
 * held-out clips with `heldOutMetrics`, as `train-rm`'s report does for one model.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-run --allow-env --allow-net=127.0.0.1 \
 *     --allow-sys bench/ensemble_held_out.ts --labels out/rmgen10k/labels.jsonl --train 10000 \
 *     --clips-per-prompt 4 --generator-share 1 out/rmgen10k/prm out/rmgen10k-s1/prm out/rmgen10k-s2/prm
 *
 * The data flags must be those of the `train-rm` run that made the cache (its seed is `--seed`,
 * default 0); `--swap-rate`, `--held-out` likewise. Diagnostics: it picks nothing.
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { rebuildRewardDataset, rewardDataFlags } from "./_rm_data.ts";
import { ENSEMBLE_REDUCES, type EnsembleReduce } from "../lib/reward/ensemble.ts";
import {
  formatHeldOutMetrics,
  type HeldOutMetrics,
  heldOutMetrics,
} from "../lib/reward/held_out.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel, type RewardModel } from "../lib/reward/model.ts";

const { values, positionals: dirs } = parseArgs({
  options: {
    ...rewardDataFlags({ train: 10000, clipsPerPrompt: 4, generatorShare: 1, swapRate: 0 }),
    reduce: { type: "string", default: "mean" },
  },
  allowPositionals: true,
});
if (dirs.length < 2) {
  throw new Error(`Expected two or more reward-model folders but found ${JSON.stringify(dirs)}`);
}
const reduce = values.reduce as EnsembleReduce;
if (!ENSEMBLE_REDUCES.includes(reduce)) {
  throw new Error(
    `--reduce: Expected one of ${ENSEMBLE_REDUCES.join(", ")} but found "${values.reduce}"`,
  );
}
await initBackend();
const data = await rebuildRewardDataset(values);
const models: RewardModel[] = [];
try {
  for (const dir of dirs) models.push((await loadRewardModel(dir)).model);
  const rows: Record<string, HeldOutMetrics> = {};
  const options = { resamples: 1000, seed: 0, reduce };
  for (const [i, dir] of dirs.entries()) {
    rows[dir] = await heldOutMetrics(models[i], data.heldOut, options);
  }
  rows[`ensemble of ${dirs.length} (${reduce})`] = await heldOutMetrics(
    models,
    data.heldOut,
    options,
  );
  console.log(formatHeldOutMetrics(rows));
} finally {
  models.forEach(disposeRewardModel);
}
