/**
 * The images of a labelling request: frame strips rendered from a video,
 * encoded as PNG (lossless) or JPEG (at a set quality) `data:` URLs, read back
 * by the judge server, and sized without decoding (for token estimates).
 * JPEG encoding and decoding use the pure-JavaScript `jpeg-js`.
 * @module
 */

import jpeg from "jpeg-js";
import { checkInt, fail } from "../core/_errors.ts";
import { decodePng, encodePng, type RgbImage } from "../core/png.ts";
import { createVideo, type Video } from "../videos/video.ts";

/** How request images are encoded. */
export type ImageFormat = "png" | "jpeg";

/** Every image format. */
export const IMAGE_FORMATS: readonly ImageFormat[] = Object.freeze(["png", "jpeg"]);

/** The `detail` of an `image_url` part: how many tokens the model spends on it. */
export type ImageDetail = "low" | "high" | "auto";

/** Every detail setting. */
export const IMAGE_DETAILS: readonly ImageDetail[] = Object.freeze(["low", "high", "auto"]);

/** Options of {@linkcode encodeImageUrl}. */
export interface ImageEncoding {
  /** Format. Default "png". */
  format?: ImageFormat;
  /** JPEG quality, 1–100. Default 90. */
  jpegQuality?: number;
}

/**
 * Encodes RGB pixels as a `data:image/png;base64,…` or `data:image/jpeg;base64,…` URL.
 *
 * @example
 * ```ts
 * import { decodeImageUrl, encodeImageUrl } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const rgb = new Uint8Array(8 * 8 * 3).fill(128);
 * const url = encodeImageUrl(rgb, 8, 8, { format: "jpeg", jpegQuality: 90 });
 * assert.ok(url.startsWith("data:image/jpeg;base64,"));
 * assert.equal(decodeImageUrl(url).width, 8);
 * ```
 */
export function encodeImageUrl(
  rgb: Uint8Array,
  width: number,
  height: number,
  encoding: ImageEncoding = {},
): string {
  const format = encoding.format ?? "png";
  if (format === "png") return `data:image/png;base64,${toBase64(encodePng(rgb, width, height))}`;
  if (format !== "jpeg") fail("encodeImageUrl", IMAGE_FORMATS.join(" or "), format);
  const quality = checkInt("encodeImageUrl", "jpegQuality", encoding.jpegQuality ?? 90, 1, 100);
  if (rgb.length !== width * height * 3) {
    fail("encodeImageUrl", `${width * height * 3} RGB bytes`, rgb.length);
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  const out = jpeg.encode({ data: rgba, width, height }, quality).data;
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  return `data:image/jpeg;base64,${toBase64(bytes)}`;
}

/** Decodes a PNG or JPEG `data:` URL into RGB pixels; errors name what was found. */
export function decodeImageUrl(url: string): RgbImage {
  const m = /^data:image\/(png|jpeg);base64,(.*)$/s.exec(url);
  if (!m) fail("decodeImageUrl", "a data:image/png or data:image/jpeg base64 URL", url);
  const bytes = fromBase64(m[2]);
  if (m[1] === "png") return decodePng(bytes);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  } catch (error) {
    fail("decodeImageUrl", "a valid JPEG", (error as Error).message);
  }
  return { width: decoded.width, height: decoded.height, rgb: decoded.data };
}

/**
 * Width and height of a PNG or JPEG `data:` URL read from its header, without
 * decoding the pixels; null when the URL is neither.
 *
 * @example
 * ```ts
 * import { encodeImageUrl, imageUrlSize } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const url = encodeImageUrl(new Uint8Array(6 * 4 * 3), 6, 4, { format: "jpeg" });
 * assert.deepEqual(imageUrlSize(url), { width: 6, height: 4 });
 * ```
 */
