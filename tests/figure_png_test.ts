import assert from "node:assert/strict";
import { resultsFigure } from "../lib/report/figure_results.ts";
import { figurePngs } from "../lib/report/figure_png.ts";
import { decodePng } from "../lib/core/png.ts";
import { hasChromium } from "./_browser.ts";

const ignore = !(await hasChromium()) && !Deno.env.get("CI");

Deno.test("figurePngs renders specs with plotly.js in headless Chromium, at the size asked", {
  ignore,
}, async () => {
  const rows = ["Base", "HALO"].map((method, k) => ({
    method,
    metric: "score",
    mean: 1 + k,
    lo: 0.5 + k,
    hi: 1.5 + k,
  }));
  const [a, b] = await figurePngs([resultsFigure(rows), resultsFigure(rows.slice(0, 1))], {
    width: 400,
    height: 300,
    scale: 1,
  });
  const image = decodePng(a);
  assert.deepEqual([image.width, image.height], [400, 300]);
  // the bars are drawn in their method colours
  const count = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let n = 0;
    for (let i = 0; i < image.rgb.length; i += 3) {
      if (image.rgb[i] === r && image.rgb[i + 1] === g && image.rgb[i + 2] === bl) n++;
    }
    return n;
  };
  assert.ok(count("#1f77b4") > 500, "Base bar");
  assert.ok(count("#ff7f0e") > 500, "HALO bar");
  assert.notDeepEqual(a, b);
});

Deno.test("figurePngs refuses what is not a figure, naming it", async () => {
  await assert.rejects(() => figurePngs([]), /figurePngs: Expected a non-empty array of figures/);
  await assert.rejects(
    () => figurePngs([{} as never]),
    /figurePngs figures\[0\]: Expected a figure/,
  );
});
