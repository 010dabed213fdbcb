import assert from "node:assert/strict";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { formatResults, haloResults } from "../lib/eval/results.ts";

/** A clip of prompt `i` with every ShapesBench dimension at `v`. */
function clip(i: number, v: number, evaluator: number, defectivePatches: number): ClipEvaluation {
  const d = v + (i % 4) * 0.01; // prompts differ a little, so intervals have width
  return {
    prompt: `p${i}`,
    promptIndex: i,
    seed: 0,
    evaluator: evaluator + (i % 4) * 0.01,
    judgeWorst: 1,
    defectivePatches,
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
  // every clip of every model has a defective worst patch: the literal share counts the clips at
  // or above the Base median, which HALO's higher evaluator scores raise
  assert.equal(verdict["HALO cuts the patch-defect share by at least 30% relative to Base"], false);
  assert.equal(
    verdict[
      "HALO cuts the defective patches of clips at or above the Base median by at least 30% relative to Base"
    ],
    true,
  );
  const md = formatResults(r);
  assert.match(md, /\| HALO \(video \+ patch\) \| 2 \| 0\.6\d\d \[/);
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
