import assert from "node:assert/strict";
import {
  decodeImageUrl,
  encodeImageUrl,
  imageUrlSize,
  lowDetailView,
  resizeVideo,
} from "../lib/labels/images.ts";
import { randomVideo, smoothVideo } from "./_helpers.ts";

function rgbOf(video: ReturnType<typeof smoothVideo>): Uint8Array {
  return Uint8Array.from(
    video.frames.subarray(0, video.width * video.height * 3),
    (v) => Math.round(v * 255),
  );
}

Deno.test("PNG data URLs round-trip exactly; JPEG ones closely, and are smaller", () => {
  const video = smoothVideo(1, 48, 64);
  const rgb = rgbOf(video);
  const png = encodeImageUrl(rgb, 64, 48);
  assert.deepEqual(decodeImageUrl(png).rgb, rgb);
  const jpeg = encodeImageUrl(rgb, 64, 48, { format: "jpeg", jpegQuality: 90 });
  const back = decodeImageUrl(jpeg);
  assert.equal(back.width, 64);
  assert.equal(back.height, 48);
  let err = 0;
  for (let i = 0; i < rgb.length; i++) err = Math.max(err, Math.abs(back.rgb[i] - rgb[i]));
  assert.ok(err <= 12, `max JPEG error ${err}`);
  assert.ok(jpeg.length < png.length, `${jpeg.length} vs ${png.length}`);
  // Lower quality, fewer bytes.
  const low = encodeImageUrl(rgb, 64, 48, { format: "jpeg", jpegQuality: 30 });
  assert.ok(low.length < jpeg.length);
});

Deno.test("image sizes are read from PNG and JPEG headers; bad input is named", () => {
  const rgb = rgbOf(randomVideo(1, 37, 53));
  assert.deepEqual(imageUrlSize(encodeImageUrl(rgb, 53, 37)), { width: 53, height: 37 });
  assert.deepEqual(
    imageUrlSize(encodeImageUrl(rgb, 53, 37, { format: "jpeg" })),
    { width: 53, height: 37 },
  );
  assert.equal(imageUrlSize("https://example.com/a.png"), null);
  assert.throws(() => decodeImageUrl("data:image/gif;base64,AAAA"), /Expected a data:image\/png/);
  assert.throws(() => decodeImageUrl("data:image/jpeg;base64,AAAA"), /Expected a valid JPEG/);
  assert.throws(
    () => encodeImageUrl(rgb, 53, 37, { format: "webp" as "png" }),
    /Expected png or jpeg/,
  );
  assert.throws(
    () => encodeImageUrl(rgb, 53, 37, { format: "jpeg", jpegQuality: 0 }),
    /jpegQuality/,
  );
});

Deno.test("resizeVideo box-averages when shrinking; lowDetailView only touches images over 512 px", () => {
  const video = randomVideo(2, 8, 8);
  const half = resizeVideo(video, 4, 4);
  const at = (v: typeof video, t: number, y: number, x: number) =>
    v.frames[((t * v.height + y) * v.width + x) * 3];
  const mean = (at(video, 1, 2, 2) + at(video, 1, 2, 3) + at(video, 1, 3, 2) + at(video, 1, 3, 3)) /
    4;
  assert.ok(Math.abs(at(half, 1, 1, 1) - mean) < 1e-6);
  assert.throws(() => resizeVideo(video, 0, 4), /width/);
  const small = { width: 500, height: 10, rgb: rgbOf(randomVideo(1, 10, 500)) };
  assert.equal(lowDetailView(small), small);
  const wide = { width: 1024, height: 4, rgb: rgbOf(randomVideo(1, 4, 1024)) };
  const seen = lowDetailView(wide);
  assert.equal(seen.width, 1024);
  // Neighbouring pixel pairs are merged: the view has half the distinct columns.
  assert.deepEqual(seen.rgb.subarray(0, 3), seen.rgb.subarray(3, 6));
  assert.notDeepEqual(wide.rgb.subarray(0, 3), wide.rgb.subarray(3, 6));
});
