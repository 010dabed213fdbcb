/**
 * The reward model: a small transformer over patch tokens (geometry from a
 * {@linkcode PatchGrid}) conditioned on the prompt, with two heads on the
 * labeller's 1–4 scale: a **video head** (pooled tokens → one score per aspect)
 * and a **patch head** (each token → one score per aspect). Stage 1 trains it
 * as the video reward model (VRM), stage 2 continues it into the patch reward
 * model (PRM); see `train.ts`. Scoring videos with it is `score.ts`, saving and loading
 * it `io.ts`.
 *
 * Architecture (our reconstruction; the paper builds on a large VLM): each
 * `framesPerPatch × (H/rows) × (W/cols)` tube (RGB plus luminance-difference
 * magnitudes, see {@linkcode RewardConfig.features}) is flattened and linearly
 * embedded, a learned position embedding is added, the prompt (encoded by the
 * kit's prompt encoder) is prepended as one extra token (with
 * `promptInput: "tokens"` also each of its words), and `depth`
 * pre-norm transformer blocks mix everything. Scores are `1 + 3·σ(z)` so they
 * can never leave the scale. Matmuls only (DESIGN §6).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import {
  addParam,
  countParams,
  createParams,
  disposeParams,
  gelu,
  getParam,
  initLayerNorm,
  initLinear,
  initTransformerBlock,
  layerNorm,
  linear,
  type Params,
  transformerBlock,
} from "../tensor/nn.ts";
import { ASPECTS, SCORE_MAX, SCORE_MIN } from "../videos/scores.ts";
import { checkGrid, formatGrid, numSegments, parseGrid, type PatchGrid } from "../videos/patch.ts";
import { encodePrompt, initPromptEncoder, PROMPT_LENGTH, VOCAB } from "../generator/prompt.ts";
import { encodePromptTokens } from "./_prompt_tokens.ts";

/** Shape of a reward model. */
export interface RewardConfig {
  /** Frames per clip the model reads. Default 16. */
  frames: number;
  /** Frame height and width. Default 32. */
  size: number;
  /** Patch grid as `"ROWSxCOLSxFRAMES"`. Default `"4x4x4"` (64 tokens on 16×32×32). */
  grid: string;
  /** Token width. Default 48. */
  dim: number;
  /** Transformer blocks. Default 2. */
  depth: number;
  /** Attention heads. Default 4. */
  heads: number;
  /** Prompt encoder blocks. Default 1. */
  promptLayers: number;
  /** MLP hidden width as a multiple of `dim`. Default 2. */
  mlpRatio: number;
  /**
   * Input channels per pixel: `"rgb"`, or `"rgb+grad"` which appends the
   * magnitudes of the horizontal, vertical and temporal luminance differences.
   * Default `"rgb+grad"`: blur, flicker and frozen patches are changes in
   * those magnitudes, which a linear patch embedding of raw pixels cannot
   * express (it is linear in the pixels), and a tiny model learns them far
   * faster when it sees them.
   */
  features: "rgb" | "rgb+grad";
  /**
   * How the prompt enters the sequence: `"pooled"`, one token (the prompt encoder's mean over
   * its words); or `"tokens"`, that pooled token plus every word of the prompt as its own token
   * (`PROMPT_LENGTH` more, marked by a learned type embedding), so the patch tokens attend to
   * the colour, shape and count words themselves and can compare them with what is in the
   * patches. Default `"pooled"`. Our reconstruction: the paper's reward model is a VLM that
   * reads the prompt as tokens; what a tiny model needs to notice a wrong colour is measured
   * in the reward-candidates table, not taken from the paper. Only stored in a config when
   * `"tokens"`, so the shipped checkpoints' configs are unchanged.
   */
  promptInput?: "pooled" | "tokens";
  /**
   * FiLM the patch tokens by the prompt: each patch embedding `h` becomes
   * `h ⊙ (1 + W_s·p) + W_b·p` with `p` the pooled prompt vector, before the first block. A
   * token then holds products of its pixels with the prompt (is this patch the colour the
   * prompt names?) from the start, which attention over a prepended prompt token can only
   * build indirectly. Both projections start at zero, so a new FiLM model scores like a
   * model without it. Default false. Our reconstruction: the paper's VLM reward model fuses
   * text and pixels in a large backbone; the gain of this cheap fusion in a tiny model is
   * measured in `data/reward/candidates.md`. Only stored in a config when true.
   */
  promptFilm?: boolean;
  /**
   * Width of a per-pixel MLP whose features are averaged over each patch and added to its
   * token (0 or absent: none). Each pixel's input channels go through `gelu(W₁·x + U·p + b)`
   * — `p` the pooled prompt, so a unit can ask "is this pixel the colour the prompt names?" —
   * and the patch mean of those units is embedded by `W₂` (zero-initialised, so a new model
   * scores like one without it). The judge grades a patch by shares of its pixels (soft,
   * off-palette, changing), a mean of a per-pixel nonlinearity, which a linear embedding of
   * the raw patch cannot express. Our reconstruction: the paper's VLM sees pixels through a
   * deep vision encoder. Measured in `data/reward/candidates.md` (third round): no patch-ρ gain
   * at 1000 clips for 2.3× the training time, so it is off by default. Only stored in a config
   * when above 0.
   */
  pixelMlp?: number;
  /**
   * With `pixelMlp`: the per-pixel MLP also reads the luminance of the `pixelWindow × pixelWindow`
   * neighbourhood around each pixel (odd, 3 or more; absent: the pixel alone). A patch mean of
   * units that see a neighbourhood is a histogram of local edge orientations and corners, which
   * tells a square (horizontal and vertical edges) from a triangle (diagonal ones) and a circle
   * (every orientation) wherever the object sits in the patch; a patch mean of single pixels, or a
   * linear embedding of the raw patch, cannot. Our reconstruction: a small convolutional stem
   * (written as shifted copies, since the wasm backend has no convolution gradients), the
   * issue's "more capacity" aimed at a text head blind to shape. Only stored in a config when
   * above 1.
   */
  pixelWindow?: number;
  /**
   * Tokens per label patch along each side (1 or absent: one token per label patch). With `k`,
   * each `framesPerPatch × (H/rows) × (W/cols)` label patch is read as `k × k` smaller tubes, each
   * its own token with its own position, and the patch head scores the mean of a label patch's
   * `k²` tokens after the blocks. An 8-pixel-wide object then spans several tokens whose relative
   * positions attention can compare — a square's four corners, a triangle's apex — where one
   * linear embedding of the whole patch sees a blur of wherever the object sits in it. Our
   * reconstruction: the paper's VLM reads frames through a vision encoder with its own, finer
   * patching than the reward grid; the gain in a tiny model is measured in
   * `data/reward/candidates.md` (fifth round). Costs about `k²` more tokens. Only stored in a
   * config when above 1.
   */
  tokenSplit?: number;
}

