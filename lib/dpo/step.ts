/**
 * One Diffusion-DPO / Gran-DPO update, the unit `lib/dpo/post_train.ts` loops
 * over: the preference pairs held in memory, the deterministic draws of step
 * i (pairs, timesteps, shared noise), and the update itself — the frozen
 * reference's per-patch errors without gradient, the policy's under the tape,
 * the loss of `lib/dpo/loss.ts` and one Adam step.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import { fail } from "../core/_errors.ts";
import { paramGrads } from "../tensor/nn.ts";
import type { Adam } from "../tensor/adam.ts";
import { createRng } from "../core/_rng.ts";
import type { Generator } from "../generator/model.ts";
import { makeBatch, normalArray } from "../generator/diffusion.ts";
import { parsePrompt, promptSplits } from "../videos/world.ts";
import {
  cleanEstimates,
  type ErrorWeighting,
  errorWeights,
  estimateErrors,
  patchErrors,
} from "./loss_maps.ts";
import { usedPatchTerms } from "./_used_terms.ts";
import { guidanceHoldLoss, type GuidanceHoldPatches } from "./guidance_hold.ts";
import {
  diffusionDpoLoss,
  type DpoLoss,
  type DpoMetrics,
  granDpoLoss,
  type GranDpoOptions,
  readDpoMetrics,
} from "./loss.ts";
import { type PairSide, type PreferencePair, readClipBytes, readPairs } from "../pairs/file.ts";
import {
  formatGrid,
  numPatches,
  parseGrid,
  type PatchGrid,
  reducePatches,
} from "../videos/patch.ts";
import { quantizePixels } from "../core/_hash.ts";
import type { Video } from "../videos/video.ts";
import { tokenizeBatch } from "../generator/prompt.ts";

/** Preference pairs with their clips in memory as bytes, loaded once. */
export interface PairData {
  pairs: PreferencePair[];
  /** chosen/rejected bytes by pair index. */
  clips: Array<[Uint8Array, Uint8Array]>;
  grid: PatchGrid;
}

/**
 * Preference pairs held in memory as {@linkcode PairData}, for a DPO step on
 * pairs that were never written to a pairs file (a notebook's one pair).
 *
 * @example
 * ```ts
 * import { createVideo } from "@halo/kit";
 * import { pairDataOf } from "@halo/kit/dpo";
 * const clip = (v: number) => createVideo({ frames: new Float32Array(4 * 8 * 8 * 3).fill(v), numFrames: 4, height: 8, width: 8 });
 * const data = pairDataOf([{ prompt: "one red circle moving up slowly on a black background", chosen: clip(0.5), rejected: clip(0.2), patchGaps: [0.5, -0.3] }],
 *   { rows: 1, cols: 2, framesPerPatch: 4 });
 * console.log(data.pairs[0].patch_gaps, data.clips[0][0][0]); // [ 0.5, -0.3 ] 128
 * ```
 */
export function pairDataOf(
  items: ReadonlyArray<{ prompt: string; chosen: Video; rejected: Video; patchGaps: number[] }>,
  grid: PatchGrid,
): PairData {
  const where = "pairDataOf";
  if (!Array.isArray(items) || items.length === 0) fail(where, "at least one pair", items);
  const P = numPatches(grid, items[0].chosen.numFrames);
  const pairs = items.map((it, i): PreferencePair => {
    const { chosen: a, rejected: b } = it;
    if (a.numFrames !== b.numFrames || a.height !== b.height || a.width !== b.width) {
      fail(`${where} items[${i}].rejected`, "a clip of the chosen clip's shape", b);
    }
    if (!Array.isArray(it.patchGaps) || it.patchGaps.length !== P) {
      fail(`${where} items[${i}].patchGaps`, `${P} gaps (one per patch of the grid)`, it.patchGaps);
    }
    const side = (): PairSide => ({
      clip: "",
      sha256: "",
      seed: 0,
      video_score: 0,
      patch_scores: [],
    });
    return {
      id: `memory-${i}`,
      prompt: it.prompt,
      grid: formatGrid(grid),
      shape: [a.numFrames, a.height, a.width, 3],
      chosen: side(),
      rejected: side(),
      video_gap: 0,
      patch_gaps: [...it.patchGaps],
    };
  });
  const clips = items.map((it) =>
    [quantizePixels(it.chosen.frames), quantizePixels(it.rejected.frames)] as [
      Uint8Array,
      Uint8Array,
    ]
  );
  return { pairs, clips, grid };
}

