/**
 * The generator's commands: `pretrain`, `samples` and `eval-generator`. Each
 * parses its flags into the library function's options; the defaults shown
 * in the help are the library's ({@linkcode PRETRAIN_DEFAULTS},
 * {@linkcode SAMPLE_SHEET_DEFAULTS}, {@linkcode EVAL_GENERATOR_DEFAULTS}).
 * @module
 */

import type { GeneratorConfig } from "../generator/model.ts";
import { pretrain, PRETRAIN_DEFAULTS } from "../generator/pretrain.ts";
import { SAMPLE_SHEET_DEFAULTS, writeSampleSheet } from "../generator/samples.ts";
import { EVAL_GENERATOR_DEFAULTS, evaluateCheckpoint } from "../generator/quick_eval.ts";
import { initBackend } from "../tensor/backend.ts";
import { parseGrid } from "../videos/patch.ts";
import {
  type CliCommand,
  type CliValues,
  intOption,
  jsonObjectOption,
  numberOption,
} from "./_flags.ts";

function configFromCli(values: CliValues): Partial<GeneratorConfig> {
  const config: Partial<GeneratorConfig> = jsonObjectOption(values, "config");
  for (const key of ["frames", "size", "dim", "depth", "heads"] as const) {
    if (values[key] !== undefined) config[key] = intOption(values, key);
  }
  if (values["token-grid"]) config.tokenGrid = parseGrid(String(values["token-grid"]));
  return config;
}

