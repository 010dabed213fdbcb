/**
 * A tiny text-to-video diffusion transformer (video DiT) for ShapesWorld:
 * patch tokens cut by a {@linkcode PatchGrid}, factorised spatial + temporal
 * attention, timestep and prompt conditioning through adaLN-zero, an ε or x0
 * output head under a cosine noise schedule (its training step: lib/generator/train_step.ts).
 * Checkpoints are saved and loaded in `lib/generator/io.ts`, sampling lives in
 * `lib/generator/sampler.ts`, the per-patch error maps that Diffusion-DPO and Gran-DPO are
 * built on in `lib/dpo/loss_maps.ts`. Everything is made of
 * matmuls (DESIGN §6). It stands in for the pretrained video generator that
 * HALO post-trains (the paper's base models are far larger latent video
 * diffusion models; this is a reconstruction at toy scale).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import {
  addParam,
  cloneParams,
  countParams,
  createParams,
  disposeParams,
  getParam,
  initLinear,
  initTransformerBlock,
  linear,
  modulatedLayerNorm,
  type Params,
  transformerBlock,
} from "../tensor/nn.ts";
import { checkGrid, type PatchGrid, patchify, unpatchify } from "../videos/patch.ts";
import { encodePrompt, initPromptEncoder, PROMPT_LENGTH, VOCAB } from "./prompt.ts";
import { alphaBarAt } from "./diffusion.ts";
import { interpolateTokens } from "./_interpolate.ts";

/** Architecture and diffusion settings of a generator; saved with every checkpoint. */
export interface GeneratorConfig {
  /** Frames per clip. */
  frames: number;
  /** Frame height and width. */
  size: number;
  /** The DiT's own token geometry (not the reward grid): tubes of `size/rows × size/cols × framesPerPatch`. */
  tokenGrid: PatchGrid;
  /** Token width. */
  dim: number;
  /** Layers; each is a spatial block followed by a temporal block. */
  depth: number;
  /** Attention heads. */
  heads: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
  /** Transformer blocks of the prompt encoder. */
  promptLayers: number;
  /** Context values per pixel that each token hands to the per-pixel decoder. */
  pixelContext: number;
  /** Hidden width of the per-pixel decoder MLP. */
  pixelHidden: number;
  /** Diffusion steps of the training schedule. */
  timesteps: number;
  /** Noise schedule. */
  schedule: "cosine" | "linear";
  /** Vocabulary size the prompt embedding was built for (guards against grammar changes). */
  vocabSize: number;
  /**
   * What the output head predicts. Absent or "eps" (the default): the gated
   * mix of a scaled x_t and the per-pixel decoder's X, trained with a weighted
   * ε-MSE. "x0": the per-pixel decoder's X is the clean clip x̂0 itself (no
   * x_t path, no gate weights), ε̂ = (x_t − √ᾱ·x̂0)/√(1−ᾱ) is derived from it,
   * and {@linkcode trainStep} takes the plain x0-MSE. Why: under the ε loss
   * the clean estimate's error counts only SNR times, so at high noise the
   * model never learned the prompt-conditional mean (colour); the x0-MSE
   * teaches exactly that mean. Only stored in a config when it is "x0", so
   * default configs (and their JSON) are unchanged.
   */
  prediction?: "eps" | "x0";
  /**
   * Channels of the cross-token context (absent or 0: none). Each token also
   * emits this many values that are interpolated bilinearly between token
   * centres, across token edges, in space and time, and read by the per-pixel
   * decoder beside the token's own context. Why: with only its own token's
   * context, the pixels on either side of an 8×8 token edge are decided
   * independently, and objects broke into fragments along those edges. Only
   * stored in a config when > 0, so older configs are unchanged. (Our
   * reconstruction: the paper's generators decode latents with a convolutional
   * VAE decoder, which mixes neighbouring latents the same way.)
   */
  crossContext?: number;
  /**
   * How each layer's two blocks attend: "factorised" (default; the first block among the
   * positions of a segment, the second among the segments at a position, as in
   * Latte/factorised video DiTs) or "joint" (both blocks among all tokens of the clip, as
   * full 3D attention in CogVideoX-style DiTs; same weights, (S·P)² attention scores).
   * Why: factorised attention can only move an object to another position in another
   * segment by composing a spatial and a temporal step, and the factorised models drew
   * horizontal motion in a random direction. Only stored in a config when "joint".
   */
  attention?: "factorised" | "joint";
  /**
   * Shift s of the noise schedule (absent or 1: none): every timestep's SNR is divided by s²,
   * ᾱ ↦ ᾱ / (ᾱ + s²(1 − ᾱ)), for training and sampling alike. Why: a clip of 16 × 32 × 32
   * pixels carries an object's position and motion in hundreds of pixels, so under the
   * unshifted cosine schedule they are still readable in x_t up to t ≈ 850
   * (`bench/generator_denoise.ts`), and the layout the prompt asks for (count, direction) is
   * decided in the last few noise levels only. Shifting the schedule toward noise, as
   * Hoogeboom et al. (simple diffusion, 2023) and SD3 do for larger images, spends more
   * training and sampling steps where the layout is decided. Only stored in a config when ≠ 1.
   */
  scheduleShift?: number;
  /**
   * Side w (odd; absent or 1: the pixel alone) of the window of x_t evidence each pixel of the
   * per-pixel decoder reads: the scaled x_t of the w×w pixels around it in the same frame
   * (zeros outside the frame), 3·w² values instead of 3. Why: at the middle noise levels
   * where a sample's shapes are drawn, one pixel's evidence is below the noise (SNR < 1), so
   * the decoder drew what the token's linear context gave it: rounded, blocky objects with
   * token-edge seams (`bench/generator_denoise.ts --sheet`); 9 neighbours lift the evidence
   * 9× in SNR, as the first convolution of a U-Net or a VAE decoder would. Our
   * reconstruction: the paper's generators decode latents with convolutions. Only stored in a
   * config when > 1.
   */
  pixelWindow?: number;
}

