/**
 * `deno task train-rm`: the reward-model experiment from the command line, for
 * one seed or, with `--seeds`, the continual-vs-scratch comparison over several.
 * @module
 */

import { initBackend } from "../tensor/backend.ts";
import { REWARD_DATA_DEFAULTS as D } from "../reward/data.ts";
import { REWARD_TRAINING_DEFAULTS as T } from "../reward/experiment.ts";
import { REWARD_STAGE_DEFAULTS as S } from "../reward/train.ts";
import { type CliCommand, intListOption, intOption, numberOption } from "./_flags.ts";
import { formatRewardReport, trainRewardModels } from "../reward/experiment.ts";
import { formatEfficiency, trainRewardSeeds } from "../reward/seeds.ts";

/** `lib/cli/main.ts train-rm`: the reward-model experiment with progress, checkpoints and resume. */
export const trainRmCommand: CliCommand = {
  summary: "train the video reward model, then continue it into the patch reward model",
  spec: {
    out: { type: "string", default: T.out, description: "output directory" },
    "video-steps": {
      type: "string",
      default: `${T.videoSteps}`,
      description: "stage-1 (VRM) steps",
    },
    "patch-steps": {
      type: "string",
      default: `${T.patchSteps}`,
      description: "stage-2 (PRM) steps",
    },
    "batch-size": { type: "string", default: `${S.batchSize}`, description: "clips per step" },
    lr: { type: "string", default: `${S.learningRate}`, description: "peak learning rate" },
    seed: {
      type: "string",
      default: `${T.seed}`,
      description: "seed of data, weights and batches",
    },
    seeds: {
      type: "string",
      description:
        "comma-separated seeds: one run per seed in <out>/seed-N, then continual vs scratch",
    },
    train: { type: "string", default: `${D.train}`, description: "training clips" },
    "held-out": { type: "string", default: `${D.heldOut}`, description: "held-out clips" },
    noise: {
      type: "string",
      default: `${D.noise}`,
      description: "label noise of the judge server",
    },
    "base-url": { type: "string", description: "label through this API instead of a local judge" },
    "from-scratch": { type: "boolean", default: false, description: "stage 2 from fresh weights" },
    ablation: { type: "boolean", default: false, description: "also train the from-scratch PRM" },
    "eval-every": {
      type: "string",
      default: `${S.evalEvery}`,
      description: "steps between curve points",
    },
    "checkpoint-every": {
      type: "string",
      default: `${S.checkpointEvery}`,
      description: "steps between checkpoints (a killed run resumes from the last)",
    },
    resamples: { type: "string", default: `${T.resamples}`, description: "bootstrap resamples" },
    ship: { type: "string", description: "also write weights-only vrm/ and prm/ + report here" },
    quiet: { type: "boolean", default: false, description: "no progress bar" },
  },
  async run(values) {
    const quiet = Boolean(values.quiet);
    const seeds = values.seeds === undefined ? undefined : intListOption(values, "seeds");
    const options = {
      out: String(values.out),
      videoSteps: intOption(values, "video-steps"),
      patchSteps: intOption(values, "patch-steps"),
      batchSize: intOption(values, "batch-size"),
      learningRate: numberOption(values, "lr"),
      seed: intOption(values, "seed"),
      fromScratch: Boolean(values["from-scratch"]),
      ablation: Boolean(values.ablation),
      evalEvery: intOption(values, "eval-every"),
      checkpointEvery: intOption(values, "checkpoint-every"),
      resamples: intOption(values, "resamples"),
      quiet,
      ship: values.ship ? String(values.ship) : undefined,
      data: {
        train: intOption(values, "train"),
        heldOut: intOption(values, "held-out"),
        noise: numberOption(values, "noise"),
        baseURL: values["base-url"] ? String(values["base-url"]) : undefined,
      },
    };
    const backend = await initBackend();
    if (!quiet) console.error(`train-rm: backend ${backend.name} (${backend.reason})`);
    if (seeds === undefined) {
      console.log(formatRewardReport(await trainRewardModels(options)));
      return;
    }
    const { runs, summary } = await trainRewardSeeds({ ...options, seeds });
    console.log(formatRewardReport(runs[0].report));
    console.log(formatEfficiency(summary));
  },
};
