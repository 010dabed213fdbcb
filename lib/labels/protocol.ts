/**
 * The patch-labelling wire protocol: how a video, its prompt and a
 * {@linkcode PatchGrid} become one OpenAI Chat Completions request (frames as
 * PNG `image_url` parts, patch ids, aspects, scale, a strict `json_schema`
 * answer format), and how an answer is validated into typed labels. Frames
 * are sent as PNG or JPEG (see `label_images.ts`). Shared by
 * the labeller, the Batch API path and the judge server, so all three agree on
 * every byte.
 *
 * Reconstruction: the paper does not publish its GPT-4o prompt, its aspects or
 * its scale. The wording, the three aspects (borrowed from VideoScore's
 * visual quality / temporal consistency / text alignment) and the 1–4 scale
 * are our choices; bump {@linkcode PROTOCOL_VERSION} whenever any of them
 * changes so cached labels are not reused across protocols.
 * @module
 */

import { checkInt, checkNumber, describe, fail } from "../core/_errors.ts";
import {
  encodeImageUrl,
  IMAGE_DETAILS,
  IMAGE_FORMATS,
  type ImageDetail,
  type ImageFormat,
  resampleFrame,
  resizeVideo,
} from "./images.ts";
import type { RgbImage } from "../core/png.ts";
import {
  checkGrid,
  formatGrid,
  gridImageRgb,
  numSegments,
  type PatchGrid,
  patchId,
} from "../videos/patch.ts";
import type { Video } from "../videos/video.ts";
import {
  type Aspect,
  ASPECTS,
  type AspectScores,
  type PatchLabel,
  SCORE_MAX,
  SCORE_MIN,
  type VideoLabels,
} from "../videos/scores.ts";

/** Version of the request wording and answer schema; part of every cache key. */
export const PROTOCOL_VERSION = "halo-patch-label-v1";

/** Options for {@linkcode buildLabelRequest}. */
export interface LabelRequestOptions {
  /** Model name sent in the request. Default `"gpt-4o"`. */
  model?: string;
  /** Sampling temperature. Default 0. */
  temperature?: number;
  /** Frames shown per segment (evenly spaced within it). Default 4. */
  framesPerSegment?: number;
  /**
   * Target size in pixels of a frame's longer side in the images: small frames are
   * upscaled by an integer factor up to it, large ones downscaled (box filter) to it.
   * Default 128.
   */
  frameSide?: number;
  /** Maximum completion tokens. Default 8192. */
  maxTokens?: number;
  /** Encoding of every image: lossless PNG or JPEG at {@linkcode LabelRequestOptions.jpegQuality}. Default "png". */
  imageFormat?: ImageFormat;
  /** JPEG quality, 1–100 (with `imageFormat: "jpeg"`). Default 90. */
  jpegQuality?: number;
  /** The `detail` of every image part (`"low"`: 85 tokens an image, seen at most 512 px). Default "high". */
  detail?: ImageDetail;
  /**
   * Target size of a frame's longer side on the reference sheet: larger frames are
   * shrunk to it, smaller ones grown by an integer factor up to it. Default (or 0):
   * frames at their own size, small ones grown until at least 256 px high.
   */
  sheetSide?: number;
  /**
   * Most patches one request may ask about; more is an error that suggests fewer
   * frames or a coarser grid (each patch costs about 25–30 answer tokens of
   * `maxTokens`, and one image strip per segment). Default 256.
   */
  maxPatches?: number;
}

/** A Chat Completions request body (the subset the labeller sends). */
export interface LabelRequestBody {
  /** Model name. */
  model: string;
  /** Sampling temperature. */
  temperature: number;
  /** Completion token limit. */
  max_tokens: number;
  /** System and user messages. */
  messages: Array<{ role: "system" | "user"; content: string | ContentPart[] }>;
  /** Strict JSON schema answer format. */
  response_format: {
    type: "json_schema";
    json_schema: { name: string; strict: true; schema: Record<string, unknown> };
  };
}

/** One part of a multimodal user message. */
export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string; detail: ImageDetail } };

/** Aspect descriptions sent to the labeller (reconstruction, see the module doc). */
export const ASPECT_GUIDE: Readonly<Record<Aspect, string>> = Object.freeze({
  visual_quality: "sharpness and cleanliness of what is drawn: blur, smears, colour bleed, " +
    "noise or colours that belong to nothing in the scene lower it",
  temporal_consistency: "stability across the frames of the segment: flicker, frozen regions " +
    "while the rest moves, objects jumping, appearing or vanishing lower it",
  text_alignment: "agreement with the prompt: right colours, shapes, number of objects and " +
    "motion; a missing or an extra object, or a wrong colour or shape lowers it",
});