/** Reads and validates a pairs file for `gen` (clip shape, one grid) and loads every clip. */
export async function loadPairData(file: string, gen: Generator): Promise<PairData> {
  const c = gen.config;
  const shape = [c.frames, c.size, c.size, 3];
  const pairs = await readPairs(file, { shape });
  if (pairs.length === 0) fail(file, "at least one preference pair", "an empty file");
  const gridSpec = pairs[0].grid;
  const bad = pairs.find((q) => q.grid !== gridSpec);
  if (bad) fail(file, `every pair on grid ${gridSpec}`, `pair ${bad.id} on ${bad.grid}`);
  const folder = dirname(file);
  const clips: Array<[Uint8Array, Uint8Array]> = [];
  for (const q of pairs) {
    clips.push([
      await readClipBytes(join(folder, q.chosen.clip), shape, q.chosen.sha256),
      await readClipBytes(join(folder, q.rejected.clip), shape, q.rejected.sha256),
    ]);
  }
  return { pairs, clips, grid: parseGrid(gridSpec) };
}

/**
 * The pair indices of step `step` (epoch-wise shuffles seeded by (seed, epoch)).
 *
 * @example
 * ```ts
 * import { stepPairIndices } from "@halo/kit/dpo";
 * const epoch = [0, 1].flatMap((step) => stepPairIndices(step, { pairs: 4, batchSize: 2, seed: 0 }));
 * console.log(epoch.toSorted()); // [0, 1, 2, 3]: every pair once per epoch
 * ```
 */
export function stepPairIndices(
  step: number,
  options: { pairs: number; batchSize: number; seed: number },
): number[] {
  const { pairs: n, batchSize: b, seed } = options;
  const out: number[] = [];
  const perm = new Map<number, number[]>();
  for (let k = step * b; k < (step + 1) * b; k++) {
    const epoch = Math.floor(k / n);
    let order = perm.get(epoch);
    if (!order) {
      order = Array.from({ length: n }, (_, i) => i);
      const rng = createRng((seed * 0x9e3779b1 + epoch * 0x7f4a7c15) >>> 0);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      perm.set(epoch, order);
    }
    out.push(order[k % n]);
  }
  return out;
}

/** Inputs of one DPO step, built from (seed, step). */
export interface DpoStepInputs {
  /** `[2B, T, H, W, 3]` in model space: the B chosen clips, then the B rejected ones. */
  x0: tf.Tensor;
  /** `[2B, L]` prompt tokens (each pair's prompt twice). */
  tokens: tf.Tensor2D;
  /** 2B timesteps (each pair's t twice). */
  t: number[];
  /** `[2B, T, H, W, 3]` noise (each pair's ε twice). */
  noise: tf.Tensor;
  /** `[B, P]` PRM patch gaps (chosen − rejected). */
  patchGaps: tf.Tensor2D;
  /** `[B, T, H, W, 3]` ShapesWorld renders of the step's prompts, for the `ptxWeight` term. */
  ptxX0?: tf.Tensor;
  /** `[B, L]` their prompt tokens. */
  ptxTokens?: tf.Tensor2D;
  /** B timesteps of the renders. */
  ptxT?: number[];
  /** `[B, T, H, W, 3]` noise of the renders. */
  ptxNoise?: tf.Tensor;
}

