/**
 * How the judge server reads a labelling request: it rebuilds the frames and
 * the grid from the request's images (PNG or JPEG, at the `detail` they were
 * sent with) and text, and judges them with the reference judge. It never
 * sees ground truth: only the pixels a VLM would be shown.
 * @module
 */

import { fail } from "../../core/_errors.ts";
import { judgeVideo } from "../../videos/judge.ts";
import { decodeImageUrl, lowDetailView } from "../images.ts";
import {
  type LabelRequestBody,
  parseGridTag,
  parsePromptLine,
  parseStripTag,
  type StripLayout,
} from "../protocol.ts";
import { createVideo, type Video } from "../../videos/video.ts";

/** What {@linkcode judgeLabelRequest} returns. */
export interface JudgedRequest {
  /** The request, typed. */
  request: LabelRequestBody;
  /** The reference judge's verdict on the pixels the request shows. */
  labels: ReturnType<typeof judgeVideo>;
}

/**
 * Rebuilds the video and grid of a labelling request from its text and images,
 * and judges it. Strips upscaled by an integer factor are read back at source
 * size (each cell's block averaged, which undoes the upscale exactly for PNG
 * and averages JPEG noise away); downscaled ones are judged as sent. Images sent
 * with `detail: "low"` are first reduced to what the model sees
 * ({@linkcode lowDetailView}). Throws an "Expected … but found …" error for
 * anything that is not a labelling request of this protocol.
 *
 * @example
 * ```ts
 * import { buildLabelRequest, judgeLabelRequest } from "@halo/kit/labels";
 * import { judgeVideo, parsePrompt, renderClip } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const text = "one red circle moving left slowly on a black background";
 * const { video } = renderClip(parsePrompt(text), { seed: 1 });
 * const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
 * const { labels } = judgeLabelRequest(buildLabelRequest(video, text, grid));
 * assert.deepEqual(labels.video, judgeVideo(video, text, grid).video);
 * ```
 */
export function judgeLabelRequest(body: unknown): JudgedRequest {
  const where = "chat.completions";
  if (!body || typeof body !== "object") fail(where, "a JSON object body", body);
  const request = body as LabelRequestBody;
  if (!Array.isArray(request.messages)) fail(`${where}.messages`, "an array", request.messages);
  const format = request.response_format;
  if (format?.type !== "json_schema") {
    fail(`${where}.response_format.type`, '"json_schema"', format?.type);
  }
  const user = request.messages.find((m) => m.role === "user" && Array.isArray(m.content));
  if (!user || !Array.isArray(user.content)) {
    fail(`${where}.messages`, "a user message with parts", "none");
  }
  let header = "";
  const strips: Array<{ layout: StripLayout; url: string; detail: string }> = [];
  let pending: StripLayout | null = null;
  for (const part of user.content) {
    if (part.type === "text") {
      if (!header && parseGridTag(part.text)) header = part.text;
      pending = parseStripTag(part.text);
    } else if (part.type === "image_url") {
      if (pending) {
        strips.push({
          layout: pending,
          url: part.image_url.url,
          detail: part.image_url.detail ?? "auto",
        });
      }
      pending = null;
    }
  }
  const tag = parseGridTag(header);
  const prompt = parsePromptLine(header);
  if (!tag || prompt === null) {
    fail(
      `${where}: user text`,
      "a patch-labelling request with a [grid …] tag and a Prompt line",
      header.slice(0, 60) || "none",
    );
  }
  if (strips.length !== tag.segments) {
    fail(`${where}: images`, `${tag.segments} frame strips (one per segment)`, `${strips.length}`);
  }
  strips.sort((a, b) => a.layout.segment - b.layout.segment);
  const perSegment = strips[0].layout.frames.length;
  const decoded = strips.map(({ layout, url, detail }) => {
    if (layout.frames.length !== perSegment) {
      fail(`${where}: strip s${layout.segment}`, `${perSegment} frames`, layout.frames.length);
    }
    let image;
    try {
      image = decodeImageUrl(url);
    } catch (error) {
      fail(
        `${where}: strip s${layout.segment}`,
        "a PNG or JPEG data URL",
        (error as Error).message,
      );
    }
    return { layout, image: detail === "low" ? lowDetailView(image) : image };
  });
  const first = decoded[0].layout;
  // Upscaled strips are decoded back to source pixels; downscaled ones are judged as sent.
  const up = first.cellWidth >= first.sourceWidth && first.cellWidth % first.sourceWidth === 0 &&
    first.cellHeight % first.sourceHeight === 0;
  const fx = up ? first.cellWidth / first.sourceWidth : 1;
  const fy = up ? first.cellHeight / first.sourceHeight : 1;
  const W = up ? first.sourceWidth : first.cellWidth;
  const H = up ? first.sourceHeight : first.cellHeight;
  const T = decoded.length * perSegment;
  const frames = new Float32Array(T * H * W * 3);
  const times: number[] = [];
  const block = fx * fy;
  let t = 0;
  for (const { layout, image } of decoded) {
    const needW = layout.frames.length * layout.cellWidth + (layout.frames.length - 1) * layout.gap;
    if (image.width !== needW || image.height !== layout.cellHeight) {
      fail(
        `${where}: strip s${layout.segment}`,
        `a ${needW}x${layout.cellHeight} image`,
        `${image.width}x${image.height}`,
      );
    }
    for (let k = 0; k < layout.frames.length; k++, t++) {
      times.push(layout.frames[k]);
      const x0 = k * (layout.cellWidth + layout.gap);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const dst = ((t * H + y) * W + x) * 3;
          for (let c = 0; c < 3; c++) {
            let sum = 0;
            for (let dy = 0; dy < fy; dy++) {
              const row = (y * fy + dy) * image.width + x0 + x * fx;
              for (let dx = 0; dx < fx; dx++) sum += image.rgb[(row + dx) * 3 + c];
            }
            frames[dst + c] = sum / block / 255;
          }
        }
      }
    }
  }
  const video: Video = createVideo({
    frames,
    numFrames: T,
    height: H,
    width: W,
    source: "judge-server",
  });
  const grid = { rows: tag.grid.rows, cols: tag.grid.cols, framesPerPatch: perSegment };
  return { request, labels: judgeVideo(video, prompt, grid, { frameTimes: times }) };
}
