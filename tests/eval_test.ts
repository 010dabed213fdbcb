import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  checkIndependentEvaluator,
  type ClipEvaluation,
  evaluateModel,
} from "../lib/eval/evaluate.ts";
import { clipMetrics, evaluatorMedian, summariseResults } from "../lib/eval/summary.ts";
import { DEFECT_SCORE, shapesBench } from "../lib/videos/shapes_bench.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { createRewardModel, disposeRewardModel } from "../lib/reward/model.ts";
import { injectDefect } from "../lib/videos/defects.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { withTempDir } from "./_helpers.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";

await initBackend();

const TEXT = "two red circles moving left quickly on a gray background";

Deno.test("shapesBench: a clean render scores high; an injected extra object lowers artefacts", () => {
  const { video } = renderClip(parsePrompt(TEXT), { seed: 3 });
  const clean = shapesBench(video, TEXT);
  for (const d of ["color", "shape", "count", "direction"] as const) {
    assert.equal(clean.bench[d], 1);
  }
  assert.equal(clean.defectivePatches, 0);
  assert.ok(clean.judgeWorst > DEFECT_SCORE);
  assert.ok(clean.bench.background > 0.95);
  const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
  const damaged = injectDefect(video, { kind: "extra_object", grid, patches: [5, 22] });
  const bad = shapesBench(damaged.video, TEXT);
  assert.ok(bad.defectivePatches > 0);
  assert.ok(bad.bench.artefacts < 1 && bad.bench.overall < clean.bench.overall);
  assert.ok(bad.judgeWorst <= DEFECT_SCORE);
  assert.throws(() => shapesBench(video, "a cat on a sofa"), /ShapesWorld prompt/);
});

Deno.test("the evaluator must not be the training RM", () => {
  const m = (sha256: string) => ({ weights: { sha256 } }) as never;
  assert.throws(
    () => checkIndependentEvaluator({ dir: "a", manifest: m("1") }, { dir: "b", manifest: m("1") }),
    /independent of the training RM b/,
  );
  assert.throws(
    () =>
      checkIndependentEvaluator({ dir: "x/", manifest: m("1") }, { dir: "x", manifest: m("2") }),
    /independent/,
  );
  checkIndependentEvaluator({ dir: "a", manifest: m("1") }, { dir: "b", manifest: m("2") });
});

Deno.test("the shipped evaluator and PRM are different reward models: seed, data and architecture", async () => {
  const { readCheckpointManifest } = await import("../lib/tensor/checkpoint.ts");
  const evaluator = await readCheckpointManifest("data/reward/evaluator");
  const prm = await readCheckpointManifest("data/reward/prm");
  checkIndependentEvaluator(
    { dir: "data/reward/evaluator", manifest: evaluator },
    { dir: "data/reward/prm", manifest: prm },
  );
  assert.notEqual(evaluator.meta.seed, prm.meta.seed);
  // another architecture too, so it does not share the PRM's blind spots by construction
  assert.notDeepEqual(evaluator.config, prm.config);
});

function clip(promptIndex: number, seed: number, evaluator: number, v: number): ClipEvaluation {
  return {
    prompt: `p${promptIndex}`,
    promptIndex,
    seed,
    evaluator,
    judgeWorst: v >= 0.5 ? 3 : 1,
    defectivePatches: 1 - v,
    prmWorstDefective: v < 0.5,
    bench: {
      color: v,
      shape: v,
      count: v,
      direction: v,
      temporal: v,
      background: v,
      artefacts: v,
      overall: v,
    },
  };
}