/**
 * Whose prompts the pretraining-data term renders: `"pairs"` the step's pairs' prompts, or
 * `"pretraining"` as many prompts drawn afresh from the generator's pretraining prompts (the train
 * split), as InstructGPT's PPO-ptx mixes in the pretraining distribution rather than the RL prompts.
 */
export type PtxPrompts = "pairs" | "pretraining";

/** The values of {@linkcode PtxPrompts}, for validation and command lines. */
export const PTX_PROMPTS: readonly PtxPrompts[] = Object.freeze(["pairs", "pretraining"]);

/**
 * Renders for the pretraining-data term — of `prompts`, or with `ptxPrompts: "pretraining"` of as
 * many pretraining prompts — seeded by (seed, step) alone (a stream apart from the pairs', so a run
 * without the term draws what it always drew). ShapesWorld prompts only.
 */
function ptxInputs(
  gen: Generator,
  prompts: readonly string[],
  step: number,
  options: { seed: number; tMin: number; tMax: number; ptxPrompts?: PtxPrompts },
): Required<Pick<DpoStepInputs, "ptxX0" | "ptxTokens" | "ptxT" | "ptxNoise">> {
  const rng = createRng((options.seed * 0x9e3779b1 + step * 0x85ebca6b + 0x7f4a7c15) >>> 0);
  // the generator's pretraining prompts (`pretrainPrompts`): the train split of seed 0
  const pool = (options.ptxPrompts ?? "pairs") === "pretraining"
    ? promptSplits({ seed: 0 }).train
    : null;
  const parsed = pool
    ? prompts.map(() => pool[rng.int(pool.length)])
    : prompts.map((p) => parsePrompt(p));
  const seeds = parsed.map(() => rng.int(0x7fffffff));
  const t = parsed.map(() => options.tMin + rng.int(options.tMax - options.tMin));
  const batch = makeBatch(gen.config, parsed, { seeds });
  return {
    ptxX0: batch.x0,
    ptxTokens: batch.tokens,
    ptxT: t,
    ptxNoise: tf.tensor(normalArray(rng, batch.x0.size), batch.x0.shape),
  };
}

/** Builds the tensors of one step; the caller disposes them (`tf.dispose(Object.values(x))`). */
export function dpoStepInputs(
  gen: Generator,
  data: PairData,
  step: number,
  options: {
    batchSize: number;
    seed: number;
    tMin: number;
    tMax: number;
    ptxWeight?: number;
    ptxPrompts?: PtxPrompts;
  },
): DpoStepInputs {
  const c = gen.config;
  const idx = stepPairIndices(step, {
    pairs: data.pairs.length,
    batchSize: options.batchSize,
    seed: options.seed,
  });
  const b = idx.length;
  const rng = createRng((options.seed * 0x9e3779b1 + step * 0x85ebca6b + 0x1234567) >>> 0);
  const n = c.frames * c.size * c.size * 3;
  const x = new Float32Array(2 * b * n);
  idx.forEach((q, i) => {
    const [chosen, rejected] = data.clips[q];
    for (let j = 0; j < n; j++) {
      x[i * n + j] = chosen[j] / 127.5 - 1;
      x[(b + i) * n + j] = rejected[j] / 127.5 - 1;
    }
  });
  const t = idx.map(() => options.tMin + rng.int(options.tMax - options.tMin));
  const eps = normalArray(rng, b * n);
  const noise = new Float32Array(2 * b * n);
  noise.set(eps);
  noise.set(eps, b * n);
  const prompts = idx.map((q) => data.pairs[q].prompt);
  const P = data.pairs[0].patch_gaps.length;
  const gaps = new Float32Array(b * P);
  idx.forEach((q, i) => gaps.set(data.pairs[q].patch_gaps, i * P));
  const shape = [2 * b, c.frames, c.size, c.size, 3];
  return {
    x0: tf.tensor(x, shape),
    tokens: tokenizeBatch([...prompts, ...prompts]),
    t: [...t, ...t],
    noise: tf.tensor(noise, shape),
    patchGaps: tf.tensor2d(gaps, [b, P]),
    ...((options.ptxWeight ?? 0) > 0 ? ptxInputs(gen, prompts, step, options) : {}),
  };
}

