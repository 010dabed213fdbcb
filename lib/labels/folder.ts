/**
 * Labelling from the command line (`deno task label`) and the labeller
 * benchmark: label every video of a folder with a `prompts.json` manifest
 * (the format of `../shared/videos/prompts.json`), or generated ShapesWorld
 * clips, into a JSONL label file that doubles as the cache, through GPT-4o,
 * any OpenAI-compatible server, or an in-process judge server — directly or
 * through the Batch API — or preview the run's size and cost (`--dry-run`).
 * @module
 */

import { isAbsolute, join, relative, resolve } from "node:path";
import { fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import { checkInt } from "../core/_errors.ts";
import { startJudgeServer } from "./judge_server/server.ts";
import { type LabelRunReport, labelVideos } from "./label.ts";
import {
  type BatchLabelOptions,
  type BatchRunReport,
  labelBatch,
  type LabelItemSource,
} from "./batch.ts";
import { type LabelPreview, previewLabelling } from "./preview.ts";
import { DEFAULT_GRID, type PatchGrid } from "../videos/patch.ts";
import { createVideo, loadVideo, type Video } from "../videos/video.ts";
import { renderClip, samplePrompt } from "../videos/world.ts";

/** One entry of a `prompts.json` manifest. */
export interface PromptManifestEntry {
  /** Video file name, relative to the folder. */
  file: string;
  /** Its prompt. */
  prompt: string;
}

/**
 * Reads `DIR/prompts.json` (`{"videos": [{"file", "prompt"}, …]}`, optionally with a
 * `"source"` note); errors name the file and the field. File names must stay inside
 * `DIR` (no absolute paths, no `..`), and unknown fields are errors (a typo such as
 * `"promt"` would otherwise drop the prompt silently).
 *
 * @example
 * ```ts
 * import { readPromptManifest } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify({ videos: [{ file: "a.gif", prompt: "a cat" }] }));
 * assert.deepEqual(await readPromptManifest(dir), [{ file: "a.gif", prompt: "a cat" }]);
 * await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify({ videos: [{ file: "../a.gif", prompt: "a cat" }] }));
 * await assert.rejects(readPromptManifest(dir), /videos\[0\]\.file: Expected a file name inside/);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readPromptManifest(dir: string): Promise<PromptManifestEntry[]> {
  if (typeof dir !== "string" || dir === "") fail("readPromptManifest", "a folder path", dir);
  const path = join(dir, "prompts.json");
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      fail(path, 'a prompts manifest {"videos": [{"file", "prompt"}]}', "no such file");
    }
    fail(path, "valid JSON", (error as Error).message);
  }
  if (!isRecord(value)) fail(path, 'a JSON object {"videos": [...]}', value);
  unknownFields(path, value, ["videos", "source"]);
  const videos = value.videos;
  if (!Array.isArray(videos)) fail(`${path}: videos`, "an array", videos);
  return videos.map((entry: unknown, i: number) => {
    const at = `${path}: videos[${i}]`;
    if (!isRecord(entry)) fail(at, 'an object {"file", "prompt"}', entry);
    unknownFields(at, entry, ["file", "prompt"]);
    const file = entry.file;
    if (typeof file !== "string" || file.trim() === "") fail(`${at}.file`, "a file name", file);
    const inside = relative(resolve(dir), resolve(dir, file));
    if (isAbsolute(file) || inside === "" || inside.startsWith("..") || isAbsolute(inside)) {
      fail(`${at}.file`, `a file name inside ${dir}`, file);
    }
    if (typeof entry.prompt !== "string" || entry.prompt.trim() === "") {
      fail(`${at}.prompt`, "a non-empty prompt", entry.prompt);
    }
    return { file, prompt: entry.prompt };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function unknownFields(where: string, value: Record<string, unknown>, known: string[]): void {
  const extra = Object.keys(value).filter((k) => !known.includes(k));
  if (extra.length > 0) fail(where, `only the fields ${known.join(", ")}`, extra[0]);
}

/**
 * Trims a video to the largest size the grid divides: trailing frames, bottom
 * rows and right columns that do not fill a whole patch are dropped.
 */
export function fitToGrid(video: Video, grid: PatchGrid): Video {
  const T = video.numFrames - (video.numFrames % grid.framesPerPatch);
  const H = video.height - (video.height % grid.rows);
  const W = video.width - (video.width % grid.cols);
  if (T === 0 || H === 0 || W === 0) {
    fail(
      `fitToGrid(${video.source})`,
      `a video with at least ${grid.framesPerPatch} frames of ${grid.cols}x${grid.rows} pixels`,
      `${video.numFrames} frames of ${video.width}x${video.height}`,
    );
  }
  if (T === video.numFrames && H === video.height && W === video.width) return video;
  const frames = new Float32Array(T * H * W * 3);
  for (let t = 0; t < T; t++) {
    for (let y = 0; y < H; y++) {
      const src = ((t * video.height + y) * video.width) * 3;
      frames.set(video.frames.subarray(src, src + W * 3), ((t * H + y) * W) * 3);
    }
  }
  return createVideo({
    frames,
    numFrames: T,
    height: H,
    width: W,
    fps: video.fps,
    source: video.source,
  });
}

/** Options of {@linkcode labelFolder}. */
export interface LabelFolderOptions extends Omit<BatchLabelOptions, "cache"> {
  /** Label file (JSONL; also the cache). */
  out: string;
  /** Use the Batch API. Default false. */
  batch?: boolean;
  /** Load this many frames per video (evenly spaced). Default: all. */
  frames?: number;
}

/**
 * The videos of `DIR/prompts.json` as a source that decodes one video at a
 * time, each trimmed to the grid ({@linkcode fitToGrid}).
 *
 * @example
 * ```ts
 * import { folderSource } from "@halo/kit/labels";
 * import { parsePrompt, renderClip, saveVideo } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const text = "one red circle moving left slowly on a black background";
 * await saveVideo(renderClip(parsePrompt(text), { seed: 1 }).video, `${dir}/a.gif`);
 * await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify({ videos: [{ file: "a.gif", prompt: text }] }));
 * const source = await folderSource(dir);
 * assert.equal(source.count, 1);
 * assert.equal((await source.load(0)).video.numFrames, 16);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function folderSource(
  dir: string,
  options: { grid?: PatchGrid; frames?: number } = {},
): Promise<LabelItemSource> {
  const grid = options.grid ?? DEFAULT_GRID;
  const entries = await readPromptManifest(dir);
  return {
    count: entries.length,
    load: async (i) => {
      const path = resolve(dir, entries[i].file);
      const video = await loadVideo(path, options.frames ? { frames: options.frames } : {});
      return { video: fitToGrid(video, grid), prompt: entries[i].prompt };
    },
  };
}

/** The defaults of {@linkcode ShapesSourceOptions} (`deno task label --shapes` shows the same). */
export const SHAPES_SOURCE_DEFAULTS: Readonly<Required<ShapesSourceOptions>> = Object.freeze({
  size: 32,
  frames: 16,
  seed: 0,
});

/** Options of {@linkcode shapesSource}. */
export interface ShapesSourceOptions {
  /** Frame side in pixels. Default 32. */
  size?: number;
  /** Frames per clip. Default 16. */
  frames?: number;
  /** Seed of the prompts and renders. Default 0. */
  seed?: number;
}

/**
 * `count` ShapesWorld clips with sampled prompts, rendered on demand (item `i`
 * is always the same clip for the same seed).
 *
 * @example
 * ```ts
 * import { shapesSource } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const source = shapesSource(10, { size: 16, frames: 4 });
 * const item = await source.load(3);
 * assert.equal(item.video.width, 16);
 * assert.deepEqual((await source.load(3)).video.frames, item.video.frames);
 * ```
 */
export function shapesSource(count: number, options: ShapesSourceOptions = {}): LabelItemSource {
  checkInt("shapesSource", "count", count, 1);
  const seed = options.seed ?? SHAPES_SOURCE_DEFAULTS.seed;
  const size = options.size ?? SHAPES_SOURCE_DEFAULTS.size;
  const frames = options.frames ?? SHAPES_SOURCE_DEFAULTS.frames;
  return {
    count,
    load: (i) => {
      const prompt = samplePrompt(createRng(seed * 1_000_003 + i));
      const { video } = renderClip(prompt, { seed: (seed * 7919 + i) >>> 0, size, frames });
      return Promise.resolve({
        video: { ...video, source: `shapes:${seed}:${i}:size=${size}:frames=${frames}` },
        prompt: prompt.text,
      });
    },
  };
}

/** Where a {@linkcode shapesSource} clip came from, read back from its `source`. */
export interface ShapesClipRef {
  /** Seed of the source. */
  seed: number;
  /** Index of the clip in the source. */
  index: number;
  /** Frame side (labels written before it was recorded: the default, 32). */
  size: number;
  /** Frames, when recorded. */
  frames?: number;
}

/**
 * Reads a {@linkcode shapesSource} clip's `source` (`shapes:SEED:I:size=S:frames=F`,
 * or the older `shapes:SEED:I`), or null for any other source, so the clip can be
 * rendered again: `shapesSource(index + 1, { seed, size, frames }).load(index)`.
 *
 * @example
 * ```ts
 * import { parseShapesSource } from "@halo/kit/labels";
 * console.log(parseShapesSource("shapes:0:7:size=32:frames=16")); // { seed: 0, index: 7, size: 32, frames: 16 }
 * console.log(parseShapesSource("/videos/duck.gif")); // null
 * ```
 */
export function parseShapesSource(source: string): ShapesClipRef | null {
  const m = /^shapes:(\d+):(\d+)(?::size=(\d+))?(?::frames=(\d+))?$/.exec(String(source));
  if (!m) return null;
  const ref: ShapesClipRef = {
    seed: Number(m[1]),
    index: Number(m[2]),
    size: m[3] ? Number(m[3]) : SHAPES_SOURCE_DEFAULTS.size,
  };
  if (m[4]) ref.frames = Number(m[4]);
  return ref;
}

/**
 * Labels every video listed in `DIR/prompts.json` into `options.out`.
 *
 * @example
 * ```ts
 * import { labelFolder, parsePrompt, renderClip, saveVideo, startJudgeServer } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const text = "one red circle moving left slowly on a black background";
 * await saveVideo(renderClip(parsePrompt(text), { seed: 1 }).video, `${dir}/a.gif`);
 * await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify({ videos: [{ file: "a.gif", prompt: text }] }));
 * const server = startJudgeServer({ port: 0 });
 * const report = await labelFolder(dir, { out: `${dir}/labels.jsonl`, baseURL: server.url, quiet: true });
 * assert.equal(report.failed, 0);
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function labelFolder(
  dir: string,
  options: LabelFolderOptions,
): Promise<LabelRunReport> {
  const source = await folderSource(dir, options);
  return await labelSource(source, options);
}

/**
 * Labels a source directly or (with `batch`) through the Batch API into
 * `options.out` (the label file, also the cache).
 */
export async function labelSource(
  source: LabelItemSource,
  options: LabelFolderOptions,
): Promise<LabelRunReport> {
  if (options.batch && options.maxCostUsd !== undefined) {
    fail("labelFolder", "no maxCostUsd with the Batch API (its bill comes at the end)", "both");
  }
  if (options.batch) return await labelBatch(source, { ...options, cache: options.out });
  const items = [];
  for (let i = 0; i < source.count; i++) items.push(await source.load(i));
  return await labelVideos(items, { ...options, cache: options.out });
}

/** Options of {@linkcode labelTask}: what to label and how (`deno task label`). */
export interface LabelTaskOptions extends Omit<LabelFolderOptions, "out"> {
  /** A folder of videos with `prompts.json`. */
  videos?: string;
  /** Or this many generated ShapesWorld clips (`size` and `seed` in `shapesOptions`). */
  shapes?: number;
  /** Size and seed of the `shapes` clips (frames: `frames`). */
  shapesOptions?: Omit<ShapesSourceOptions, "frames">;
  /** Label file (JSONL, also the cache); required unless `dryRun`. */
  out?: string;
  /** Preview the run instead (requests, batch files, bytes, tokens, dollars); send nothing. */
  dryRun?: boolean;
  /** With `dryRun`: plan for this many videos like the measured ones. */
  count?: number;
  /** With `dryRun`: build and measure at most this many requests. */
  sample?: number;
  /** Label with an in-process judge server on loopback instead of `baseURL`. Default false. */
  judge?: boolean;
}

/** What {@linkcode labelTask} did: a preview, or a labelling run. */
export type LabelTaskResult =
  | { kind: "preview"; preview: LabelPreview }
  | { kind: "labelled"; report: LabelRunReport & Partial<BatchRunReport> };

/**
 * `deno task label` as one call: the videos of a folder or generated
 * ShapesWorld clips, previewed (`dryRun`) or labelled directly or through the
 * Batch API into `out`, by `baseURL` or an in-process judge server (`judge`).
 *
 * @example
 * ```ts
 * import { labelTask } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const r = await labelTask({ shapes: 2, shapesOptions: { size: 16 }, frames: 8, out: `${dir}/l.jsonl`, judge: true, quiet: true });
 * assert.equal(r.kind === "labelled" && r.report.labelled, 2);
 * const p = await labelTask({ shapes: 2, dryRun: true, count: 1000 });
 * assert.equal(p.kind === "preview" && p.preview.videos, 1000);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function labelTask(options: LabelTaskOptions): Promise<LabelTaskResult> {
  const where = "labelTask";
  const { frames, grid } = options;
  let source: LabelItemSource;
  if (options.shapes !== undefined) {
    source = shapesSource(options.shapes, { ...options.shapesOptions, frames });
  } else if (typeof options.videos === "string") {
    source = await folderSource(options.videos, { grid, frames });
  } else fail(where, "videos (a folder) or shapes (a count)", "neither");
  if (options.dryRun) return { kind: "preview", preview: await previewLabelling(source, options) };
  if (typeof options.out !== "string") fail(where, "out (a label file)", options.out);
  const server = options.judge ? startJudgeServer({ port: 0 }) : null;
  try {
    const baseURL = server?.url ?? options.baseURL;
    const report = await labelSource(source, { ...options, out: options.out, baseURL });
    return { kind: "labelled", report };
  } finally {
    await server?.close();
  }
}

/** Options of {@linkcode benchLabeller}. */
export interface BenchLabellerOptions {
  /** Concurrency levels. Default [1, 4, 16]. */
  concurrencies?: readonly number[];
  /** Simulated latency of every judge answer, ms. Default 200. */
  latencyMs?: number;
  /** Videos labelled per level. Default 32. */
  videos?: number;
  /** Grid. Default 4×4×4. */
  grid?: PatchGrid;
}

/** Throughput of the labeller at one concurrency. */
export interface BenchLabellerResult {
  /** Requests in flight. */
  concurrency: number;
  /** Videos labelled. */
  videos: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** Labelled videos per second. */
  videosPerSecond: number;
}

/**
 * Labelled videos per second against an in-process judge server with a fixed
 * simulated latency, at each concurrency (ShapesWorld clips, no cache).
 *
 * @example
 * ```ts
 * import { benchLabeller } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const rows = await benchLabeller({ concurrencies: [1, 2], videos: 2, latencyMs: 10 });
 * assert.equal(rows.length, 2);
 * assert.ok(rows[1].videosPerSecond > 0);
 * ```
 */
export async function benchLabeller(
  options: BenchLabellerOptions = {},
): Promise<BenchLabellerResult[]> {
  const concurrencies = options.concurrencies ?? [1, 4, 16];
  const n = options.videos ?? 32;
  const rng = createRng(1234);
  const items = Array.from({ length: n }, (_, i) => {
    const prompt = samplePrompt(rng);
    return { video: renderClip(prompt, { seed: i }).video, prompt: prompt.text };
  });
  const server = startJudgeServer({ port: 0, latencyMs: options.latencyMs ?? 200 });
  const out: BenchLabellerResult[] = [];
  try {
    for (const concurrency of concurrencies) {
      const report = await labelVideos(items, {
        baseURL: server.url,
        apiKey: "sk-bench",
        concurrency,
        grid: options.grid,
        quiet: true,
      });
      if (report.failed > 0) throw new Error(`benchLabeller: ${report.failed} items failed`);
      out.push({
        concurrency,
        videos: n,
        seconds: report.seconds,
        videosPerSecond: n / report.seconds,
      });
    }
  } finally {
    await server.close();
  }
  return out;
}