const SYSTEM_TEXT = [
  "You are a meticulous video quality annotator for text-to-video models.",
  "You score small spatio-temporal patches of a generated video, and the video as a whole.",
  `Use integers from ${SCORE_MIN} to ${SCORE_MAX}: 1 = clearly defective, 2 = noticeable defect, ` +
  "3 = minor issue, 4 = no visible problem.",
  "Aspects:",
  ...ASPECTS.map((a) => `- ${a}: ${ASPECT_GUIDE[a]}.`),
  "Answer with JSON only, following the schema. List every patch id exactly once. " +
  "For a patch that scores below 3 on any aspect give a short reason (a few words), " +
  "otherwise an empty reason.",
].join("\n");

/** Where each shown frame sits in the images of a request; what a server needs to decode them. */
export interface StripLayout {
  /** Segment index. */
  segment: number;
  /** Source frame indices shown left to right. */
  frames: number[];
  /** Width of each frame cell in the image, pixels. */
  cellWidth: number;
  /** Height of each frame cell in the image, pixels. */
  cellHeight: number;
  /** Source frame width. */
  sourceWidth: number;
  /** Source frame height. */
  sourceHeight: number;
  /** Separator columns between cells. */
  gap: number;
}

const GAP = 2;

/**
 * Builds the Chat Completions request that asks for patch labels of `video`:
 * one text part with the prompt, the grid and the id scheme, a reference sheet
 * with the grid and cell ids drawn ({@linkcode gridImage}), then per segment an
 * image strip of its raw frames. Each strip is announced by a machine-readable `[strip …]` tag (which
 * also tells a human reader exactly what is shown).
 *
 * @example
 * ```ts
 * import { buildLabelRequest } from "@halo/kit/labels";
 * import { createVideo } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const video = createVideo({ frames: new Float32Array(8 * 16 * 16 * 3), numFrames: 8, height: 16, width: 16 });
 * const body = buildLabelRequest(video, "one red circle moving left slowly on a black background", { rows: 2, cols: 2, framesPerPatch: 4 });
 * assert.equal(body.response_format.json_schema.strict, true);
 * assert.equal(body.model, "gpt-4o");
 * ```
 */
