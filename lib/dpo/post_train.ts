/**
 * Post-training of the generator on preference pairs (`deno task post-train`):
 * Diffusion-DPO (`"dpo"`, the video term only), Gran-DPO (`"grandpo"`, HALO:
 * video + patch terms) and the patch-only ablation (`"patch-only"`). The
 * policy starts from a generator checkpoint and a frozen copy of it is the
 * reference; Adam with gradient-norm clipping updates the policy.
 *
 * Each step draws `batchSize` pairs (an epoch-wise shuffle seeded by
 * (seed, epoch)), one timestep t ~ U[tMin, tMax) and one noise ε per pair,
 * shared by its chosen and rejected clip, computes the per-patch errors of
 * policy and reference (`lib/dpo/loss_maps.ts`) and the loss (`lib/dpo/loss.ts`).
 * Everything random in step i depends only on (seed, i), the checkpoint holds
 * the weights and Adam's state, and the log is written before the checkpoint
 * (lines past it are dropped on resume), so a killed run resumes to the same
 * weights as an uninterrupted one.
 *
 * **Iterative DPO** (`resampleEvery` K > 0): every K steps the pairs are
 * re-sampled from the current policy and scored by the PRM
 * (`<out>.rounds/r<k>/`), as on-policy DPO variants do; round 0 uses the
 * offline pairs, and later rounds draw theirs as the offline pairs were drawn
 * (`iterative.ts`).
 *
 * **Timesteps.** t is drawn from [tMin, tMax) = [50, 950) by default. Near
 * t = T the input is almost pure noise, so policy and reference both predict
 * the prompt's mean clip whichever clip of the pair is noised, and under the
 * min-SNR weighting these steps weigh almost nothing (SNR < 0.02); near t = 0
 * the clip is almost given and the error is mostly 8-bit quantisation, yet
 * min-SNR gives those steps its full weight γ. Dropping the 50 steps at each
 * end removes both. Measured on validation prompts (one seed, README): [0,
 * 1000) and [250, 950) were within the interval of [50, 950) on ShapesBench
 * and defective patches, and [50, 950) kept the prompt's colour best; the
 * choice matters far less than the error weighting.
 *
 * **Anchoring** (`anchor: "sft" | "kl" | "dpop"`, `anchorWeight`; off by default) adds a
 * term toward the reference on the chosen clips to whichever method runs
 * (`lib/dpo/anchor.ts`); its value is logged as `loss/anchor`. Measured on
 * validation prompts in the README's settings tables.
 *
 * **Pretraining data** (`ptxWeight`; off by default) adds the plain denoising loss on fresh
 * ShapesWorld renders of each step's prompts (the generator's own pretraining world, drawn from
 * (seed, step) alone), as InstructGPT's PPO-ptx mixes pretraining gradients into RLHF. Our
 * reconstruction, not the paper's: on validation prompts it keeps HALO's count gain without the
 * fainter and missing objects that cost colour (README, "Where HALO's colour goes, and the
 * pretraining-data term that keeps it"). With `ptxPrompts: "pretraining"` it renders prompts drawn
 * from the pretraining prompts instead of the pairs'.
 *
 * **Guidance hold** (`guidanceHoldWeight`; off by default) adds a hinge that keeps the policy's
 * conditional estimate on the chosen clips from moving toward the reference's unconditional one
 * (`lib/dpo/guidance_hold.ts`), logged as `loss/guidance`; `lossGuidance` makes the preference terms
 * and the anchor compare guided estimates. Our reconstruction, not the paper's.
 *
 * **Frozen weights** (`freeze`; none by default) stay as pretrained: name patterns such as
 * `"prompt"` (the prompt encoder) or `"*.ada"` (every adaLN modulation).
 *
 * **Iterative DPO** made things worse on the first generator: re-sampling 64
 * prompts × 4 candidates from the policy every 100 steps let it exploit the
 * PRM (defective patches 0.47 → 0.28, but judge colour accuracy 0.76 → 0.07),
 * so the default is offline pairs (on G30: the README's settings table).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { appendJsonLines, pathExists, trimJsonLines } from "../core/_atomic.ts";
import { createAdam } from "../tensor/adam.ts";
import { Progress } from "../core/_progress.ts";
import { modelName, type ModelRef, shipped } from "../core/shipped.ts";
import { disposeGenerator, freezeGenerator } from "../generator/model.ts";
import { loadGenerator, saveGenerator } from "../generator/io.ts";
import { loadCheckpoint, readCheckpointManifest } from "../tensor/checkpoint.ts";
import { checkWeighting, DEFAULT_MIN_SNR_GAMMA, type ErrorWeighting } from "./loss_maps.ts";
import {
  checkDpoLossType,
  checkDpoPatchOtherWeight,
  DEFAULT_DPO_OPTIONS,
  type DpoMetrics,
  type GranDpoOptions,
} from "./loss.ts";
import { checkDpoAnchor } from "./anchor.ts";
import { checkFreezePatterns, frozenParams } from "./freeze.ts";
import { runSettings } from "./_run_settings.ts";
import { GUIDANCE_HOLD_PATCHES, type GuidanceHoldPatches } from "./guidance_hold.ts";
import { buildPairs } from "../pairs/pairs.ts";
import { type IterativeOptions, roundPairOptions } from "./iterative.ts";
import {
  dpoStep,
  dpoStepInputs,
  type DpoStepOptions,
  loadPairData,
  PTX_PROMPTS,
  type PtxPrompts,
} from "./step.ts";

/** The post-training methods compared in the paper's table. */
export type PostTrainMethod = "dpo" | "grandpo" | "patch-only";

