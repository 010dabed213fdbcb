/**
 * SHA-256 hex digests of bytes or text: checkpoint integrity and the content
 * addresses of cached clips.
 * @module
 */

/** The SHA-256 of `data` (bytes, or text as UTF-8) as 64 hex digits. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Pixel values in [0, 1] as bytes (0–255, rounded, clamped): how clips are stored. */
export function quantizePixels(frames: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(frames.length);
  for (let i = 0; i < out.length; i++) {
    const v = frames[i];
    out[i] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
  }
  return out;
}
