/**
 * Training the reward models: the batches ({@linkcode makeRewardBatch}) and the training loop
 * ({@linkcode trainRewardStage}). The loss of each stage, whose form follows, is
 * {@linkcode rewardLoss} in `loss.ts` (re-exported here). The experiment around them
 * (`deno task train-rm`) is `experiment.ts`; saving and loading a model is `io.ts`.
 *
 * **Stage 1 — VRM.** The video head learns the distilled video-level labels:
 * `L₁ = mean_{b,a} (v̂_{b,a} − y_{b,a})²` on the 1–4 scale.
 *
 * **Stage 2 — PRM by continual training.** The same network, starting from the
 * stage-1 weights (or, for the ablation, from scratch), minimises
 *
 * ```
 * L₂ = mean_{b,k,a} (p̂_{b,k,a} − y_{b,k,a})²                 patch loss, distilled patch labels
 *    + α · mean_{b,a} (v̂_{b,a} − y_{b,a})²                     video loss kept in the mix (α = 0.5)
 *    + γ · mean_{b,a} (mean_k p̂_{b,k,a} − sg(v̂_{b,a}))²        consistency (γ = 0.2)
 * ```
 *
 * with `p̂` the patch head's scores of patch `k`, `v̂` the video head's, `y`
 * labels and `sg` stop-gradient. The consistency term keeps the patch scores
 * on the video scale: pooled over a video they must land on that video's own
 * score (the video head is anchored by its labels, so only the patch head is
 * pulled). This form is our reconstruction (DESIGN §2): the paper states only
 * that the patch model is continually trained from the video model with the
 * video loss kept and the two score distributions aligned. The mean pooling
 * matches how the reference judge aggregates patches into a video score.
 *
 * Both stages can add a pairwise term on the video head, `+ pairWeight · L_BT` over the
 * same-prompt pairs of each batch (`pairLoss: "bradley-terry"`, `pair_loss.ts`), and the swap
 * contrast `+ swapWeight · L_swap` (a clip's text alignment under its own prompt above the same clip
 * under a swapped prompt, `loss.ts`); stage 2 can add the same pairwise term on the patch head,
 * patch by patch (`+ patchPairWeight · L_BT,patch`, for clips of one prompt drawn from shared
 * noise); all off by default.
 *
 * Both stages: Adam with warm-up and cosine decay, prompt dropout (so the null
 * prompt scores non-ShapesWorld prompts; a training prompt outside the ShapesWorld
 * grammar, such as a real video's, trains with the null prompt), a progress bar, atomic checkpoints
 * with optimiser state, and exact resumption after a kill (the batch of every
 * step is a function of the seed and the step).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { appendJsonLines, pathExists, trimJsonLines } from "../core/_atomic.ts";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { checkSavedParams, paramGrads } from "../tensor/nn.ts";
import { type Adam, createAdam } from "../tensor/adam.ts";
import { Progress } from "../core/_progress.ts";
import { createRng } from "../core/_rng.ts";
import { spearman } from "../core/agreement.ts";
import { ASPECTS } from "../videos/scores.ts";
import { numPatches } from "../videos/patch.ts";
import { PROMPT_LENGTH, tokenizePrompt } from "../generator/prompt.ts";
import {
  createRewardModel,
  disposeRewardModel,
  resolveRewardConfig,
  type RewardConfig,
  rewardGrid,
  type RewardModel,
} from "./model.ts";
import { flattenPatchScores, scoreRewards } from "./score.ts";
import { loadRewardModel, saveRewardModel } from "./io.ts";
import type { RewardExample } from "./data.ts";
import type { RewardTrainedOn } from "./trained_on.ts";
import {
  resolveRewardLoss,
  type RewardBatch,
  rewardLoss,
  type RewardLossWeights,
  type RewardStage,
} from "./loss.ts";
export {
  resolveRewardLoss,
  REWARD_LOSS_DEFAULTS,
  type RewardBatch,
  rewardLoss,
  rewardLossOf,
  type RewardLossWeights,
  type RewardPairLoss,
  type RewardStage,
  type RewardSwapLabels,
} from "./loss.ts";
import { learningRateAt } from "../generator/pretrain.ts";

/**
 * Copies every weight of `from` into `to` (same config) on the device: nothing
 * is read back, so it also runs where a backend cannot read synchronously.
 */
