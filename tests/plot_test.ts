import assert from "node:assert/strict";
import { lineChart, videoSheet } from "../lib/plot.ts";
import { decodePng } from "../lib/png.ts";
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

Deno.test("lineChart draws each series in its colour inside the axes, breaking at NaN", () => {
  const red: [number, number, number] = [200, 0, 0], blue: [number, number, number] = [0, 0, 200];
  const image = decodePng(lineChart([
    { name: "rising", points: [[0, 0], [10, 1]], color: red },
    { name: "", points: [[0, 1], [5, NaN], [10, 0]], color: blue, thickness: 1 },
  ], { width: 300, height: 200, xRange: [0, 10], yRange: [0, 1], legend: "bottom-right" }));
  assert.deepEqual([image.width, image.height], [300, 200]);
  const pixels = (c: readonly number[]) => {
    const at: Array<[number, number]> = [];
    for (let i = 0; i < image.rgb.length; i += 3) {
      if (image.rgb[i] === c[0] && image.rgb[i + 1] === c[1] && image.rgb[i + 2] === c[2]) {
        at.push([(i / 3) % image.width, Math.floor(i / 3 / image.width)]);
      }
    }
    return at;
  };
  const reds = pixels(red), blues = pixels(blue);
  assert.ok(reds.length > 200, "a thick diagonal line");
  const fit = reds.filter(([x, y]) => reds.some(([x2, y2]) => x2 > x + 50 && y2 < y - 20));
  assert.ok(fit.length > 0, "the red line rises to the right");
  assert.ok(blues.length <= 4, `NaN breaks the blue line into two dots, found ${blues.length}`);
});

Deno.test("lineChart refuses empty input, bad colours and empty ranges, naming them", () => {
  assert.throws(() => lineChart([]), /lineChart: Expected a non-empty array of series/);
  assert.throws(
    () => lineChart([{ name: "a", points: [[0, 0]], color: [1, 2] as never }]),
    /lineChart series\[0\]\.color: Expected an \[r, g, b\] array/,
  );
  assert.throws(
    () => lineChart([{ name: "a", points: [[0, 0]], color: [1, 2, 3] }], { yRange: [1, 1] }),
    /lineChart: Expected yRange as \[min, max\] with min < max/,
  );
  assert.throws(
    () => lineChart([{ name: "a", points: [[NaN, 0]], color: [1, 2, 3] }]),
    /Expected at least one finite point/,
  );
});

Deno.test("lineChart on a sqrt x axis spreads out small x", () => {
  const column = (xScale: "linear" | "sqrt") => {
    const image = decodePng(lineChart([
      { name: "", points: [[100, 0], [100, 1]], color: [200, 0, 0], thickness: 1 },
    ], { width: 300, height: 200, xRange: [0, 400], yRange: [0, 1], xScale }));
    for (let x = 0; x < image.width; x++) {
      const i = (100 * image.width + x) * 3;
      if (image.rgb[i] === 200 && image.rgb[i + 1] === 0) return x;
    }
    return -1;
  };
  const linear = column("linear"), sqrt = column("sqrt");
  assert.ok(linear > 0 && sqrt > linear + 40, `linear ${linear}, sqrt ${sqrt}`);
  assert.throws(
    () =>
      lineChart([{ name: "", points: [[-1, 0], [1, 1]], color: [0, 0, 0] }], { xScale: "sqrt" }),
    /Expected x ≥ 0 with xScale "sqrt"/,
  );
});