export function imageUrlSize(url: string): { width: number; height: number } | null {
  const m = /^data:image\/(png|jpeg);base64,/.exec(url);
  if (!m) return null;
  const start = m[0].length;
  if (m[1] === "png") {
    const head = fromBase64(url.slice(start, start + 32));
    if (head.length < 24) return null;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  // JPEG: walk the markers to the first start-of-frame (SOF0–SOF3).
  for (const chars of [4096, url.length - start]) {
    const n = Math.min(url.length - start, chars - (chars % 4));
    const bytes = fromBase64(url.slice(start, start + n));
    let o = 2;
    while (o + 9 < bytes.length) {
      if (bytes[o] !== 0xff) return null;
      const marker = bytes[o + 1];
      const length = (bytes[o + 2] << 8) | bytes[o + 3];
      if (marker >= 0xc0 && marker <= 0xc3) {
        return {
          height: (bytes[o + 5] << 8) | bytes[o + 6],
          width: (bytes[o + 7] << 8) | bytes[o + 8],
        };
      }
      o += 2 + length;
    }
  }
  return null;
}

/**
 * The video with every frame resized to `width × height`: box average when
 * shrinking, nearest neighbour when growing.
 *
 * @example
 * ```ts
 * import { createVideo } from "@halo/kit";
 * import { resizeVideo } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const video = createVideo({ frames: new Float32Array(2 * 8 * 8 * 3).fill(0.5), numFrames: 2, height: 8, width: 8 });
 * const small = resizeVideo(video, 4, 2);
 * assert.equal(small.width, 4);
 * assert.equal(small.frames[0], 0.5);
 * ```
 */
export function resizeVideo(video: Video, width: number, height: number): Video {
  checkInt("resizeVideo", "width", width, 1, 1 << 14);
  checkInt("resizeVideo", "height", height, 1, 1 << 14);
  const frames = new Float32Array(video.numFrames * height * width * 3);
  for (let t = 0; t < video.numFrames; t++) {
    resampleFrame(video, t, width, height, (x, y, r, g, b) => {
      const o = ((t * height + y) * width + x) * 3;
      frames[o] = r;
      frames[o + 1] = g;
      frames[o + 2] = b;
    });
  }
  return createVideo({
    frames,
    numFrames: video.numFrames,
    height,
    width,
    fps: video.fps,
    source: video.source,
  });
}

/**
 * Resamples frame `t` of `video` to `width × height` (box average when
 * shrinking, nearest neighbour when growing) and hands each pixel's RGB to `put`.
 */
export function resampleFrame(
  video: Video,
  t: number,
  width: number,
  height: number,
  put: (x: number, y: number, r: number, g: number, b: number) => void,
): void {
  const W = video.width, H = video.height;
  const fx = W / width, fy = H / height;
  for (let y = 0; y < height; y++) {
    const sy0 = Math.floor(y * fy), sy1 = Math.max(sy0 + 1, Math.floor((y + 1) * fy));
    for (let x = 0; x < width; x++) {
      const sx0 = Math.floor(x * fx), sx1 = Math.max(sx0 + 1, Math.floor((x + 1) * fx));
      let r = 0, g = 0, b = 0, c = 0;
      for (let sy = sy0; sy < sy1; sy++) {
        for (let sx = sx0; sx < sx1; sx++) {
          const p = ((t * H + sy) * W + sx) * 3;
          r += video.frames[p];
          g += video.frames[p + 1];
          b += video.frames[p + 2];
          c++;
        }
      }
      put(x, y, r / c, g / c, b / c);
    }
  }
}

/**
 * What a model sees of an image sent with `detail: "low"`: OpenAI documents a
 * 512×512 low-resolution version, so an image larger than that is shrunk to
 * fit (box average) and blown back up (nearest neighbour) to its own size.
 * Smaller images are returned unchanged. The judge server judges this.
 */
export function lowDetailView(image: RgbImage, side = 512): RgbImage {
  const longer = Math.max(image.width, image.height);
  if (longer <= side) return image;
  const w = Math.max(1, Math.round(image.width * side / longer));
  const h = Math.max(1, Math.round(image.height * side / longer));
  const frames = new Float32Array(image.rgb.length);
  for (let i = 0; i < frames.length; i++) frames[i] = image.rgb[i] / 255;
  const one = createVideo({ frames, numFrames: 1, height: image.height, width: image.width });
  const small = resizeVideo(one, w, h);
  const rgb = new Uint8Array(image.rgb.length);
  for (let y = 0; y < image.height; y++) {
    const sy = Math.min(h - 1, Math.floor(y * h / image.height));
    for (let x = 0; x < image.width; x++) {
      const sx = Math.min(w - 1, Math.floor(x * w / image.width));
      const src = (sy * w + sx) * 3, dst = (y * image.width + x) * 3;
      for (let c = 0; c < 3; c++) rgb[dst + c] = Math.round(small.frames[src + c] * 255);
    }
  }
  return { width: image.width, height: image.height, rgb };
}

/** Base64 of bytes without building a giant intermediate string of char codes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Decodes base64 (the payload of a `data:` URL). */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
