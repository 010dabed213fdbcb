import assert from "node:assert/strict";
import { videoSheet } from "../lib/videos/sheet.ts";
import { decodePng } from "../lib/core/png.ts";
import { randomVideo, smoothVideo } from "./_helpers.ts";

Deno.test("videoSheet lays clips out as rows of evenly spaced frames", () => {
  const a = randomVideo(8, 4, 6, 1);
  const b = randomVideo(8, 4, 6, 2);
  const image = decodePng(videoSheet([a, b], { frames: 2, scale: 1, gap: 1 }));
  assert.deepEqual([image.width, image.height], [2 * 6 + 1, 2 * 4 + 1]);
  const px = (x: number, y: number) =>
    Array.from(image.rgb.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));
  const val = (v: typeof a, f: number, x: number, y: number) =>
    Array.from(v.frames.subarray(((f * 4 + y) * 6 + x) * 3, ((f * 4 + y) * 6 + x) * 3 + 3)).map((
      c,
    ) => Math.round(c * 255));
  assert.deepEqual(px(0, 0), val(a, 0, 0, 0), "row 0, first frame");
  assert.deepEqual(px(7 + 2, 3), val(a, 7, 2, 3), "row 0, last frame");
  assert.deepEqual(px(1, 5 + 2), val(b, 0, 1, 2), "row 1");
  assert.deepEqual(px(6, 0), [255, 255, 255], "gap");
});

Deno.test("videoSheet refuses mixed sizes and empty input, naming the item", () => {
  assert.throws(() => videoSheet([]), /videoSheet: Expected a non-empty array/);
  assert.throws(
    () => videoSheet([smoothVideo(8, 4, 4), smoothVideo(8, 4, 6)]),
    /videoSheet videos\[1\]: Expected 8 frames of 4×4/,
  );
  assert.throws(
    () => videoSheet([smoothVideo(4, 4, 4)], { frames: 5 }),
    /frames to be an integer in \[1, 4\]/,
  );
});
