/**
 * `deno task train-rm`: the reward-model experiment from the command line, for
 * one seed or, with `--seeds`, the continual-vs-scratch comparison over several;
 * with `--labels FILE [--videos DIR]`, the same VRM → PRM training on a label file
 * written by `deno task label` ({@linkcode trainRewardFromLabels}).
 * @module
 */

import { initBackend } from "../tensor/backend.ts";
import { REWARD_DATA_DEFAULTS as D, type RewardOrigin, SWAP_ORIGINS } from "../reward/data.ts";
import { REWARD_TRAINING_DEFAULTS as T } from "../reward/experiment.ts";
import { REWARD_STAGE_DEFAULTS as S } from "../reward/train.ts";
import {
  type CliCommand,
  type CliValues,
  intListOption,
  intOption,
  jsonObjectOption,
  numberOption,
} from "./_flags.ts";
import {
  resolveRewardLoss,
  REWARD_LOSS_DEFAULTS as W,
  type RewardPairLoss,
  type RewardSwapLabels,
} from "../reward/loss.ts";
import { resolveRewardConfig, type RewardConfig } from "../reward/model.ts";
import { formatRewardReport, trainRewardModels } from "../reward/experiment.ts";
import { formatEfficiency, trainRewardSeeds } from "../reward/seeds.ts";
import {
  formatLabelsRewardReport,
  REWARD_FROM_LABELS_DEFAULTS as L,
  trainRewardFromLabels,
} from "../reward/from_labels.ts";
import { fail } from "../core/_errors.ts";

/** The model config and loss flags, shared by both paths, validated before any work. */
function modelOptions(values: CliValues) {
  const config = jsonObjectOption(values, "config") as Partial<RewardConfig>;
  resolveRewardConfig(config);
  const loss = {
    videoWeight: numberOption(values, "video-weight"),
    consistencyWeight: numberOption(values, "consistency-weight"),
    pairLoss: String(values["pair-loss"]) as RewardPairLoss,
    pairWeight: numberOption(values, "pair-weight"),
    patchPairWeight: numberOption(values, "patch-pair-weight"),
    swapWeight: numberOption(values, "swap-weight"),
    swapGate: numberOption(values, "swap-gate"),
    swapLabels: String(values["swap-labels"]) as RewardSwapLabels,
  };
  resolveRewardLoss(loss, "train-rm");
  return { config, ...loss };
}

/** The stages' lengths: each flag given, as steps or as passes (the library checks the pair). */
function stageLengthOptions(values: CliValues) {
  const given = (flag: string, read: typeof intOption) =>
    values[flag] === undefined ? undefined : read(values, flag);
  const lengths = {
    videoSteps: given("video-steps", intOption),
    patchSteps: given("patch-steps", intOption),
    videoEpochs: given("video-epochs", numberOption),
    patchEpochs: given("patch-epochs", numberOption),
  };
  for (const stage of ["video", "patch"] as const) {
    const epochs = lengths[`${stage}Epochs`];
    if (epochs === undefined) continue;
    if (lengths[`${stage}Steps`] !== undefined) {
      fail("train-rm", `--${stage}-steps or --${stage}-epochs, not both`, values[`${stage}-steps`]);
    }
    if (!(epochs > 0)) fail("train-rm", `--${stage}-epochs above 0`, epochs);
  }
  return lengths;
}

