/**
 * Video I/O: the {@linkcode Video} value, decoding (mp4, webm, gif, mov, …)
 * and encoding (mp4, gif, webm) through ffmpeg, and conversion to and from
 * tensors. ffmpeg is always run with an argument array, never a shell.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { delimiter, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { describe, fail } from "../core/_errors.ts";

/**
 * A decoded video: frames as float32 RGB in [0, 1], row-major `[T, H, W, 3]`.
 */
export interface Video {
  /** Pixel data, length `numFrames * height * width * 3`, layout `[T, H, W, 3]`, values in [0, 1]. */
  readonly frames: Float32Array;
  /** Number of frames T. */
  readonly numFrames: number;
  /** Frame height H in pixels. */
  readonly height: number;
  /** Frame width W in pixels. */
  readonly width: number;
  /** Frames per second. */
  readonly fps: number;
  /** Where the video came from: a file path, or a description such as `"shapesworld:seed=3"`. */
  readonly source: string;
}

/** What {@linkcode createVideo} needs; `fps` defaults to 8 and `source` to `"memory"`. */
export interface VideoInit {
  /** Pixel data `[T, H, W, 3]` in [0, 1]. */
  frames: Float32Array;
  /** Frames T. */
  numFrames: number;
  /** Height H. */
  height: number;
  /** Width W. */
  width: number;
  /** Frames per second. Default 8. */
  fps?: number;
  /** Origin. Default `"memory"`. */
  source?: string;
}

/**
 * Builds a validated {@linkcode Video}: sizes must match the data and every value must be a
 * finite number in [0, 1].
 *
 * @example
 * ```ts
 * import { createVideo } from "@halo/kit";
 * const video = createVideo({ frames: new Float32Array(2 * 4 * 4 * 3).fill(0.5), numFrames: 2, height: 4, width: 4 });
 * console.log(video.numFrames, video.fps);
 * ```
 */
export function createVideo(init: VideoInit): Video {
  const { frames, numFrames, height, width } = init;
  const source = init.source ?? "memory";
  const where = `createVideo(${source})`;
  if (!(frames instanceof Float32Array)) fail(where, "frames as a Float32Array", frames);
  for (
    const [name, value] of [["numFrames", numFrames], ["height", height], ["width", width]] as const
  ) {
    if (!Number.isInteger(value) || value < 1) {
      fail(where, `${name} to be a positive integer`, value);
    }
  }
  const fps = init.fps ?? 8;
  if (!(fps > 0 && Number.isFinite(fps))) fail(where, "fps to be a positive number", fps);
  const expected = numFrames * height * width * 3;
  if (frames.length !== expected) {
    fail(
      where,
      `${expected} values for ${numFrames}×${height}×${width}×3`,
      `${frames.length} values`,
    );
  }
  for (let i = 0; i < frames.length; i++) {
    const v = frames[i];
    if (!(v >= 0 && v <= 1)) {
      const pixel = Math.floor(i / 3);
      const frame = Math.floor(pixel / (height * width));
      fail(where, "pixel values in [0, 1]", `${v} at frame ${frame}, value index ${i}`);
    }
  }
  return Object.freeze({ frames, numFrames, height, width, fps, source });
}

/** Converts a video to a `[T, H, W, 3]` float32 tensor (the caller disposes it). */
export function videoToTensor(video: Video): tf.Tensor4D {
  return tf.tensor4d(video.frames, [video.numFrames, video.height, video.width, 3], "float32");
}

/** Options for {@linkcode videoFromTensor}. */
export interface VideoFromTensorOptions {
  /** Frames per second. Default 8. */
  fps?: number;
  /** Origin. Default `"tensor"`. */
  source?: string;
}