/** The methods, for validation and command lines. */
export const POST_TRAIN_METHODS: readonly PostTrainMethod[] = Object.freeze([
  "dpo",
  "grandpo",
  "patch-only",
]);

/** The defaults of {@linkcode PostTrainOptions} (`deno task post-train` shows the same). */
export const POST_TRAIN_DEFAULTS: Readonly<{
  method: PostTrainMethod;
  steps: number;
  batchSize: number;
  learningRate: number;
  clipNorm: number;
  seed: number;
  tMin: number;
  tMax: number;
  checkpointEvery: number;
  maxSeconds: number;
  ptxWeight: number;
  ptxPrompts: PtxPrompts;
  guidanceHoldWeight: number;
  guidanceHoldPatches: GuidanceHoldPatches;
  guidanceHoldFrom: number;
  lossGuidance: number;
  freeze: readonly string[];
}> = Object.freeze({
  method: "grandpo",
  steps: 300,
  batchSize: 8,
  learningRate: 1e-4,
  clipNorm: 1,
  seed: 0,
  tMin: 50,
  tMax: 950,
  checkpointEvery: 50,
  maxSeconds: 0,
  ptxWeight: 0,
  ptxPrompts: "pairs",
  guidanceHoldWeight: 0,
  guidanceHoldPatches: "all",
  guidanceHoldFrom: 0,
  lossGuidance: 1,
  freeze: Object.freeze([]),
});