export function buildLabelRequest(
  video: Video,
  prompt: string,
  grid: PatchGrid,
  options: LabelRequestOptions = {},
): LabelRequestBody {
  const where = "buildLabelRequest";
  if (typeof prompt !== "string" || prompt.trim() === "") fail(where, "a non-empty prompt", prompt);
  checkGrid(grid, video);
  const model = options.model ?? "gpt-4o";
  if (typeof model !== "string" || model === "") fail(where, "a model name", model);
  const perSegment = Math.min(
    checkInt(where, "framesPerSegment", options.framesPerSegment ?? 4, 1),
    grid.framesPerPatch,
  );
  // OpenAI scales images to fit 2048 px anyway; larger strips only cost memory.
  const side = checkInt(where, "frameSide", options.frameSide ?? 128, 8, 2048);
  const temperature = checkNumber(where, "temperature", options.temperature ?? 0, 0, 2);
  const maxTokens = checkInt(where, "maxTokens", options.maxTokens ?? 8192, 1);
  const format = options.imageFormat ?? "png";
  if (!IMAGE_FORMATS.includes(format)) fail(where, IMAGE_FORMATS.join("/"), format);
  const detail = options.detail ?? "high";
  if (!IMAGE_DETAILS.includes(detail)) fail(where, IMAGE_DETAILS.join("/"), detail);
  if (options.jpegQuality !== undefined) {
    checkInt(where, "jpegQuality", options.jpegQuality, 1, 100);
  }
  if (options.sheetSide !== undefined && options.sheetSide !== 0) {
    checkInt(where, "sheetSide", options.sheetSide, 8, 4096);
  }
  const image = (rgb: RgbImage): ContentPart => ({
    type: "image_url",
    image_url: {
      url: encodeImageUrl(rgb.rgb, rgb.width, rgb.height, {
        format,
        jpegQuality: options.jpegQuality,
      }),
      detail,
    },
  });
  const segments = numSegments(grid, video.numFrames);
  const maxPatches = checkInt(where, "maxPatches", options.maxPatches ?? 256, 1);
  const count = segments * grid.rows * grid.cols;
  if (count > maxPatches) {
    throw new RangeError(
      `${where}(${video.source}): Expected at most ${maxPatches} patches per request ` +
        `(maxPatches) but found ${count} (${video.numFrames} frames at grid ${
          formatGrid(grid)
        }); ` +
        "load fewer frames (--frames) or use a coarser grid",
    );
  }
  const ids = Array.from({ length: segments * grid.rows * grid.cols }, (_, i) => patchId(grid, i));
  const longer = Math.max(video.width, video.height);
  let cellWidth: number, cellHeight: number;
  if (longer <= side) {
    const up = Math.max(1, Math.floor(side / longer));
    cellWidth = video.width * up;
    cellHeight = video.height * up;
  } else {
    const down = Math.ceil(longer / side);
    cellWidth = Math.max(1, Math.floor(video.width / down));
    cellHeight = Math.max(1, Math.floor(video.height / down));
  }
  const header = [
    `Prompt: ${JSON.stringify(prompt)}`,
    `The video has ${video.numFrames} frames of ${video.width}x${video.height} pixels at ${video.fps} fps.`,
    `[grid rows=${grid.rows} cols=${grid.cols} framesPerPatch=${grid.framesPerPatch} ` +
    `segments=${segments} frames=${video.numFrames}]`,
    `Each frame is cut into ${grid.rows} rows x ${grid.cols} columns of cells and time into ` +
    `${segments} segments of ${grid.framesPerPatch} frames. A patch is one cell over one segment; ` +
    `its id is s<segment>r<row>c<col> (rows top to bottom, columns left to right, from 0), ` +
    `e.g. ${ids[0]} … ${ids[ids.length - 1]}: ${ids.length} patches in all.`,
    `Score every patch on ${ASPECTS.join(", ")} and the whole video on the same aspects.`,
  ].join("\n");
  const content: ContentPart[] = [
    { type: "text", text: header },
    {
      type: "text",
      text:
        `Reference sheet: the middle frame of every segment with the ${grid.rows}x${grid.cols} ` +
        "cell grid and cell ids r<row>c<col> drawn:",
    },
    image(referenceSheet(video, grid, options.sheetSide || undefined)),
  ];
  for (let s = 0; s < segments; s++) {
    const frames = sampleFrames(s * grid.framesPerPatch, grid.framesPerPatch, perSegment);
    const layout: StripLayout = {
      segment: s,
      frames,
      cellWidth,
      cellHeight,
      sourceWidth: video.width,
      sourceHeight: video.height,
      gap: GAP,
    };
    content.push({
      type: "text",
      text: `Segment s${s}, frames ${frames.join(", ")} left to right: ${formatStripTag(layout)}`,
    });
    content.push(image(renderStripRgb(video, layout)));
  }
  return {
    model,
    temperature,
    max_tokens: maxTokens,
    messages: [{ role: "system", content: SYSTEM_TEXT }, { role: "user", content }],
    response_format: {
      type: "json_schema",
      json_schema: { name: "patch_labels", strict: true, schema: labelSchema(ids) },
    },
  };
}

/** The strict JSON schema of an answer for the given patch ids. */
export function labelSchema(ids: readonly string[]): Record<string, unknown> {
  const score = { type: "integer", enum: range(SCORE_MIN, SCORE_MAX) };
  const aspects = Object.fromEntries(ASPECTS.map((a) => [a, score]));
  return {
    type: "object",
    additionalProperties: false,
    required: ["video", "patches"],
    properties: {
      video: {
        type: "object",
        additionalProperties: false,
        required: [...ASPECTS],
        properties: aspects,
      },
      patches: {
        type: "array",
        items: {
          type: "object",
          additionalProperties: false,
          required: ["id", ...ASPECTS, "reason"],
          properties: {
            id: { type: "string", enum: [...ids] },
            ...aspects,
            reason: { type: "string" },
          },
        },
      },
    },
  };
}

/** Formats the machine-readable tag that announces an image strip. */
export function formatStripTag(layout: StripLayout): string {
  return `[strip segment=${layout.segment} frames=${layout.frames.join(",")} ` +
    `cell=${layout.cellWidth}x${layout.cellHeight} source=${layout.sourceWidth}x${layout.sourceHeight} ` +
    `gap=${layout.gap}]`;
}

/** Parses a `[strip …]` tag found anywhere in `text`; null when there is none. */
export function parseStripTag(text: string): StripLayout | null {
  const m = /\[strip segment=(\d+) frames=([\d,]+) cell=(\d+)x(\d+) source=(\d+)x(\d+) gap=(\d+)\]/
    .exec(text);
  if (!m) return null;
  return {
    segment: Number(m[1]),
    frames: m[2].split(",").map(Number),
    cellWidth: Number(m[3]),
    cellHeight: Number(m[4]),
    sourceWidth: Number(m[5]),
    sourceHeight: Number(m[6]),
    gap: Number(m[7]),
  };
}

