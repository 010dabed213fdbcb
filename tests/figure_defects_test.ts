import assert from "node:assert/strict";
import { defectFigure, patchScore, worstPatches } from "../lib/report/figure_defects.ts";
import type { PatchLabel } from "../lib/videos/scores.ts";
import { decodePng } from "../lib/core/png.ts";
import { fromBase64 } from "../lib/labels/images.ts";
import { patchId } from "../lib/videos/patch.ts";
import { smoothVideo } from "./_helpers.ts";

const GRID = { rows: 2, cols: 3, framesPerPatch: 2 };

function labels(
  n: number,
  score: (i: number) => number,
  reason = (_i: number) => "",
): PatchLabel[] {
  return Array.from({ length: n }, (_, index) => ({
    id: patchId(GRID, index),
    index,
    scores: { visual_quality: score(index), temporal_consistency: 4, text_alignment: 4 },
    reason: reason(index),
  }));
}

Deno.test("defectFigure: one heatmap per segment over its middle frame, worst patches boxed where they are", () => {
  const video = smoothVideo(4, 8, 12); // 2 segments of 2×3 patches
  const prm = labels(12, (i) => (i === 10 ? 1 : i === 2 ? 2 : 4));
  const labeller = labels(12, (i) => (i === 10 ? 1 : 4), (i) => (i === 10 ? "extra <blob>" : ""));
  const fig = defectFigure({
    video,
    grid: GRID,
    patches: prm,
    labels: labeller,
    title: "clip",
    scorer: "PRM",
  }, {
    worst: 2,
    score: "visual_quality",
  });
  assert.equal(fig.data.length, 2);
  assert.deepEqual(fig.data[1].z, [[4, 4, 4], [4, 1, 4]]); // patch 10 = segment 1, row 1, col 1
  const gap = 1; // 4% of 12 px, at least 1
  assert.deepEqual(fig.data[1].x, [12 + gap + 2, 12 + gap + 6, 12 + gap + 10]);
  assert.deepEqual(fig.data[1].y, [6, 2]);
  const hover = (fig.data[1].text as string[][])[1][1];
  assert.match(hover, /<b>s1r1c1<\/b> \(segment 1: frames 2–3, row 1, col 1\)/);
  assert.match(hover, /PRM: visual 1 · temporal 4 · text 4/);
  assert.match(hover, /labeller: visual 1/);
  assert.match(hover, /reason: extra &lt;blob&gt;/);
  const shapes = fig.layout.shapes as Array<Record<string, number>>;
  assert.equal(shapes.length, 2);
  assert.deepEqual([shapes[0].x0, shapes[0].x1, shapes[0].y0, shapes[0].y1], [17, 21, 0, 4]);
  assert.deepEqual([shapes[1].x0, shapes[1].y1], [8, 8]); // patch 2: segment 0, row 0, col 2
  const images = fig.layout.images as Array<{ source: string; x: number }>;
  assert.deepEqual(images.map((i) => i.x), [0, 13]);
  const png = decodePng(fromBase64(images[0].source.split(",")[1]));
  assert.equal(png.width, 12 * 16); // enlarged by an integer factor towards 192 px
  assert.match(
    String((fig.layout.title as { text: string }).text),
    /worst by PRM: s1r1c1 1\.00, s0r0c2 2\.00/,
  );
});

Deno.test("defectFigure refuses labels that do not match the grid, naming the field", () => {
  const video = smoothVideo(4, 8, 12);
  assert.throws(
    () => defectFigure({ video, grid: GRID, patches: labels(11, () => 4) }),
    /defectFigure input\.patches: Expected 12 patch labels/,
  );
  const bad = labels(12, () => 4);
  bad[3] = { ...bad[3], scores: { ...bad[3].scores, text_alignment: NaN } };
  assert.throws(
    () => defectFigure({ video, grid: GRID, patches: bad }),
    /input\.patches\[3\] \(s0r1c0\)\.scores\.text_alignment: Expected a finite score/,
  );
  assert.throws(
    () => defectFigure({ video, grid: { rows: 5, cols: 3, framesPerPatch: 2 }, patches: [] }),
    /PatchGrid 5x3x2/,
  );
});

Deno.test("patchScore and worstPatches pick the aggregate and break ties by index", () => {
  const l = labels(12, (i) => (i % 2 ? 1 : 4));
  assert.equal(patchScore(l[1], "mean"), 3);
  assert.equal(patchScore(l[1], "min"), 1);
  assert.deepEqual(worstPatches(l, 3, "min").map((p) => p.index), [1, 3, 5]);
});