/** Options for {@linkcode postTrain}; defaults in {@linkcode POST_TRAIN_DEFAULTS}. */
export interface PostTrainOptions extends Omit<GranDpoOptions, "video"> {
  /** Checkpoint directory of the policy (resumed when it exists); the log is `<out>.log.jsonl`. */
  out: string;
  /** The offline `pairs.jsonl`. */
  pairs: string;
  /** Generator checkpoint the policy starts from and the reference stays at. Default: the shipped generator. */
  generatorDir?: ModelRef;
  /** Loss. Default "grandpo". */
  method?: PostTrainMethod;
  /** Optimiser steps. Default 300. */
  steps?: number;
  /** Pairs per step. Default 8. */
  batchSize?: number;
  /** Adam learning rate (constant after a 10-step warm-up). Default 1e-4. */
  learningRate?: number;
  /** Gradient-norm clip. Default 1. */
  clipNorm?: number;
  /** Seed of pair order, timesteps and noise. Default 0. */
  seed?: number;
  /** Smallest timestep drawn. Default 50. */
  tMin?: number;
  /** One past the largest timestep drawn. Default 950. */
  tMax?: number;
  /** Error weighting (see `lib/dpo/loss_maps.ts`). Default the module's default. */
  weighting?: ErrorWeighting;
  /** γ of the "min-snr" weighting. */
  gamma?: number;
  /** Steps between checkpoints. Default 50. */
  checkpointEvery?: number;
  /**
   * Weight of the pretraining-data term (InstructGPT's "PPO-ptx", ReFL's pretraining loss, for a
   * diffusion policy): each step also renders its pairs' prompts afresh in ShapesWorld, the world
   * the generator was pretrained on, and adds `ptxWeight ·` the policy's mean denoising error on
   * them, logged as `loss/ptx`. Where the anchors hold the policy to the reference on the
   * generator's own winners, this holds it to clean renders. Our reconstruction: the paper has no
   * such term; it answers the README's finding that post-training on these pairs draws fewer and
   * fainter objects. Pairs files hold ShapesWorld prompts only, so every pair renders. Default 0
   * (off).
   */
  ptxWeight?: number;
  /**
   * Whose prompts the pretraining-data term renders ({@linkcode PtxPrompts}): the step's pairs'
   * (`"pairs"`, the default) or as many drawn from the generator's pretraining prompts
   * (`"pretraining"`), which holds the policy on prompts no pair shows.
   */
  ptxPrompts?: PtxPrompts;
  /**
   * Weight of the guidance hold (`lib/dpo/guidance_hold.ts`): a hinge that keeps the policy's
   * conditional estimate on the winners from moving toward the reference's unconditional one, patch
   * by patch — what erases the objects Base draws only under guidance. Logged as `loss/guidance`.
   * Our reconstruction, not the paper's. Default 0 (off).
   */
  guidanceHoldWeight?: number;
  /**
   * Which patches the guidance hold holds ({@linkcode GuidanceHoldPatches}): every patch
   * (`"all"`, the default) or those the pair's patch terms do not use (`"undisputed"`).
   */
  guidanceHoldPatches?: GuidanceHoldPatches;
  /**
   * Hold only at timesteps t ≥ `guidanceHoldFrom`, every such clip weighted alike (w = 1): where
   * the layout is decided (whether an object is drawn at all), leaving the low-noise steps, where
   * fragments and edges are drawn, to the preference loss. The error weighting (min-SNR) puts
   * nearly all of the hold below t = 300 otherwise. 0 (default): every t, with the error weighting.
   */
  guidanceHoldFrom?: number;
  /**
   * Classifier-free guidance scale w of the clean estimates the preference terms and the anchor
   * compare: u + w(c − u) of the policy and of the reference, c the prompt's estimate and u the
   * null prompt's, as the sampler guides (scale 2 by default) — so the loss sees the clip the
   * policy will draw, and the null prompt's branch learns with the opposite sign (what tells the
   * winner from the loser can go into u, where guidance pushes away from it, rather than all into
   * c). Our reconstruction, not the paper's (Diffusion-DPO compares conditional estimates). One
   * more pass of each model per step.
   * Measured at 2 on validation (README's settings table): it fixes fewer defects and erases
   * objects at about the KL run's rate per repair. Default 1 (the conditional estimates).
   */
  lossGuidance?: number;
  /**
   * Weights the optimiser leaves at the generator's values, as patterns over their names (see
   * {@linkcode frozenParams}): `["prompt"]` freezes the prompt encoder, as Diffusion-DPO trains
   * only the denoiser of Stable Diffusion and its text encoder stays as pretrained. Our
   * reconstruction: the paper does not say which weights HALO updates. Default `[]` (all train).
   */
  freeze?: readonly string[];
  /** Iterative DPO; absent = offline pairs only. */
  iterative?: IterativeOptions;
  /** Stop after a checkpoint once this many seconds have passed (0 = no limit). Default 0. */
  maxSeconds?: number;
  /** No progress bar. Default false. */
  quiet?: boolean;
}

/** What {@linkcode postTrain} returns. */
export interface PostTrainResult {
  /** The policy checkpoint. */
  out: string;
  /** Steps done in total. */
  step: number;
  /** Whether it continued an existing checkpoint. */
  resumed: boolean;
  /** Wall seconds of all runs that built the checkpoint. */
  wallSeconds: number;
  /** Mean of each logged metric over the last (up to) 50 steps of this run. */
  recent: DpoMetrics;
}

/**
 * The loss options a method implies: Diffusion-DPO is λ = 0, patch-only turns
 * the video term off, the rest keep the defaults or `options` (the anchor, when
 * asked for, applies to every method; it is checked here, before any work).
 *
 * @example
 * ```ts
 * import { methodLossOptions } from "@halo/kit/dpo";
 * const dpo = methodLossOptions("dpo", { anchor: "sft", anchorWeight: 10 });
 * const patchOnly = methodLossOptions("patch-only", { tau: 0.5 });
 * console.log(dpo.lambda, dpo.anchor, patchOnly.video, patchOnly.tau, patchOnly.anchor); // 0 "sft" false 0.5 "none"
 * ```
 */
