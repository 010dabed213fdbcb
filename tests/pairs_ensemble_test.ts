/**
 * Pairs scored by a reward-model ensemble (`prmDirs`, `ensemble`): each side's video and patch
 * scores are the combination of the models' scores, one PRM is exactly the single-PRM path, the
 * manifest records the ensemble, and bad options fail before any work.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRewardModel, disposeRewardModel } from "../lib/reward/model.ts";
import { loadRewardModel, saveRewardModel } from "../lib/reward/io.ts";
import { reduceScores } from "../lib/reward/ensemble.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import { candidateScores, ensembleCandidateScores } from "../lib/pairs/scores.ts";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { pairsCommand } from "../lib/cli/pairs.ts";
import { randomVideo, withTempDir } from "./_helpers.ts";
import { TINY_RM, tinyPairsOptions, tinyPairsSetup } from "./_dpo_fixtures.ts";

await initBackend();

const SHAPE = [4, 16, 16, 3];

/** The tiny setup plus two more PRMs of other seeds (`<dir>/prm2`, `<dir>/prm3`). */
async function ensembleSetup(dir: string) {
  const first = await tinyPairsSetup(dir);
  for (const seed of [2, 3]) {
    const m = createRewardModel(TINY_RM, { seed });
    await saveRewardModel(`${dir}/prm${seed}`, m);
    disposeRewardModel(m);
  }
  const { prmDir: _single, ...tiny } = tinyPairsOptions(dir);
  const options = { ...tiny, out: `${dir}/pairs`, judgeDiagnostics: false };
  return { first, options, prms: [`${dir}/prm`, `${dir}/prm2`, `${dir}/prm3`] };
}

Deno.test("ensemble pairs: every side's scores are the models' min (or mean − std), patch by patch", async () => {
  await withTempDir(async (dir) => {
    const { options, prms } = await ensembleSetup(dir);
    const models = await Promise.all(prms.map(async (p) => (await loadRewardModel(p)).model));
    try {
      for (const ensemble of ["min", "mean-std"] as const) {
        const r = await buildPairs({ ...options, prmDirs: prms, ensemble, name: ensemble });
        assert.equal(r.sampled, 0, "scoring with other models samples nothing");
        const pairs = await readPairs(r.file, { shape: SHAPE, patches: 8 });
        assert.ok(pairs.length > 0);
        for (const q of pairs) {
          for (const side of [q.chosen, q.rejected]) {
            const video = await readClip(join(dir, "pairs", side.clip), SHAPE, side.sha256);
            const items = [{ video, prompt: q.prompt }];
            const each = await Promise.all(models.map((m) => candidateScores(m, items)));
            const want = reduceScores(each.map((s) => s.video[0]), ensemble);
            assert.ok(Math.abs(side.video_score - want) < 2e-5, `${side.video_score} vs ${want}`);
            side.patch_scores.forEach((v, k) => {
              const patch = reduceScores(each.map((s) => s.patches[0][k]), ensemble);
              assert.ok(Math.abs(v - patch) < 2e-5, `patch ${k}: ${v} vs ${patch}`);
            });
            // the models disagree, so the pessimistic score is below the mean
            assert.ok(
              side.video_score < reduceScores(each.map((s) => s.video[0]), "mean"),
              "pessimistic",
            );
          }
          q.patch_gaps.forEach((g, k) =>
            assert.ok(Math.abs(g - (q.chosen.patch_scores[k] - q.rejected.patch_scores[k])) < 1e-4)
          );
        }
        const s = r.manifest.settings;
        assert.deepEqual(s.prm, prms);
        assert.equal(s.ensemble, ensemble);
        assert.ok(r.manifest.diagnostics.ensembleVideoStd > 0);
      }
    } finally {
      models.forEach(disposeRewardModel);
    }
  });
});

