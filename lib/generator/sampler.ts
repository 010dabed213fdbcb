/**
 * Sampling from a generator: a seeded DDIM sampler with classifier-free
 * guidance ({@linkcode sampleVideos}, tensors) and its asynchronous
 * {@linkcode Video} form ({@linkcode sampleClips}). The same seed gives the same
 * clips on every backend: the noise comes from the kit's own generator.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import { type Generator, predictNoiseAndClean } from "./model.ts";
import { alphaBars, normalArray } from "./diffusion.ts";
import { PROMPT_LENGTH, tokenizeBatch } from "./prompt.ts";
import { withoutShapeWord } from "./_shape_word.ts";
import type { ShapesPrompt } from "../videos/world.ts";
import type { Video } from "../videos/video.ts";

/**
 * The sampler's defaults: the settings chosen on validation prompts for the
 * shipped generator (data/generator/README.md has the sweep), so sampling
 * without options, `eval-generator` and the post-training stages all use them.
 */
export const SAMPLE_DEFAULTS: Readonly<
  {
    steps: number;
    guidance: number;
    guidanceFrom: number;
    guidanceBelow: number;
    shapeGuidance: number;
    clip: boolean;
    eta: number;
  }
> = Object.freeze({
  steps: 25,
  guidance: 2,
  guidanceFrom: 0,
  guidanceBelow: 1,
  shapeGuidance: 0,
  clip: true,
  eta: 0,
});

/** Options for {@linkcode sampleVideos}. */
export interface SampleOptions {
  /** DDIM steps. Default {@linkcode SAMPLE_DEFAULTS}. */
  steps?: number;
  /** Seed of the initial noise (and of η>0 noise). Default 0. */
  seed?: number;
  /**
   * One seed per prompt: each clip's noise then comes from its own seed, so a
   * clip does not depend on the batch it was sampled in (caches of single
   * clips, like the preference candidates, need that). Beats `seed`.
   */
  seeds?: readonly number[];
  /**
   * One seed per prompt for the initial noise x_T alone (needs `seeds`, which then seed only the
   * DDIM η > 0 step noise). Clips with the same noise seed start from the same x_T and, with
   * η > 0, differ only through the step noise of their `seeds` — in local detail rather than
   * layout (the preference candidates' `sharedNoise`). With η = 0 they are the same clip.
   * Default: each clip's x_T comes from its `seeds` entry, as its step noise does.
   */
  noiseSeeds?: readonly number[];
  /** Classifier-free guidance scale w: ε = ε_u + w(ε_c − ε_u); 1 = off. Default {@linkcode SAMPLE_DEFAULTS}. */
  guidance?: number;
  /**
   * Guide only the steps at timestep t ≥ guidanceFrom; the steps below run unguided (one
   * forward pass each). 0 = every step. A guidance interval in the sense of Kynkäänniemi et al.
   * (2024): at high noise guidance commits the layout the prompt asks for (how many objects,
   * which way they move); at low noise it only sharpens and adds fragments. Default
   * {@linkcode SAMPLE_DEFAULTS}.
   */
  guidanceFrom?: number;
  /**
   * Guidance scale of the steps at t < `guidanceFrom` (1: unguided, one forward pass each), so
   * the low-noise steps, where shapes' edges and corners are drawn, can be guided more or less
   * than the high-noise steps that commit the layout. Default {@linkcode SAMPLE_DEFAULTS}.
   */
  guidanceBelow?: number;
  /**
   * Shape guidance λ: a third pass with the prompt's shape word left out, and the estimate moved
   * by λ(conditional − shape left out), away from what the rest of the prompt alone would draw
   * (for a colour only ever trained as circles, a circle). For a generator pretrained with
   * `shapeWordDropout`; on others the pass without the shape word is out of distribution.
   * Applied at every step. 0 = off (default). Reconstruction: not in the paper; a per-attribute
   * guidance term in the spirit of composable diffusion (Liu et al., 2022).
   */
  shapeGuidance?: number;
  /**
   * Clip each step's clean estimate to the data range [-1, 1] (standard for
   * pixel-space DDIM). Default {@linkcode SAMPLE_DEFAULTS}.
   */
  clip?: boolean;
  /** DDIM η (0 = deterministic, 1 = ancestral DDPM-like). Default {@linkcode SAMPLE_DEFAULTS}. */
  eta?: number;
  /** Prompts per forward pass. Default 8. */
  batchSize?: number;
  /**
   * With `seed` (no `seeds`) and η = 0: the clips are those at places `streamOffset`,
   * `streamOffset + 1`, … of the seed's noise, so a long list can be sampled in shards
   * (one process each) that together give exactly the clips of one call over the whole
   * list — start each shard at a multiple of `batchSize` and its forward passes are the
   * same batches too. Default 0.
   */
  streamOffset?: number;
  /**
   * Which clean estimate each DDIM step moves towards: "clean", the network's
   * clean image X, or "gated", the estimate implied by ε̂ (standard DDIM).
   * Default "clean": the gated one keeps the noise that the output gate lets
   * through where X is unsure, and DDIM accumulates it into speckle.
   */
  estimate?: "clean" | "gated";
  /** With estimate "clean": steps at t ≥ cleanBelow still use the gated estimate. Default: timesteps (all clean). */
  cleanBelow?: number;
  /** With estimate "clean": move this share of the way to the gated estimate (0..1). Default 0. */
  leak?: number;
}