function copyWeights(from: RewardModel, to: RewardModel): void {
  const entries = [...from.params].map(([name, v]) => ({
    name,
    shape: v.shape,
    values: { length: v.size },
  }));
  checkSavedParams(to.params, entries, "copyWeights");
  for (const [name, v] of to.params) v.assign(from.params.get(name)!);
}

/** The suffix `data.ts` gives a prompt-swap negative's source. */
const SWAP_SOURCE = /:swap=[a-z]+$/;

/** Whether `own` is the clip that `swapped` (a prompt-swap negative) repeats, under a prompt it shows. */
function isSwapOf(swapped: RewardExample, own: RewardExample): boolean {
  return swapped.origin === "swap" && own.origin !== "swap" && own.origin !== "mismatch" &&
    swapped.video.source.replace(SWAP_SOURCE, "") === own.video.source;
}

/** Options for {@linkcode makeRewardBatch}. */
export interface RewardBatchOptions {
  /** Per example, 1 to score it with its prompt or 0 for the null prompt (prompt dropout). Default: all 1. */
  keep?: readonly number[];
  /**
   * Keep a swap pair only when its own clip's labelled text-alignment video score is at least
   * this (`RewardLossWeights.swapGate`). Default 1 (every pair).
   */
  swapGate?: number;
}

/**
 * Builds the tensors of a batch (the caller disposes them): the clips, their prompts' tokens and
 * labels, the same-prompt groups of the pairwise term and the swap pairs of the contrast.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { judgeVideo, parsePrompt, renderClip } from "@halo/kit";
 * import { createRewardModel, disposeRewardModel, makeRewardBatch, rewardGrid } from "@halo/kit/reward";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const prompt = "one red circle moving right slowly on a black background";
 * const { video } = renderClip(parsePrompt(prompt), { seed: 1 });
 * const labels = judgeVideo(video, prompt, rewardGrid(model.config));
 * const example = { video, prompt, origin: "clean" as const, defects: [], labels };
 * const batch = makeRewardBatch(model, [example, example], { keep: [1, 0] });
 * console.log(batch.videoLabels.shape, batch.groups); // [2, 3] [0, -1]
 * tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
 * disposeRewardModel(model);
 * ```
 */