/**
 * The default config: 16 frames of 32×32, DiT tokens of 8×8 pixels × 4 frames
 * (4 segments × 4×4 positions = 64 tokens of 768 values), d=96, 2 layers of
 * spatial + temporal blocks (~0.77M weights). Sized so pretraining fits in
 * about 20 minutes on the wasm backend on two shared cores (see
 * data/generator/README.md); finer tokens (4×4 px, 256 tokens) cost 3× more per step.
 */
export const DEFAULT_GENERATOR_CONFIG: Readonly<GeneratorConfig> = Object.freeze({
  frames: 16,
  size: 32,
  tokenGrid: Object.freeze({ rows: 4, cols: 4, framesPerPatch: 4 }),
  dim: 96,
  depth: 2,
  heads: 4,
  mlpRatio: 2,
  promptLayers: 1,
  pixelContext: 8,
  pixelHidden: 32,
  timesteps: 1000,
  schedule: "cosine",
  vocabSize: VOCAB.length,
});

/** Standard deviation of the data assumed by the output preconditioning (EDM's 0.5). */
const SIGMA_DATA = 0.5;

/** A generator: its config and named parameters. */
export interface Generator {
  /** Architecture and schedule. */
  readonly config: GeneratorConfig;
  /** Weights by name. */
  readonly params: Params;
}

/** Validates a (partial) config and fills in defaults. */
export function resolveGeneratorConfig(config: Partial<GeneratorConfig> = {}): GeneratorConfig {
  const where = "generator config";
  const c: GeneratorConfig = {
    ...DEFAULT_GENERATOR_CONFIG,
    ...config,
    tokenGrid: { ...(config.tokenGrid ?? DEFAULT_GENERATOR_CONFIG.tokenGrid) },
  };
  checkInt(where, "frames", c.frames, 1, 256);
  checkInt(where, "size", c.size, 8, 256);
  checkGrid(c.tokenGrid, { numFrames: c.frames, height: c.size, width: c.size });
  checkInt(where, "dim", c.dim, 4, 4096);
  checkInt(where, "depth", c.depth, 1, 64);
  checkInt(where, "heads", c.heads, 1, c.dim);
  if (c.dim % c.heads !== 0) fail(where, `dim divisible by heads ${c.heads}`, c.dim);
  checkNumber(where, "mlpRatio", c.mlpRatio, 0.25, 16);
  checkInt(where, "promptLayers", c.promptLayers, 0, 16);
  checkInt(where, "pixelContext", c.pixelContext, 1, 256);
  checkInt(where, "pixelHidden", c.pixelHidden, 1, 1024);
  checkInt(where, "timesteps", c.timesteps, 2, 100000);
  if (c.schedule !== "cosine" && c.schedule !== "linear") {
    fail(where, 'schedule "cosine" or "linear"', c.schedule);
  }
  if (c.vocabSize !== VOCAB.length) {
    fail(where, `vocabSize ${VOCAB.length} (the ShapesWorld grammar)`, c.vocabSize);
  }
  if (c.prediction !== undefined && c.prediction !== "eps" && c.prediction !== "x0") {
    fail(where, 'prediction "eps" or "x0"', c.prediction);
  }
  if (c.crossContext !== undefined) checkInt(where, "crossContext", c.crossContext, 0, 256);
  if (c.attention !== undefined && c.attention !== "factorised" && c.attention !== "joint") {
    fail(where, 'attention "factorised" or "joint"', c.attention);
  }
  // Defaults are stored as absent keys so default configs stay byte-identical.
  if (c.prediction !== "x0") delete c.prediction;
  if (!c.crossContext) delete c.crossContext;
  if (c.attention !== "joint") delete c.attention;
  if (c.scheduleShift !== undefined) {
    checkNumber(where, "scheduleShift", c.scheduleShift, 0.01, 100);
  }
  if (c.scheduleShift === undefined || c.scheduleShift === 1) delete c.scheduleShift;
  if (c.pixelWindow !== undefined) {
    checkInt(where, "pixelWindow", c.pixelWindow, 1, 15);
    if (c.pixelWindow % 2 === 0) fail(where, "pixelWindow odd", c.pixelWindow);
  }
  if (c.pixelWindow === undefined || c.pixelWindow === 1) delete c.pixelWindow;
  return c;
}

