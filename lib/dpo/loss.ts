/**
 * The preference losses of HALO's post-training: Wallace et al.'s
 * **Diffusion-DPO** on whole clips and our reconstruction of **Gran-DPO**,
 * which adds one DPO term per patch, each with its own direction from the
 * patch reward model (DESIGN §2). Both are pure functions of per-patch error
 * maps `[B, P]` — the policy's and the frozen reference's denoising errors on
 * the chosen (winner) and rejected (loser) clip of each pair, at the same t
 * and ε for both clips of a pair (see `lib/dpo/loss_maps.ts`).
 *
 * **Diffusion-DPO.** With d(x) = e_θ(x) − e_ref(x) the policy's error minus the
 * reference's, averaged over the clip, the implicit reward of a clip is
 * r(x) = −β/2 · d(x) and
 *
 *     L_video = −log σ(r(x_w) − r(x_l)) = −log σ(−β/2 · (d(x_w) − d(x_l))).
 *
 * **Gran-DPO (reconstruction).** With d_k the same difference averaged over
 * patch k only, y_k = sign(s_k(a) − s_k(b)) the PRM's preference between the
 * two clips at patch k, and only patches with |s_k(a) − s_k(b)| ≥ τ used:
 *
 *     L_patch = mean over used (pair, k) of −log σ(−β_p/2 · y_k · (d_k(a) − d_k(b)))
 *     L_GranDPO = L_video + λ · L_patch            (patch-only: λ · L_patch)
 *
 * A patch of the video-level loser can be preferred (y_k = −1): that is the
 * point of the granular term. λ = 0 computes exactly `diffusionDpoLoss`.
 *
 * **The β convention.** Ours is the one of Wallace et al.'s released code:
 * the inside of the log-sigmoid is −β/2 · (Δ_w − Δ_l) with Δ the difference of
 * *mean* squared errors (their β = 5000 for SD 1.5 absorbs the T·ω(λ_t) of the
 * paper's equation and the tiny size of a mean latent-MSE difference). So β is
 * "how many nats of preference one unit of mean-squared-error gap is worth",
 * and its right size depends on the size of the error gaps a model reaches,
 * not on the formula. Our default β = β_p = 5000 is of the same order as
 * theirs for the same reason: the shipped generator's weighted mean error is
 * about 0.02 and a policy that is still close to its reference changes it by
 * 1e-4 to 1e-3, so β/2 · Δ reaches a few nats — the loss saturates — before
 * the policy has drifted far. With β = 500 the policy drifted until its
 * denoising error doubled and the prompt's colour was lost (README, "How the
 * settings were chosen"). The patch terms saturate sooner than the video term
 * (a patch mean moves more than a clip mean), which keeps them from dominating.
 *
 * **Anchoring (opt-in, our reconstruction).** `anchor: "sft"`, `"kl"` or `"dpop"` adds
 * `anchorWeight` times a term on the chosen clip that holds the policy near the
 * reference (`lib/dpo/anchor.ts` has each and why): L = L_DPO + w · L_anchor in
 * every method, reported as `loss/anchor`. The default `"none"` leaves the
 * losses exactly as above.
 *
 * **Loss variants by name** (`lossType`, TRL's `loss_type`). `"sigmoid"` (the default) is
 * every formula above. `"ipo"` replaces each term's −log σ(h) — h the inside of its
 * log-sigmoid, the video term's and each used patch's alike — by Azar et al.'s (2023) IPO loss
 * (h − ½)²: TRL's `(logits − 1/(2β))²` times β², a constant factor Adam does not see. The
 * log-sigmoid keeps pulling a pair apart however far apart it already is, so pairs the policy
 * can separate drive it ever further from the reference; the squared loss stops at a margin of
 * ½ nat and pulls back past it. Our reconstruction (the paper uses the log-sigmoid); measured
 * in the README's G30 settings table, where pairs the policy learns to separate made it drift.
 *
 * **The other patch's side** (`patchOtherWeight` w, opt-in, our reconstruction). Each patch term
 * compares the preferred patch, x_pref (the chosen clip where y_k > 0, the rejected one where
 * y_k < 0), with the other one; its inside is −β_p/2 · (d_k(x_pref) − w · d_k(x_other)). w = 1
 * (the default) is the patch term above; w = 0 compares the preferred patch alone, so the term
 * lowers the policy's error on the patch the PRM prefers and never raises it on the other — it
 * cannot be paid by unlearning what the other patch draws; values between weigh the two.
 * Measured in the README's G30 settings table.
 *
 * **Numerics.** −log σ(x) is computed as softplus(−x) (`logSigmoid`), stable
 * for any |x|; every intermediate tensor is freed by `tf.tidy`.
 *
 * **Diagnostics** carry the names researchers know from TRL's DPO trainer:
 * `rewards/chosen`, `rewards/rejected`, `rewards/margins`, `rewards/accuracies`,
 * the four mean errors (`mse/policy_chosen`, …), and for Gran-DPO the patch
 * term's accuracy, margin, share of patches used and share of used patch
 * directions that disagree with the video direction.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkNumber, fail } from "../core/_errors.ts";
import { logSigmoid } from "../tensor/nn.ts";
import { usedPatchTerms } from "./_used_terms.ts";
import { checkDpoAnchor, DEFAULT_ANCHOR_WEIGHT, type DpoAnchor, dpoAnchorLoss } from "./anchor.ts";

/** The four per-patch error maps a DPO loss compares, each `[B, P]`. */
export interface DpoErrorMaps {
  /** Policy's error on the chosen (preferred, winner) clip. */
  policyChosen: tf.Tensor2D;
  /** Policy's error on the rejected (loser) clip. */
  policyRejected: tf.Tensor2D;
  /** Frozen reference's error on the chosen clip (no gradient). */
  referenceChosen: tf.Tensor2D;
  /** Frozen reference's error on the rejected clip (no gradient). */
  referenceRejected: tf.Tensor2D;
}