export function makeRewardBatch(
  model: RewardModel,
  examples: readonly RewardExample[],
  options: RewardBatchOptions = {},
): RewardBatch {
  if (Array.isArray(options)) {
    fail("makeRewardBatch", "options { keep, swapGate } (keep moved into them)", "an array");
  }
  const { keep } = options;
  const gate = checkNumber("makeRewardBatch", "swapGate", options.swapGate ?? 1, 1, 4);
  const c = model.config;
  const b = examples.length;
  const per = c.frames * c.size * c.size * 3;
  const n = numPatches(rewardGrid(c), c.frames);
  const na = ASPECTS.length;
  const x = new Float32Array(b * per);
  const ids = new Int32Array(b * PROMPT_LENGTH);
  const vl = new Float32Array(b * na);
  const pl = new Float32Array(b * n * na);
  const nullPrompt = new Array<boolean>(b).fill(false);
  examples.forEach((e, i) => {
    const v = e.video;
    if (v.numFrames !== c.frames || v.height !== c.size || v.width !== c.size) {
      fail(
        `training example ${JSON.stringify(v.source)}`,
        `${c.frames} frames of ${c.size}×${c.size}`,
        `${v.numFrames} frames of ${v.height}×${v.width}`,
      );
    }
    if (e.labels.patches.length !== n) {
      fail(`labels of ${JSON.stringify(v.source)}`, `${n} patches`, e.labels.patches.length);
    }
    x.set(v.frames, i * per);
    const tokens = promptTokens(e.prompt);
    if (tokens) ids.set(tokens, i * PROMPT_LENGTH);
    else nullPrompt[i] = true;
    ASPECTS.forEach((a, k) => (vl[i * na + k] = e.labels.video[a]));
    e.labels.patches.forEach((p, j) =>
      ASPECTS.forEach((a, k) => (pl[(i * n + j) * na + k] = p.scores[a]))
    );
  });
  const keepOf = (i: number) => nullPrompt[i] ? 0 : keep ? keep[i] : 1;
  const groupOf = new Map<string, number>();
  const groups = examples.map((e, i) => {
    if (keepOf(i) === 0) return -1;
    if (!groupOf.has(e.prompt)) groupOf.set(e.prompt, groupOf.size);
    return groupOf.get(e.prompt)!;
  });
  const swapPairs: Array<[number, number]> = [];
  examples.forEach((e, i) =>
    examples.forEach((o, j) => {
      if (
        keepOf(i) && keepOf(j) && isSwapOf(e, o) && o.labels.video.text_alignment >= gate
      ) swapPairs.push([j, i]);
    })
  );
  return {
    x: tf.tensor(x, [b, c.frames, c.size, c.size, 3]),
    tokens: tf.tensor2d(ids, [b, PROMPT_LENGTH], "int32"),
    videoLabels: tf.tensor2d(vl, [b, na]),
    patchLabels: tf.tensor3d(pl, [b, n, na]),
    keep: tf.tensor1d(Array.from({ length: b }, (_, i) => keepOf(i)), "float32"),
    groups,
    swapPairs,
    swapped: examples.map((e) => e.origin === "swap"),
  };
}

/** The prompt's token ids, or null for a prompt outside the ShapesWorld grammar (a real video's). */
function promptTokens(prompt: string): Int32Array | null {
  try {
    return tokenizePrompt(prompt);
  } catch {
    return null;
  }
}

/** One point of a training curve. */
export interface CurvePoint {
  /** Steps done in the stage. */
  step: number;
  /** Mean training loss since the previous point. */
  loss: number;
  /** Held-out patch agreement (Spearman ρ vs the reference, mean over aspects), when evaluated. */
  patchRho?: number;
  /** Held-out video agreement (Spearman ρ, mean over aspects), when evaluated. */
  videoRho?: number;
  /** Wall seconds into the stage (resumed runs included). */
  seconds: number;
}

/** The defaults of {@linkcode RewardStageOptions} shared by both stages (`deno task train-rm` shows the same). */
export const REWARD_STAGE_DEFAULTS: Readonly<{
  batchSize: number;
  learningRate: number;
  checkpointEvery: number;
  evalEvery: number;
}> = Object.freeze({ batchSize: 16, learningRate: 2e-3, checkpointEvery: 100, evalEvery: 50 });

/** Options for {@linkcode trainRewardStage}. */
export interface RewardStageOptions extends RewardLossWeights {
  /** Which loss. */
  stage: RewardStage;
  /** Total steps of the stage. Default 600. */
  steps?: number;
  /** Clips per step. Default 16. */
  batchSize?: number;
  /** Peak learning rate. Default 0.002. */
  learningRate?: number;
  /** Seed of the initial weights (fresh starts) and of batch order. Default 0. */
  seed?: number;
  /** Share of batch items whose prompt is swapped for the null prompt. Default 0.1. */
  promptDropout?: number;
  /** Model config for a fresh start. Default {@linkcode DEFAULT_REWARD_CONFIG}. */
  config?: Partial<RewardConfig>;
  /** Start from these weights (continual training) instead of a fresh model. */
  from?: RewardModel;
  /** Checkpoint directory: resumed from when it exists. Default: none (no checkpoints). */
  out?: string;
  /** Steps between checkpoints. Default 100. */
  checkpointEvery?: number;
  /** Held-out examples (with reference labels) for the agreement curve. Default none. */
  heldOut?: readonly RewardExample[];
  /** Steps between curve evaluations (0 = only at the end). Default 50. */
  evalEvery?: number;
  /** Stop (after a checkpoint) once this many steps are done, as if killed. Default: `steps`. */
  stopAt?: number;
  /** Silence the progress bar. Default false. */
  quiet?: boolean;
  /** Label of the progress bar. Default: the stage. */
  label?: string;
  /**
   * What the model is trained on, recorded in its checkpoints (`meta.trainedOn`); a
   * checkpoint recording something else is not resumed from. Default: no record.
   */
  trainedOn?: RewardTrainedOn;
}