/** Parses the `[grid …]` tag of a request header; null when there is none. */
export function parseGridTag(
  text: string,
): { grid: PatchGrid; segments: number; frames: number } | null {
  const m = /\[grid rows=(\d+) cols=(\d+) framesPerPatch=(\d+) segments=(\d+) frames=(\d+)\]/
    .exec(text);
  if (!m) return null;
  return {
    grid: { rows: Number(m[1]), cols: Number(m[2]), framesPerPatch: Number(m[3]) },
    segments: Number(m[4]),
    frames: Number(m[5]),
  };
}

/** Parses the `Prompt: "…"` line of a request header; null when there is none. */
export function parsePromptLine(text: string): string | null {
  const m = /^Prompt: (".*")$/m.exec(text);
  if (!m) return null;
  try {
    const value = JSON.parse(m[1]);
    return typeof value === "string" ? value : null;
  } catch {
    return null;
  }
}

/**
 * Validates an answer (the JSON text of the assistant message) against the
 * grid: valid JSON, the schema's fields, every patch id exactly once, integer
 * scores in range. Throws a {@linkcode LabelValidationError} that names the
 * offending field or id.
 *
 * @example
 * ```ts
 * import { parseLabelAnswer } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const grid = { rows: 1, cols: 2, framesPerPatch: 4 };
 * const s = { visual_quality: 4, temporal_consistency: 4, text_alignment: 3 };
 * const text = JSON.stringify({ video: s, patches: [{ id: "s0r0c1", ...s, reason: "" }, { id: "s0r0c0", ...s, reason: "" }] });
 * const labels = parseLabelAnswer(text, grid, 4);
 * assert.equal(labels.patches[1].id, "s0r0c1");
 * assert.throws(() => parseLabelAnswer("{", grid, 4), /invalid JSON/);
 * ```
 */
export function parseLabelAnswer(text: string, grid: PatchGrid, numFrames: number): VideoLabels {
  const where = "label answer";
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new LabelValidationError(
      `${where}: Expected a JSON object but found invalid JSON (${describeText(text)})`,
    );
  }
  if (!isObject(value)) invalid(where, "a JSON object", value);
  const video = checkScores(`${where}.video`, value.video);
  if (!Array.isArray(value.patches)) invalid(`${where}.patches`, "an array", value.patches);
  const n = numSegments(grid, numFrames) * grid.rows * grid.cols;
  const byIndex = new Array<PatchLabel | undefined>(n);
  const idToIndex = new Map<string, number>();
  for (let i = 0; i < n; i++) idToIndex.set(patchId(grid, i), i);
  value.patches.forEach((item: unknown, k: number) => {
    const at = `${where}.patches[${k}]`;
    if (!isObject(item)) invalid(at, "an object", item);
    const index = idToIndex.get(item.id as string);
    if (index === undefined) invalid(`${at}.id`, `a patch id of grid ${formatGrid(grid)}`, item.id);
    if (byIndex[index]) invalid(`${at}.id`, "each patch id once", `${item.id} twice`);
    const reason = item.reason ?? "";
    if (typeof reason !== "string") invalid(`${at}.reason`, "a string", reason);
    byIndex[index] = {
      id: item.id as string,
      index,
      scores: checkScores(at, item),
      reason: reason.slice(0, 200),
    };
  });
  const missing = [];
  for (let i = 0; i < n; i++) if (!byIndex[i]) missing.push(patchId(grid, i));
  if (missing.length > 0) {
    invalid(
      `${where}.patches`,
      `all ${n} patch ids`,
      `${missing.length} missing (${missing.slice(0, 5).join(", ")}${
        missing.length > 5 ? ", …" : ""
      })`,
    );
  }
  return { video, patches: byIndex as PatchLabel[] };
}

/**
 * Validates a whole chat completion (as the `openai` client returns it, or a
 * Batch API output line's `response.body`) into labels: an object with a
 * choice, no refusal, not cut at `max_tokens` (`finish_reason` `length`) or
 * stopped by a content filter, content that is a string, then
 * {@linkcode parseLabelAnswer}. Throws a {@linkcode LabelValidationError}
 * naming what was wrong.
 *
 * @example
 * ```ts
 * import { parseChatCompletion } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const grid = { rows: 1, cols: 1, framesPerPatch: 4 };
 * const refusal = { choices: [{ message: { content: null, refusal: "I can't help with that." }, finish_reason: "stop" }] };
 * assert.throws(() => parseChatCompletion(refusal, grid, 4), /refusal: Expected an answer but found a refusal/);
 * assert.throws(() => parseChatCompletion("<html>", grid, 4), /Expected a chat completion object/);
 * ```
 */