Deno.test("summariseResults: means, paired intervals over prompts and seeds, the defect share", () => {
  const base = [0, 1, 2, 3].flatMap((p) => [clip(p, 0, 2 + p * 0.1, 0.2), clip(p, 1, 2.5, 0.3)]);
  const better = (delta: number) =>
    base.map((c) => clip(c.promptIndex, c.seed, c.evaluator + 0.5, c.bench.overall + delta));
  const t = summariseResults([
    { method: "Base", runs: [base] },
    { method: "HALO", runs: [better(0.4), better(0.5)] },
  ], { baseMedian: evaluatorMedian(base), resamples: 200 });
  assert.equal(t.rows[1].seeds, 2);
  assert.ok(Math.abs(t.rows[0].metrics.shapesbench.estimate - 0.25) < 1e-9);
  assert.ok(Math.abs(t.rows[1].metrics.shapesbench.estimate - 0.7) < 1e-9);
  const d = t.compare("HALO", "Base", "shapesbench").difference;
  assert.ok(d.lo > 0 && d.lo <= 0.45 && d.hi >= 0.45, JSON.stringify(d));
  assert.equal(clipMetrics(base[0], 0).highScoring, 1);
  assert.equal(clipMetrics(base[0], 3).highScoring, 0);
  // the degenerate "defect share" is gone from the table
  assert.equal(t.rows[0].metrics.defectShare, undefined);
  // defective patches within the high-scoring clips: a ratio, not a mean of shares
  assert.ok(Math.abs(t.rows[0].metrics.hiddenDefects.estimate - 0.7) < 1e-9);
  assert.ok(Math.abs(t.rows[1].metrics.hiddenDefects.estimate - 0.3) < 1e-9);
  assert.throws(
    () =>
      summariseResults([{ method: "Base", runs: [base] }, { method: "X", runs: [base.slice(1)] }], {
        baseMedian: 2,
      }),
    /same prompts and sampling seeds/,
  );
  assert.throws(() => t.compare("HALO", "Nope", "shapesbench"), /a method of the table/);
});

Deno.test("evaluateModel: paired noise across models, cached per clip, resumable", async () => {
  await withTempDir(async (dir) => {
    const config = { frames: 16, size: 32, dim: 16, depth: 1, heads: 2, prediction: "x0" as const };
    const a = createGenerator(config, { seed: 1 });
    const evaluator = createRewardModel({ dim: 16, depth: 1, heads: 2 }, { seed: 2 });
    const prm = createRewardModel({ dim: 16, depth: 1, heads: 2 }, { seed: 3 });
    const options = { evaluator, prm, prompts: 3, seeds: [0, 4], steps: 2, quiet: true };
    const cache = `${dir}/a.jsonl`;
    const first = await evaluateModel(a, { ...options, cache });
    assert.equal(first.length, 6);
    assert.deepEqual(first.map((c) => `${c.promptIndex}/${c.seed}`), [
      "0/0",
      "0/4",
      "1/0",
      "1/4",
      "2/0",
      "2/4",
    ]);
    assert.ok(first.every((c) => typeof c.prmWorstDefective === "boolean"));
    // every record keeps the judge's per-patch defect kinds, consistent with its share
    for (const c of first) {
      assert.equal(c.patchDefects!.length, 64);
      const share = c.patchDefects!.filter((k) => k !== null).length / 64;
      assert.ok(Math.abs(share - c.defectivePatches) < 1e-12);
    }
    // a kill after 4 clips: the rerun samples only the last two and gives the same records
    const lines = (await Deno.readTextFile(cache)).split("\n").filter(Boolean);
    await Deno.writeTextFile(cache, lines.slice(0, 4).join("\n") + "\n");
    const again = await evaluateModel(a, { ...options, cache });
    assert.deepEqual(again, first);
    assert.equal((await readJsonLines(cache)).length, 6);
    // a record from before patchDefects is measured again, to the same numbers
    const old = (await Deno.readTextFile(cache)).split("\n").filter(Boolean).map((l) => {
      const { patchDefects: _, ...rest } = JSON.parse(l);
      return JSON.stringify(rest);
    });
    await Deno.writeTextFile(cache, old.join("\n") + "\n");
    assert.deepEqual(await evaluateModel(a, { ...options, cache }), first);
    assert.equal((await readJsonLines(cache)).length, 12);
    // a clip cached at another DDIM η is sampled again, then read back
    const stochastic = await evaluateModel(a, { ...options, cache, eta: 0.5 });
    assert.ok(stochastic.every((c) => c.eta === 0.5) && first.every((c) => c.eta === 0));
    assert.equal((await readJsonLines(cache)).length, 18);
    assert.deepEqual(await evaluateModel(a, { ...options, cache, eta: 0.5 }), stochastic);
    assert.equal((await readJsonLines(cache)).length, 18);
    // the validation split gives other prompts
    const val = await evaluateModel(a, { ...options, prompts: 1, seeds: [0], split: "validation" });
    assert.notEqual(val[0].prompt, first[0].prompt);
    await assert.rejects(() => evaluateModel(a, { ...options, prompts: 10000 }), /at most 288/);
    disposeGenerator(a);
    disposeRewardModel(evaluator);
    disposeRewardModel(prm);
  });
});