/** The default reward model: about 120k parameters. */
export const DEFAULT_REWARD_CONFIG: Readonly<RewardConfig> = Object.freeze({
  frames: 16,
  size: 32,
  grid: "4x4x4",
  dim: 48,
  depth: 2,
  heads: 4,
  promptLayers: 1,
  mlpRatio: 2,
  features: "rgb+grad",
});

/** A reward model: its config and weights. */
export interface RewardModel {
  /** The resolved config. */
  readonly config: RewardConfig;
  /** The weights. */
  readonly params: Params;
}

/**
 * Fills defaults and validates a reward config; errors name the field.
 *
 * @example
 * ```ts
 * import { resolveRewardConfig } from "@halo/kit/reward";
 * console.log(resolveRewardConfig({ dim: 32 }).grid); // "4x4x4"
 * ```
 */
export function resolveRewardConfig(config: Partial<RewardConfig> = {}): RewardConfig {
  const where = "RewardConfig";
  const c: RewardConfig = { ...DEFAULT_REWARD_CONFIG, ...config };
  checkInt(where, "frames", c.frames, 1, 1024);
  checkInt(where, "size", c.size, 4, 1024);
  checkInt(where, "dim", c.dim, 4, 4096);
  checkInt(where, "depth", c.depth, 0, 64);
  checkInt(where, "heads", c.heads, 1, 64);
  checkInt(where, "promptLayers", c.promptLayers, 0, 16);
  if (c.dim % c.heads !== 0) fail(where, `dim divisible by heads ${c.heads}`, c.dim);
  checkNumber(where, "mlpRatio", c.mlpRatio, 0.25, 16);
  if (c.features !== "rgb" && c.features !== "rgb+grad") {
    fail(where, 'features "rgb" or "rgb+grad"', c.features);
  }
  if (c.promptInput !== undefined && c.promptInput !== "pooled" && c.promptInput !== "tokens") {
    fail(where, 'promptInput "pooled" or "tokens"', c.promptInput);
  }
  if (c.promptInput !== "tokens") delete c.promptInput;
  if (c.promptFilm !== undefined && typeof c.promptFilm !== "boolean") {
    fail(where, "promptFilm true or false", c.promptFilm);
  }
  if (c.promptFilm !== true) delete c.promptFilm;
  if (c.pixelMlp !== undefined) checkInt(where, "pixelMlp", c.pixelMlp, 0, 1024);
  if (!c.pixelMlp) delete c.pixelMlp;
  if (c.pixelWindow !== undefined) {
    checkInt(where, "pixelWindow", c.pixelWindow, 1, 15);
    if (c.pixelWindow % 2 === 0) fail(where, "an odd pixelWindow", c.pixelWindow);
    if (c.pixelWindow > 1 && !c.pixelMlp) fail(where, "pixelMlp > 0 with pixelWindow", c.pixelMlp);
  }
  if (!(c.pixelWindow! > 1)) delete c.pixelWindow;
  if (c.tokenSplit !== undefined) checkInt(where, "tokenSplit", c.tokenSplit, 1, 16);
  if (!(c.tokenSplit! > 1)) delete c.tokenSplit;
  const grid = parseGrid(c.grid);
  checkGrid(grid, { numFrames: c.frames, height: c.size, width: c.size });
  const k = c.tokenSplit ?? 1;
  if ((c.size / grid.rows) % k !== 0 || (c.size / grid.cols) % k !== 0) {
    fail(
      where,
      `tokenSplit dividing the patch size ${c.size / grid.rows}×${c.size / grid.cols}`,
      k,
    );
  }
  return { ...c, grid: formatGrid(grid) };
}

