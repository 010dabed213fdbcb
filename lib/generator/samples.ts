/**
 * The sample sheet (`lib/cli/main.ts samples`, the generator README's picture): one row of
 * frames per held-out test prompt, optionally with the renderer's clip of the same prompt.
 * @module
 */

import { checkInt } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import { writeFileAtomic } from "../core/_atomic.ts";
import { disposeGenerator, type Generator } from "./model.ts";
import { loadGenerator } from "./io.ts";
import { SAMPLE_DEFAULTS, sampleClips } from "./sampler.ts";
import { videoSheet } from "../videos/sheet.ts";
import { promptSplits, renderClip, type ShapesPrompt } from "../videos/world.ts";
import { type ModelRef, shipped } from "../core/shipped.ts";

/** Options for {@linkcode sampleGrid}. */
export interface SampleGridOptions {
  /** Frames shown per prompt (evenly spaced). Default 8. */
  frames?: number;
  /** Pixel zoom. Default 2. */
  scale?: number;
  /** DDIM steps. Default: the sampler's ({@linkcode SAMPLE_DEFAULTS}). */
  steps?: number;
  /** Sampling seed. Default 0. */
  seed?: number;
  /** CFG scale. Default: the sampler's ({@linkcode SAMPLE_DEFAULTS}). */
  guidance?: number;
  /** Also draw the renderer's clip of the same prompt under each sample. Default false. */
  withReference?: boolean;
  /** DDIM clean estimate, as in `sampleVideos`. Default "clean". */
  estimate?: "clean" | "gated";
  /** Steps at t ≥ this use the gated estimate (see `sampleVideos`). */
  cleanBelow?: number;
  /** Share of the gated estimate mixed in (see `sampleVideos`). */
  leak?: number;
}

/**
 * Samples one clip per prompt and lays them out as an RGB8 image: one row per
 * prompt (plus, optionally, the ground-truth render below it), `frames` columns.
 * Resolves to the PNG bytes.
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator, pickTestPrompts, sampleGrid } from "@halo/kit";
 * const gen = createGenerator({ frames: 4, size: 16, dim: 16, depth: 1, heads: 2, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } });
 * const png = await sampleGrid(gen, pickTestPrompts(2, 0), { frames: 3, steps: 2 });
 * console.log(png.length > 0); // true
 * disposeGenerator(gen);
 * ```
 */
export async function sampleGrid(
  gen: Generator,
  prompts: readonly ShapesPrompt[],
  options: SampleGridOptions = {},
): Promise<Uint8Array> {
  const where = "sampleGrid";
  const c = gen.config;
  const frames = checkInt(where, "frames", options.frames ?? 8, 1, c.frames);
  const scale = checkInt(where, "scale", options.scale ?? 2, 1, 16);
  const samples = await sampleClips(gen, prompts, {
    steps: options.steps,
    seed: options.seed,
    guidance: options.guidance,
    estimate: options.estimate,
    cleanBelow: options.cleanBelow,
    leak: options.leak,
  });
  const rows = samples.flatMap((sample, i) =>
    options.withReference
      ? [sample, renderClip(prompts[i], { frames: c.frames, size: c.size, seed: i }).video]
      : [sample]
  );
  return videoSheet(rows, { frames, scale, gap: 2 });
}

/** `n` held-out test prompts, spread over the test combinations, picked by `seed`. */
export function pickTestPrompts(n: number, seed: number): ShapesPrompt[] {
  const test = promptSplits({ seed: 0 }).test;
  const rng = createRng(seed);
  const combos = [...new Set(test.map((p) => `${p.color}/${p.shape}`))];
  return Array.from({ length: n }, (_, i) => {
    const combo = combos[i % combos.length];
    return rng.pick(test.filter((p) => `${p.color}/${p.shape}` === combo));
  });
}

/** Options for {@linkcode writeSampleSheet}; defaults in {@linkcode SAMPLE_SHEET_DEFAULTS}. */
export interface SampleSheetOptions extends SampleGridOptions {
  /** Generator checkpoint. Default: the shipped generator ({@linkcode shipped}). */
  checkpoint?: ModelRef;
  /** PNG file to write. */
  out?: string;
  /** Number of held-out test prompts (rows). */
  prompts?: number;
}

/** The defaults of {@linkcode SampleSheetOptions} (the `samples` task's flags show the same). */
export const SAMPLE_SHEET_DEFAULTS: Readonly<{
  out: string;
  prompts: number;
  seed: number;
  steps: number;
  guidance: number;
  estimate: "clean" | "gated";
}> = Object.freeze({
  out: "out/samples.png",
  prompts: 8,
  seed: 0,
  steps: SAMPLE_DEFAULTS.steps,
  guidance: SAMPLE_DEFAULTS.guidance,
  estimate: "clean",
});

/**
 * Loads a generator checkpoint, samples `prompts` held-out test prompts (picked
 * by `seed`) and writes the {@linkcode sampleGrid} picture to `out` atomically.
 * Resolves to the prompts of the rows, in order.
 *
 * @example
 * ```ts
 * import { initBackend, shipped, writeSampleSheet } from "@halo/kit";
 * await initBackend();
 * const out = `${await Deno.makeTempDir()}/samples.png`;
 * const rows = await writeSampleSheet({ checkpoint: shipped.generator, out, prompts: 1, steps: 2 });
 * console.log(rows.length); // 1
 * ```
 */
export async function writeSampleSheet(options: SampleSheetOptions = {}): Promise<ShapesPrompt[]> {
  const d = SAMPLE_SHEET_DEFAULTS;
  const seed = checkInt("writeSampleSheet", "seed", options.seed ?? d.seed, 0, 0xffffffff);
  const count = checkInt("writeSampleSheet", "prompts", options.prompts ?? d.prompts, 1, 4096);
  const { generator } = await loadGenerator(options.checkpoint ?? shipped.generator);
  try {
    const prompts = pickTestPrompts(count, seed);
    const png = await sampleGrid(generator, prompts, {
      ...options,
      seed,
      steps: options.steps ?? d.steps,
      guidance: options.guidance ?? d.guidance,
      estimate: options.estimate ?? d.estimate,
    });
    await writeFileAtomic(options.out ?? d.out, png);
    return prompts;
  } finally {
    disposeGenerator(generator);
  }
}