/** Gran-DPO's inputs: the error maps and the PRM's per-patch score gaps. */
export interface GranDpoInputs extends DpoErrorMaps {
  /** s_k(chosen) − s_k(rejected) from the patch reward model, `[B, P]`. */
  patchGaps: tf.Tensor2D;
}

/** A DPO loss variant by name (TRL's `loss_type`): the log-sigmoid, or IPO's squared loss. */
export type DpoLossType = "sigmoid" | "ipo";

/** Every loss variant, for validation and command lines. */
export const DPO_LOSS_TYPES: readonly DpoLossType[] = Object.freeze(["sigmoid", "ipo"]);

/** Options of {@linkcode diffusionDpoLoss}. */
export interface DiffusionDpoOptions {
  /** β of the video term. Default {@linkcode DEFAULT_DPO_OPTIONS}.beta. */
  beta?: number;
  /**
   * Each term's loss of its inside h: "sigmoid", −log σ(h) (Diffusion-DPO's), or "ipo", (h − ½)²
   * (module doc). Default {@linkcode DEFAULT_DPO_OPTIONS}.lossType.
   */
  lossType?: DpoLossType;
  /**
   * Anchoring term toward the reference on the chosen clip (`lib/dpo/anchor.ts`): "none", "sft"
   * (the policy's error on the winner) or "kl" (a KL proxy on the winner). Default "none".
   */
  anchor?: DpoAnchor;
  /** Weight of the anchoring term (used when `anchor` is not "none"). Default {@linkcode DEFAULT_DPO_OPTIONS}.anchorWeight. */
  anchorWeight?: number;
}