/** The patch grid of a reward config. */
export function rewardGrid(config: RewardConfig): PatchGrid {
  return parseGrid(config.grid);
}

/** The token grid: the patch grid with each patch split `tokenSplit × tokenSplit`. */
function tokenGrid(c: RewardConfig): PatchGrid {
  const grid = rewardGrid(c);
  const k = c.tokenSplit ?? 1;
  return { ...grid, rows: grid.rows * k, cols: grid.cols * k };
}

function channels(c: RewardConfig): number {
  return c.features === "rgb+grad" ? 6 : 3;
}

/** Inputs per pixel of the per-pixel MLP: its channels, plus its neighbourhood's luminance. */
function pixelInputs(c: RewardConfig): number {
  return channels(c) + (c.pixelWindow ? c.pixelWindow ** 2 : 0);
}

/**
 * `[B, T, S, S, ch]` features → `[B, T, S, S, w²]`: the luminance (mean of the centred RGB) of
 * each pixel's `w × w` neighbourhood, mirrored at the frame's edges. Input data only: no gradient
 * flows through it.
 */
function luminanceWindows(features: tf.Tensor, w: number): tf.Tensor {
  const [b, t, h, wd] = features.shape;
  const r = (w - 1) / 2;
  const lum = features.slice([0, 0, 0, 0, 0], [b, t, h, wd, 3]).mean(4).reshape([b * t, h, wd]);
  const padded = tf.mirrorPad(lum, [[0, 0], [r, r], [r, r]], "symmetric");
  const shifted: tf.Tensor[] = [];
  for (let dy = 0; dy < w; dy++) {
    for (let dx = 0; dx < w; dx++) shifted.push(padded.slice([0, dy, dx], [b * t, h, wd]));
  }
  return tf.stack(shifted, 3).reshape([b, t, h, wd, w * w]);
}

/** `[B, T, H, W, 3]` in [0, 1] → the model's input channels, centred. */
function inputFeatures(x: tf.Tensor, c: RewardConfig): tf.Tensor {
  const centred = x.mul(2).sub(1);
  if (c.features === "rgb") return centred;
  const [b, t, h, w] = x.shape;
  const lum = x.mean(4, true); // [B, T, H, W, 1]
  const dx = lum.slice([0, 0, 0, 1, 0], [b, t, h, w - 1, 1])
    .sub(lum.slice([0, 0, 0, 0, 0], [b, t, h, w - 1, 1])).abs();
  const dy = lum.slice([0, 0, 1, 0, 0], [b, t, h - 1, w, 1])
    .sub(lum.slice([0, 0, 0, 0, 0], [b, t, h - 1, w, 1])).abs();
  const dt = lum.slice([0, 1, 0, 0, 0], [b, t - 1, h, w, 1])
    .sub(lum.slice([0, 0, 0, 0, 0], [b, t - 1, h, w, 1])).abs();
  // zero-pad back to full size; ×4 puts typical edge magnitudes near the pixel range
  const gx = tf.concat([dx, tf.zeros([b, t, h, 1, 1])], 3);
  const gy = tf.concat([dy, tf.zeros([b, t, 1, w, 1])], 2);
  const gt = tf.concat([tf.zeros([b, 1, h, w, 1]), dt], 1);
  return tf.concat([centred, gx.mul(4), gy.mul(4), gt.mul(4)], 4);
}

