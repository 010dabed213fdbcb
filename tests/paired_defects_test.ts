/**
 * The paired defect measure (issue 21, item 2): defects fixed and introduced
 * against Base's clip from the same noise, in total and per kind, with paired
 * bootstrap intervals; the per-patch kinds the evaluation stores; the paired
 * heatmap figure.
 */
import assert from "node:assert/strict";
import { mostFixedClips, pairedDefects, type PatchDefects } from "../lib/eval/defects.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { summariseResults } from "../lib/eval/summary.ts";
import { DEFECT_KINDS, injectDefect } from "../lib/videos/defects.ts";
import {
  defectKindOf,
  patchDefectKinds,
  shapesBench,
  SHAPESBENCH_DIMENSIONS,
} from "../lib/videos/shapes_bench.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { createVideo } from "../lib/videos/video.ts";
import { defectPairFigure } from "../lib/report/figure_defect_pairs.ts";

Deno.test("pairedDefects: exact fixed and introduced patches of a hand-made pair, per kind", () => {
  const base: PatchDefects = ["blur", "blur", "flicker", null, null, null, "extra_object", null];
  const halo: PatchDefects = [null, "blur", null, null, "frozen", null, "flicker", "frozen"];
  const d = pairedDefects(base, halo);
  assert.equal(d.baseDefective, 4);
  assert.equal(d.baseClean, 4);
  assert.deepEqual(d.fixed, [0, 2]);
  assert.deepEqual(d.kept, [1, 6]);
  assert.deepEqual(d.introduced, [4, 7]);
  assert.equal(d.fixed.length / d.baseDefective, 0.5);
  assert.equal(d.introduced.length / d.baseClean, 0.5);
  assert.deepEqual(d.byKind.blur, { baseDefective: 2, fixed: 1, introduced: 0 });
  assert.deepEqual(d.byKind.flicker, { baseDefective: 1, fixed: 1, introduced: 0 });
  // a kept patch whose kind changes counts as neither fixed nor introduced
  assert.deepEqual(d.byKind.extra_object, { baseDefective: 1, fixed: 0, introduced: 0 });
  assert.deepEqual(d.byKind.frozen, { baseDefective: 0, fixed: 0, introduced: 2 });
  const sum = (f: (k: (typeof d.byKind)["blur"]) => number) =>
    DEFECT_KINDS.reduce((s, k) => s + f(d.byKind[k]), 0);
  assert.equal(sum((k) => k.baseDefective), d.baseDefective);
  assert.equal(sum((k) => k.fixed), d.fixed.length);
  assert.equal(sum((k) => k.introduced), d.introduced.length);
  assert.throws(() => pairedDefects(base, halo.slice(1)), /method: Expected 8 patches/);
  assert.throws(
    () => pairedDefects(["smudge" as never], [null]),
    /pairedDefects base\[0\]: Expected null or one of blur/,
  );
});

/** A record of prompt `p`, sampling seed `s`, with the given per-patch kinds. */
function rec(p: number, s: number, patchDefects: PatchDefects): ClipEvaluation {
  const share = patchDefects.filter((k) => k !== null).length / patchDefects.length;
  const v = 1 - share;
  return {
    prompt: `p${p}`,
    promptIndex: p,
    seed: s,
    evaluator: 3,
    judgeWorst: share > 0 ? 1 : 4,
    defectivePatches: share,
    prmWorstDefective: null,
    patchDefects,
    bench: Object.fromEntries(
      [...SHAPESBENCH_DIMENSIONS, "overall"].map((d) => [d, v]),
    ) as ClipEvaluation["bench"],
  };
}