/** Options of {@linkcode dpoStep}. */
export interface DpoStepOptions {
  /** Loss options (from {@linkcode methodLossOptions}). */
  loss: Required<GranDpoOptions>;
  /** Error weighting. */
  weighting: ErrorWeighting;
  /** γ of "min-snr". */
  gamma: number;
  /** Patch grid of the pairs' scores. */
  grid: PatchGrid;
  /**
   * Weight of the pretraining-data term: `ptxWeight ·` the policy's mean denoising error on the
   * inputs' renders (`ptxX0`), logged unweighted as `loss/ptx`. Default 0 (off).
   */
  ptxWeight?: number;
  /**
   * Weight of the guidance hold (`lib/dpo/guidance_hold.ts`): `guidanceHoldWeight ·` the hinge on
   * the policy's conditional estimate moving toward the reference's unconditional one on the
   * chosen clips, logged unweighted as `loss/guidance`. Costs one more reference pass (the null
   * prompt on the chosen clips). Default 0 (off).
   */
  guidanceHoldWeight?: number;
  /** Which patches the hold holds (`lib/dpo/guidance_hold.ts`). Default "all". */
  guidanceHoldPatches?: GuidanceHoldPatches;
  /**
   * Hold only the clips noised at t ≥ `guidanceHoldFrom`, each weighted alike (w = 1) instead of by
   * the error weighting, which puts nearly all of the hold at low noise. 0 (default): every clip,
   * with the error weighting.
   */
  guidanceHoldFrom?: number;
  /**
   * Classifier-free guidance scale w of the clean estimates the preference terms and the anchor
   * compare (not the ptx term or the hold), for the policy and the reference alike: u + w(c − u)
   * from the conditional estimate c and the unconditional one u (the null prompt, the same
   * network), as the sampler guides. 1 (default) compares the conditional estimates, as
   * Diffusion-DPO does; w > 1 costs one more pass of each model (the null prompt on every clip) and
   * trains the null prompt's branch too, with the opposite sign.
   */
  lossGuidance?: number;
}

/** u + w(c − u): classifier-free guidance of clean estimates. */
function guide(conditional: tf.Tensor, unconditional: tf.Tensor, w: number): tf.Tensor {
  return tf.tidy(() => unconditional.add(conditional.sub(unconditional).mul(w)));
}

/**
 * One DPO update: reference errors (no gradient), policy errors and the loss
 * under the gradient tape, one Adam step. Resolves to the step's metrics
 * (read asynchronously); every tensor it makes is freed.
 */