/**
 * Converts a `[T, H, W, 3]` tensor to a {@linkcode Video}, clipping values to [0, 1]
 * (model outputs overshoot slightly). The values are read back asynchronously, so it also
 * works on backends without synchronous reads (WebGPU in Deno).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { videoFromTensor, videoToTensor } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const t = tf.fill([2, 4, 4, 3], 0.25);
 * const video = await videoFromTensor(t, { fps: 4 });
 * assert.deepEqual(videoToTensor(video).shape, [2, 4, 4, 3]);
 * ```
 */
export async function videoFromTensor(
  tensor: tf.Tensor,
  options: VideoFromTensorOptions = {},
): Promise<Video> {
  if (tensor.rank !== 4 || tensor.shape[3] !== 3) {
    fail(
      "videoFromTensor",
      "tensor 'tensor' of shape [T, H, W, 3]",
      `shape [${tensor.shape.join(", ")}]`,
    );
  }
  const clipped = tf.tidy(() => tensor.toFloat().clipByValue(0, 1));
  let data: Float32Array;
  try {
    data = await clipped.data() as Float32Array;
  } finally {
    clipped.dispose();
  }
  const [numFrames, height, width] = tensor.shape;
  return createVideo({
    frames: Float32Array.from(data),
    numFrames,
    height,
    width,
    fps: options.fps,
    source: options.source ?? "tensor",
  });
}

let ffmpegPath: string | undefined;

/**
 * The ffmpeg binary the kit runs: `HALO_FFMPEG` if set, else `ffmpeg` on PATH,
 * else the binary shipped by `npm:@ffmpeg-installer/linux-x64`.
 */
export async function findFfmpeg(): Promise<string> {
  if (ffmpegPath) return ffmpegPath;
  const candidates: string[] = [];
  const fromEnv = Deno.env.get("HALO_FFMPEG");
  if (fromEnv) candidates.push(fromEnv);
  for (const dir of (Deno.env.get("PATH") ?? "").split(delimiter)) {
    if (dir) candidates.push(join(dir, "ffmpeg"));
  }
  for (const path of candidates) {
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111)) return ffmpegPath = path;
    } catch {
      // not here
    }
  }
  if (Deno.build.os === "linux" && Deno.build.arch === "x86_64") {
    try {
      const url = new URL("./ffmpeg", import.meta.resolve("@ffmpeg-installer/linux-x64"));
      if (url.protocol === "file:") {
        const path = decodeURIComponent(url.pathname);
        await Deno.stat(path);
        return ffmpegPath = path;
      }
    } catch {
      // package not in the cache
    }
  }
  throw new Error(
    "ffmpeg: Expected an ffmpeg binary (HALO_FFMPEG, ffmpeg on PATH, or npm:@ffmpeg-installer/linux-x64) but found none. " +
      "Install it with `apt-get install ffmpeg`.",
  );
}

interface FfmpegResult {
  stdout: Uint8Array;
  stderr: string;
  code: number;
  /** ffmpeg was stopped because its output passed `maxOutputBytes`. */
  overflow: boolean;
}

async function runFfmpeg(
  args: string[],
  input: Uint8Array | undefined,
  timeoutMs: number,
  maxOutputBytes = Infinity,
): Promise<FfmpegResult> {
  const binary = await findFfmpeg();
  const child = new Deno.Command(binary, {
    args,
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = (): void => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, timeoutMs);
  let overflow = false;
  // Read stdout as it comes, so a decode that grows past the cap is stopped, not buffered.
  const reading = (async () => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of child.stdout) {
      if (overflow) continue;
      size += chunk.length;
      if (size > maxOutputBytes) {
        overflow = true;
        kill();
        continue;
      }
      chunks.push(chunk);
    }
    if (overflow) return new Uint8Array(0);
    const out = new Uint8Array(size);
    let offset = 0;
    for (const c of chunks) (out.set(c, offset), offset += c.length);
    return out;
  })();
  const errors = new Response(child.stderr).text();
  try {
    const writing = input
      ? (async () => {
        const writer = child.stdin.getWriter();
        try {
          await writer.write(input);
          await writer.close();
        } catch {
          // ffmpeg closed its input early; its exit status tells why
        }
      })()
      : Promise.resolve();
    const [stdout, stderr, status] = await Promise.all([reading, errors, child.status, writing]);
    return { stdout, stderr, code: status.code, overflow };
  } finally {
    clearTimeout(timer);
  }
}