Deno.test("summariseResults: paired defect shares are exact ratios, intervals hold them, kinds add up", () => {
  const n = null;
  // 4 prompts × 2 sampling seeds, 4 patches each
  const base = [
    rec(0, 0, ["blur", "blur", n, n]),
    rec(0, 1, ["flicker", n, n, n]),
    rec(1, 0, ["blur", "extra_object", n, n]),
    rec(1, 1, [n, n, n, n]),
    rec(2, 0, ["frozen", "blur", "flicker", n]),
    rec(2, 1, ["blur", n, n, n]),
    rec(3, 0, ["missing_object", n, n, n]),
    rec(3, 1, ["blur", "blur", "blur", n]),
  ];
  const halo = [
    rec(0, 0, [n, "blur", n, n]), // fixes 1
    rec(0, 1, [n, n, n, "flicker"]), // fixes 1, introduces 1
    rec(1, 0, [n, n, n, n]), // fixes 2
    rec(1, 1, [n, n, n, n]),
    rec(2, 0, [n, n, "flicker", n]), // fixes 2
    rec(2, 1, [n, n, "extra_object", n]), // fixes 1, introduces 1
    rec(3, 0, ["missing_object", n, n, n]),
    rec(3, 1, [n, n, "blur", n]), // fixes 2
  ];
  const t = summariseResults(
    [{ method: "Base", runs: [base] }, { method: "HALO", runs: [halo] }],
    { baseMedian: 3, reference: "Base", resamples: 400 },
  );
  const m = t.rows[1].metrics;
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  // Base: 13 defective patches, 19 clean; HALO fixed 9 and introduced 2
  close(m.defectsFixed.estimate, 9 / 13);
  close(m.defectsIntroduced.estimate, 2 / 19);
  close(m["defectsFixed.blur"].estimate, 6 / 8);
  assert.equal(m["defectsFixed.missing_object"].estimate, 0);
  close(m["defectsIntroduced.flicker"].estimate, 1 / 19);
  assert.ok(Number.isNaN(t.rows[0].metrics["defectsFixed.blur"]?.estimate ?? NaN));
  for (const [key, i] of Object.entries(m)) {
    if (!Number.isFinite(i.estimate)) continue;
    assert.ok(
      i.lo <= i.estimate + 1e-12 && i.estimate <= i.hi + 1e-12,
      `${key}: ${JSON.stringify(i)}`,
    );
  }
  assert.ok(m.defectsFixed.lo < m.defectsFixed.hi, "prompts differ, so the interval has width");
  // per kind: introduced shares add up to the total; fixed shares, weighted by Base's kinds, too
  const baseCount = (k: string) =>
    base.flatMap((c) => c.patchDefects!).filter((x) => x === k).length;
  close(DEFECT_KINDS.reduce((s, k) => s + m[`defectsIntroduced.${k}`].estimate, 0), 2 / 19);
  close(
    DEFECT_KINDS.reduce((s, k) => {
      const w = baseCount(k);
      return s + (w ? w * m[`defectsFixed.${k}`].estimate : 0);
    }, 0) / 13,
    9 / 13,
  );
  for (const row of t.rows) {
    close(
      DEFECT_KINDS.reduce((s, k) => s + row.metrics[`defectivePatches.${k}`].estimate, 0),
      row.metrics.defectivePatches.estimate,
    );
  }
  // the combination is paired: fixed − 2 × introduced
  const net = t.combine([
    { method: "HALO", metric: "defectsFixed", weight: 1 },
    { method: "HALO", metric: "defectsIntroduced", weight: -2 },
  ]);
  close(net.estimate, 9 / 13 - 4 / 19);
  assert.ok(net.lo <= net.estimate && net.estimate <= net.hi);
  assert.throws(
    () => t.combine([{ method: "Base", metric: "defectsFixed", weight: 1 }]),
    /a metric of Base/,
  );
  // old records without per-patch kinds: a clear error naming the clip
  const { patchDefects: _, ...old } = halo[3];
  assert.throws(
    () =>
      summariseResults([{ method: "Base", runs: [base] }, {
        method: "HALO",
        runs: [[...halo.slice(0, 3), old, ...halo.slice(4)]],
      }], { baseMedian: 3, reference: "Base" }),
    /prompt 1, seed 1\): Expected clip records with patchDefects/,
  );
  assert.throws(
    () =>
      summariseResults([{ method: "Base", runs: [base] }], { baseMedian: 3, reference: "Nope" }),
    /reference to name a method/,
  );
  // the clips with the most fixed patches, fewer introduced first on ties
  const top = mostFixedClips(base, halo, 3);
  assert.deepEqual(top.map((c) => `${c.base.promptIndex}/${c.base.seed}`), ["1/0", "2/0", "3/1"]);
  assert.throws(() => mostFixedClips(base, halo.slice(1), 1), /same length/);
});

Deno.test("the judge's defect kinds: one per defective patch, named by its first reason", () => {
  const text = "two red circles moving left quickly on a gray background";
  const { video } = renderClip(parsePrompt(text), { seed: 3 });
  const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
  const damaged = injectDefect(video, { kind: "extra_object", grid, patches: [5, 22] });
  const b = shapesBench(damaged.video, text);
  assert.deepEqual(b.kinds.map((k) => k !== null), b.defective);
  assert.ok(b.kinds.includes("extra_object"), JSON.stringify(b.kinds));
  assert.deepEqual(patchDefectKinds(b.judgement.patches), b.kinds);
  const s = { visual_quality: 1, temporal_consistency: 4, text_alignment: 4 };
  assert.equal(
    defectKindOf({ id: "x", index: 0, scores: s, reason: "blurred edges; flicker" }),
    "blur",
  );
  assert.throws(
    () => defectKindOf({ id: "x", index: 0, scores: s, reason: "much softer than the rest" }),
    /defectKindOf \(x\): Expected a reason of the ShapesWorld judge/,
  );
  assert.throws(
    () => patchDefectKinds([{ id: "x", index: 0, scores: s, reason: "" }]),
    /a defect reason for defective patch x/,
  );
});

Deno.test("defectPairFigure: two rows from the same noise, fixed boxed on both, introduced on the method's", () => {
  const grid = { rows: 2, cols: 2, framesPerPatch: 2 };
  const video = createVideo({
    frames: new Float32Array(4 * 8 * 8 * 3).fill(0.3),
    numFrames: 4,
    height: 8,
    width: 8,
  });
  const label = (index: number, reason: string) => ({
    id: `p${index}`,
    index,
    scores: { visual_quality: reason ? 1 : 4, temporal_consistency: 4, text_alignment: 4 },
    reason,
  });
  const base = Array.from({ length: 8 }, (_, i) => label(i, i < 3 ? "blurred edges" : ""));
  const halo = Array.from({ length: 8 }, (_, i) => label(i, i === 2 || i === 7 ? "flicker" : ""));
  const { figure, defects } = defectPairFigure({
    grid,
    base: { name: "Base", video, labels: base },
    method: { name: "HALO seed 0", video, labels: halo },
    title: "a prompt",
  });
  assert.deepEqual(defects.fixed, [0, 1]);
  assert.deepEqual(defects.introduced, [7]);
  // 2 segments per row: 4 heatmaps, the bottom row's on the second axes
  assert.equal(figure.data.length, 4);
  assert.deepEqual(figure.data.map((t) => t.yaxis), ["y", "y", "y2", "y2"]);
  const shapes = figure.layout.shapes as Array<{ line: { color: string }; yref: string }>;
  assert.equal(shapes.filter((s) => s.line.color === "#1a9850").length, 4);
  assert.deepEqual(
    shapes.filter((s) => s.line.color === "#d73027").map((s) => s.yref),
    ["y2"],
  );
  assert.match(
    String((figure.layout.title as { text: string }).text),
    /fixed 2 of 3.*introduced 1 of 5/,
  );
});