export function parseChatCompletion(
  completion: unknown,
  grid: PatchGrid,
  numFrames: number,
): VideoLabels {
  const where = "chat completion";
  if (!isObject(completion) || !Array.isArray(completion.choices)) {
    invalid(where, "a chat completion object with choices", completion);
  }
  const choice = completion.choices[0];
  if (!isObject(choice) || !isObject(choice.message)) {
    invalid(`${where}.choices[0]`, "a choice with a message", choice);
  }
  const { message } = choice;
  if (typeof message.refusal === "string" && message.refusal !== "") {
    throw new LabelValidationError(
      `${where}.message.refusal: Expected an answer but found a refusal (${
        describe(message.refusal)
      })`,
    );
  }
  if (choice.finish_reason === "length") {
    invalid(
      `${where}.finish_reason`,
      '"stop" (an answer that fits max_tokens)',
      "length: the answer was cut short",
    );
  }
  if (choice.finish_reason === "content_filter") {
    invalid(`${where}.finish_reason`, '"stop"', "content_filter: the answer was withheld");
  }
  if (typeof message.content !== "string") {
    invalid(`${where}.message.content`, "the JSON answer as a string", message.content);
  }
  return parseLabelAnswer(message.content, grid, numFrames);
}

/** An answer that does not match the protocol (retryable: the model may do better next time). */
export class LabelValidationError extends Error {
  /** Creates the error with its message. */
  constructor(message: string) {
    super(message);
    this.name = "LabelValidationError";
  }
}

function checkScores(where: string, value: unknown): AspectScores {
  if (!isObject(value)) invalid(where, "an object with aspect scores", value);
  const out = {} as AspectScores;
  for (const a of ASPECTS) {
    const v = value[a];
    if (typeof v !== "number" || !Number.isInteger(v) || v < SCORE_MIN || v > SCORE_MAX) {
      invalid(`${where}.${a}`, `an integer in [${SCORE_MIN}, ${SCORE_MAX}]`, v);
    }
    out[a] = v;
  }
  return out;
}

function invalid(where: string, expected: string, found: unknown): never {
  try {
    fail(where, expected, found);
  } catch (error) {
    throw new LabelValidationError((error as Error).message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function describeText(text: string): string {
  const t = String(text);
  return JSON.stringify(t.length > 40 ? t.slice(0, 37) + "..." : t);
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/** `count` frame indices evenly spread over `[start, start + length)`. */
function sampleFrames(start: number, length: number, count: number): number[] {
  if (count >= length) return Array.from({ length }, (_, i) => start + i);
  return Array.from(
    { length: count },
    (_, i) => start + Math.round(i * (length - 1) / Math.max(1, count - 1)),
  );
}

/**
 * Renders the frames of `layout` side by side as RGB pixels, resampled to the
 * cell size (nearest for upscaling, so a decoder recovers the exact pixels; box
 * average for downscaling), separated by white gap columns.
 */
export function renderStripRgb(video: Video, layout: StripLayout): RgbImage {
  const { cellWidth: cw, cellHeight: ch, gap } = layout;
  const n = layout.frames.length;
  const width = n * cw + (n - 1) * gap;
  const rgb = new Uint8Array(width * ch * 3).fill(255);
  layout.frames.forEach((t, k) => {
    const x0 = k * (cw + gap);
    resampleFrame(video, t, cw, ch, (x, y, r, g, b) => {
      const o = (y * width + x0 + x) * 3;
      rgb[o] = toByte(r);
      rgb[o + 1] = toByte(g);
      rgb[o + 2] = toByte(b);
    });
  });
  return { rgb, width, height: ch };
}

/** The reference sheet of a request: the grid drawn over each segment's middle frame. */
function referenceSheet(video: Video, grid: PatchGrid, side?: number): RgbImage {
  if (side === undefined) return gridImageRgb(video, grid);
  const longer = Math.max(video.width, video.height);
  if (longer <= side) {
    return gridImageRgb(video, grid, { scale: Math.max(1, Math.floor(side / longer)) });
  }
  // Shrunk to fit `side`, each dimension kept a multiple of the grid's.
  const fit = (n: number, k: number): number => Math.max(k, Math.floor(n * side / longer / k) * k);
  const small = resizeVideo(video, fit(video.width, grid.cols), fit(video.height, grid.rows));
  return gridImageRgb(small, grid, { scale: 1 });
}

function toByte(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v * 255)));
}
