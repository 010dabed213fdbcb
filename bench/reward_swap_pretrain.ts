/**
 * Does a text head that learned shape on clean renders keep it through the reward recipe?
 * `bench/reward_shape_probe.ts` shows the architecture learns a wrong shape and count from clean
 * renders with the swap contrast (held-out renders 0.91 and 1.00), while the recipe's models,
 * trained on a mix of generator samples, damaged renders and swaps, stay near chance. This runs
 * the recipe from a pretrained start instead of fresh weights:
 *
 * 0. **pretrain**: clean renders of training prompts, each also under a prompt of another colour,
 *    shape or count (`swapRate` 1, no defects, no mismatches, no generator samples), labelled
 *    through the judge server (σ 0.6) like every clip, VRM loss plus the swap contrast
 *    (`--pretrain-swap-weight`), `--pretrain-steps`;
 * 1. the VRM on the main dataset (`--labels`, rebuilt from that `train-rm` run's label cache; its
 *    data flags must be the run's), `--video-steps`, from the pretrained weights;
 * 2. the PRM continued from it, `--patch-steps`.
 *
 * Writes the three models under `--out` (`pretrain/`, `vrm/`, `prm/`), so `bench/swap_by_origin.ts`
 * and `bench/video_directions.ts` can measure them; a killed run resumes from the stages'
 * checkpoints. Our reconstruction: the paper's reward model starts from a pretrained VLM that
 * already reads which words a clip shows; ours starts from nothing, and this stage stands in for
 * that pretraining.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-run --allow-env \
 *     --allow-net=127.0.0.1,localhost --allow-sys bench/reward_swap_pretrain.ts --out out/rmpre \
 *     --labels out/rmswap/labels.jsonl [--pretrain-clips 2048] [--pretrain-steps 3000]
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { buildRewardDataset } from "../lib/reward/data.ts";
import { numFlag, rebuildRewardDataset, rewardDataFlags } from "./_rm_data.ts";
import { trainRewardStage } from "../lib/reward/train.ts";
import { saveRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { formatHeldOutMetrics, heldOutMetrics } from "../lib/reward/held_out.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "out/rmpre" },
    ...rewardDataFlags({ train: 3000, clipsPerPrompt: 2, generatorShare: 0.25, swapRate: 1 }),
    "pretrain-clips": { type: "string", default: "2048" },
    "pretrain-steps": { type: "string", default: "3000" },
    "pretrain-swap-weight": { type: "string", default: "1" },
    "video-steps": { type: "string", default: "400" },
    "patch-steps": { type: "string", default: "1600" },
    "swap-weight": { type: "string", default: "0" },
    config: { type: "string", default: '{"promptFilm":true}' },
  },
});
const num = (flag: string) => numFlag(values, flag);
const out = values.out!;
await initBackend();
const pre = await buildRewardDataset({
  cache: join(out, "pretrain-labels.jsonl"),
  train: num("pretrain-clips"),
  heldOut: 0,
  generatorShare: 0,
  defectRate: 0,
  mismatchRate: 0,
  swapRate: 1,
  seed: 1,
  quiet: true,
});
const main = await rebuildRewardDataset(values, { quiet: true });
const common = { seed: 0, evalEvery: 0, checkpointEvery: 200 };
const pretrain = await trainRewardStage(pre.train, {
  ...common,
  stage: "video",
  steps: num("pretrain-steps"),
  config: JSON.parse(values.config!),
  swapWeight: num("pretrain-swap-weight"),
  out: join(out, "pretrain"),
  label: "pretrain (clean renders + swaps)",
});
const vrm = await trainRewardStage(main.train, {
  ...common,
  stage: "video",
  steps: num("video-steps"),
  from: pretrain.model,
  swapWeight: num("swap-weight"),
  out: join(out, "vrm-ckpt"),
  label: "VRM",
});
const prm = await trainRewardStage(main.train, {
  ...common,
  stage: "patch",
  steps: num("patch-steps"),
  from: vrm.model,
  swapWeight: num("swap-weight"),
  out: join(out, "prm-ckpt"),
  label: "PRM",
});
const models = { pretrain: pretrain.model, vrm: vrm.model, prm: prm.model };
const rows: Record<string, Awaited<ReturnType<typeof heldOutMetrics>>> = {};
for (const [name, model] of Object.entries(models)) {
  await saveRewardModel(join(out, name), model);
  rows[name] = await heldOutMetrics(model, main.heldOut, { resamples: 1000, seed: 0 });
}
console.log(formatHeldOutMetrics(rows));
Object.values(models).forEach(disposeRewardModel);