/** Options of {@linkcode granDpoLoss}. */
export interface GranDpoOptions extends DiffusionDpoOptions {
  /** β_p of the patch terms. Default {@linkcode DEFAULT_DPO_OPTIONS}.betaPatch. */
  betaPatch?: number;
  /** λ, the weight of the patch term. Default {@linkcode DEFAULT_DPO_OPTIONS}.lambda. */
  lambda?: number;
  /** τ: patches whose PRM score gap is under τ are skipped. Default {@linkcode DEFAULT_DPO_OPTIONS}.tau. */
  tau?: number;
  /** Include the video term (false = patch-only Gran-DPO). Default true. */
  video?: boolean;
  /**
   * Weight w of the other (not preferred) patch in each patch term, in [0, 1]: the inside is
   * −β_p/2 · (d_k(preferred) − w · d_k(other)) (module doc). 1 is the paper's term; 0 the
   * preferred patch alone, which never raises the policy's error on the other clip's patch (the
   * README's "The erasing is the loser's side of the patch term"). Default
   * {@linkcode DEFAULT_DPO_OPTIONS}.patchOtherWeight, 1.
   */
  patchOtherWeight?: number;
}

/** Defaults of the DPO losses (see the module doc for what β means here). */
export const DEFAULT_DPO_OPTIONS: Readonly<Required<GranDpoOptions>> = Object.freeze({
  beta: 5000,
  lossType: "sigmoid",
  betaPatch: 5000,
  lambda: 1,
  tau: 0.25,
  video: true,
  patchOtherWeight: 1,
  anchor: "none",
  anchorWeight: DEFAULT_ANCHOR_WEIGHT,
});

/** The scalar diagnostics of one loss evaluation, as tensors (TRL names). */
export type DpoMetricTensors = Record<string, tf.Scalar>;

/** What the losses return: the loss to differentiate and its diagnostics. */
export interface DpoLoss {
  /** The scalar loss. */
  loss: tf.Scalar;
  /** Diagnostics by name; read them with {@linkcode readDpoMetrics}. */
  metrics: DpoMetricTensors;
}

/** Diagnostics as numbers, by TRL-style name. */
export type DpoMetrics = Record<string, number>;

function checkMaps(where: string, maps: Record<string, tf.Tensor>): [number, number] {
  const first = maps.policyChosen;
  if (!(first instanceof tf.Tensor) || first.rank !== 2) {
    fail(where, "policyChosen of shape [B, P]", first?.shape ?? first);
  }
  const [b, p] = first.shape;
  for (const [name, t] of Object.entries(maps)) {
    if (!(t instanceof tf.Tensor)) fail(where, `${name} to be a tensor`, t);
    if (t.rank !== 2 || t.shape[0] !== b || t.shape[1] !== p) {
      fail(where, `${name} of shape [${b}, ${p}] like policyChosen`, `[${t.shape.join(", ")}]`);
    }
  }
  return [b, p];
}

/**
 * Checks the weight of the other patch's side (`where` names the caller in the error): a number
 * in [0, 1]; absent means the default, 1.
 *
 * @example
 * ```ts
 * import { checkDpoPatchOtherWeight } from "@halo/kit/dpo";
 * console.log(checkDpoPatchOtherWeight("mine", 0.5), checkDpoPatchOtherWeight("mine", undefined)); // 0.5 1
 * ```
 */
export function checkDpoPatchOtherWeight(where: string, patchOtherWeight: unknown): number {
  const v = patchOtherWeight ?? DEFAULT_DPO_OPTIONS.patchOtherWeight;
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
    fail(where, "patchOtherWeight a number in [0, 1]", v);
  }
  return v;
}

/**
 * Checks a loss variant (`where` names the caller in the error); absent means the default.
 *
 * @example
 * ```ts
 * import { checkDpoLossType } from "@halo/kit/dpo";
 * console.log(checkDpoLossType("mine", "ipo"), checkDpoLossType("mine", undefined)); // "ipo" "sigmoid"
 * ```
 */
