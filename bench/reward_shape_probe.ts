/**
 * Can the reward model's architecture see shape at all, given a clean signal? Issue 20's
 * text-swap target is missed for shape (a clip under a prompt of another shape is scored lower in
 * 0.42–0.56 of held-out clips, chance) while colour passes (0.95–0.98). Two explanations are left:
 * the labels (a shape swap moves the noisy label by about the label noise) or the architecture (a
 * linear embedding of 8 × 8 patches cannot tell a circle from a square wherever it sits).
 *
 * This probe removes the first: clean ShapesWorld renders, each judged by the reference judge with
 * no noise under its own prompt and under a prompt of another `--kind` (shape, colour or count),
 * a VRM (stage 1) trained on those pairs for `--steps`, and on fresh renders of other prompts the
 * share whose text-alignment video score is lower under the swapped prompt. `--noise σ` puts the
 * judge server's label noise (Gaussian, rounded to 1–4) back on the training labels;
 * `--swap-weight w` adds the label-free swap contrast (`RewardLossWeights.swapWeight`). Near 1: the
 * architecture can learn the check and the shipped models lack the signal; near 0.5: it cannot.
 *
 *   deno run --allow-read --allow-env --allow-sys bench/reward_shape_probe.ts \
 *     [--kind shape] [--train 512] [--held-out 96] [--steps 600] [--config '{"promptFilm":true}'] [--noise 0.6] [--swap-weight 1]
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { bootstrapInterval, formatInterval } from "../lib/core/agreement.ts";
import { createRng } from "../lib/core/_rng.ts";
import type { RewardExample } from "../lib/reward/data.ts";
import { disposeRewardModel, resolveRewardConfig, rewardGrid } from "../lib/reward/model.ts";
import { trainRewardStage } from "../lib/reward/train.ts";
import { scoreRewards } from "../lib/reward/score.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import type { AspectScores } from "../lib/videos/scores.ts";
import { type SwapKind, swapPrompt, TEXT_SWAP_KINDS } from "../lib/reward/swap.ts";
import { renderClip, samplePrompt } from "../lib/videos/world.ts";
import { perturbScore } from "../lib/labels/judge_server/_noise.ts";
import { numFlag } from "./_rm_data.ts";

const { values } = parseArgs({
  options: {
    kind: { type: "string", default: "shape" },
    train: { type: "string", default: "512" },
    "held-out": { type: "string", default: "96" },
    steps: { type: "string", default: "600" },
    config: { type: "string", default: '{"promptFilm":true}' },
    seed: { type: "string", default: "0" },
    noise: { type: "string", default: "0" },
    "swap-weight": { type: "string", default: "0" },
  },
});
const kind = values.kind as SwapKind;
if (!TEXT_SWAP_KINDS.includes(kind)) {
  throw new Error(`--kind: Expected one of ${TEXT_SWAP_KINDS.join(", ")} but found ${kind}`);
}
await initBackend();
const config = resolveRewardConfig(JSON.parse(values.config!));
const grid = rewardGrid(config);
const seed = numFlag(values, "seed");
const noise = numFlag(values, "noise");
const noiseRng = createRng(seed + 0x9e37);
/** The judge server's own noise model (Gaussian, rounded, clipped to 1–4). */
const perturb = (v: number) => perturbScore(v, noise, 0, noiseRng);
const noisy = (s: AspectScores): AspectScores => ({
  visual_quality: perturb(s.visual_quality),
  temporal_consistency: perturb(s.temporal_consistency),
  text_alignment: perturb(s.text_alignment),
});

/** `n` clean renders, each with its own prompt and a swapped one, judged without noise. */
function pairs(n: number, offset: number): Array<[RewardExample, RewardExample]> {
  const rng = createRng(seed * 7919 + offset);
  const out: Array<[RewardExample, RewardExample]> = [];
  for (let i = 0; i < n; i++) {
    const prompt = samplePrompt(rng);
    const { video } = renderClip(prompt, {
      seed: offset + i,
      frames: config.frames,
      size: config.size,
    });
    const other = swapPrompt(prompt, { kind, random: rng }).text;
    const example = (text: string, origin: "clean" | "swap"): RewardExample => {
      const j = judgeVideo(video, text, grid);
      const reference = { video: j.video, patches: j.patches };
      const labels = noise > 0
        ? {
          video: noisy(j.video),
          patches: j.patches.map((p) => ({ ...p, scores: noisy(p.scores) })),
        }
        : reference;
      // a prompt-swap negative's source names its kind, as `buildRewardDataset` writes it
      const source = origin === "swap" ? `${video.source}:swap=${kind}` : video.source;
      return { video: { ...video, source }, prompt: text, origin, defects: [], labels, reference };
    };
    out.push([example(prompt.text, "clean"), example(other, "swap")]);
  }
  return out;
}

const train = pairs(numFlag(values, "train"), 0);
const heldOut = pairs(numFlag(values, "held-out"), 1_000_000);
const drops = (key: "labels" | "reference") =>
  (train.filter(([a, b]) => b[key]!.video.text_alignment < a[key]!.video.text_alignment).length /
    train.length).toFixed(2);
console.log(
  `${kind} swap: of ${train.length} training pairs the judge lowers text alignment in ` +
    `${drops("reference")}, the labels (noise ${noise}) in ${drops("labels")}`,
);
const t0 = performance.now();
const { model } = await trainRewardStage(train.flat(), {
  stage: "video",
  steps: numFlag(values, "steps"),
  seed,
  quiet: true,
  evalEvery: 0,
  config,
  swapWeight: numFlag(values, "swap-weight"),
});
/** Per pair: whether the text-alignment video score is lower under the swapped prompt. */
const lower = async (set: Array<[RewardExample, RewardExample]>) => {
  const s = await scoreRewards(
    model,
    set.flat().map((e) => ({ video: e.video, prompt: e.prompt })),
  );
  return set.map((_, i) =>
    s[2 * i].video.text_alignment > s[2 * i + 1].video.text_alignment ? 1 : 0
  );
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const onTrain = await lower(train);
const onHeldOut = await lower(heldOut);
disposeRewardModel(model);
const interval = bootstrapInterval(
  onHeldOut.length,
  (idx) => mean(Array.from(idx, (i) => onHeldOut[i])),
);
console.log(
  `config ${values.config}, noise ${noise}, swap weight ${
    values["swap-weight"]
  }, ${values.steps} steps ` +
    `on ${train.length} ${kind}-swap pairs (${((performance.now() - t0) / 1000).toFixed(0)} s): ` +
    `lower under the swapped prompt in ${mean(onTrain).toFixed(2)} of ` +
    `training pairs, ${formatInterval(interval, 2)} of ${heldOut.length} held-out renders`,
);