function ffmpegReason(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) =>
    l && !/^(Input|Output|Stream|Duration|Metadata|Press|\[)/.test(l)
  );
  return lines.slice(-2).join("; ") || "ffmpeg gave no reason";
}

/** Size to resize frames to: a number for square frames, or width and height. */
export type VideoSize = number | { width: number; height: number };

/** Options for {@linkcode loadVideo}. */
export interface LoadVideoOptions {
  /** Keep this many frames, evenly spaced over the clip. Default: all. */
  frames?: number;
  /** Resize every frame (area-averaged when shrinking). Default: native size. */
  size?: VideoSize;
  /** Resample the clip to this frame rate before sub-sampling. Default: native rate. */
  fps?: number;
  /** Kill ffmpeg after this many milliseconds. Default 120000. */
  timeoutMs?: number;
  /** Largest file accepted, bytes. Default 2 GiB. */
  maxFileBytes?: number;
  /** Most frames decoded (before `frames` sub-samples; `fps` resamples first). Default 4096. */
  maxFrames?: number;
  /** Largest decoded frame side (after `size`), pixels. Default 4096. */
  maxSide?: number;
  /** Most bytes of decoded RGB frames; ffmpeg is stopped past it. Default 1 GiB. */
  maxDecodedBytes?: number;
}

/** Default caps of {@linkcode loadVideo}. */
export const VIDEO_LIMITS: Readonly<
  Required<Pick<LoadVideoOptions, "maxFileBytes" | "maxFrames" | "maxSide" | "maxDecodedBytes">>
> = Object.freeze({
  maxFileBytes: 2 ** 31,
  maxFrames: 4096,
  maxSide: 4096,
  maxDecodedBytes: 2 ** 30,
});

/**
 * Decodes a video file (anything ffmpeg reads: mp4, webm, gif, mov, …) into a {@linkcode Video}.
 * Errors name the file and the cause: missing file, not a video, truncated, no frames, or
 * past a cap ({@linkcode VIDEO_LIMITS}: file size, frames, frame side, decoded bytes).
 *
 * @example Load a clip at 8 frames of 64×64
 * ```ts
 * import { createVideo, loadVideo, saveVideo } from "@halo/kit";
 * const path = await Deno.makeTempFile({ suffix: ".mp4" });
 * await saveVideo(createVideo({ frames: new Float32Array(16 * 32 * 32 * 3).fill(0.5), numFrames: 16, height: 32, width: 32 }), path);
 * const video = await loadVideo(path, { frames: 8, size: 64 });
 * console.log(video.numFrames, video.height, video.width); // 8 64 64
 * await Deno.remove(path);
 * ```
 */
