import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import type { CurvePoint } from "../lib/reward/train.ts";
import type { RewardReport } from "../lib/reward/experiment.ts";
import { efficiencyFigure } from "../lib/report/figure_efficiency.ts";
import {
  formatEfficiency,
  type SeedReport,
  summariseEfficiency,
  trainRewardSeeds,
} from "../lib/reward/seeds.ts";
import { withTempDir } from "./_helpers.ts";

await initBackend();

function curve(rhos: number[], every = 10): CurvePoint[] {
  return rhos.map((patchRho, i) => ({ step: i * every, loss: 1, seconds: i, patchRho }));
}

function run(seed: number, prm: number[], scratch: number[]): SeedReport {
  const row = (method: string, estimate: number) => ({
    method,
    level: "patch",
    spearman: { estimate, lo: estimate, hi: estimate, resamples: 1 },
  });
  const report = {
    curves: { prm: curve(prm), prm_scratch: curve(scratch) },
    agreement: [row("PRM (continual)", prm.at(-1)!), row("VRM broadcast", seed / 10)],
  };
  return { seed, report: report as unknown as RewardReport };
}

Deno.test("summariseEfficiency counts steps to thresholds per seed, with never as last", () => {
  const s = summariseEfficiency([
    run(0, [0, 0.12, 0.2, 0.3], [0, 0.05, 0.15, 0.2]),
    run(1, [0, 0.1, 0.15, 0.2], [0, 0.12, 0.2, 0.32]),
    run(2, [0, 0.2, 0.2, 0.2], [0, 0.2, 0.25, 0.25]),
  ], { thresholds: [0.1, 0.2, 0.3], budgets: [10, 30], resamples: 200 });
  assert.deepEqual(s.seeds, [0, 1, 2]);
  assert.equal(s.patchSteps, 30);
  const [t10, t20, t30] = s.thresholds;
  assert.deepEqual([t10.continual, t10.scratch], [[10, 10, 10], [20, 10, 10]]);
  assert.deepEqual([t10.continualFirst, t10.scratchFirst, t10.ties], [1, 0, 2]);
  assert.deepEqual([t20.continual, t20.scratch], [[20, 30, 10], [30, 20, 10]]);
  assert.deepEqual([t20.medianContinual, t20.medianScratch], [20, 20]);
  assert.deepEqual([t30.continual, t30.scratch], [[30, null, null], [null, 30, null]]);
  assert.deepEqual([t30.medianContinual, t30.medianScratch], [null, null], "median is never");
  assert.deepEqual([t30.continualFirst, t30.scratchFirst, t30.ties], [1, 1, 1]);
  const [b10, b30] = s.budgets;
  assert.ok(Math.abs(b10.continual - 0.14) < 1e-12 && Math.abs(b10.scratch - 0.1233333) < 1e-6);
  assert.ok(Math.abs(b30.difference.estimate - (0.7 - 0.77) / 3) < 1e-12);
  assert.ok(
    b30.difference.lo <= b30.difference.estimate && b30.difference.estimate <= b30.difference.hi,
  );
  assert.equal(b30.continualAhead, 1);
  const md = formatEfficiency(s);
  assert.match(
    md,
    /\| 0\.30 \| 30, never, never \| never, 30, never \| never \| never \| 1 \/ 1 \/ 1 \|/,
  );
  assert.deepEqual(s.agreement.map((a) => [a.method, a.spearman]), [
    ["PRM (continual)", [0.3, 0.2, 0.2]],
    ["VRM broadcast", [0, 0.1, 0.2]],
  ]);
  assert.deepEqual(s.agreement[1].range, [0, 0.2]);
  assert.match(
    md,
    /\| VRM broadcast \| patch \| 0\.000, 0\.100, 0\.200 \| 0\.100 \| 0\.000–0\.200 \|/,
  );
  assert.match(md, /\| 30 \| 0\.233 \| 0\.257 \| -0\.023 \[-?0\.\d+, -?0\.\d+\] \| 1 of 3 \|/);
});

Deno.test("summariseEfficiency picks 0.05-spaced thresholds up to the best value reached", () => {
  const s = summariseEfficiency([run(0, [0, 0.21], [0, 0.26])]);
  assert.match(
    formatEfficiency(s),
    /\| 10 \| 0\.210 \| 0\.260 \| -0\.050 \| 0 of 1 \|/,
    "one seed: no interval",
  );
  assert.deepEqual(s.thresholds.map((t) => t.threshold), [0.1, 0.15, 0.2, 0.25]);
  assert.deepEqual(s.budgets.map((b) => b.step), [10]);
});