export function checkDpoLossType(where: string, lossType: unknown): DpoLossType {
  const t = lossType ?? DEFAULT_DPO_OPTIONS.lossType;
  if (!DPO_LOSS_TYPES.includes(t as DpoLossType)) {
    fail(where, `lossType among ${DPO_LOSS_TYPES.join(", ")}`, t);
  }
  return t as DpoLossType;
}

/** Each term's loss of its inside h, elementwise: −log σ(h), or (h − ½)² for IPO. */
function termLoss(inside: tf.Tensor, lossType: DpoLossType): tf.Tensor {
  return lossType === "ipo" ? inside.sub(0.5).square() : logSigmoid(inside).neg();
}

/** Per-pair d(chosen) − d(rejected) and the video-level pieces shared by both losses. */
function videoTerms(maps: DpoErrorMaps, beta: number, lossType: DpoLossType) {
  const dChosen = maps.policyChosen.sub(maps.referenceChosen).mean(1);
  const dRejected = maps.policyRejected.sub(maps.referenceRejected).mean(1);
  const chosen = dChosen.mul(-beta / 2);
  const rejected = dRejected.mul(-beta / 2);
  const inside = chosen.sub(rejected);
  const metrics: DpoMetricTensors = {
    "rewards/chosen": chosen.mean(),
    "rewards/rejected": rejected.mean(),
    "rewards/margins": inside.mean(),
    "rewards/accuracies": inside.greater(0).toFloat().mean(),
    "mse/policy_chosen": maps.policyChosen.mean(),
    "mse/policy_rejected": maps.policyRejected.mean(),
    "mse/ref_chosen": maps.referenceChosen.mean(),
    "mse/ref_rejected": maps.referenceRejected.mean(),
  };
  return { loss: termLoss(inside, lossType).mean() as tf.Scalar, metrics };
}

/**
 * Per-patch pieces of Gran-DPO, `[B, P]` each: d_k(chosen) − d_k(rejected), the
 * PRM's direction y_k, which patches are used (|gap| ≥ τ, gap ≠ 0) and the
 * inside of each patch's log-sigmoid, −β_p/2 · y_k · (d_k(chosen) − d_k(rejected)), or with an
 * other-patch weight w < 1 −β_p/2 · (d_k(preferred) − w · d_k(other)).
 */
function patchTerms(inputs: GranDpoInputs, betaPatch: number, tau: number, otherWeight: number) {
  // Per-patch implicit rewards r_k(x) = −β_p/2 · d_k(x) and the PRM's directions.
  const dChosen = inputs.policyChosen.sub(inputs.referenceChosen);
  const dRejected = inputs.policyRejected.sub(inputs.referenceRejected);
  const dk = dChosen.sub(dRejected);
  const gaps = inputs.patchGaps;
  const used = usedPatchTerms(gaps, tau);
  const y = gaps.sign();
  const preferChosen = y.greater(0);
  const compared = otherWeight === 1
    ? dk.mul(y) // the paper's term, exactly
    : tf.where(preferChosen, dChosen, dRejected)
      .sub(tf.where(preferChosen, dRejected, dChosen).mul(otherWeight));
  return { dk, used, y, inside: compared.mul(-betaPatch / 2) };
}

/** `loss` plus w · the anchoring term, and its metric; `loss` itself when the anchor is "none". */
function withAnchor(
  loss: tf.Scalar,
  maps: DpoErrorMaps,
  options: { anchor: DpoAnchor; anchorWeight: number },
): { loss: tf.Scalar; metrics: DpoMetricTensors } {
  if (options.anchor === "none") return { loss, metrics: {} };
  const term = dpoAnchorLoss(maps, options.anchor);
  return {
    loss: loss.add(term.mul(options.anchorWeight)) as tf.Scalar,
    metrics: { "loss/anchor": term },
  };
}

