import assert from "node:assert/strict";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { formatResults, haloResults } from "../lib/eval/results.ts";

/**
 * A clip of prompt `i` with every ShapesBench dimension at `v` and `defective` of its 8 patches
 * defective (flicker in the first ones; prompts differ a little, so intervals have width).
 */
function clip(i: number, v: number, evaluator: number, defective: number): ClipEvaluation {
  const d = v + (i % 4) * 0.01;
  const bad = Math.round(defective * 8) + (i % 2);
  const patchDefects = Array.from({ length: 8 }, (_, k) => (k < bad ? "flicker" as const : null));
  return {
    patchDefects,
    prompt: `p${i}`,
    promptIndex: i,
    seed: 0,
    evaluator: evaluator + (i % 4) * 0.01,
    judgeWorst: 1,
    defectivePatches: bad / 8,
    prmWorstDefective: true,
    bench: {
      color: d,
      shape: d,
      count: d,
      direction: d,
      temporal: d,
      background: d,
      artefacts: d,
      overall: d,
    },
  };
}
const model = (v: number, evaluator: number, defective = 0.5) =>
  Array.from({ length: 16 }, (_, i) => clip(i, v, evaluator, defective));

Deno.test("haloResults: each claim's verdict follows its paired interval", () => {
  const r = haloResults({
    base: model(0.5, 3),
    methods: {
      dpo: [model(0.5, 3), model(0.5, 3)],
      "patch-only": [model(0.4, 3.5), model(0.4, 3.5)],
      grandpo: [model(0.6, 3.2, 0.1), model(0.6, 3.2, 0.1)],
    },
  }, { resamples: 200 });
  const verdict = Object.fromEntries(r.claims.map((c) => [c.claim, c.holds]));
  assert.equal(verdict["HALO above Base (ShapesBench)"], true);
  assert.equal(verdict["HALO above Diffusion-DPO (ShapesBench)"], true);
  assert.equal(verdict["HALO above patch-only: the video term matters (evaluator RM)"], false);
  assert.equal(
    verdict["patch-only above Base: the patch term carries signal (ShapesBench)"],
    false,
  );
  assert.equal(
    verdict["patch-only above Base: the patch term carries signal (evaluator RM)"],
    true,
  );
  // HALO's clips keep 1–2 of Base's 4–5 flickering patches: it fixes 3 of them in every clip
  assert.equal(verdict["HALO cuts the defective patches by at least 30% relative to Base"], true);
  assert.equal(verdict["HALO fixes at least half of Base's defective patches (same noise)"], true);
  assert.equal(verdict["HALO fixes at least twice the share of patches it breaks"], true);
  assert.equal(verdict["HALO fixes more of Base's defective patches than Diffusion-DPO"], true);
  assert.equal(r.claims.length, 12);
  assert.ok(!r.claims.some((c) => /patch-defect share/.test(c.claim)));
  const halo = r.rows[3].metrics;
  assert.ok(Math.abs(halo.defectsFixed.estimate - 24 / 36) < 1e-12);
  assert.equal(halo.defectsIntroduced.estimate, 0);
  assert.equal(r.rows[0].metrics.defectsFixed, undefined, "Base is not compared with itself");
  const md = formatResults(r);
  assert.match(md, /\| HALO \(video \+ patch\) \| 2 \| 0\.6\d\d \[/);
  assert.match(md, /Defects fixed, by the kind Base's patch had/);
  assert.match(
    md,
    /\| HALO fixes at least half of Base's defective patches \(same noise\) \|.*\| \*\*holds\*\* \|/,
  );
  assert.match(md, /\| HALO above Base \(ShapesBench\) \|.*\| \*\*holds\*\* \|/);
  assert.match(
    md,
    /\| patch-only above Base: the patch term carries signal \(ShapesBench\) \|.*\| does not hold \|/,
  );
});

Deno.test("haloResults: without Base clips it is a clear error", () => {
  assert.throws(
    () => haloResults({ base: [], methods: {} }),
    /haloResults: Expected clips of the base model/,
  );
});