Deno.test("an ensemble of one PRM is the single-PRM path: same pairs, no ensemble in the manifest", async () => {
  await withTempDir(async (dir) => {
    const { first, options } = await ensembleSetup(dir);
    const one = await buildPairs({
      ...options,
      prmDirs: [`${dir}/prm`],
      ensemble: "mean-std",
      name: "one",
      judgeDiagnostics: true,
    });
    assert.equal(await Deno.readTextFile(one.file), await Deno.readTextFile(first.file));
    assert.equal(one.manifest.settings.prm, `${dir}/prm`);
    assert.equal("ensemble" in one.manifest.settings, false);
    assert.equal("ensembleVideoStd" in one.manifest.diagnostics, false);
    assert.deepEqual(one.manifest.diagnostics, first.manifest.diagnostics);
  });
});

Deno.test("ensembleCandidateScores: mean, min and mean − std of the models' aspect means", async () => {
  const models = [1, 2, 3].map((seed) => createRewardModel(TINY_RM, { seed }));
  const video = randomVideo(4, 16, 16, 5);
  const items = [{ video, prompt: "one red circle moving up slowly on a black background" }];
  const each = await Promise.all(models.map((m) => candidateScores(m, items)));
  for (const ensemble of ["mean", "min", "mean-std"] as const) {
    const s = await ensembleCandidateScores(models, items, { ensemble });
    assert.ok(Math.abs(s.video[0] - reduceScores(each.map((e) => e.video[0]), ensemble)) < 1e-9);
    assert.equal(s.patches[0].length, 8);
  }
  const single = await ensembleCandidateScores(models.slice(0, 1), items, { ensemble: "min" });
  assert.deepEqual({ video: single.video, patches: single.patches }, each[0]);
  assert.deepEqual(single.videoStd, [0]);
  const other = createRewardModel({ ...TINY_RM, grid: "4x4x2" }, { seed: 4 });
  await assert.rejects(
    () => ensembleCandidateScores([models[0], other], items),
    /model 1: Expected 4 frames of 16×16, grid 2x2x2 like model 0 but found "4 frames of 16×16, grid 4x4x2"/,
  );
  await assert.rejects(
    () => ensembleCandidateScores(models, items, { ensemble: "max" as never }),
    /Expected ensemble one of mean, min, mean-std but found "max"/,
  );
  [...models, other].forEach(disposeRewardModel);
});

Deno.test("ensemble options: refused, named, before any model is loaded", async () => {
  await assert.rejects(
    () => buildPairs({ out: "x", prmDir: "a", prmDirs: ["b", "c"] }),
    /buildPairs: Expected prmDir or prmDirs, not both/,
  );
  await assert.rejects(() => buildPairs({ out: "x", prmDirs: [] }), /prmDirs with at least one/);
  await assert.rejects(
    () => buildPairs({ out: "x", prmDirs: ["a", "b"], ensemble: "median" as never }),
    /Expected ensemble one of mean, min, mean-std but found "median"/,
  );
  const run = (args: string[]) => pairsCommand.run(parseCli(args, pairsCommand.spec));
  const missing = ["--generator", "/nonexistent"];
  await assert.rejects(
    () => run([...missing, "--prm", "/a,/b", "--ensemble", "max"]),
    /--ensemble: Expected mean \| min \| mean-std but found "max"/,
  );
  await assert.rejects(
    () => run([...missing, "--prm", "/a,,/b"]),
    /--prm: Expected a reward model/,
  );
});

Deno.test("an ensemble PRM of another grid is refused, naming it", async () => {
  await withTempDir(async (dir) => {
    const { options } = await ensembleSetup(dir);
    const m = createRewardModel({ ...TINY_RM, grid: "4x4x2" }, { seed: 5 });
    await saveRewardModel(`${dir}/fine`, m);
    disposeRewardModel(m);
    await assert.rejects(
      () => buildPairs({ ...options, prmDirs: [`${dir}/prm`, `${dir}/fine`], name: "bad" }),
      /fine: Expected a reward model for 4 frames of 16×16 \(the generator's\) on grid 2x2x2/,
    );
  });
});