/**
 * Wallace et al.'s Diffusion-DPO loss on the clip-mean errors (module doc).
 * Differentiable with respect to whatever produced the policy maps.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { diffusionDpoLoss, readDpoMetrics } from "@halo/kit";
 * const maps = {
 *   policyChosen: tf.tensor2d([[0.10, 0.12]]), policyRejected: tf.tensor2d([[0.30, 0.28]]),
 *   referenceChosen: tf.tensor2d([[0.20, 0.20]]), referenceRejected: tf.tensor2d([[0.20, 0.20]]),
 * };
 * const out = diffusionDpoLoss(maps, { beta: 10 });
 * const m = await readDpoMetrics(out);
 * console.log(m.loss.toFixed(4), m["rewards/accuracies"]); // "0.1269" 1
 * tf.dispose(Object.values(maps));
 * ```
 */
export function diffusionDpoLoss(maps: DpoErrorMaps, options: DiffusionDpoOptions = {}): DpoLoss {
  const where = "diffusionDpoLoss";
  const beta = checkNumber(where, "beta", options.beta ?? DEFAULT_DPO_OPTIONS.beta, 0);
  const lossType = checkDpoLossType(where, options.lossType);
  const anchor = checkDpoAnchor(where, options);
  checkMaps(where, { ...maps });
  return tf.tidy(() => {
    const video = videoTerms(maps, beta, lossType);
    const anchored = withAnchor(video.loss, maps, anchor);
    return {
      loss: anchored.loss,
      metrics: { loss: anchored.loss, ...video.metrics, ...anchored.metrics },
    };
  }) as unknown as DpoLoss;
}

/**
 * Gran-DPO: the video term plus λ times the mean over used patches of
 * per-patch DPO terms with PRM directions (module doc). With λ = 0 the loss is
 * bit for bit {@linkcode diffusionDpoLoss}; with `video: false` it is the
 * patch-only ablation. The patch diagnostics are reported in every mode.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { granDpoLoss, readDpoMetrics } from "@halo/kit";
 * const out = granDpoLoss({
 *   policyChosen: tf.tensor2d([[0.10, 0.30]]), policyRejected: tf.tensor2d([[0.30, 0.10]]),
 *   referenceChosen: tf.tensor2d([[0.20, 0.20]]), referenceRejected: tf.tensor2d([[0.20, 0.20]]),
 *   patchGaps: tf.tensor2d([[1.5, -1.0]]), // the PRM prefers the rejected clip's second patch
 * }, { beta: 10, betaPatch: 10, lambda: 1, tau: 0.5 });
 * const m = await readDpoMetrics(out);
 * console.log(m["patch/used"], m["patch/disagree"], m["patch/accuracies"]); // 1 0.5 1
 * ```
 */
export function granDpoLoss(inputs: GranDpoInputs, options: GranDpoOptions = {}): DpoLoss {
  const where = "granDpoLoss";
  const d = DEFAULT_DPO_OPTIONS;
  const beta = checkNumber(where, "beta", options.beta ?? d.beta, 0);
  const betaPatch = checkNumber(where, "betaPatch", options.betaPatch ?? d.betaPatch, 0);
  const lambda = checkNumber(where, "lambda", options.lambda ?? d.lambda, 0);
  const tau = checkNumber(where, "tau", options.tau ?? d.tau, 0);
  const lossType = checkDpoLossType(where, options.lossType);
  const otherWeight = checkDpoPatchOtherWeight(where, options.patchOtherWeight);
  const useVideo = options.video ?? d.video;
  if (typeof useVideo !== "boolean") fail(where, "video to be true or false", useVideo);
  if (!useVideo && lambda === 0) fail(where, "lambda > 0 when the video term is off", lambda);
  const anchor = checkDpoAnchor(where, options);
  checkMaps(where, { ...inputs });
  return tf.tidy(() => {
    const video = videoTerms(inputs, beta, lossType);
    const { used, y, inside } = patchTerms(inputs, betaPatch, tau, otherWeight);
    const count = used.sum();
    const safeCount = tf.maximum(count, 1);
    const patchLoss = termLoss(inside, lossType).mul(used).sum().div(safeCount) as tf.Scalar;
    const usedMean = (x: tf.Tensor) => x.mul(used).sum().div(safeCount) as tf.Scalar;
    const preference = lambda === 0
      ? video.loss
      : useVideo
      ? video.loss.add(patchLoss.mul(lambda)) as tf.Scalar
      : patchLoss.mul(lambda) as tf.Scalar;
    const anchored = withAnchor(preference, inputs, anchor);
    const loss = anchored.loss;
    const metrics: DpoMetricTensors = {
      loss,
      "loss/video": video.loss,
      "loss/patch": patchLoss,
      ...video.metrics,
      "patch/accuracies": usedMean(inside.greater(0).toFloat()),
      "patch/margins": usedMean(inside),
      "patch/used": count.div(used.size) as tf.Scalar,
      "patch/disagree": usedMean(y.less(0).toFloat()),
      ...anchored.metrics,
    };
    return { loss, metrics };
  }) as unknown as DpoLoss;
}

