/**
 * Scoring videos with a reward model: {@linkcode scoreRewards} (both heads, batched, every
 * input checked first), its video-only and patch-only views ({@linkcode scoreVideo},
 * {@linkcode scorePatches}), {@linkcode resampleVideo} for videos of another size, and the
 * patch scores in label order ({@linkcode flattenPatchScores}) or as labeller-style
 * {@linkcode PatchLabel}s ({@linkcode rewardPatchLabels}). The model itself is in
 * `model.ts`.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, fail } from "../core/_errors.ts";
import { ASPECTS, type AspectScores, type PatchLabel } from "../videos/scores.ts";
import { numSegments, patchId } from "../videos/patch.ts";
import { PROMPT_LENGTH, tokenizePrompt } from "../generator/prompt.ts";
import type { Video } from "../videos/video.ts";
import { parsePrompt } from "../videos/world.ts";
import { rewardForward, rewardGrid, type RewardModel, type RewardOutputs } from "./model.ts";

/** One video to score. */
export interface ScoreItem {
  /** The video. */
  video: Video;
  /** Its prompt (a ShapesWorld sentence; anything else is scored with the null prompt). */
  prompt: string;
}

/** Options of the scoring functions. */
export interface ScoreOptions {
  /** Clips per forward pass. Default 16. */
  batchSize?: number;
  /**
   * Resample videos of another size to the model's (frames evenly spaced,
   * pixels box-filtered) instead of failing. Default false: a mismatch is an
   * error, because silently resampling would hide a wrong grid.
   */
  resample?: boolean;
  /** Where notes go (resampling, unknown prompts). Default `console.warn`. */
  note?: (message: string) => void;
}

/** Video and patch scores of one video. */
export interface RewardScores {
  /** One score per aspect. */
  video: AspectScores;
  /** `[rows][cols][segments][aspects]` patch scores (aspects in {@linkcode ASPECTS} order). */
  patches: number[][][][];
}

/**
 * Resamples a video to `frames` frames of `size × size` pixels: frames evenly
 * spaced over the clip (nearest), pixels box-filtered (area average, so
 * shrinking keeps the mean colour; growing repeats pixels).
 *
 * @example
 * ```ts
 * import { createVideo } from "@halo/kit";
 * import { resampleVideo } from "@halo/kit/reward";
 * const v = createVideo({ frames: new Float32Array(8 * 64 * 48 * 3).fill(0.5), numFrames: 8, height: 64, width: 48 });
 * const r = resampleVideo(v, { frames: 16, size: 32 });
 * console.log(r.numFrames, r.height, r.width); // 16 32 32
 * ```
 */
export function resampleVideo(video: Video, target: { frames: number; size: number }): Video {
  const { numFrames: T, height: H, width: W } = video;
  const t2 = target.frames, s = target.size;
  const out = new Float32Array(t2 * s * s * 3);
  const frameOf = (i: number) => t2 === 1 ? 0 : Math.round(i * (T - 1) / (t2 - 1));
  for (let f = 0; f < t2; f++) {
    const src = frameOf(f);
    for (let y = 0; y < s; y++) {
      const y0 = y * H / s, y1 = (y + 1) * H / s;
      for (let x = 0; x < s; x++) {
        const x0 = x * W / s, x1 = (x + 1) * W / s;
        let r = 0, g = 0, bl = 0, wsum = 0;
        for (let yy = Math.floor(y0); yy < Math.min(H, Math.ceil(y1)); yy++) {
          const wy = Math.min(yy + 1, y1) - Math.max(yy, y0);
          for (let xx = Math.floor(x0); xx < Math.min(W, Math.ceil(x1)); xx++) {
            const w = wy * (Math.min(xx + 1, x1) - Math.max(xx, x0));
            const i = ((src * H + yy) * W + xx) * 3;
            r += w * video.frames[i];
            g += w * video.frames[i + 1];
            bl += w * video.frames[i + 2];
            wsum += w;
          }
        }
        const o = ((f * s + y) * s + x) * 3;
        out[o] = r / wsum;
        out[o + 1] = g / wsum;
        out[o + 2] = bl / wsum;
      }
    }
  }
  return Object.freeze({
    frames: out,
    numFrames: t2,
    height: s,
    width: s,
    fps: video.fps * (t2 / T),
    source: `${video.source} (resampled to ${t2}×${s}×${s})`,
  });
}