export function methodLossOptions(
  method: PostTrainMethod,
  options: GranDpoOptions = {},
): Required<GranDpoOptions> {
  if (!POST_TRAIN_METHODS.includes(method)) {
    fail("post-train", `method among ${POST_TRAIN_METHODS.join(", ")}`, method);
  }
  const d = DEFAULT_DPO_OPTIONS;
  const anchor = checkDpoAnchor("post-train", {
    anchor: options.anchor ?? d.anchor,
    anchorWeight: options.anchorWeight ?? d.anchorWeight,
  });
  return {
    beta: options.beta ?? d.beta,
    lossType: checkDpoLossType("post-train", options.lossType),
    patchOtherWeight: checkDpoPatchOtherWeight("post-train", options.patchOtherWeight),
    betaPatch: options.betaPatch ?? d.betaPatch,
    lambda: method === "dpo" ? 0 : options.lambda ?? d.lambda,
    tau: options.tau ?? d.tau,
    video: method !== "patch-only",
    ...anchor,
  };
}

/**
 * Post-trains a generator on preference pairs with the chosen method, or
 * resumes the checkpoint in `out` (see the module doc).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { buildPairs, createGenerator, createRewardModel, disposeGenerator, disposeRewardModel, postTrain, saveGenerator, saveRewardModel } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * const tiny = { frames: 4, size: 16, dim: 16, depth: 1, heads: 2, prediction: "x0" as const, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } };
 * const gen = createGenerator(tiny);
 * // a fresh model's zero output head would draw identical clips: give it something to say
 * gen.params.get("pixel.clean.w")!.assign(tf.randomNormal([32, 3], 0, 0.5, "float32", 1));
 * await saveGenerator(`${dir}/gen`, gen);
 * const prm = createRewardModel({ frames: 4, size: 16, grid: "2x2x2", dim: 16, depth: 1, heads: 2 }, { seed: 1 });
 * await saveRewardModel(`${dir}/prm`, prm);
 * await buildPairs({ out: `${dir}/pairs`, generator: gen, prmDir: `${dir}/prm`, prompts: 2, candidates: 2, steps: 2, margin: 0, quiet: true });
 * const r = await postTrain({ out: `${dir}/post`, pairs: `${dir}/pairs/pairs.jsonl`, generatorDir: `${dir}/gen`, steps: 2, batchSize: 2, quiet: true });
 * console.log(r.step, Number.isFinite(r.recent.loss)); // 2 true
 * disposeGenerator(gen);
 * disposeRewardModel(prm);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function postTrain(options: PostTrainOptions): Promise<PostTrainResult> {
  const where = "postTrain";
  if (!options || typeof options.out !== "string" || typeof options.pairs !== "string") {
    fail(where, "options with `out` and `pairs` paths", options);
  }
  const d = POST_TRAIN_DEFAULTS;
  const method = options.method ?? d.method;
  const generatorRef = options.generatorDir ?? shipped.generator;
  const loss = methodLossOptions(method, options);
  const settings = {
    out: options.out,
    pairs: options.pairs,
    generatorDir: modelName(generatorRef),
    method,
    steps: checkInt(where, "steps", options.steps ?? d.steps, 1),
    batchSize: checkInt(where, "batchSize", options.batchSize ?? d.batchSize, 1, 1024),
    learningRate: checkNumber(where, "learningRate", options.learningRate ?? d.learningRate, 0, 1),
    clipNorm: checkNumber(where, "clipNorm", options.clipNorm ?? d.clipNorm, 0),
    seed: checkInt(where, "seed", options.seed ?? d.seed, 0, 0xffffffff),
    tMin: checkInt(where, "tMin", options.tMin ?? d.tMin, 0),
    tMax: checkInt(where, "tMax", options.tMax ?? d.tMax, 1),
    weighting: checkWeighting(where, options.weighting),
    gamma: checkNumber(where, "gamma", options.gamma ?? DEFAULT_MIN_SNR_GAMMA, 1e-6),
    checkpointEvery: checkInt(
      where,
      "checkpointEvery",
      options.checkpointEvery ?? d.checkpointEvery,
      1,
    ),
    iterative: options.iterative ?? null,
    beta: loss.beta,
    betaPatch: loss.betaPatch,
    lambda: loss.lambda,
    tau: loss.tau,
    anchor: loss.anchor,
    anchorWeight: loss.anchorWeight,
    lossType: loss.lossType,
    patchOtherWeight: loss.patchOtherWeight,
    ptxWeight: checkNumber(where, "ptxWeight", options.ptxWeight ?? d.ptxWeight, 0),
    ptxPrompts: options.ptxPrompts ?? d.ptxPrompts,
    guidanceHoldWeight: checkNumber(
      where,
      "guidanceHoldWeight",
      options.guidanceHoldWeight ?? d.guidanceHoldWeight,
      0,
    ),
    guidanceHoldPatches: options.guidanceHoldPatches ?? d.guidanceHoldPatches,
    guidanceHoldFrom: checkInt(
      where,
      "guidanceHoldFrom",
      options.guidanceHoldFrom ?? d.guidanceHoldFrom,
      0,
    ),
    lossGuidance: checkNumber(
      where,
      "lossGuidance",
      options.lossGuidance ?? d.lossGuidance,
      1,
      100,
    ),
    freeze: checkFreezePatterns(where, options.freeze ?? d.freeze),
  };
  if (!GUIDANCE_HOLD_PATCHES.includes(settings.guidanceHoldPatches)) {
    fail(
      where,
      `guidanceHoldPatches among ${GUIDANCE_HOLD_PATCHES.join(", ")}`,
      settings.guidanceHoldPatches,
    );
  }
  if (!PTX_PROMPTS.includes(settings.ptxPrompts)) {
    fail(where, `ptxPrompts among ${PTX_PROMPTS.join(", ")}`, settings.ptxPrompts);
  }
  if (settings.tMin >= settings.tMax) {
    fail(where, `tMin < tMax`, `${settings.tMin} ≥ ${settings.tMax}`);
  }
  const resampleEvery = settings.iterative
    ? checkInt(where, "iterative.resampleEvery", settings.iterative.resampleEvery, 0)
    : 0;
  const maxSeconds = checkNumber(where, "maxSeconds", options.maxSeconds ?? d.maxSeconds, 0);
  const out = settings.out;
  const logFile = `${out}.log.jsonl`;

  const base = await loadGenerator(generatorRef);
  if (settings.tMax > base.generator.config.timesteps) {
    disposeGenerator(base.generator);
    fail(where, `tMax ≤ ${base.generator.config.timesteps} (the schedule)`, settings.tMax);
  }
  let frozen: string[];
  try {
    frozen = frozenParams(base.generator, settings.freeze);
  } catch (e) {
    disposeGenerator(base.generator);
    throw e;
  }
  const reference = freezeGenerator(base.generator);
  const policy = base.generator;
  for (const name of frozen) policy.params.get(name)!.trainable = false;
  const adam = createAdam(policy.params, {
    learningRate: settings.learningRate,
    clipNorm: settings.clipNorm,
  });
  const stored = runSettings(settings);
  let start = 0, priorSeconds = 0, resumed = false;
  try {
    if (await pathExists(join(out, "config.json"))) {
      const manifest = await readCheckpointManifest(out);
      const found = (manifest.meta.settings ?? {}) as Record<string, unknown>;
      const differ = Object.keys({ ...stored, ...found })
        .filter((key) => JSON.stringify(stored[key]) !== JSON.stringify(found[key]));
      if (differ.length) {
        // a key absent on one side is a default left out of the settings (e.g. no anchor)
        const shown = (v: unknown) => v === undefined ? "(default)" : JSON.stringify(v);
        fail(
          `${out}/config.json`,
          `a post-training run with the same settings (${
            differ.map((key) => `${key}: ${shown(stored[key])}`).join(", ")
          }; use another --out to start afresh)`,
          differ.map((key) => `${key}: ${shown(found[key])}`).join(", "),
        );
      }
      const loaded = await loadCheckpoint(out, {
        kind: "generator",
        config: policy.config,
        params: policy.params,
        optimizer: adam,
      });
      start = loaded.step;
      priorSeconds = Number(manifest.meta.wallSeconds ?? 0);
      resumed = true;
    }
    // A kill between the log append and the checkpoint rename leaves lines past the
    // checkpoint (past step 0 when the first checkpoint never landed); those steps run
    // again, so their lines go.
    await trimJsonLines<{ step: number }>(logFile, (r) => r.step <= start);

    let data = await loadPairData(settings.pairs, policy);
    const roundDir = (r: number) => `${out}.rounds/r${r}`;
    const useRound = async (r: number, build: boolean) => {
      if (r === 0) return;
      const file = join(roundDir(r), "pairs.jsonl");
      if (build && !(await pathExists(file))) {
        const drawn = await roundPairOptions(settings.pairs, {
          iterative: settings.iterative!,
          seed: settings.seed,
          round: r,
        });
        await buildPairs({ ...drawn, out: roundDir(r), generator: policy, quiet: options.quiet });
      }
      data = await loadPairData(file, policy);
    };
    if (resampleEvery > 0 && start > 0) await useRound(Math.floor(start / resampleEvery), false);

    const t0 = performance.now();
    const seconds = () => priorSeconds + (performance.now() - t0) / 1000;
    const progress = new Progress(settings.steps, {
      label: `post-train ${method}`,
      unit: "step",
      initial: start,
      quiet: options.quiet,
    });
    const recent: DpoMetrics[] = [];
    let pending: Array<Record<string, number>> = [];
    const save = async (step: number) => {
      await appendJsonLines(logFile, pending);
      pending = [];
      await saveGenerator(out, policy, {
        step,
        optimizer: adam,
        meta: { settings: stored, wallSeconds: seconds(), pairs: data.pairs.length },
      });
    };
    const stepOptions: DpoStepOptions = {
      loss,
      weighting: settings.weighting,
      gamma: settings.gamma,
      grid: data.grid,
      ptxWeight: settings.ptxWeight,
      guidanceHoldWeight: settings.guidanceHoldWeight,
      guidanceHoldPatches: settings.guidanceHoldPatches,
      guidanceHoldFrom: settings.guidanceHoldFrom,
      lossGuidance: settings.lossGuidance,
    };
    let step = start;
    while (step < settings.steps) {
      if (resampleEvery > 0 && step > 0 && step % resampleEvery === 0) {
        await useRound(step / resampleEvery, true);
      }
      adam.setLearningRate(settings.learningRate * Math.min(1, (step + 1) / 10));
      const inputs = dpoStepInputs(policy, data, step, settings);
      let metrics: DpoMetrics;
      try {
        metrics = await dpoStep({ policy, reference, adam }, inputs, {
          ...stepOptions,
          grid: data.grid,
        });
      } finally {
        tf.dispose(Object.values(inputs).filter((v) => v instanceof tf.Tensor));
      }
      if (!Number.isFinite(metrics.loss)) {
        fail(where, "a finite loss", `${metrics.loss} at step ${step + 1}`);
      }
      step++;
      recent.push(metrics);
      if (recent.length > 50) recent.shift();
      pending.push({ step, seconds: Math.round(seconds() * 10) / 10, ...metrics });
      progress.tick(1, {
        loss: metrics.loss,
        acc: metrics["rewards/accuracies"],
        margin: metrics["rewards/margins"],
        ...(loss.lambda > 0 ? { "patch acc": metrics["patch/accuracies"] } : {}),
        ...(loss.anchor !== "none" ? { anchor: metrics["loss/anchor"] } : {}),
        ...(settings.ptxWeight > 0 ? { ptx: metrics["loss/ptx"] } : {}),
        ...(settings.guidanceHoldWeight > 0 ? { hold: metrics["loss/guidance"] } : {}),
      });
      const outOfTime = maxSeconds > 0 && (performance.now() - t0) / 1000 >= maxSeconds;
      if (step % settings.checkpointEvery === 0 || step === settings.steps || outOfTime) {
        await save(step);
      }
      if (outOfTime) break;
    }
    if (step === start && !resumed) await save(step);
    const keys = recent.length ? Object.keys(recent[0]) : [];
    const avg = Object.fromEntries(
      keys.map((k) => [k, recent.reduce((s, m) => s + m[k], 0) / recent.length]),
    );
    return { out, step, resumed, wallSeconds: seconds(), recent: avg };
  } finally {
    adam.dispose();
    disposeGenerator(policy);
    disposeGenerator(reference);
  }
}