/** Derived sizes of a config. */
export function generatorShape(config: GeneratorConfig): {
  segments: number;
  positions: number;
  tokens: number;
  tokenValues: number;
} {
  const g = config.tokenGrid;
  const segments = config.frames / g.framesPerPatch;
  const positions = g.rows * g.cols;
  const tokenValues = g.framesPerPatch * (config.size / g.rows) * (config.size / g.cols) * 3;
  return { segments, positions, tokens: segments * positions, tokenValues };
}

/** Options for {@linkcode createGenerator}. */
export interface CreateGeneratorOptions {
  /** Seed of the initial weights. Default 0. */
  seed?: number;
}

/**
 * Creates a freshly initialised generator.
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator } from "@halo/kit";
 * import { countParams } from "@halo/kit/tensor";
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2 }, { seed: 1 });
 * console.log(countParams(gen.params));
 * disposeGenerator(gen);
 * ```
 */
export function createGenerator(
  config: Partial<GeneratorConfig> = {},
  options: CreateGeneratorOptions = {},
): Generator {
  const c = resolveGeneratorConfig(config);
  const seed = checkInt("createGenerator", "seed", options.seed ?? 0, 0, 0xffffffff);
  const rng = createRng(seed);
  const { segments, positions, tokenValues } = generatorShape(c);
  const params = createParams();
  const d = c.dim;
  initLinear(params, "embed", { in: tokenValues, out: d }, { seed: rng });
  addParam(params, "pos.space", [positions, d], { init: "normal", std: 0.02, seed: rng });
  addParam(params, "pos.time", [segments, d], { init: "normal", std: 0.02, seed: rng });
  initLinear(params, "time.fc1", { in: d, out: d }, { seed: rng });
  initLinear(params, "time.fc2", { in: d, out: d }, { seed: rng });
  initPromptEncoder(params, "prompt", {
    dim: d,
    layers: c.promptLayers,
    heads: c.heads,
    seed: rng.seed(),
  });
  const hidden = Math.max(1, Math.round(c.mlpRatio * d));
  for (let i = 0; i < c.depth; i++) {
    initTransformerBlock(params, `layer${i}.space`, { dim: d, hidden, condDim: d, seed: rng });
    initTransformerBlock(params, `layer${i}.time`, { dim: d, hidden, condDim: d, seed: rng });
  }
  initLinear(params, "final.ada", { in: d, out: 2 * d }, { init: "zeros" });
  const pixels = tokenValues / 3;
  initLinear(params, "final.out", { in: d, out: pixels * c.pixelContext }, { seed: rng });
  initLinear(params, "pixel.ctx", { in: c.pixelContext, out: c.pixelHidden }, { seed: rng });
  const window = (c.pixelWindow ?? 1) ** 2;
  initLinear(params, "pixel.x", { in: 3 * window, out: c.pixelHidden }, { seed: rng, bias: false });
  if (c.crossContext) {
    initLinear(params, "final.cross", { in: d, out: c.crossContext }, { seed: rng });
    initLinear(params, "pixel.cross", { in: c.crossContext, out: c.pixelHidden }, { seed: rng });
  }
  initLinear(params, "pixel.clean", { in: c.pixelHidden, out: 3 }, { init: "zeros" });
  if (c.prediction !== "x0") {
    initLinear(params, "pixel.gate", { in: c.pixelHidden, out: 3 }, { init: "zeros" });
  }
  return { config: c, params };
}