/**
 * Samples one clip per prompt with DDIM. The same seed gives the same videos
 * (the noise comes from the kit's own seeded generator, not tfjs' global RNG).
 * Returns tensors `[B, T, H, W, 3]` in [0, 1]; the caller disposes it.
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator } from "@halo/kit";
 * import { sampleVideos } from "@halo/kit/generator";
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2, frames: 4, size: 16, tokenGrid: { rows: 4, cols: 4, framesPerPatch: 2 } });
 * const x = sampleVideos(gen, ["one red circle moving up slowly on a black background"], { steps: 2, seed: 3 });
 * console.log(x.shape); // [1, 4, 16, 16, 3]
 * x.dispose();
 * disposeGenerator(gen);
 * ```
 */
export function sampleVideos(
  gen: Generator,
  prompts: ReadonlyArray<string | ShapesPrompt>,
  options: SampleOptions = {},
): tf.Tensor {
  const where = "sampleVideos";
  const c = gen.config;
  const steps = checkInt(where, "steps", options.steps ?? SAMPLE_DEFAULTS.steps, 1, c.timesteps);
  const seed = checkInt(where, "seed", options.seed ?? 0, 0, 0xffffffff);
  const w = checkNumber(where, "guidance", options.guidance ?? SAMPLE_DEFAULTS.guidance, 0, 100);
  const eta = checkNumber(where, "eta", options.eta ?? SAMPLE_DEFAULTS.eta, 0, 1);
  const guidanceFrom = checkInt(
    where,
    "guidanceFrom",
    options.guidanceFrom ?? SAMPLE_DEFAULTS.guidanceFrom,
    0,
    c.timesteps,
  );
  const wBelow = checkNumber(
    where,
    "guidanceBelow",
    options.guidanceBelow ?? SAMPLE_DEFAULTS.guidanceBelow,
    0,
    100,
  );
  const lambda = checkNumber(
    where,
    "shapeGuidance",
    options.shapeGuidance ?? SAMPLE_DEFAULTS.shapeGuidance,
    0,
    100,
  );
  const clip = options.clip ?? SAMPLE_DEFAULTS.clip;
  if (typeof clip !== "boolean") fail(where, "clip true or false", clip);
  const batchSize = checkInt(where, "batchSize", options.batchSize ?? 8, 1);
  const estimate = options.estimate ?? "clean";
  if (estimate !== "clean" && estimate !== "gated") {
    fail(where, 'estimate "clean" or "gated"', estimate);
  }
  const cleanBelow = checkInt(
    where,
    "cleanBelow",
    options.cleanBelow ?? c.timesteps,
    0,
    c.timesteps,
  );
  const leak = checkNumber(where, "leak", options.leak ?? 0, 0, 1);
  const seeds = options.seeds;
  const streamOffset = checkInt(where, "streamOffset", options.streamOffset ?? 0, 0);
  if (streamOffset > 0 && (seeds !== undefined || eta > 0)) {
    fail(where, "streamOffset only with one shared seed and η = 0", "seeds or η > 0 beside it");
  }
  if (seeds !== undefined) {
    if (!Array.isArray(seeds) || seeds.length !== prompts.length) {
      fail(where, `seeds with one seed per prompt (${prompts.length})`, seeds);
    }
    seeds.forEach((s, i) => checkInt(where, `seeds[${i}]`, s, 0, 0xffffffff));
  }
  const noiseSeeds = options.noiseSeeds;
  if (noiseSeeds !== undefined) {
    if (seeds === undefined) {
      fail(where, "seeds beside noiseSeeds (seeds then seed the η step noise)", "none");
    }
    if (!Array.isArray(noiseSeeds) || noiseSeeds.length !== prompts.length) {
      fail(where, `noiseSeeds with one seed per prompt (${prompts.length})`, noiseSeeds);
    }
    noiseSeeds.forEach((s, i) => checkInt(where, `noiseSeeds[${i}]`, s, 0, 0xffffffff));
  }
  const tokensAll = tokenizeBatch(prompts); // validates prompts before any work
  const perVideo = c.frames * c.size * c.size * 3;
  if (streamOffset > 0 && perVideo % 2 === 1) {
    fail(where, "streamOffset with an even number of values per clip", perVideo);
  }
  // each clip's x_T takes perVideo uniforms of the stream (Box–Muller pairs)
  const rng = createRng(seed, streamOffset * perVideo);
  const clipRngs = seeds?.map((s) => createRng(s));
  // b·perVideo normal draws: from the shared generator, or clip by clip from their own.
  const draw = (start: number, b: number): Float32Array => {
    if (!clipRngs) return normalArray(rng, b * perVideo);
    const out = new Float32Array(b * perVideo);
    for (let i = 0; i < b; i++) out.set(normalArray(clipRngs[start + i], perVideo), i * perVideo);
    return out;
  };
  // x_T: from its own seed per clip when noiseSeeds are given, else from the same draws as above.
  const initialRngs = noiseSeeds?.map((s) => createRng(s));
  const drawInitial = (start: number, b: number): Float32Array => {
    if (!initialRngs) return draw(start, b);
    const out = new Float32Array(b * perVideo);
    for (let i = 0; i < b; i++) {
      out.set(normalArray(initialRngs[start + i], perVideo), i * perVideo);
    }
    return out;
  };
  const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
  // Evenly spaced timesteps from T-1 down to 0.
  const ts = Array.from(
    { length: steps },
    (_, i) => Math.round((c.timesteps - 1) * (1 - i / steps)),
  );
  const shape = [c.frames, c.size, c.size, 3];
  const chunks: tf.Tensor[] = [];
  try {
    for (let start = 0; start < prompts.length; start += batchSize) {
      const b = Math.min(batchSize, prompts.length - start);
      const tokens = tokensAll.slice([start, 0], [b, PROMPT_LENGTH]);
      let x = tf.tensor(drawInitial(start, b), [b, ...shape]);
      for (let i = 0; i < steps; i++) {
        const t = ts[i];
        const aT = ab[t];
        const aPrev = i + 1 < steps ? ab[ts[i + 1]] : 1;
        const extra = eta > 0 ? draw(start, b) : undefined;
        const next = tf.tidy(() => {
          const tt = tf.fill([b], t, "int32") as tf.Tensor1D;
          let pred: { eps: tf.Tensor; clean: tf.Tensor };
          const wt = t < guidanceFrom ? wBelow : w;
          if (wt === 1 && lambda === 0) {
            pred = predictNoiseAndClean(gen, { xt: x, t: tt, tokens });
          } else {
            // rows: conditional, unconditional, and (with shape guidance) the shape word left out
            const k = lambda > 0 ? 3 : 2;
            const rows = [tokens, tokens, ...(k === 3 ? [withoutShapeWord(tokens)] : [])];
            const all = predictNoiseAndClean(gen, {
              xt: tf.concat(Array(k).fill(x)),
              t: tf.concat(Array(k).fill(tt)) as tf.Tensor1D,
              tokens: tf.concat(rows) as tf.Tensor2D,
            }, {
              keep: tf.concat([
                tf.ones([b]),
                tf.zeros([b]),
                ...(k === 3 ? [tf.ones([b])] : []),
              ]) as tf.Tensor1D,
            });
            const mix = (v: tf.Tensor) => {
              const [cond, uncond, noShape] = tf.split(v, k);
              const cfg = uncond.add(cond.sub(uncond).mul(wt));
              return noShape ? cfg.add(cond.sub(noShape).mul(lambda)) : cfg;
            };
            pred = { eps: mix(all.eps), clean: mix(all.clean) };
          }
          // x0 estimate, clipped to the data range unless `clip` is off: the
          // network's clean image, or the gated estimate implied by ε̂.
          const gated = x.sub(pred.eps.mul(Math.sqrt(1 - aT))).div(Math.sqrt(aT));
          const raw = estimate === "clean" && t < cleanBelow
            ? (leak > 0 ? pred.clean.add(gated.sub(pred.clean).mul(leak)) : pred.clean)
            : gated;
          const x0 = clip ? raw.clipByValue(-1, 1) : raw;
          const epsHat = x.sub(x0.mul(Math.sqrt(aT))).div(Math.sqrt(1 - aT));
          const sigma = eta * Math.sqrt((1 - aPrev) / (1 - aT) * (1 - aT / aPrev));
          let out = x0.mul(Math.sqrt(aPrev)).add(
            epsHat.mul(Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma))),
          );
          if (extra && sigma > 0) {
            out = out.add(tf.tensor(extra, x.shape).mul(sigma));
          }
          return out;
        });
        x.dispose();
        x = next;
      }
      chunks.push(tf.tidy(() => x.add(1).div(2).clipByValue(0, 1)));
      x.dispose();
      tokens.dispose();
    }
    return chunks.length === 1 ? chunks[0] : tf.tidy(() => tf.concat(chunks));
  } finally {
    tokensAll.dispose();
    if (chunks.length > 1) tf.dispose(chunks);
  }
}