function lrScheduleOption(values: CliValues): "cosine" | "constant" {
  const v = String(values["lr-schedule"]);
  if (v !== "cosine" && v !== "constant") {
    throw new TypeError(
      `--lr-schedule: Expected cosine or constant but found ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function splitOption(values: CliValues): "test" | "validation" {
  const v = String(values.split);
  if (v !== "test" && v !== "validation") {
    throw new TypeError(`--split: Expected test or validation but found ${JSON.stringify(v)}`);
  }
  return v;
}

const CHECKPOINT_FLAG = {
  type: "string",
  description: "generator checkpoint: a folder or URL (default: the shipped data/generator)",
} as const;

/** `pretrain`: pretrains (or resumes) the generator with a progress bar. */
export const pretrainCommand: CliCommand = {
  summary: "pretrain the ShapesWorld video generator (resumes from --out)",
  spec: {
    out: { type: "string", default: PRETRAIN_DEFAULTS.out, description: "checkpoint directory" },
    steps: { type: "string", default: `${PRETRAIN_DEFAULTS.steps}`, description: "total steps" },
    "batch-size": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.batchSize}`,
      description: "clips per step",
    },
    lr: {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.learningRate}`,
      description: "peak learning rate",
    },
    "lr-schedule": {
      type: "string",
      default: PRETRAIN_DEFAULTS.lrSchedule,
      description: "after the warm-up: cosine (decay to 10%) or constant",
    },
    "cooldown-steps": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.cooldownSteps}`,
      description: "with --lr-schedule constant: decay over the last N steps (0: none)",
    },
    ema: {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.ema}`,
      description: "EMA decay of the weights, written to OUT-ema (0: none)",
    },
    seed: {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.seed}`,
      description: "seed of weights and data order",
    },
    "eval-every": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.evalEvery}`,
      description: "steps between validation evaluations, to OUT.eval.jsonl (0: none)",
    },
    "eval-prompts": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.evalPrompts}`,
      description: "validation prompts per evaluation",
    },
    "checkpoint-every": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.checkpointEvery}`,
      description: "steps between checkpoints",
    },
    "x0-weighting": {
      type: "string",
      default: PRETRAIN_DEFAULTS.x0Weighting,
      description: "x0 head: loss weight over noise levels, uniform or snr+1 (capped)",
    },
    "x0-loss": {
      type: "string",
      default: PRETRAIN_DEFAULTS.x0Loss,
      description: "x0 head: per-pixel error, mse or l1 (sharper edges)",
    },
    "shape-word-dropout": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.shapeWordDropout}`,
      description: "probability a clip's prompt loses its shape word (for --shape-guidance)",
    },
    "max-weight": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.maxWeight}`,
      description: "cap of the loss weight",
    },
    "stable-targets": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.stableTargets}`,
      description: "x0 head: K clips of each prompt per row as stable-target references (0: off)",
    },
    "shape-weights": {
      type: "string",
      description:
        "share of clips per asked shape as JSON, e.g. '{\"square\":2}' (absent: per prompt)",
    },
    "hold-out-combos": {
      type: "string",
      description: "training combinations left out, e.g. red/square,cyan/circle (absent: none)",
    },
    "max-seconds": {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.maxSeconds}`,
      description: "stop after this many seconds (0: no limit)",
    },
    frames: { type: "string", description: "frames per clip (default 16)" },
    size: { type: "string", description: "frame size (default 32)" },
    dim: { type: "string", description: "model width" },
    depth: { type: "string", description: "layers (spatial + temporal block each)" },
    heads: { type: "string", description: "attention heads" },
    "token-grid": { type: "string", description: "DiT token grid ROWSxCOLSxFRAMES, e.g. 4x4x4" },
    config: {
      type: "string",
      description: "generator config as JSON (overridden by the flags above)",
    },
    workers: {
      type: "string",
      default: `${PRETRAIN_DEFAULTS.workers}`,
      description: "processes sharing each step's batch, one core each (data parallelism)",
    },
    quiet: { type: "boolean", default: false, description: "no progress bar" },
  },
  async run(values) {
    const options = {
      out: String(values.out),
      steps: intOption(values, "steps"),
      batchSize: intOption(values, "batch-size"),
      learningRate: numberOption(values, "lr"),
      lrSchedule: lrScheduleOption(values),
      cooldownSteps: intOption(values, "cooldown-steps"),
      ema: numberOption(values, "ema"),
      seed: intOption(values, "seed"),
      checkpointEvery: intOption(values, "checkpoint-every"),
      evalEvery: intOption(values, "eval-every"),
      evalPrompts: intOption(values, "eval-prompts"),
      maxSeconds: numberOption(values, "max-seconds"),
      x0Weighting: String(values["x0-weighting"]) as "uniform" | "snr+1",
      x0Loss: String(values["x0-loss"]) as "mse" | "l1",
      maxWeight: numberOption(values, "max-weight"),
      shapeWordDropout: numberOption(values, "shape-word-dropout"),
      stableTargets: intOption(values, "stable-targets"),
      shapeWeights: values["shape-weights"] === undefined
        ? undefined
        : jsonObjectOption(values, "shape-weights") as Record<string, number>,
      holdOutCombinations: values["hold-out-combos"] === undefined
        ? undefined
        : String(values["hold-out-combos"]).split(","),
      workers: intOption(values, "workers"),
      config: configFromCli(values),
      quiet: Boolean(values.quiet),
    };
    const backend = await initBackend();
    if (!options.quiet) console.error(`pretrain: backend ${backend.name} (${backend.reason})`);
    console.log(JSON.stringify(await pretrain(options)));
  },
};

/** `samples`: writes a PNG of test prompts × frames from a generator checkpoint. */
export const samplesCommand: CliCommand = {
  summary: "render a PNG grid of generator samples on held-out test prompts",
  spec: {
    checkpoint: CHECKPOINT_FLAG,
    out: { type: "string", default: SAMPLE_SHEET_DEFAULTS.out, description: "PNG to write" },
    prompts: {
      type: "string",
      default: `${SAMPLE_SHEET_DEFAULTS.prompts}`,
      description: "number of test prompts (rows)",
    },
    seed: {
      type: "string",
      default: `${SAMPLE_SHEET_DEFAULTS.seed}`,
      description: "sampling seed (also picks the prompts)",
    },
    steps: { type: "string", default: `${SAMPLE_SHEET_DEFAULTS.steps}`, description: "DDIM steps" },
    guidance: {
      type: "string",
      default: `${SAMPLE_SHEET_DEFAULTS.guidance}`,
      description: "classifier-free guidance scale",
    },
    estimate: {
      type: "string",
      default: SAMPLE_SHEET_DEFAULTS.estimate,
      description: "DDIM clean estimate: clean or gated",
    },
    reference: {
      type: "boolean",
      default: false,
      description: "draw the renderer's clip under each sample",
    },
  },
  async run(values) {
    const options = {
      checkpoint: values.checkpoint === undefined ? undefined : String(values.checkpoint),
      out: String(values.out),
      prompts: intOption(values, "prompts"),
      seed: intOption(values, "seed"),
      steps: intOption(values, "steps"),
      guidance: numberOption(values, "guidance"),
      withReference: Boolean(values.reference),
      estimate: String(values.estimate) as "clean" | "gated",
    };
    await initBackend();
    const prompts = await writeSampleSheet(options);
    console.log(
      `wrote ${options.out}:\n${prompts.map((p, i) => `  row ${i + 1}: ${p.text}`).join("\n")}`,
    );
  },
};

/** `eval-generator`: recognisability of a checkpoint's samples on held-out test prompts. */
export const evalGeneratorCommand: CliCommand = {
  summary: "measure object colour (and judge) accuracy of generator samples on test prompts",
  spec: {
    checkpoint: CHECKPOINT_FLAG,
    prompts: {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.count}`,
      description: "number of prompts",
    },
    split: {
      type: "string",
      default: EVAL_GENERATOR_DEFAULTS.split,
      description: "prompts: test (held-out combinations) or validation (for choosing settings)",
    },
    "sample-seeds": {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.sampleSeeds}`,
      description: "sampling seeds per prompt",
    },
    seed: {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.seed}`,
      description: "sampling seed (also picks the prompts)",
    },
    steps: {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.steps}`,
      description: "DDIM steps",
    },
    guidance: {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.guidance}`,
      description: "classifier-free guidance scale",
    },
    "guidance-from": {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.guidanceFrom}`,
      description: "guide only the steps at timestep t ≥ this (0: every step)",
    },
    "guidance-below": {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.guidanceBelow}`,
      description: "guidance scale of the steps at t < --guidance-from (1: unguided)",
    },
    "shape-guidance": {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.shapeGuidance}`,
      description: "shape guidance λ: away from the prompt without its shape word (0: off)",
    },
    eta: {
      type: "string",
      default: `${EVAL_GENERATOR_DEFAULTS.eta}`,
      description: "DDIM η: 0 deterministic, 1 ancestral",
    },
  },
  async run(values) {
    const options = {
      count: intOption(values, "prompts"),
      split: splitOption(values),
      sampleSeeds: intOption(values, "sample-seeds"),
      seed: intOption(values, "seed"),
      steps: intOption(values, "steps"),
      guidance: numberOption(values, "guidance"),
      guidanceFrom: intOption(values, "guidance-from"),
      guidanceBelow: numberOption(values, "guidance-below"),
      shapeGuidance: numberOption(values, "shape-guidance"),
      eta: numberOption(values, "eta"),
    };
    await initBackend();
    const checkpoint = values.checkpoint === undefined ? undefined : String(values.checkpoint);
    console.log(JSON.stringify(await evaluateCheckpoint(checkpoint, options), null, 2));
  },
};
