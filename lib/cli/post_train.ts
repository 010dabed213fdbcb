/**
 * `deno task post-train`: Diffusion-DPO, Gran-DPO or patch-only post-training
 * with resume ({@linkcode postTrain}); defaults from {@linkcode POST_TRAIN_DEFAULTS}.
 * @module
 */

import { checkDpoLossType, checkDpoPatchOtherWeight, DEFAULT_DPO_OPTIONS } from "../dpo/loss.ts";
import { DPO_ANCHORS, type DpoAnchor } from "../dpo/anchor.ts";
import { GUIDANCE_HOLD_PATCHES, type GuidanceHoldPatches } from "../dpo/guidance_hold.ts";
import { fail } from "../core/_errors.ts";
import type { ErrorWeighting } from "../dpo/loss_maps.ts";
import { ITERATIVE_DEFAULTS } from "../dpo/iterative.ts";
import {
  methodLossOptions,
  POST_TRAIN_DEFAULTS as D,
  postTrain,
  type PostTrainMethod,
  type PostTrainOptions,
} from "../dpo/post_train.ts";
import { PTX_PROMPTS, type PtxPrompts } from "../dpo/step.ts";
import { initBackend } from "../tensor/backend.ts";
import { type CliCommand, intOption, numberOption } from "./_flags.ts";