export async function loadVideo(path: string, options: LoadVideoOptions = {}): Promise<Video> {
  if (typeof path !== "string" || path === "") fail("loadVideo", "a file path", path);
  const absolute = isAbsolute(path) ? path : resolve(path);
  const where = `loadVideo(${JSON.stringify(path)})`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(absolute);
  } catch {
    throw new Error(`${where}: Expected a video file but found no file at that path`);
  }
  if (!info.isFile) {
    throw new Error(
      `${where}: Expected a video file but found ${
        info.isDirectory ? "a directory" : "a special file (pipe, socket or device)"
      }`,
    );
  }
  if (info.size === 0) throw new Error(`${where}: Expected a video file but found an empty file`);
  const limits = { ...VIDEO_LIMITS };
  for (const name of Object.keys(limits) as Array<keyof typeof limits>) {
    const value = options[name];
    if (value === undefined) continue;
    if (!(Number.isInteger(value) && value > 0)) {
      fail(where, `${name} to be a positive integer`, value);
    }
    limits[name] = value;
  }
  if (info.size > limits.maxFileBytes) {
    throw new Error(
      `${where}: Expected a file of at most ${limits.maxFileBytes} bytes (maxFileBytes) but found ` +
        `${info.size} bytes`,
    );
  }
  const size = options.size === undefined
    ? undefined
    : typeof options.size === "number"
    ? { width: options.size, height: options.size }
    : options.size;
  if (
    size &&
    !(Number.isInteger(size.width) && Number.isInteger(size.height) && size.width > 0 &&
      size.height > 0)
  ) {
    fail(
      where,
      "size to be a positive integer or {width, height} of positive integers",
      options.size,
    );
  }
  if (options.frames !== undefined && !(Number.isInteger(options.frames) && options.frames > 0)) {
    fail(where, "frames to be a positive integer", options.frames);
  }
  if (options.fps !== undefined && !(options.fps > 0 && Number.isFinite(options.fps))) {
    fail(where, "fps to be a positive number", options.fps);
  }
  const filters: string[] = [];
  if (options.fps) filters.push(`fps=${options.fps}`);
  if (size) filters.push(`scale=${size.width}:${size.height}:flags=area`);
  // "file:" stops ffmpeg from reading protocol prefixes or "-" in odd file names.
  const args = ["-nostdin", "-hide_banner", "-i", `file:${absolute}`, "-map", "0:v:0"];
  if (filters.length) args.push("-vf", filters.join(","));
  // One frame past the cap tells "too long" from "exactly at the cap".
  args.push("-frames:v", String(limits.maxFrames + 1));
  args.push("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
  const result = await runFfmpeg(
    args,
    undefined,
    options.timeoutMs ?? 120_000,
    limits.maxDecodedBytes,
  );
  if (/matches no streams/.test(result.stderr)) {
    throw new Error(`${where}: Expected a video stream but found none (0 video frames)`);
  }
  const outputPart = result.stderr.slice(result.stderr.indexOf("Output #0"));
  const dims = /Video: rawvideo.*?, (\d+)x(\d+)/.exec(outputPart);
  if (dims && Math.max(Number(dims[1]), Number(dims[2])) > limits.maxSide) {
    throw new Error(
      `${where}: Expected frames of at most ${limits.maxSide} pixels a side (maxSide) but found ` +
        `${dims[1]}x${dims[2]}; pass size to shrink them or raise maxSide`,
    );
  }
  if (result.overflow) {
    throw new Error(
      `${where}: Expected at most ${limits.maxDecodedBytes} bytes of decoded frames ` +
        `(maxDecodedBytes) but found more (${dims ? `${dims[1]}x${dims[2]} frames` : "decoding"} ` +
        "stopped there); pass size or fps to decode less, or raise maxDecodedBytes",
    );
  }
  if (result.code !== 0) {
    throw new Error(
      `${where}: Expected a decodable video but ffmpeg failed (exit ${result.code}): ${
        ffmpegReason(result.stderr)
      }`,
    );
  }
  if (!dims) {
    throw new Error(`${where}: Expected ffmpeg to report the decoded frame size but found none`);
  }
  const width = Number(dims[1]);
  const height = Number(dims[2]);
  const frameBytes = width * height * 3;
  const total = Math.floor(result.stdout.length / frameBytes);
  if (total === 0) {
    throw new Error(
      `${where}: Expected at least one video frame but found 0 frames (empty or truncated stream)`,
    );
  }
  if (total > limits.maxFrames) {
    throw new Error(
      `${where}: Expected at most ${limits.maxFrames} frames (maxFrames) but found more; ` +
        "pass fps to resample the clip (e.g. fps: 8) or raise maxFrames",
    );
  }
  const inputPart = result.stderr.slice(0, result.stderr.indexOf("Output #0"));
  const rate = /, (\d+(?:\.\d+)?) fps/.exec(inputPart) ?? /, (\d+(?:\.\d+)?) tbr/.exec(inputPart);
  const fps = options.fps ?? (rate ? Number(rate[1]) : 8);
  const keep = options.frames ?? total;
  if (keep > total) {
    throw new Error(
      `${where}: Expected at most ${total} frames to keep (the clip has ${total}) but found frames=${keep}`,
    );
  }
  const frames = new Float32Array(keep * frameBytes);
  for (let i = 0; i < keep; i++) {
    // evenly spaced indices that include the first frame and, for keep > 1, the last
    const src = keep === 1 ? 0 : Math.round((i * (total - 1)) / (keep - 1));
    const bytes = result.stdout.subarray(src * frameBytes, (src + 1) * frameBytes);
    const base = i * frameBytes;
    for (let k = 0; k < frameBytes; k++) frames[base + k] = bytes[k] / 255;
  }
  const effectiveFps = keep === total ? fps : (fps * (keep - 1)) / Math.max(total - 1, 1) || fps;
  return createVideo({ frames, numFrames: keep, height, width, fps: effectiveFps, source: path });
}