/**
 * Samples clips and returns them as {@linkcode Video} values (data copied off
 * the backend with an asynchronous read; nothing to dispose).
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator, sampleClips } from "@halo/kit";
 * const gen = createGenerator({ dim: 16, depth: 1, heads: 2, frames: 4, size: 16, tokenGrid: { rows: 4, cols: 4, framesPerPatch: 2 } });
 * const [clip] = await sampleClips(gen, ["one red circle moving up slowly on a black background"], { steps: 2, seed: 3 });
 * console.log(clip.numFrames, clip.width, clip.frames.length); // 4 16 3072
 * disposeGenerator(gen);
 * ```
 */
export async function sampleClips(
  gen: Generator,
  prompts: ReadonlyArray<string | ShapesPrompt>,
  options: SampleOptions = {},
): Promise<Video[]> {
  const x = sampleVideos(gen, prompts, options);
  let data: Float32Array;
  try {
    data = await x.data() as Float32Array;
  } finally {
    x.dispose();
  }
  const c = gen.config;
  const n = c.frames * c.size * c.size * 3;
  return prompts.map((p, i) => ({
    frames: data.slice(i * n, (i + 1) * n),
    numFrames: c.frames,
    height: c.size,
    width: c.size,
    fps: 8,
    source: `generator:${typeof p === "string" ? p : p.text}:` +
      (options.seeds ? `seed=${options.seeds[i]}` : `seed=${options.seed ?? 0}#${i}`) +
      (options.noiseSeeds ? `,noise=${options.noiseSeeds[i]}` : ""),
  }));
}