/** Checks one item, resamples it when allowed, and returns its frames at the model's size. */
function prepareItem(
  model: RewardModel,
  item: ScoreItem,
  index: number,
  options: ScoreOptions,
): { frames: Float32Array; known: boolean } {
  const c = model.config;
  const v = item?.video;
  const where = `score item ${index} (${JSON.stringify(v?.source ?? "?")})`;
  if (!v || !(v.frames instanceof Float32Array)) fail(where, "a Video", v);
  const { numFrames: T, height: H, width: W } = v;
  if (v.frames.length !== T * H * W * 3) {
    fail(where, `${T * H * W * 3} frame values for ${T}×${H}×${W}×3`, v.frames.length);
  }
  for (let i = 0; i < v.frames.length; i++) {
    if (!Number.isFinite(v.frames[i])) {
      const frame = Math.floor(i / (H * W * 3));
      fail(where, "finite pixel values", `${v.frames[i]} in frame ${frame} (value index ${i})`);
    }
  }
  let video = v;
  if (T !== c.frames || H !== c.size || W !== c.size) {
    if (!options.resample) {
      fail(
        where,
        `a video of ${c.frames} frames of ${c.size}×${c.size} (the reward model's grid ${c.grid}; ` +
          `pass { resample: true } to resize it)`,
        `${T} frames of ${H}×${W}`,
      );
    }
    (options.note ?? console.warn)(
      `${where}: resampled ${T} frames of ${H}×${W} to the model's ${c.frames} frames of ` +
        `${c.size}×${c.size} (scores refer to the resampled grid)`,
    );
    video = resampleVideo(v, { frames: c.frames, size: c.size });
  }
  let known = true;
  try {
    parsePrompt(item.prompt);
  } catch {
    known = false;
    (options.note ?? console.warn)(
      `${where}: prompt ${
        JSON.stringify(String(item.prompt).slice(0, 60))
      } is not a ShapesWorld sentence; scored with the null prompt (text alignment is then not ` +
        `meaningful)`,
    );
  }
  return { frames: video.frames, known };
}

/**
 * Scores videos with both heads, batched. Every input is checked first
 * (size, NaN pixels), with an error naming the item.
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, parsePrompt, renderClip, scoreRewards } from "@halo/kit";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const prompt = "one red circle moving up slowly on a black background";
 * const [s] = await scoreRewards(model, [{ video: renderClip(parsePrompt(prompt)).video, prompt }]);
 * console.log(s.video.visual_quality > 1, s.patches.length); // true 4
 * disposeRewardModel(model);
 * ```
 */
export async function scoreRewards(
  model: RewardModel,
  items: readonly ScoreItem[],
  options: ScoreOptions = {},
): Promise<RewardScores[]> {
  if (!Array.isArray(items)) fail("scoreRewards", "an array of {video, prompt}", items);
  const c = model.config;
  const grid = rewardGrid(c);
  const segments = numSegments(grid, c.frames);
  const n = segments * grid.rows * grid.cols; // tokens (patches) per clip
  const batchSize = checkInt("scoreRewards", "batchSize", options.batchSize ?? 16, 1);
  const prepared = items.map((item, i) => prepareItem(model, item, i, options));
  const perVideo = c.frames * c.size * c.size * 3;
  const na = ASPECTS.length;
  const results: RewardScores[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    const chunk = prepared.slice(start, start + batchSize);
    const b = chunk.length;
    const data = new Float32Array(b * perVideo);
    chunk.forEach((p, i) => data.set(p.frames, i * perVideo));
    const ids = new Int32Array(b * PROMPT_LENGTH);
    chunk.forEach((p, i) => {
      if (p.known) ids.set(tokenizePrompt(items[start + i].prompt), i * PROMPT_LENGTH);
    });
    const out = tf.tidy(() => {
      const x = tf.tensor(data, [b, c.frames, c.size, c.size, 3]);
      const tokens = tf.tensor2d(ids, [b, PROMPT_LENGTH], "int32");
      const keep = tf.tensor1d(chunk.map((p) => (p.known ? 1 : 0)), "float32");
      return rewardForward(model, { x, tokens }, { keep }) as unknown as tf.TensorContainer;
    }) as unknown as RewardOutputs;
    let vs: Float32Array, ps: Float32Array;
    try {
      vs = (await out.video.data()) as Float32Array;
      ps = (await out.patches.data()) as Float32Array;
    } finally {
      tf.dispose([out.video, out.patches]);
    }
    for (let i = 0; i < b; i++) {
      const video = {} as AspectScores;
      ASPECTS.forEach((a, k) => (video[a] = vs[i * na + k]));
      const patches = Array.from(
        { length: grid.rows },
        (_, r) =>
          Array.from(
            { length: grid.cols },
            (_, col) =>
              Array.from({ length: segments }, (_, s) => {
                const k = (s * grid.rows + r) * grid.cols + col;
                return Array.from({ length: na }, (_, a) => ps[(i * n + k) * na + a]);
              }),
          ),
      );
      results.push({ video, patches });
    }
  }
  return results;
}

