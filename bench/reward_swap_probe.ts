/**
 * Can the reward model learn a wrong colour at all? Trains a VRM (stage 1) on nothing but the
 * colour prompt-swap pairs of the candidates' dataset (each clip under its own prompt and under
 * a prompt of another colour) and reports the share of those training pairs whose text-alignment
 * video score is lower under the swapped prompt. A share near 1 means the architecture can
 * represent the check and the question is the training budget; near 0.5, that it cannot.
 * First prints how far the labels themselves drop under each kind of swap.
 *
 *   deno run --allow-read --allow-write --allow-env --allow-net=127.0.0.1,localhost --allow-sys \
 *     bench/reward_swap_probe.ts [--labels out/rc2/labels.jsonl] [--steps 300] [--config '{"promptFilm":true}']
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { buildRewardDataset } from "../lib/reward/data.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { trainRewardStage } from "../lib/reward/train.ts";
import { scoreRewards } from "../lib/reward/score.ts";

const { values } = parseArgs({
  options: {
    labels: { type: "string", default: "out/rc2/labels.jsonl" },
    steps: { type: "string", default: "300" },
    config: { type: "string", default: "{}" },
  },
});
await initBackend();
const config = JSON.parse(values.config!);
const steps = Number(values.steps);
// the dataset of `bench/reward_candidates.ts --train 1000` (labels from its cache)
const data = await buildRewardDataset({
  train: 1000,
  heldOut: 96,
  swapRate: 0.5,
  clipsPerPrompt: 2,
  seed: 0,
  cache: values.labels,
  quiet: true,
});
const bySource = new Map(data.train.map((e) => [e.video.source, e]));
// what the labels say: the labelled video text alignment, own prompt minus swapped prompt
for (const kind of ["color", "shape", "count"]) {
  const drops = data.train
    .filter((e) => e.origin === "swap" && e.video.source.endsWith(`:swap=${kind}`))
    .map((e) =>
      bySource.get(e.video.source.split(":swap=")[0])!.labels.video.text_alignment -
      e.labels.video.text_alignment
    );
  const mean = drops.reduce((a, b) => a + b, 0) / drops.length;
  const lower = drops.filter((d) => d > 0).length / drops.length;
  console.log(
    `labels, ${kind} swap (${drops.length} pairs): text alignment drops by ${
      mean.toFixed(2)
    } on average, lower in ${lower.toFixed(2)}`,
  );
}
const pairs = data.train
  .filter((e) => e.origin === "swap" && e.video.source.endsWith(":swap=color"))
  .map((e) => [bySource.get(e.video.source.split(":swap=")[0])!, e]);
const set = pairs.flat();
const t0 = performance.now();
const { model } = await trainRewardStage(set, {
  stage: "video",
  steps,
  batchSize: 16,
  seed: 0,
  quiet: true,
  evalEvery: 0,
  config,
});
const scores = await scoreRewards(model, set.map((e) => ({ video: e.video, prompt: e.prompt })));
disposeRewardModel(model);
const lower =
  pairs.filter((_, i) =>
    scores[2 * i].video.text_alignment > scores[2 * i + 1].video.text_alignment
  ).length;
console.log(
  `config ${JSON.stringify(config)}, ${steps} steps on ${pairs.length} colour-swap pairs: ` +
    `lower under the swapped prompt in ${
      (lower / pairs.length).toFixed(2)
    } of the training pairs ` +
    `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
);