/** Frees a generator's weights. */
export function disposeGenerator(gen: Generator): void {
  disposeParams(gen.params);
}

/**
 * A frozen copy of a generator (the reference model of DPO): same config,
 * copied weights that no optimiser updates.
 */
export function freezeGenerator(gen: Generator): Generator {
  return {
    config: { ...gen.config, tokenGrid: { ...gen.config.tokenGrid } },
    params: cloneParams(gen.params),
  };
}

/** Number of weights. */
export function generatorParamCount(gen: Generator): number {
  return countParams(gen.params);
}

/** Sinusoidal features of integer timesteps `[B]` → `[B, dim]`. */
function timestepFeatures(t: tf.Tensor1D, dim: number, timesteps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const half = Math.floor(dim / 2);
    const freqs = tf.tensor1d(
      Array.from({ length: half }, (_, i) => Math.exp(-Math.log(10000) * i / half)),
    );
    // Scale t to [0, 1000) whatever the schedule length, so features do not depend on it.
    const args = t.toFloat().mul(1000 / timesteps).reshape([-1, 1]).mul(freqs.reshape([1, half]));
    let f = tf.concat([tf.sin(args), tf.cos(args)], 1);
    if (2 * half < dim) f = tf.pad(f, [[0, 0], [0, dim - 2 * half]]);
    return f as tf.Tensor2D;
  });
}

function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(tf.sigmoid(x)));
}

/** Options for {@linkcode predictNoise}. */
export interface PredictNoiseOptions {
  /** Per-item 1 = use the prompt, 0 = the null prompt (CFG). Default all ones. */
  keep?: tf.Tensor1D;
}

/**
 * Predicts the noise ε in `xt` `[B, T, H, W, 3]` (pixels scaled to [-1, 1]) at
 * integer timesteps `t` `[B]` for prompt tokens `[B, L]`.
 */
export function predictNoise(
  gen: Generator,
  inputs: { xt: tf.Tensor; t: tf.Tensor1D; tokens: tf.Tensor2D },
  options: PredictNoiseOptions = {},
): tf.Tensor {
  return tf.tidy(() => predictNoiseAndClean(gen, inputs, options).eps);
}

/**
 * Like {@linkcode predictNoise}, and also returns the network's clean image X
 * (the ungated branch of the output, in [-1, 1] model space): the sampler
 * steps on X so that noise the gate let through is not kept as signal.
 */