/** What {@linkcode trainRewardStage} returns. */
export interface RewardStageResult {
  /** The trained model (the caller disposes it). */
  model: RewardModel;
  /** Steps done. */
  step: number;
  /** Curve points (from the log when resumed). */
  curve: CurvePoint[];
  /** Wall seconds of the stage, over every resumed piece. */
  seconds: number;
  /** Whether it resumed from a checkpoint. */
  resumed: boolean;
}

/**
 * Per training example, the indices of the examples a batch pairs it with: the other examples
 * with the same prompt (`prompt`), and its swap partners (`swap`: the clip it repeats under
 * another prompt, or the repeats of it).
 */
function batchSiblings(
  train: readonly RewardExample[],
  by: { prompt: boolean; swap: boolean },
): number[][] {
  const byPrompt = new Map<string, number[]>();
  const bySource = new Map<string, number>();
  train.forEach((e, i) => {
    const list = byPrompt.get(e.prompt) ?? [];
    list.push(i);
    byPrompt.set(e.prompt, list);
    if (e.origin !== "swap") bySource.set(e.video.source, i);
  });
  const out = train.map((e, i) => by.prompt ? byPrompt.get(e.prompt)!.filter((k) => k !== i) : []);
  if (by.swap) {
    train.forEach((e, i) => {
      const own = bySource.get(e.video.source.replace(SWAP_SOURCE, ""));
      if (own === undefined || !isSwapOf(e, train[own])) return;
      out[i].push(own);
      out[own].push(i);
    });
  }
  return out;
}

/** Agreement of a model's patch and video scores with the held-out reference (mean ρ over aspects). */
async function quickAgreement(
  model: RewardModel,
  heldOut: readonly RewardExample[],
): Promise<{ patchRho: number; videoRho: number }> {
  const scores = await scoreRewards(model, heldOut, { note: () => {} });
  let patchRho = 0, videoRho = 0, pn = 0, vn = 0;
  ASPECTS.forEach((a, k) => {
    const px: number[] = [], py: number[] = [], vx: number[] = [], vy: number[] = [];
    scores.forEach((s, i) => {
      const ref = heldOut[i].reference!;
      vx.push(s.video[a]);
      vy.push(ref.video[a]);
      flattenPatchScores(s.patches).forEach((p, j) => {
        px.push(p[k]);
        py.push(ref.patches[j].scores[a]);
      });
    });
    const pr = spearman(px, py), vr = spearman(vx, vy);
    if (Number.isFinite(pr)) (patchRho += pr), pn++;
    if (Number.isFinite(vr)) (videoRho += vr), vn++;
  });
  return { patchRho: pn ? patchRho / pn : NaN, videoRho: vn ? videoRho / vn : NaN };
}

/**
 * Trains one stage (or resumes it from `out`). Batches are drawn from `train`
 * with a generator seeded by (seed, step), so a resumed run replays exactly
 * the batches an uninterrupted run would have seen.
 *
 * @example
 * ```ts
 * import { disposeRewardModel, judgeVideo, parsePrompt, renderClip } from "@halo/kit";
 * import { trainRewardStage } from "@halo/kit/reward";
 * const prompt = "one red circle moving up slowly on a black background";
 * const video = renderClip(parsePrompt(prompt)).video;
 * const labels = judgeVideo(video, prompt, { rows: 4, cols: 4, framesPerPatch: 4 });
 * const train = [{ video, prompt, origin: "clean" as const, defects: [], labels }];
 * const { model, step } = await trainRewardStage(train, { stage: "video", steps: 2, batchSize: 1, quiet: true, config: { dim: 16, depth: 1, heads: 2 } });
 * console.log(step); // 2
 * disposeRewardModel(model);
 * ```
 */
