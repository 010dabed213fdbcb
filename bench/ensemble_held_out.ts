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
 * default 0); `--swap-rate`, `--held-out` likewise. `--fit N` measures on N of the training clips
 * instead (every k-th, each judged by the reference judge as the held-out clips are): how well the
 * models fit what they were trained on, against how well they generalise. Diagnostics: it picks
 * nothing.
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { intOption } from "../lib/cli/_flags.ts";
import { rebuildRewardDataset, rewardDataFlags } from "./_rm_data.ts";
import { ENSEMBLE_REDUCES, type EnsembleReduce } from "../lib/reward/ensemble.ts";
import {
  formatHeldOutMetrics,
  type HeldOutMetrics,
  heldOutMetrics,
} from "../lib/reward/held_out.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel, type RewardModel } from "../lib/reward/model.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { parseGrid } from "../lib/videos/patch.ts";

const { values, positionals: dirs } = parseArgs({
  options: {
    ...rewardDataFlags({ train: 10000, clipsPerPrompt: 4, generatorShare: 1, swapRate: 0 }),
    reduce: { type: "string", default: "mean" },
    fit: { type: "string", default: "0" },
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
const fit = intOption(values, "fit");
if (fit < 0) throw new Error(`--fit: Expected an integer ≥ 0 but found ${fit}`);
await initBackend();
const data = await rebuildRewardDataset(values);
if (fit > 0) {
  const grid = parseGrid(data.grid);
  const stride = Math.max(1, Math.floor(data.train.length / fit));
  data.heldOut = data.train.filter((_, i) => i % stride === 0).slice(0, fit).map((e) => {
    const j = judgeVideo(e.video, e.prompt, grid);
    return { ...e, reference: { video: j.video, patches: j.patches } };
  });
  console.log(`measured on ${data.heldOut.length} of ${data.train.length} training clips (--fit)`);
}
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