/**
 * Video-level scores (one per aspect) of each item, batched.
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, parsePrompt, renderClip, scoreVideo } from "@halo/kit";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const prompt = "two blue squares moving left quickly on a gray background";
 * const [scores] = await scoreVideo(model, [{ video: renderClip(parsePrompt(prompt)).video, prompt }]);
 * console.log(Object.keys(scores)); // ["visual_quality", "temporal_consistency", "text_alignment"]
 * disposeRewardModel(model);
 * ```
 */
export async function scoreVideo(
  model: RewardModel,
  items: readonly ScoreItem[],
  options: ScoreOptions = {},
): Promise<AspectScores[]> {
  return (await scoreRewards(model, items, options)).map((s) => s.video);
}

/**
 * Patch scores of each item as a `[rows][cols][segments][aspects]` array, batched.
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, parsePrompt, renderClip, scorePatches } from "@halo/kit";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
 * const prompt = "one green triangle moving down slowly on a navy background";
 * const [p] = await scorePatches(model, [{ video: renderClip(parsePrompt(prompt)).video, prompt }]);
 * console.log(p.length, p[0].length, p[0][0].length, p[0][0][0].length); // 4 4 4 3
 * disposeRewardModel(model);
 * ```
 */
export async function scorePatches(
  model: RewardModel,
  items: readonly ScoreItem[],
  options: ScoreOptions = {},
): Promise<number[][][][][]> {
  return (await scoreRewards(model, items, options)).map((s) => s.patches);
}

/**
 * Flattens a `[rows][cols][segments][aspects]` patch array to patch-index
 * order `[patch][aspect]` (index `(segment·rows + row)·cols + col`, as
 * {@linkcode patchId}), the order labels use.
 *
 * @example
 * ```ts
 * import { flattenPatchScores } from "@halo/kit";
 * const grid = [[[[1], [2]], [[3], [4]]]]; // 1 row, 2 cols, 2 segments, 1 aspect
 * console.log(flattenPatchScores(grid)); // [[1], [3], [2], [4]]
 * ```
 */
export function flattenPatchScores(patches: number[][][][]): number[][] {
  const rows = patches.length, cols = patches[0].length, segments = patches[0][0].length;
  const out: number[][] = [];
  for (let s = 0; s < segments; s++) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push(patches[r][c][s]);
  }
  return out;
}

/**
 * A reward model's patch scores as labeller-style {@linkcode PatchLabel}s (id,
 * flat index, scores by aspect), so the labeller's tools — `worstFirst`,
 * `topKHit` — apply to the PRM as they do to distilled labels.
 *
 * @example
 * ```ts
 * import { createRewardModel, disposeRewardModel, parsePrompt, renderClip, rewardPatchLabels, scoreRewards } from "@halo/kit";
 * const model = createRewardModel({ dim: 16, depth: 1, heads: 2, promptLayers: 0 });
 * const prompt = "one red circle moving right slowly on a black background";
 * const [scores] = await scoreRewards(model, [{ video: renderClip(parsePrompt(prompt)).video, prompt }]);
 * const labels = rewardPatchLabels(model, scores);
 * console.log(labels.length, labels[5].id); // 64 "s0r1c1"
 * disposeRewardModel(model);
 * ```
 */
export function rewardPatchLabels(model: RewardModel, scores: RewardScores): PatchLabel[] {
  const grid = rewardGrid(model.config);
  return flattenPatchScores(scores.patches).map((s, index) => ({
    id: patchId(grid, index),
    index,
    scores: Object.fromEntries(ASPECTS.map((a, k) => [a, s[k]])) as AspectScores,
    reason: "",
  }));
}