export async function trainRewardStage(
  train: readonly RewardExample[],
  options: RewardStageOptions,
): Promise<RewardStageResult> {
  const where = "trainRewardStage";
  if (!Array.isArray(train) || train.length === 0) {
    fail(where, "a non-empty array of training examples", train);
  }
  const stage = options.stage;
  if (stage !== "video" && stage !== "patch") fail(where, 'stage "video" or "patch"', stage);
  const steps = checkInt(where, "steps", options.steps ?? 600, 0);
  const batchSize = checkInt(
    where,
    "batchSize",
    options.batchSize ?? REWARD_STAGE_DEFAULTS.batchSize,
    1,
  );
  const peak = checkNumber(
    where,
    "learningRate",
    options.learningRate ?? REWARD_STAGE_DEFAULTS.learningRate,
    0,
    1,
  );
  const seed = checkInt(where, "seed", options.seed ?? 0, 0, 0xffffffff);
  const dropout = checkNumber(where, "promptDropout", options.promptDropout ?? 0.1, 0, 1);
  const every = checkInt(
    where,
    "checkpointEvery",
    options.checkpointEvery ?? REWARD_STAGE_DEFAULTS.checkpointEvery,
    1,
  );
  const evalEvery = checkInt(
    where,
    "evalEvery",
    options.evalEvery ?? REWARD_STAGE_DEFAULTS.evalEvery,
    0,
  );
  const stopAt = Math.min(steps, checkInt(where, "stopAt", options.stopAt ?? steps, 0));
  const loss = resolveRewardLoss(options, where);
  const pairs = {
    prompt: loss.pairLoss !== "none" || (stage === "patch" && loss.patchPairWeight > 0),
    swap: loss.swapWeight > 0,
  };
  const siblings = pairs.prompt || pairs.swap ? batchSiblings(train, pairs) : null;
  if (pairs.swap && !train.some((e) => e.origin === "swap")) {
    fail(
      where,
      "prompt-swap negatives in the training set for swapWeight > 0 (swapRate > 0)",
      "none",
    );
  }
  const out = options.out;
  const heldOut = options.heldOut ?? [];
  if (heldOut.some((e) => !e.reference)) {
    fail(where, "held-out examples with reference labels", "an example without");
  }

  let model: RewardModel;
  let adam: Adam;
  let start = 0;
  let prior = 0;
  let resumed = false;
  let curve: CurvePoint[] = [];
  // The running mean of the loss since the last curve point (kept in checkpoints, so a
  // resumed run reports the same curve as an uninterrupted one).
  let lossSum = 0, lossN = 0;
  const hasCheckpoint = out ? await pathExists(join(out, "config.json")) : false;
  if (out && hasCheckpoint) {
    const loaded = await loadRewardModel(out, {
      optimizer: (m) => createAdam(m.params, { learningRate: peak }),
    });
    model = loaded.model;
    adam = loaded.optimizer!;
    const meta = loaded.manifest.meta;
    const recorded = JSON.stringify(meta.trainedOn ?? null);
    const wanted = JSON.stringify(options.trainedOn ?? null);
    // a checkpoint from before the record existed was trained on ShapesWorld
    const sameData = meta.trainedOn === undefined
      ? options.trainedOn?.kind !== "labels"
      : recorded === wanted;
    if (!sameData) {
      adam.dispose();
      disposeRewardModel(model);
      fail(
        join(out, "config.json"),
        `a checkpoint trained on ${wanted} (delete it to start over)`,
        `one trained on ${recorded}`,
      );
    }
    if (meta.stage !== stage || meta.seed !== seed || meta.steps !== steps) {
      adam.dispose();
      disposeRewardModel(model);
      fail(
        join(out, "config.json"),
        `a "${stage}" stage run with seed ${seed} and ${steps} steps (delete it to start over)`,
        `stage ${JSON.stringify(meta.stage)}, seed ${meta.seed}, ${meta.steps} steps`,
      );
    }
    start = loaded.step;
    prior = Number(meta.wallSeconds ?? 0);
    lossSum = Number(meta.lossSum ?? 0);
    lossN = Number(meta.lossN ?? 0);
    resumed = true;
  } else {
    const config = options.from ? options.from.config : resolveRewardConfig(options.config ?? {});
    model = createRewardModel(config, { seed });
    if (options.from) copyWeights(options.from, model);
    adam = createAdam(model.params, { learningRate: peak });
  }
  // Curve points past the checkpoint (past step 0 when the first one never landed) are
  // from steps that run again.
  if (out) curve = await trimJsonLines<CurvePoint>(`${out}.curve.jsonl`, (p) => p.step <= start);

  const t0 = performance.now();
  const seconds = () => prior + (performance.now() - t0) / 1000;
  let pending: CurvePoint[] = [];
  const progress = new Progress(steps, {
    label: options.label ?? `train-rm ${stage}`,
    unit: "step",
    initial: start,
    quiet: options.quiet,
  });
  const record = async (step: number) => {
    const point: CurvePoint = {
      step,
      loss: lossN ? lossSum / lossN : NaN,
      seconds: Math.round(seconds() * 10) / 10,
    };
    if (heldOut.length > 0) Object.assign(point, await quickAgreement(model, heldOut));
    lossSum = lossN = 0;
    pending.push(point);
    curve.push(point);
  };
  const save = async (step: number) => {
    if (!out) return;
    // Curve first, then the checkpoint: a kill in between leaves points that a resume trims.
    await appendJsonLines(`${out}.curve.jsonl`, pending);
    pending = [];
    await saveRewardModel(out, model, {
      step,
      optimizer: adam,
      meta: {
        stage,
        seed,
        steps,
        batchSize,
        learningRate: peak,
        wallSeconds: seconds(),
        lossSum,
        lossN,
        ...(options.trainedOn ? { trainedOn: options.trainedOn } : {}),
      },
    });
  };
  let step = start;
  try {
    if (step === 0 && heldOut.length > 0 && evalEvery > 0) await record(0);
    while (step < stopAt) {
      const rng = createRng(
        (seed * 0x9e3779b1 + step * 0x85ebca6b + (stage === "patch" ? 7 : 0)) >>> 0,
      );
      const ids: number[] = [];
      for (let i = 0; i < batchSize; i++) {
        // with a pairwise term every second clip is a sibling of the previous one (same prompt or swap)
        const others = siblings && i % 2 === 1 ? siblings[ids[i - 1]] : undefined;
        ids.push(others?.length ? others[rng.int(others.length)] : rng.int(train.length));
      }
      const picked = ids.map((k) => train[k]);
      const keep = picked.map(() => (rng.next() < dropout ? 0 : 1));
      adam.setLearningRate(learningRateAt(step, steps, peak));
      const batch = makeRewardBatch(model, picked, { keep, swapGate: loss.swapGate });
      let value: number;
      try {
        const result = paramGrads(
          model.params,
          () => tf.tidy(() => rewardLoss(model, batch, { ...loss, stage }).total),
        );
        adam.apply(result.grads);
        tf.dispose(result.grads);
        value = (await result.value.data())[0];
        result.value.dispose();
      } finally {
        tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
      }
      if (!Number.isFinite(value)) fail(where, "a finite loss", `${value} at step ${step + 1}`);
      step++;
      lossSum += value;
      lossN++;
      progress.tick(1, { loss: value });
      const evalNow = evalEvery > 0 ? step % evalEvery === 0 : false;
      if (evalNow || step === steps) await record(step);
      if (step % every === 0 || step === stopAt) await save(step);
    }
    if (step === start && !resumed) await save(step);
  } catch (error) {
    adam.dispose();
    disposeRewardModel(model);
    throw error;
  }
  adam.dispose();
  return { model, step, curve, seconds: seconds(), resumed };
}