/**
 * Label patches per clip, tokens per clip (`tokenSplit²` per patch) and values per token of a
 * config, with the token grid.
 */
function geometry(
  c: RewardConfig,
): { grid: PatchGrid; patches: number; tokens: number; tokenValues: number } {
  const grid = tokenGrid(c);
  const tokens = numSegments(grid, c.frames) * grid.rows * grid.cols;
  const tokenValues = grid.framesPerPatch * (c.size / grid.rows) * (c.size / grid.cols) *
    channels(c);
  return { grid, patches: tokens / (c.tokenSplit ?? 1) ** 2, tokens, tokenValues };
}

/**
 * `pixelMlp`'s tokens: `features` `[B, T, H, W, ch]` → `[B, patches, dim]`, the patch means
 * of `gelu(W₁·x + U·prompt + b)` embedded by `W₂`. Means over the tube go axis by axis so
 * no tensor passes rank 6.
 */
function pixelTokens(
  p: Params,
  features: tf.Tensor,
  prompt: tf.Tensor,
  c: RewardConfig,
): tf.Tensor {
  const [b, t, size] = features.shape;
  const k = c.pixelMlp!;
  const grid = tokenGrid(c);
  const ph = size / grid.rows, pw = size / grid.cols;
  const input = c.pixelWindow
    ? tf.concat([features, luminanceWindows(features, c.pixelWindow)], 4)
    : features;
  const pixels = linear(p, "pixel.fc1", input.reshape([b, t * size * size, pixelInputs(c)]))
    .add(linear(p, "pixel.prompt", prompt).reshape([b, 1, k]));
  const means = gelu(pixels)
    .reshape([b * t * size * grid.cols, pw, k]).mean(1) // over a patch row's pixels
    .reshape([b * t / grid.framesPerPatch, grid.framesPerPatch, grid.rows, ph, grid.cols, k])
    .mean([1, 3]); // over the patch's frames and rows
  return linear(p, "pixel.fc2", means.reshape([b, -1, k]));
}

/** Options for {@linkcode createRewardModel}. */
export interface CreateRewardModelOptions {
  /** Seed of the initial weights. Default 0. */
  seed?: number;
}

/**
 * Creates a freshly initialised reward model (initial scores ≈ 2.5 everywhere).
 *
 * @example
 * ```ts
 * import { countParams } from "@halo/kit/tensor";
 * import { createRewardModel, disposeRewardModel } from "@halo/kit";
 * const model = createRewardModel({}, { seed: 1 });
 * console.log(countParams(model.params) < 200_000); // true
 * disposeRewardModel(model);
 * ```
 */
export function createRewardModel(
  config: Partial<RewardConfig> = {},
  options: CreateRewardModelOptions = {},
): RewardModel {
  const c = resolveRewardConfig(config);
  const { tokens, tokenValues } = geometry(c);
  const rng = createRng(options.seed ?? 0);
  const params = createParams();
  const d = c.dim;
  const na = ASPECTS.length;
  initLinear(params, "embed", { in: tokenValues, out: d }, { seed: rng });
  addParam(params, "pos", [tokens, d], { init: "normal", std: 0.1, seed: rng });
  initPromptEncoder(params, "prompt", {
    dim: d,
    layers: c.promptLayers,
    heads: c.heads,
    seed: rng.seed(),
  });
  addParam(params, "promptType", [d], { init: "normal", std: 0.1, seed: rng });
  const hidden = Math.max(1, Math.round(c.mlpRatio * d));
  for (let i = 0; i < c.depth; i++) {
    initTransformerBlock(params, `block${i}`, { dim: d, hidden, seed: rng });
  }
  initLayerNorm(params, "ln", d);
  initLinear(params, "videoHead.fc1", { in: 2 * d, out: d }, { seed: rng });
  initLinear(params, "videoHead.fc2", { in: d, out: na }, { init: "normal", std: 0.01, seed: rng });
  initLinear(params, "patchHead", { in: d, out: na }, { init: "normal", std: 0.01, seed: rng });
  // drawn after every weight a "pooled" model has, so both start from the same ones
  if (c.promptInput === "tokens") {
    addParam(params, "wordType", [d], { init: "normal", std: 0.1, seed: rng });
  }
  if (c.promptFilm) {
    initLinear(params, "film.scale", { in: d, out: d }, { init: "zeros", seed: rng });
    initLinear(params, "film.shift", { in: d, out: d }, { init: "zeros", seed: rng });
  }
  if (c.pixelMlp) {
    const k = c.pixelMlp;
    initLinear(params, "pixel.fc1", { in: pixelInputs(c), out: k }, { seed: rng });
    initLinear(params, "pixel.prompt", { in: d, out: k }, { seed: rng });
    initLinear(params, "pixel.fc2", { in: k, out: d }, { init: "zeros", seed: rng });
  }
  return { config: c, params };
}