/** `lib/cli/main.ts post-train`: Diffusion-DPO, Gran-DPO or patch-only post-training with resume. */
export const postTrainCommand: CliCommand = {
  summary: "post-train the generator on preference pairs (dpo | grandpo | patch-only)",
  spec: {
    out: { type: "string", default: "out/post/grandpo", description: "policy checkpoint dir" },
    pairs: { type: "string", default: "out/pairs/pairs.jsonl", description: "pairs file" },
    generator: {
      type: "string",
      description: "initial + reference checkpoint (default: the shipped data/generator)",
    },
    method: { type: "string", default: D.method, description: "dpo | grandpo | patch-only" },
    steps: { type: "string", default: `${D.steps}`, description: "optimiser steps" },
    "batch-size": { type: "string", default: `${D.batchSize}`, description: "pairs per step" },
    lr: { type: "string", default: `${D.learningRate}`, description: "learning rate" },
    beta: { type: "string", default: String(DEFAULT_DPO_OPTIONS.beta), description: "β" },
    "beta-patch": {
      type: "string",
      default: String(DEFAULT_DPO_OPTIONS.betaPatch),
      description: "β_p of the patch terms",
    },
    "loss-type": {
      type: "string",
      default: DEFAULT_DPO_OPTIONS.lossType,
      description: "each term's loss: sigmoid (Diffusion-DPO's) | ipo ((h − ½)², bounded margin)",
    },
    "patch-other-weight": {
      type: "string",
      default: String(DEFAULT_DPO_OPTIONS.patchOtherWeight),
      description:
        "weight of the other patch in each patch term: 1 the paper's, 0 the preferred patch alone",
    },
    lambda: { type: "string", default: String(DEFAULT_DPO_OPTIONS.lambda), description: "λ" },
    tau: { type: "string", default: String(DEFAULT_DPO_OPTIONS.tau), description: "τ" },
    anchor: {
      type: "string",
      default: DEFAULT_DPO_OPTIONS.anchor,
      description: "anchor toward the reference on the winners: none | sft | kl | dpop",
    },
    "anchor-weight": {
      type: "string",
      default: String(DEFAULT_DPO_OPTIONS.anchorWeight),
      description: "weight of the anchor term (with --anchor sft | kl | dpop)",
    },
    "ptx-weight": {
      type: "string",
      default: `${D.ptxWeight}`,
      description:
        "weight of the denoising loss on fresh ShapesWorld renders of the pairs' prompts",
    },
    "guidance-hold": {
      type: "string",
      default: `${D.guidanceHoldWeight}`,
      description: "weight of the guidance hold on the winners (lib/dpo/guidance_hold.ts; 0 = off)",
    },
    "guidance-hold-patches": {
      type: "string",
      default: D.guidanceHoldPatches,
      description: "patches the guidance hold holds: all | undisputed (no patch term)",
    },
    "guidance-hold-from": {
      type: "string",
      default: `${D.guidanceHoldFrom}`,
      description: "hold only at timesteps t ≥ this, weighted alike (0 = every t, error-weighted)",
    },
    "loss-guidance": {
      type: "string",
      default: `${D.lossGuidance}`,
      description:
        "guidance scale of the estimates the loss compares: u + w(c − u); 1 = conditional",
    },
    "ptx-prompts": {
      type: "string",
      default: D.ptxPrompts,
      description: "prompts the ptx term renders: pairs (the step's) | pretraining (drawn afresh)",
    },
    freeze: {
      type: "string",
      default: D.freeze.join(","),
      description:
        "weights left as pretrained, comma-separated name patterns (e.g. prompt or *.ada)",
    },
    weighting: { type: "string", description: "x0 | eps | min-snr (default: the kit's)" },
    "t-min": { type: "string", default: `${D.tMin}`, description: "smallest timestep" },
    "t-max": { type: "string", default: `${D.tMax}`, description: "one past the largest timestep" },
    seed: { type: "string", default: `${D.seed}`, description: "seed of pair order, t and ε" },
    "resample-every": {
      type: "string",
      default: "0",
      description:
        "iterative DPO: new pairs from the policy every K steps, drawn as the offline pairs were (their manifest)",
    },
    prm: { type: "string", description: "PRM for iterative rounds (default: the shipped one)" },
    "resample-prompts": {
      type: "string",
      default: `${ITERATIVE_DEFAULTS.prompts}`,
      description: "prompts per round",
    },
    "checkpoint-every": {
      type: "string",
      default: `${D.checkpointEvery}`,
      description: "steps between checkpoints",
    },
    "max-seconds": {
      type: "string",
      default: `${D.maxSeconds}`,
      description: "stop after a checkpoint",
    },
    quiet: { type: "boolean", default: false, description: "no progress bar" },
  },
  async run(values) {
    // Every flag is read (and checked) before the backend starts: a bad flag fails at once.
    const every = intOption(values, "resample-every");
    const resamplePrompts = intOption(values, "resample-prompts");
    const anchor = String(values.anchor) as DpoAnchor;
    if (!DPO_ANCHORS.includes(anchor)) fail("--anchor", DPO_ANCHORS.join(" | "), anchor);
    const anchorWeight = numberOption(values, "anchor-weight");
    if (anchorWeight < 0) fail("--anchor-weight", "a number ≥ 0", anchorWeight);
    const ptxWeight = numberOption(values, "ptx-weight");
    if (!(ptxWeight >= 0)) fail("--ptx-weight", "a number ≥ 0", ptxWeight);
    const guidanceHoldWeight = numberOption(values, "guidance-hold");
    if (!(guidanceHoldWeight >= 0)) fail("--guidance-hold", "a number ≥ 0", guidanceHoldWeight);
    const guidanceHoldPatches = String(values["guidance-hold-patches"]) as GuidanceHoldPatches;
    if (!GUIDANCE_HOLD_PATCHES.includes(guidanceHoldPatches)) {
      fail("--guidance-hold-patches", GUIDANCE_HOLD_PATCHES.join(" | "), guidanceHoldPatches);
    }
    const guidanceHoldFrom = intOption(values, "guidance-hold-from");
    if (!(guidanceHoldFrom >= 0)) fail("--guidance-hold-from", "a timestep ≥ 0", guidanceHoldFrom);
    const lossGuidance = numberOption(values, "loss-guidance");
    if (!(lossGuidance >= 1 && lossGuidance <= 100)) {
      fail("--loss-guidance", "a guidance scale in [1, 100]", lossGuidance);
    }
    const ptxPrompts = String(values["ptx-prompts"]) as PtxPrompts;
    if (!PTX_PROMPTS.includes(ptxPrompts)) {
      fail("--ptx-prompts", PTX_PROMPTS.join(" | "), ptxPrompts);
    }
    const options: PostTrainOptions = {
      out: String(values.out),
      pairs: String(values.pairs),
      generatorDir: values.generator === undefined ? undefined : String(values.generator),
      method: String(values.method) as PostTrainMethod,
      steps: intOption(values, "steps"),
      batchSize: intOption(values, "batch-size"),
      learningRate: numberOption(values, "lr"),
      beta: numberOption(values, "beta"),
      betaPatch: numberOption(values, "beta-patch"),
      lossType: checkDpoLossType("--loss-type", values["loss-type"]),
      patchOtherWeight: checkDpoPatchOtherWeight(
        "--patch-other-weight",
        numberOption(values, "patch-other-weight"),
      ),
      lambda: numberOption(values, "lambda"),
      tau: numberOption(values, "tau"),
      anchor,
      anchorWeight,
      ptxWeight,
      ptxPrompts,
      guidanceHoldWeight,
      guidanceHoldPatches,
      guidanceHoldFrom,
      lossGuidance,
      freeze: String(values.freeze).split(",").map((p) => p.trim()).filter((p) => p.length > 0),
      weighting: values.weighting ? String(values.weighting) as ErrorWeighting : undefined,
      tMin: intOption(values, "t-min"),
      tMax: intOption(values, "t-max"),
      seed: intOption(values, "seed"),
      iterative: every > 0
        ? {
          resampleEvery: every,
          prmDir: values.prm === undefined ? undefined : String(values.prm),
          prompts: resamplePrompts,
        }
        : undefined,
      checkpointEvery: intOption(values, "checkpoint-every"),
      maxSeconds: numberOption(values, "max-seconds"),
      quiet: Boolean(values.quiet),
    };
    methodLossOptions(options.method!, options); // the method and the loss options, checked now
    const backend = await initBackend();
    if (!values.quiet) console.error(`post-train: backend ${backend.name} (${backend.reason})`);
    const r = await postTrain(options);
    console.log(
      `${r.out}: step ${r.step}${r.resumed ? " (resumed)" : ""}, ${r.wallSeconds.toFixed(0)} s; ` +
        Object.entries(r.recent).map(([k, v]) => `${k}=${v.toPrecision(4)}`).join(" "),
    );
  },
};