export async function dpoStep(
  models: { policy: Generator; reference: Generator; adam: Adam },
  inputs: DpoStepInputs,
  options: DpoStepOptions,
): Promise<DpoMetrics> {
  const { policy, reference, adam } = models;
  const b = inputs.patchGaps.shape[0];
  const errorOptions = {
    t: inputs.t,
    noise: inputs.noise,
    grid: options.grid,
    weighting: options.weighting,
    gamma: options.gamma,
  };
  const batch = { x0: inputs.x0, tokens: inputs.tokens };
  const hold = options.guidanceHoldWeight ?? 0;
  const holdFrom = options.guidanceHoldFrom ?? 0;
  const w = options.lossGuidance ?? 1;
  if (!(w >= 1)) fail("dpoStep lossGuidance", "a guidance scale ≥ 1", w);
  const c = policy.config;
  const patchesOf = (x0Hat: tf.Tensor) =>
    reducePatches(estimateErrors(c, { x0Hat, x0: inputs.x0 }, errorOptions), options.grid)
      .reshape([2 * b, -1]) as tf.Tensor2D;
  // The null prompt's estimates of the first n clips (the hold needs the chosen ones, guidance all).
  const unconditional = (gen: Generator, n: number) =>
    cleanEstimates(
      gen,
      { x0: inputs.x0.slice(0, n), tokens: inputs.tokens.slice(0, n) },
      {
        t: inputs.t.slice(0, n),
        noise: inputs.noise.slice(0, n),
        keep: tf.zeros([n]) as tf.Tensor1D,
      },
    );
  // The reference's clean estimates (kept for the guidance hold) and its per-patch errors.
  const refClean = cleanEstimates(reference, batch, errorOptions);
  const refUnconditional = hold > 0 || w !== 1
    ? tf.tidy(() => unconditional(reference, w !== 1 ? 2 * b : b))
    : undefined;
  const ref = tf.tidy(() => patchesOf(w === 1 ? refClean : guide(refClean, refUnconditional!, w)));
  let result: DpoLoss | undefined;
  try {
    tf.tidy(() => {
      const [referenceChosen, referenceRejected] = tf.split(ref, [b, b]) as tf.Tensor2D[];
      const { grads } = paramGrads(policy.params, () => {
        const clean = cleanEstimates(policy, batch, errorOptions);
        const compared = w === 1 ? clean : guide(clean, unconditional(policy, 2 * b), w);
        const [policyChosen, policyRejected] = tf.split(patchesOf(compared), [
          b,
          b,
        ]) as tf.Tensor2D[];
        const maps = { policyChosen, policyRejected, referenceChosen, referenceRejected };
        const out = options.loss.lambda === 0 && options.loss.video
          ? diffusionDpoLoss(maps, options.loss)
          : granDpoLoss({ ...maps, patchGaps: inputs.patchGaps }, options.loss);
        const ptxWeight = options.ptxWeight ?? 0;
        if (ptxWeight > 0) {
          if (!inputs.ptxX0 || !inputs.ptxTokens || !inputs.ptxT || !inputs.ptxNoise) {
            fail("dpoStep", "inputs with renders (dpoStepInputs with ptxWeight > 0)", "none");
          }
          const ptx = patchErrors(policy, { x0: inputs.ptxX0, tokens: inputs.ptxTokens }, {
            ...errorOptions,
            t: inputs.ptxT,
            noise: inputs.ptxNoise,
          }).mean() as tf.Scalar;
          out.loss = out.loss.add(ptx.mul(ptxWeight)) as tf.Scalar;
          out.metrics.loss = out.loss;
          out.metrics["loss/ptx"] = ptx;
        }
        if (hold > 0 && refUnconditional) {
          const term = guidanceHoldLoss({
            policy: clean.slice(0, b),
            reference: refClean.slice(0, b),
            unconditional: refUnconditional.slice(0, b),
          }, {
            weights: holdFrom > 0
              ? Float32Array.from(inputs.t.slice(0, b), (t) => t >= holdFrom ? 1 : 0)
              : errorWeights(c, inputs.t.slice(0, b), errorOptions),
            grid: options.grid,
            // "undisputed": the patches whose terms the loss does not use
            held: options.guidanceHoldPatches === "undisputed"
              ? tf.sub(1, usedPatchTerms(inputs.patchGaps, options.loss.tau)) as tf.Tensor2D
              : undefined,
          });
          out.loss = out.loss.add(term.mul(hold)) as tf.Scalar;
          out.metrics.loss = out.loss;
          out.metrics["loss/guidance"] = term;
        }
        result = { loss: tf.keep(out.loss), metrics: {} };
        for (const [k, v] of Object.entries(out.metrics)) result.metrics[k] = tf.keep(v);
        return out.loss;
      });
      // Weights the loss does not reach (the null prompt: DPO trains the conditional model, unless
      // lossGuidance > 1) get zero gradients, so Adam leaves them as they are.
      for (const [name, v] of policy.params) {
        if (v.trainable && !grads[name]) grads[name] = tf.zerosLike(v);
      }
      adam.apply(grads);
    });
  } finally {
    tf.dispose([refClean, ref, ...(refUnconditional ? [refUnconditional] : [])]);
  }
  return await readDpoMetrics(result!);
}