Deno.test("summariseEfficiency and efficiencyFigure name a run without the ablation", () => {
  const partial = {
    seed: 7,
    report: { curves: { prm: curve([0, 1]) } } as unknown as RewardReport,
  };
  assert.throws(
    () => summariseEfficiency([run(0, [0], [0]), partial]),
    /runs\[1\] \(seed 7\): Expected a report with both the prm and prm_scratch curves.*but found "prm"/,
  );
  assert.throws(() => summariseEfficiency([]), /Expected a non-empty array of seed reports/);
  assert.throws(
    () => efficiencyFigure({} as never),
    /efficiencyFigure: Expected an efficiency summary/,
  );
});

Deno.test("efficiencyFigure: every seed thin and the mean thick; an old summary draws its budget means", () => {
  const runs = [run(0, [0, 0.1, 0.3], [0, 0.05, 0.1]), run(1, [0, 0.2, 0.3], [0, 0.1, 0.2])];
  const summary = summariseEfficiency(runs, { resamples: 10 });
  assert.deepEqual(summary.curves![1].continual, [
    { step: 0, value: 0 },
    { step: 10, value: 0.2 },
    { step: 20, value: 0.3 },
  ]);
  const fig = efficiencyFigure(summary);
  const means = fig.data.filter((t) => (t.line as { width: number }).width === 3);
  assert.deepEqual(means.map((t) => t.name), ["continual (from VRM)", "from scratch"]);
  assert.deepEqual(means[0].y, [0, 0.15000000000000002, 0.3]);
  assert.equal(fig.data.length, 6);
  // a summary without curves (written before they were kept): budget means, plus seed 0's curves
  const { curves: _, ...old } = summary;
  const fallback = efficiencyFigure(old, [runs[0]]);
  const bold = fallback.data.filter((t) => (t.line as { width: number }).width === 3);
  assert.deepEqual(bold.map((t) => t.name), [
    "continual (from VRM), mean of 2 seeds",
    "from scratch, mean of 2 seeds",
  ]);
  assert.deepEqual(bold[0].customdata, summary.budgets.map((b) => b.step));
  assert.equal(fallback.data.length, 4);
  assert.match(
    String((fallback.layout.annotations as Array<{ text: string }>)[0].text),
    /mean of 2 seeds at fixed budgets; full curve of seed 0/,
  );
});

Deno.test("trainRewardSeeds runs each seed once, writes the summary, and resumes seed by seed", async () => {
  await withTempDir(async (dir) => {
    const options = {
      out: dir,
      seeds: [3, 4],
      videoSteps: 4,
      patchSteps: 4,
      batchSize: 4,
      evalEvery: 2,
      resamples: 20,
      quiet: true,
      config: { dim: 16, depth: 1, heads: 2, promptLayers: 0 },
      data: { train: 8, heldOut: 6, generatorShare: 0 },
      summary: { resamples: 50 },
    };
    const first = await trainRewardSeeds(options);
    assert.deepEqual(first.summary.seeds, [3, 4]);
    assert.equal(first.summary.patchSteps, 4);
    for (const seed of [3, 4]) {
      const report = JSON.parse(await Deno.readTextFile(join(dir, `seed-${seed}`, "report.json")));
      assert.equal(report.facts.seed, seed);
      assert.ok(report.curves.prm.length === 3 && report.curves.prm_scratch.length === 3);
    }
    const saved = JSON.parse(await Deno.readTextFile(join(dir, "efficiency.json")));
    assert.deepEqual(saved, JSON.parse(JSON.stringify(first.summary)));
    assert.match(await Deno.readTextFile(join(dir, "efficiency.md")), /### Stage-2 steps/);
    assert.equal(saved.curves.length, 2);

    const stamp = (await Deno.stat(join(dir, "seed-3", "report.json"))).mtime;
    const again = await trainRewardSeeds(options);
    assert.deepEqual(again.summary, first.summary);
    assert.deepEqual(
      (await Deno.stat(join(dir, "seed-3", "report.json"))).mtime,
      stamp,
      "not re-run",
    );

    await assert.rejects(
      () => trainRewardSeeds({ ...options, patchSteps: 6 }),
      /seed-3[/\\]report\.json: Expected patchSteps 6 like this run \(delete the folder to start over\) but found "patchSteps 4"/,
    );
    await assert.rejects(
      () => trainRewardSeeds({ ...options, seeds: [1, 1] }),
      /Expected distinct seeds/,
    );
  });
});