/**
 * Reads a loss's diagnostics (and the loss) into numbers asynchronously and
 * frees the diagnostic tensors; the `loss` tensor itself stays the caller's
 * (it is disposed only when it is one of the metrics, as it always is).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { diffusionDpoLoss, readDpoMetrics } from "@halo/kit";
 * const z = tf.zeros([2, 4]) as tf.Tensor2D;
 * const m = await readDpoMetrics(diffusionDpoLoss({ policyChosen: z, policyRejected: z, referenceChosen: z, referenceRejected: z }));
 * console.log(m.loss.toFixed(4)); // "0.6931" (log 2: no preference yet)
 * z.dispose();
 * ```
 */
export async function readDpoMetrics(result: DpoLoss): Promise<DpoMetrics> {
  const names = Object.keys(result.metrics);
  const tensors = names.map((n) => result.metrics[n]);
  try {
    const values = await Promise.all(tensors.map((t) => t.data()));
    return Object.fromEntries(names.map((n, i) => [n, values[i][0]]));
  } finally {
    tf.dispose([...new Set([...tensors, result.loss])]);
  }
}

/** Gran-DPO's terms as numbers, pair by pair and patch by patch ({@linkcode granDpoTerms}). */
export interface GranDpoTerms {
  /** The video term. */
  video: {
    /** d(chosen) = e_θ − e_ref averaged over the clip, per pair. */
    dChosen: number[];
    /** d(rejected), per pair. */
    dRejected: number[];
    /** −log σ(−β/2 · (d(chosen) − d(rejected))) per pair (IPO: (−β/2 · (…) − ½)²). */
    terms: number[];
    /** Their mean: L_video. */
    loss: number;
  };
  /** The patch terms, `[pair][patch]`. */
  patches: {
    /** d_k(chosen) − d_k(rejected). */
    d: number[][];
    /** y_k = sign of the PRM's gap s_k(chosen) − s_k(rejected): +1, −1 (the rejected clip's patch is better) or 0. */
    direction: number[][];
    /** Whether the patch is used (|gap| ≥ τ); the others are skipped. */
    used: boolean[][];
    /** −log σ(−β_p/2 · y_k · d_k) of used patches (IPO: (… − ½)²), null for skipped ones. */
    terms: Array<Array<number | null>>;
    /** The mean over used patches: L_patch (0 when none is used). */
    loss: number;
  };
  /** λ. */
  lambda: number;
  /** Whether the video term counts (false: patch-only). */
  videoTerm: boolean;
  /** The anchoring term on the chosen clips (`lib/dpo/anchor.ts`; loss 0 when the anchor is "none"). */
  anchor: {
    /** Which term. */
    kind: DpoAnchor;
    /** Its weight w. */
    weight: number;
    /** L_anchor, unweighted. */
    loss: number;
  };
  /**
   * L_video + λ · L_patch (patch-only: λ · L_patch), plus w · L_anchor when anchored: the loss
   * {@linkcode granDpoLoss} returns.
   */
  total: number;
}