export function predictNoiseAndClean(
  gen: Generator,
  inputs: { xt: tf.Tensor; t: tf.Tensor1D; tokens: tf.Tensor2D },
  options: PredictNoiseOptions = {},
): { eps: tf.Tensor; clean: tf.Tensor } {
  const c = gen.config;
  const p = gen.params;
  const { xt, t, tokens } = inputs;
  const b = xt.shape[0];
  if (
    xt.rank !== 5 || xt.shape[1] !== c.frames || xt.shape[2] !== c.size || xt.shape[3] !== c.size ||
    xt.shape[4] !== 3
  ) {
    fail(
      "predictNoise",
      `xt of shape [B, ${c.frames}, ${c.size}, ${c.size}, 3]`,
      `[${xt.shape.join(", ")}]`,
    );
  }
  if (t.shape[0] !== b || tokens.shape[0] !== b) {
    fail("predictNoise", `t and tokens with ${b} rows`, `${t.shape[0]} and ${tokens.shape[0]}`);
  }
  const { segments: s, positions: n, tokens: nTok } = generatorShape(c);
  const d = c.dim;
  return tf.tidy(() => {
    const temb = linear(
      p,
      "time.fc2",
      silu(linear(p, "time.fc1", timestepFeatures(t, d, c.timesteps))),
    );
    const pemb = encodePrompt(p, "prompt", tokens, {
      layers: c.promptLayers,
      heads: c.heads,
      keep: options.keep,
    });
    const cond = temb.add(pemb) as tf.Tensor2D;
    const patches = patchify(xt, c.tokenGrid); // [B, S·P, D]
    let h = linear(p, "embed", patches).reshape([b, s, n, d])
      .add(getParam(p, "pos.time").reshape([1, s, 1, d]))
      .add(getParam(p, "pos.space").reshape([1, 1, n, d]));
    for (let i = 0; i < c.depth && c.attention === "joint"; i++) {
      // joint: both blocks attend among all S·P tokens
      for (const block of ["space", "time"]) {
        h = transformerBlock(p, `layer${i}.${block}`, h.reshape([b, nTok, d]) as tf.Tensor3D, {
          heads: c.heads,
          cond,
        });
      }
      h = h.reshape([b, s, n, d]);
    }
    for (let i = 0; i < c.depth && c.attention !== "joint"; i++) {
      // spatial: attention among the P positions of each segment
      h = transformerBlock(p, `layer${i}.space`, h.reshape([b * s, n, d]) as tf.Tensor3D, {
        heads: c.heads,
        cond,
      })
        .reshape([b, s, n, d]);
      // temporal: attention among the S segments at each position
      const ht = h.transpose([0, 2, 1, 3]).reshape([b * n, s, d]) as tf.Tensor3D;
      h = transformerBlock(p, `layer${i}.time`, ht, { heads: c.heads, cond })
        .reshape([b, n, s, d]).transpose([0, 2, 1, 3]);
    }
    const mod = linear(p, "final.ada", silu(cond)).reshape([b, 1, 2, d]);
    const [shift, scale] = tf.unstack(mod, 2);
    const out = modulatedLayerNorm(h.reshape([b, nTok, d]) as tf.Tensor3D, shift, scale);
    // Output: a per-pixel decoder and a gated skip (EDM-style c_skip, but
    // learned per pixel). Each token hands `pixelContext` values to each of its
    // pixels; a small MLP shared by all pixels (a 1×1 "convolution" written as
    // a matmul) reads them with the pixel's own scaled x_t and predicts a clean
    // value X and a gate logit G. The clean estimate is
    // x̂0 = g ⊙ x_t/√ᾱ + (1−g) ⊙ X with g = σ(logit ᾱ + G), G ≤ 0, and
    // ε̂ = (x_t − √ᾱ·x̂0)/√(1−ᾱ) = σ(−ℓ) ⊙ (x_t − √ᾱ·X)/√(1−ᾱ).
    // Why: ε carries full-rank noise that a d-wide token cannot reproduce when
    // it holds more than d values; x_t carries it instead. A token-linear X
    // was blurry, so the model kept the gate open on objects and DDIM turned
    // the leaked noise into speckle; a fixed gate leaked it everywhere. The
    // per-pixel MLP sees the pixel's evidence and can snap it to a clean
    // colour. At G = X = 0 it is the optimal linear denoiser of unit-variance data.
    const shape = { numFrames: c.frames, height: c.size, width: c.size };
    const ctx = unpatchify(linear(p, "final.out", out), c.tokenGrid, {
      ...shape,
      channels: c.pixelContext,
    });
    const a = alphaBarAt(c, t).reshape([b, 1, 1, 1, 1]);
    // The pixel's evidence is its Wiener estimate of the clean value,
    // σd²/(σ²+σd²)·x_t/√ᾱ = σd²√ᾱ·x_t/(1 − ᾱ + ᾱσd²), divided by σd: it fades
    // to 0 at high noise, so the decoder cannot turn pure noise into
    // structure there (fed x_t at unit scale instead, samples drawn from noise
    // were speckle), and tends to x_t/σd at low noise.
    const scaled = xt.mul(a.sqrt().mul(SIGMA_DATA)).div(tf.sub(1, a).add(a.mul(SIGMA_DATA ** 2)));
    // Two matmuls summed rather than one on a concat, and one head per output
    // rather than a split: wasm's SplitV on the last axis (the gradient of a
    // concat) is ~100× slower than the matmuls themselves.
    let pre = linear(p, "pixel.ctx", ctx)
      .add(linear(p, "pixel.x", pixelWindow(scaled, c.pixelWindow ?? 1)));
    if (c.crossContext) {
      const cross = interpolateTokens(linear(p, "final.cross", out), c, c.crossContext);
      pre = pre.add(linear(p, "pixel.cross", cross));
    }
    const hidden = tf.relu(pre);
    const clean = linear(p, "pixel.clean", hidden);
    if (c.prediction === "x0") {
      // x0-parameterisation: X is x̂0; ε̂ follows from it.
      const eps = xt.sub(clean.mul(a.sqrt())).div(tf.sub(1, a).sqrt());
      return { eps, clean };
    }
    const gate = linear(p, "pixel.gate", hidden);
    // The gate may only close below σ(logit ᾱ) = ᾱ (G = −softplus(raw) ≤ 0): an
    // unbounded G learned at low noise opened it at high noise too, where the
    // leak g·x_t/√ᾱ is noise amplified up to 100× (saturated speckle).
    const logit = a.div(tf.sub(1, a)).log();
    const keepNoise = tf.sigmoid(logit.sub(tf.softplus(gate)).neg());
    const eps = keepNoise.mul(xt.sub(clean.mul(a.sqrt()))).div(tf.sub(1, a).sqrt());
    return { eps, clean };
  });
}