/** Frees a reward model's weights. */
export function disposeRewardModel(model: RewardModel): void {
  disposeParams(model.params);
}

/** Options for {@linkcode rewardForward}. */
export interface RewardForwardOptions {
  /** `[B]` 1 = use the prompt, 0 = the learned null prompt (prompt dropout, unknown prompts). */
  keep?: tf.Tensor1D;
}

/** What {@linkcode rewardForward} returns (tensors; the caller disposes them). */
export interface RewardOutputs {
  /** `[B, aspects]` video scores in [1, 4]. */
  video: tf.Tensor2D;
  /** `[B, patches, aspects]` patch scores in [1, 4], patches in (segment, row, col) order. */
  patches: tf.Tensor3D;
}

/**
 * The forward pass: `x` `[B, T, H, W, 3]` in [0, 1] and prompt token ids
 * `[B, PROMPT_LENGTH]` → video and patch scores. Differentiable; used by
 * training and scoring alike.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createRewardModel, disposeRewardModel } from "@halo/kit";
 * import { rewardForward } from "@halo/kit/reward";
 * import { tokenizeBatch } from "@halo/kit/generator";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const x = tf.zeros([1, 16, 32, 32, 3]);
 * const tokens = tokenizeBatch(["one red circle moving up slowly on a black background"]);
 * const out = rewardForward(model, { x, tokens });
 * console.log(out.video.shape, out.patches.shape); // [1, 3] [1, 64, 3]
 * tf.dispose([x, tokens, out.video, out.patches]);
 * disposeRewardModel(model);
 * ```
 */