/**
 * Gran-DPO's loss taken apart: the video term per pair, every patch's term
 * with its direction from the PRM and whether τ skips it, λ, the anchoring
 * term and the total —
 * the same numbers {@linkcode granDpoLoss} reduces to one loss (for reading,
 * not for gradients; every tensor is freed).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { granDpoTerms } from "@halo/kit/dpo";
 * const inputs = {
 *   policyChosen: tf.tensor2d([[0.10, 0.30, 0.2]]), policyRejected: tf.tensor2d([[0.30, 0.10, 0.2]]),
 *   referenceChosen: tf.tensor2d([[0.20, 0.20, 0.2]]), referenceRejected: tf.tensor2d([[0.20, 0.20, 0.2]]),
 *   patchGaps: tf.tensor2d([[1.5, -1.0, 0.1]]), // patch 2's gap is under τ: skipped
 * };
 * const t = await granDpoTerms(inputs, { beta: 10, betaPatch: 10, lambda: 1, tau: 0.5 });
 * console.log(t.patches.direction[0], t.patches.used[0], t.patches.terms[0][2]); // [ 1, -1, 1 ] [ true, true, false ] null
 * console.log(Math.abs(t.total - (t.video.loss + t.patches.loss)) < 1e-6); // true
 * tf.dispose(Object.values(inputs));
 * ```
 */
export async function granDpoTerms(
  inputs: GranDpoInputs,
  options: GranDpoOptions = {},
): Promise<GranDpoTerms> {
  const where = "granDpoTerms";
  const d = DEFAULT_DPO_OPTIONS;
  const beta = checkNumber(where, "beta", options.beta ?? d.beta, 0);
  const betaPatch = checkNumber(where, "betaPatch", options.betaPatch ?? d.betaPatch, 0);
  const tau = checkNumber(where, "tau", options.tau ?? d.tau, 0);
  const lossType = checkDpoLossType(where, options.lossType);
  const otherWeight = checkDpoPatchOtherWeight(where, options.patchOtherWeight);
  const anchor = checkDpoAnchor(where, options);
  const out = granDpoLoss(inputs, options);
  const metrics = await readDpoMetrics(out);
  const parts = tf.tidy(() => {
    const dChosen = inputs.policyChosen.sub(inputs.referenceChosen).mean(1);
    const dRejected = inputs.policyRejected.sub(inputs.referenceRejected).mean(1);
    const videoInside = dChosen.sub(dRejected).mul(-beta / 2);
    const { dk, used, y, inside } = patchTerms(inputs, betaPatch, tau, otherWeight);
    return [
      dChosen,
      dRejected,
      termLoss(videoInside, lossType),
      dk,
      y,
      used,
      termLoss(inside, lossType),
    ];
  });
  try {
    const [dC, dR, vTerms, dk, y, used, pTerms] = await Promise.all(parts.map((t) => t.array()));
    const usedB = (used as number[][]).map((row) => row.map((u) => u > 0));
    return {
      video: {
        dChosen: dC as number[],
        dRejected: dR as number[],
        terms: vTerms as number[],
        loss: metrics["loss/video"],
      },
      patches: {
        d: dk as number[][],
        direction: y as number[][],
        used: usedB,
        terms: (pTerms as number[][]).map((row, i) => row.map((v, k) => (usedB[i][k] ? v : null))),
        loss: metrics["loss/patch"],
      },
      lambda: options.lambda ?? d.lambda,
      videoTerm: options.video ?? d.video,
      anchor: {
        kind: anchor.anchor,
        weight: anchor.anchorWeight,
        loss: metrics["loss/anchor"] ?? 0,
      },
      total: metrics.loss,
    };
  } finally {
    tf.dispose(parts);
  }
}