/**
 * `x` `[B, T, H, W, C]` → the w×w window around each pixel `[B, T, H, W, w²·C]` (zeros outside
 * the frame), ordered (row offset, column offset, channel). `x` is data, not a weight: no
 * gradient flows back through the concat (wasm's is slow).
 */
function pixelWindow(x: tf.Tensor, w: number): tf.Tensor {
  if (w === 1) return x;
  return tf.tidy(() => {
    const r = (w - 1) / 2;
    const [b, t, h, wd, ch] = x.shape;
    const padded = tf.pad(x, [[0, 0], [0, 0], [r, r], [r, r], [0, 0]]);
    const parts: tf.Tensor[] = [];
    for (let dy = 0; dy < w; dy++) {
      for (let dx = 0; dx < w; dx++) {
        parts.push(padded.slice([0, 0, dy, dx, 0], [b, t, h, wd, ch]));
      }
    }
    return tf.concat(parts, 4);
  });
}

/**
 * Analytic FLOP count (multiply-adds × 2) of one forward pass over `batch`
 * clips: every matmul (token embedding, qkv/out projections, attention scores
 * and mixing, MLPs, adaLN, output, timestep and prompt encoders). A training
 * step costs about 3× this (forward + backward).
 *
 * @example
 * ```ts
 * import { DEFAULT_GENERATOR_CONFIG } from "@halo/kit";
 * import { generatorFlops } from "@halo/kit/generator";
 * console.log((generatorFlops(DEFAULT_GENERATOR_CONFIG, 1) / 1e6).toFixed(1), "MFLOP per clip");
 * ```
 */
export function generatorFlops(config: GeneratorConfig, batch: number): number {
  const c = resolveGeneratorConfig(config);
  checkInt("generatorFlops", "batch", batch, 1);
  const { segments: s, positions: n, tokens: N, tokenValues: D } = generatorShape(c);
  const d = c.dim;
  const hidden = Math.max(1, Math.round(c.mlpRatio * d));
  const block = (seqLen: number, seqs: number, mlpHidden: number, ada: boolean) => {
    const tok = seqLen * seqs;
    let macs = tok * (3 * d * d + d * d + 2 * d * mlpHidden); // projections + MLP
    macs += seqs * 2 * seqLen * seqLen * d; // scores + mixing
    if (ada) macs += d * 6 * d; // adaLN, once per batch item
    return macs;
  };
  let macs = N * D * d; // embed
  for (let i = 0; i < c.depth; i++) {
    macs += c.attention === "joint"
      ? 2 * block(N, 1, hidden, true)
      : block(n, s, hidden, true) + block(s, n, hidden, true);
  }
  macs += 2 * d * d + N * d * (D / 3) * c.pixelContext; // final adaLN + per-pixel context
  const pixels = c.frames * c.size * c.size;
  const window = (c.pixelWindow ?? 1) ** 2;
  macs += pixels * ((c.pixelContext + 3 * window) * c.pixelHidden + c.pixelHidden * 6); // pixel MLP
  const cc = c.crossContext ?? 0;
  if (cc) {
    // cross-token context: its head, the space and time interpolation matmuls, its pixel input
    macs += N * d * cc + s * cc * n * c.size * c.size + cc * c.size * c.size * s * c.frames;
    macs += pixels * cc * c.pixelHidden;
  }
  macs += 2 * d * d; // timestep MLP
  const L = PROMPT_LENGTH;
  for (let i = 0; i < c.promptLayers; i++) macs += block(L, 1, 2 * d, false);
  macs += d * d; // prompt projection
  return 2 * macs * batch;
}