export function rewardForward(
  model: RewardModel,
  inputs: { x: tf.Tensor; tokens: tf.Tensor2D },
  options: RewardForwardOptions = {},
): RewardOutputs {
  const c = model.config;
  const { grid, tokens: n, patches: np } = geometry(c);
  const { x, tokens } = inputs;
  const where = "rewardForward";
  if (x.rank !== 5 || x.shape[1] !== c.frames || x.shape[2] !== c.size || x.shape[3] !== c.size) {
    fail(where, `x of shape [B, ${c.frames}, ${c.size}, ${c.size}, 3]`, `[${x.shape.join(", ")}]`);
  }
  const b = x.shape[0];
  if (tokens.shape[0] !== b || tokens.shape[1] !== PROMPT_LENGTH) {
    fail(where, `tokens of shape [${b}, ${PROMPT_LENGTH}]`, `[${tokens.shape.join(", ")}]`);
  }
  const p = model.params;
  const d = c.dim;
  return tf.tidy(() => {
    // patchify inline (rank ≤ 6, like lib/videos/patch.ts) so the op stays differentiable end to end
    const s = c.frames / grid.framesPerPatch;
    const ph = c.size / grid.rows, pw = c.size / grid.cols;
    const ch = channels(c);
    const features = inputFeatures(x, c);
    const patches = features
      .reshape([b * s, grid.framesPerPatch, grid.rows, ph, grid.cols, pw * ch])
      .transpose([0, 2, 4, 1, 3, 5])
      .reshape([b, n, grid.framesPerPatch * ph * pw * ch]);
    let h = linear(p, "embed", patches).add(getParam(p, "pos"));
    const encoder = { layers: c.promptLayers, heads: c.heads, keep: options.keep };
    const prefix: tf.Tensor3D[] = [];
    let prompt: tf.Tensor;
    if (c.promptInput === "tokens") {
      const { pooled, words } = encodePromptTokens(p, "prompt", tokens, encoder);
      prompt = pooled;
      prefix.push(
        pooled.add(getParam(p, "promptType")).reshape([b, 1, d]) as tf.Tensor3D,
        words.add(getParam(p, "wordType")) as tf.Tensor3D,
      );
    } else {
      prompt = encodePrompt(p, "prompt", tokens, encoder);
      prefix.push(prompt.add(getParam(p, "promptType")).reshape([b, 1, d]) as tf.Tensor3D);
    }
    if (c.pixelMlp) h = h.add(pixelTokens(p, features, prompt, c));
    if (c.promptFilm) {
      const scale = linear(p, "film.scale", prompt).reshape([b, 1, d]);
      const shift = linear(p, "film.shift", prompt).reshape([b, 1, d]);
      h = h.mul(scale.add(1)).add(shift);
    }
    const lead = prefix.reduce((acc, t) => acc + t.shape[1], 0);
    let seq = tf.concat([...prefix, h], 1) as tf.Tensor3D;
    for (let i = 0; i < c.depth; i++) {
      seq = transformerBlock(p, `block${i}`, seq, { heads: c.heads });
    }
    const out = layerNorm(seq, p, "ln");
    const promptOut = out.slice([0, 0, 0], [b, 1, d]).reshape([b, d]);
    const tokenOut = out.slice([0, lead, 0], [b, n, d]);
    const k = c.tokenSplit ?? 1;
    // a label patch's k × k tokens → their mean, in (segment, row, col) order
    const patchOut = k === 1 ? tokenOut : tokenOut
      .reshape([b * s, grid.rows / k, k, grid.cols / k, k, d])
      .mean([2, 4])
      .reshape([b, np, d]);
    const pooled = tf.concat([tokenOut.mean(1), promptOut], 1);
    const videoZ = linear(p, "videoHead.fc2", gelu(linear(p, "videoHead.fc1", pooled)));
    const patchZ = linear(p, "patchHead", patchOut);
    const toScale = (z: tf.Tensor) => tf.sigmoid(z).mul(SCORE_MAX - SCORE_MIN).add(SCORE_MIN);
    return {
      video: toScale(videoZ) as tf.Tensor2D,
      patches: toScale(patchZ) as tf.Tensor3D,
    } as unknown as tf.TensorContainer;
  }) as unknown as RewardOutputs;
}

/**
 * Analytic FLOP count (2 × multiply-adds of every matmul) of one forward pass
 * over `batch` clips. A training step costs about 3× this.
 *
 * @example
 * ```ts
 * import { DEFAULT_REWARD_CONFIG, rewardFlops } from "@halo/kit/reward";
 * console.log((rewardFlops(DEFAULT_REWARD_CONFIG, 1) / 1e6).toFixed(1), "MFLOP per clip");
 * ```
 */
export function rewardFlops(config: Partial<RewardConfig>, batch: number): number {
  const c = resolveRewardConfig(config);
  checkInt("rewardFlops", "batch", batch, 1);
  const { tokens: n, patches: np, tokenValues: D } = geometry(c);
  const d = c.dim;
  const hidden = Math.max(1, Math.round(c.mlpRatio * d));
  const block = (len: number, mlpHidden: number) =>
    len * (4 * d * d + 2 * d * mlpHidden) + 2 * len * len * d;
  const L = PROMPT_LENGTH;
  const lead = c.promptInput === "tokens" ? 1 + L : 1;
  let macs = n * D * d; // embed (feature maps: a few elementwise ops, not counted)
  for (let i = 0; i < c.depth; i++) macs += block(n + lead, hidden);
  macs += L * VOCAB.length * d; // one-hot embedding matmul
  for (let i = 0; i < c.promptLayers; i++) macs += block(L, 2 * d);
  macs += d * d; // prompt projection
  if (c.promptFilm) macs += 2 * d * d; // FiLM projections
  if (c.pixelMlp) {
    macs += c.frames * c.size * c.size * pixelInputs(c) * c.pixelMlp + n * c.pixelMlp * d;
  }
  macs += 2 * d * d + d * ASPECTS.length + np * d * ASPECTS.length; // heads
  return 2 * macs * batch;
}

/** The parameter count of a model (for reports). */
export function rewardParamCount(model: RewardModel): number {
  return countParams(model.params);
}