/** Options for {@linkcode saveVideo}. */
export interface SaveVideoOptions {
  /** H.264 quality for mp4 (0 = lossless … 51). Default 12 (near-lossless). */
  crf?: number;
  /** Kill ffmpeg after this many milliseconds. Default 120000. */
  timeoutMs?: number;
}

/**
 * Encodes a video to `path`; the container follows the extension (`.mp4`, `.gif`, `.webm`).
 * The file appears atomically (written to a temporary name, then renamed).
 */
export async function saveVideo(
  video: Video,
  path: string,
  options: SaveVideoOptions = {},
): Promise<void> {
  const where = `saveVideo(${JSON.stringify(path)})`;
  if (!video || !(video.frames instanceof Float32Array)) fail(where, "a Video", video);
  const ext = extname(path).toLowerCase();
  const absolute = isAbsolute(path) ? path : resolve(path);
  await Deno.mkdir(dirname(absolute), { recursive: true });
  const tmp = join(dirname(absolute), `.${crypto.randomUUID().slice(0, 8)}.tmp${ext}`);
  const { width, height, numFrames } = video;
  const rgb = new Uint8Array(video.frames.length);
  for (let i = 0; i < rgb.length; i++) {
    rgb[i] = Math.round(Math.min(1, Math.max(0, video.frames[i])) * 255);
  }
  const args = [
    "-nostdin",
    "-hide_banner",
    "-y",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "-s",
    `${width}x${height}`,
    "-r",
    String(video.fps),
    "-i",
    "pipe:0",
    "-frames:v",
    String(numFrames),
  ];
  if (ext === ".mp4" || ext === ".mov") {
    // yuv420p needs even sizes; odd sizes keep full chroma instead of being padded
    const pixFmt = width % 2 === 0 && height % 2 === 0 ? "yuv420p" : "yuv444p";
    args.push(
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-crf",
      String(options.crf ?? 12),
      "-pix_fmt",
      pixFmt,
    );
  } else if (ext === ".gif") {
    args.push(
      "-filter_complex",
      "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none",
      "-loop",
      "0",
    );
  } else if (ext === ".webm") {
    args.push("-c:v", "libvpx-vp9", "-crf", "20", "-b:v", "0");
  } else {
    fail(where, "a path ending in .mp4, .mov, .gif or .webm", ext || describe(path));
  }
  args.push(`file:${tmp}`);
  try {
    const result = await runFfmpeg(args, rgb, options.timeoutMs ?? 120_000);
    if (result.code !== 0) {
      throw new Error(
        `${where}: ffmpeg failed to encode (exit ${result.code}): ${ffmpegReason(result.stderr)}`,
      );
    }
    await Deno.rename(tmp, absolute);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