/** `lib/cli/main.ts train-rm`: the reward-model experiment with progress, checkpoints and resume. */
export const trainRmCommand: CliCommand = {
  summary: "train the video reward model, then continue it into the patch reward model",
  spec: {
    out: {
      type: "string",
      description: `output directory (default ${T.out}; with --labels ${L.out})`,
    },
    labels: {
      type: "string",
      description: "train on this label file of `deno task label` instead of ShapesWorld clips",
    },
    videos: {
      type: "string",
      description: "with --labels: folder of the labelled video files (resized to the model)",
    },
    "video-steps": {
      type: "string",
      description: `stage-1 (VRM) steps (default: ${T.videoSteps})`,
    },
    "patch-steps": {
      type: "string",
      description: `stage-2 (PRM) steps (default: ${T.patchSteps})`,
    },
    "video-epochs": {
      type: "string",
      description: "stage-1 length as passes over the training clips, in place of --video-steps",
    },
    "patch-epochs": {
      type: "string",
      description: "stage-2 length as passes over the training clips, in place of --patch-steps",
    },
    "batch-size": { type: "string", default: `${S.batchSize}`, description: "clips per step" },
    lr: { type: "string", default: `${S.learningRate}`, description: "peak learning rate" },
    seed: {
      type: "string",
      default: `${T.seed}`,
      description: "seed of data, weights and batches",
    },
    "data-seed": {
      type: "string",
      description: "seed of the data alone (default --seed): models of other seeds on one dataset",
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
    "clips-per-prompt": {
      type: "string",
      default: `${D.clipsPerPrompt}`,
      description: "clips drawn per prompt (same-prompt pairs for direction and pair losses)",
    },
    "generator-share": {
      type: "string",
      default: `${D.generatorShare}`,
      description: "share of clips sampled from the generator (the rest are ShapesWorld renders)",
    },
    "shared-noise": {
      type: "boolean",
      default: false,
      description: "the generator's clips of one prompt from one x_T (for --patch-pair-weight)",
    },
    "swap-rate": {
      type: "string",
      default: "0",
      description: "share of training clips added again with a swapped prompt (text negatives)",
    },
    "swap-origins": {
      type: "string",
      description: `origins whose clips may be swapped (default all: ${SWAP_ORIGINS.join(",")})`,
    },
    config: {
      type: "string",
      description: 'reward model config as JSON, e.g. \'{"dim":64,"promptInput":"tokens"}\'',
    },
    "video-weight": {
      type: "string",
      default: `${W.videoWeight}`,
      description: "α: weight of the video loss in stage 2",
    },
    "consistency-weight": {
      type: "string",
      default: `${W.consistencyWeight}`,
      description: "γ: weight of the patch/video consistency term",
    },
    "pair-loss": {
      type: "string",
      default: W.pairLoss,
      description: "pairwise term on same-prompt pairs: none or bradley-terry",
    },
    "pair-weight": {
      type: "string",
      default: `${W.pairWeight}`,
      description: "weight of the pairwise term",
    },
    "patch-pair-weight": {
      type: "string",
      default: `${W.patchPairWeight}`,
      description: "weight of the pairwise term on the patch head (stage 2; same-noise clips)",
    },
    "swap-weight": {
      type: "string",
      default: `${W.swapWeight}`,
      description: "weight of the prompt-swap contrast on text alignment (needs --swap-rate > 0)",
    },
    "swap-gate": {
      type: "string",
      default: `${W.swapGate}`,
      description: "the contrast only where the clip's labelled text alignment is at least this",
    },
    "swap-labels": {
      type: "string",
      default: W.swapLabels,
      description: "aspects the prompt-swap negatives' labels train: all or text",
    },
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
    if (values.labels !== undefined) {
      for (const flag of ["seeds", "base-url", "data-seed", "swap-origins"]) {
        if (values[flag] !== undefined) fail("train-rm --labels", `no --${flag}`, values[flag]);
      }
      // data flags of the ShapesWorld path: a label file fixes its own clips
      const dataFlags = {
        "swap-rate": 0,
        "clips-per-prompt": D.clipsPerPrompt,
        "generator-share": D.generatorShare,
      };
      for (const [flag, unset] of Object.entries(dataFlags)) {
        if (numberOption(values, flag) !== unset) {
          fail("train-rm --labels", `no --${flag}`, values[flag]);
        }
      }
      for (const flag of ["ablation", "from-scratch", "shared-noise"]) {
        if (values[flag]) fail("train-rm --labels", `no --${flag}`, true);
      }
      const options = {
        videos: values.videos === undefined ? undefined : String(values.videos),
        out: values.out === undefined ? L.out : String(values.out),
        ...stageLengthOptions(values),
        batchSize: intOption(values, "batch-size"),
        learningRate: numberOption(values, "lr"),
        seed: intOption(values, "seed"),
        checkpointEvery: intOption(values, "checkpoint-every"),
        quiet,
        ship: values.ship ? String(values.ship) : undefined,
        ...modelOptions(values),
      };
      const backend = await initBackend();
      if (!quiet) console.error(`train-rm: backend ${backend.name} (${backend.reason})`);
      console.log(
        formatLabelsRewardReport(await trainRewardFromLabels(String(values.labels), options)),
      );
      return;
    }
    if (values.videos !== undefined) fail("train-rm", "--videos only with --labels", values.videos);
    const seeds = values.seeds === undefined ? undefined : intListOption(values, "seeds");
    const options = {
      out: values.out === undefined ? T.out : String(values.out),
      ...stageLengthOptions(values),
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
      ...modelOptions(values),
      data: {
        train: intOption(values, "train"),
        heldOut: intOption(values, "held-out"),
        noise: numberOption(values, "noise"),
        swapRate: numberOption(values, "swap-rate"),
        swapOrigins: values["swap-origins"] === undefined
          ? undefined
          : String(values["swap-origins"]).split(",").map((o) => o.trim()) as RewardOrigin[],
        clipsPerPrompt: intOption(values, "clips-per-prompt"),
        generatorShare: numberOption(values, "generator-share"),
        sharedNoise: Boolean(values["shared-noise"]),
        seed: values["data-seed"] === undefined ? undefined : intOption(values, "data-seed"),
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
