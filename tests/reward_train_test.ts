import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { readParams } from "../lib/tensor/nn.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { injectDefect } from "../lib/videos/defects.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import type { RewardConfig } from "../lib/reward/model.ts";
import { flattenPatchScores, scorePatches } from "../lib/reward/score.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import type { RewardExample } from "../lib/reward/data.ts";
import { makeRewardBatch, rewardLoss, trainRewardStage } from "../lib/reward/train.ts";
import { formatRewardReport, rewardBenches } from "../lib/reward/experiment.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { haveWebGpu, withTempDir } from "./_helpers.ts";

await initBackend();

const GRID = { rows: 4, cols: 4, framesPerPatch: 4 };
const TINY: Partial<RewardConfig> = { dim: 32, depth: 1, heads: 2, promptLayers: 0 };
const PROMPTS = [
  "one red circle moving right slowly on a black background",
  "two blue squares moving down slowly on a gray background",
  "one yellow triangle moving left slowly on a navy background",
];

/** Patches (in the first segment) that hold part of the first object. */
function objectPatch(prompt: string, seed: number): number {
  const { truth } = renderClip(parsePrompt(prompt), { seed });
  const c = truth.objects[0].centers[1];
  return Math.min(3, Math.floor(c.y / 8)) * 4 + Math.min(3, Math.floor(c.x / 8));
}

function example(prompt: string, seed: number, blur: boolean): RewardExample {
  let video = renderClip(parsePrompt(prompt), { seed }).video;
  const defects = [];
  if (blur) {
    const out = injectDefect(video, {
      kind: "blur",
      grid: GRID,
      patches: [objectPatch(prompt, seed)],
      strength: 1.5,
    });
    video = out.video;
    defects.push({ kind: "blur" as const, patches: out.affected });
  }
  const j = judgeVideo(video, prompt, GRID);
  return {
    video,
    prompt,
    origin: blur ? "defect" : "clean",
    defects,
    labels: { video: j.video, patches: j.patches },
  };
}

Deno.test("a trained model scores a blurred patch lower than its clean twin", async () => {
  const train: RewardExample[] = [];
  for (let seed = 0; seed < 24; seed++) {
    for (const prompt of PROMPTS) train.push(example(prompt, seed, seed % 3 !== 0));
  }
  // the reference judge sees the blur, so the labels teach it
  const blurred = train.find((e) => e.origin === "defect")!;
  const k = blurred.defects[0].patches[0];
  assert.ok(blurred.labels.patches[k].scores.visual_quality < 4);
  const { model } = await trainRewardStage(train, {
    stage: "patch",
    steps: 600,
    batchSize: 8,
    learningRate: 3e-3,
    config: TINY,
    quiet: true,
    evalEvery: 0,
  });
  try {
    let lower = 0, total = 0, gap = 0;
    for (let seed = 100; seed < 106; seed++) {
      const prompt = PROMPTS[seed % 3];
      const clean = example(prompt, seed, false), bad = example(prompt, seed, true);
      const [pc, pb] = await scorePatches(model, [clean, bad]);
      for (const p of bad.defects[0].patches) {
        const a = flattenPatchScores(pc)[p][0], b = flattenPatchScores(pb)[p][0];
        total++;
        gap += a - b;
        if (b < a) lower++;
      }
    }
    assert.ok(total >= 6, `${total}`);
    assert.ok(lower / total >= 0.8, `blurred lower in ${lower}/${total}`);
    assert.ok(gap / total > 0.3, `mean gap ${gap / total}`);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("a run killed after a checkpoint resumes to exactly the uninterrupted weights", async () => {
  await withTempDir(async (dir) => {
    const train = [example(PROMPTS[0], 1, false), example(PROMPTS[1], 2, true)];
    const base = { stage: "video" as const, steps: 6, batchSize: 2, config: TINY, quiet: true };
    const straight = await trainRewardStage(train, { ...base, out: `${dir}/a`, evalEvery: 0 });
    const killed = await trainRewardStage(train, {
      ...base,
      out: `${dir}/b`,
      stopAt: 3,
      checkpointEvery: 3,
    });
    assert.equal(killed.step, 3);
    disposeRewardModel(killed.model);
    const resumed = await trainRewardStage(train, { ...base, out: `${dir}/b` });
    try {
      assert.equal(resumed.resumed, true);
      assert.equal(resumed.step, 6);
      const a = await readParams(straight.model.params);
      const b = await readParams(resumed.model.params);
      a.forEach((p, i) => assert.deepEqual(b[i].values, p.values, p.name));
      // the curve's loss is the mean since the last point, steps before the kill included
      assert.deepEqual(resumed.curve.map((p) => p.loss), straight.curve.map((p) => p.loss));
      // a finished stage reruns as a no-op
      const again = await trainRewardStage(train, { ...base, out: `${dir}/b` });
      assert.equal(again.step, 6);
      disposeRewardModel(again.model);
      // a kill before the first checkpoint leaves curve lines that a rerun drops
      await Deno.writeTextFile(`${dir}/c.curve.jsonl`, '{"step":6,"loss":9,"seconds":0}\n');
      const fresh = await trainRewardStage(train, { ...base, out: `${dir}/c`, evalEvery: 0 });
      disposeRewardModel(fresh.model);
      const steps = async (name: string) =>
        (await readJsonLines<{ step: number; loss: number }>(`${dir}/${name}.curve.jsonl`))
          .map((p) => [p.step, p.loss]);
      assert.deepEqual(await steps("c"), await steps("a"));
      // another seed is refused instead of silently mixing runs
      await assert.rejects(
        trainRewardStage(train, { ...base, out: `${dir}/b`, seed: 9 }),
        /Expected a "video" stage run with seed 9 and 6 steps.*but found.*seed 0/,
      );
    } finally {
      disposeRewardModel(straight.model);
      disposeRewardModel(resumed.model);
    }
  });
});

Deno.test("stage 2 starts from the stage-1 weights; fromScratch does not", async () => {
  const train = [example(PROMPTS[0], 1, false)];
  const vrm = await trainRewardStage(train, {
    stage: "video",
    steps: 3,
    batchSize: 1,
    config: TINY,
    quiet: true,
    seed: 4,
  });
  const cont = await trainRewardStage(train, {
    stage: "patch",
    steps: 0,
    from: vrm.model,
    quiet: true,
  });
  const fresh = await trainRewardStage(train, {
    stage: "patch",
    steps: 0,
    config: TINY,
    quiet: true,
  });
  try {
    const a = await readParams(vrm.model.params), b = await readParams(cont.model.params);
    a.forEach((p, i) => assert.deepEqual(b[i].values, p.values));
    const c = await readParams(fresh.model.params);
    assert.ok(a.some((p, i) => p.values.some((v, j) => v !== c[i].values[j])));
  } finally {
    [vrm, cont, fresh].forEach((r) => disposeRewardModel(r.model));
  }
});

Deno.test("the consistency term moves only the patch side; stage 1 leaves the patch head alone", async () => {
  const train = [example(PROMPTS[0], 1, true), example(PROMPTS[2], 3, false)];
  const { model } = await trainRewardStage(train, {
    stage: "video",
    steps: 0,
    config: TINY,
    quiet: true,
  });
  const batch = makeRewardBatch(model, train);
  try {
    const norm = (g: tf.Tensor) => tf.tidy(() => g.abs().sum().dataSync()[0]);
    const cons = paramGrads(
      model.params,
      () =>
        tf.tidy(() =>
          rewardLoss(model, batch, { stage: "patch", videoWeight: 0, consistencyWeight: 1 })
            .consistency
        ),
    );
    assert.equal(norm(cons.grads["videoHead.fc2.w"]), 0);
    assert.ok(norm(cons.grads["patchHead.w"]) > 0);
    tf.dispose([cons.value, ...Object.values(cons.grads)]);
    const stage1 = paramGrads(
      model.params,
      () => tf.tidy(() => rewardLoss(model, batch, { stage: "video" }).total),
    );
    assert.equal(norm(stage1.grads["patchHead.w"]), 0);
    assert.ok(norm(stage1.grads["videoHead.fc2.w"]) > 0);
    tf.dispose([stage1.value, ...Object.values(stage1.grads)]);
    // the parts add up to the stage-2 total
    const parts = tf.tidy(() => {
      const l = rewardLoss(model, batch, { stage: "patch" });
      return [l.total, l.patch, l.video, l.consistency].map((t) => t.dataSync()[0]);
    });
    assert.ok(Math.abs(parts[0] - (parts[1] + 0.5 * parts[2] + 0.2 * parts[3])) < 1e-5);
  } finally {
    tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
    disposeRewardModel(model);
  }
});

Deno.test("benchmarks run and count FLOPs; report formats", async () => {
  for (const bench of rewardBenches(TINY)) {
    const c = await bench.setup();
    await c.run();
    const before = tf.memory().numTensors;
    await c.run();
    assert.equal(tf.memory().numTensors, before, `${bench.name} leaks`);
    assert.ok(c.flops > 0 && c.items > 0, bench.name);
    c.dispose();
  }
  assert.match(
    formatRewardReport({
      agreement: [],
      distributions: {
        prm: { video: { mean: 3, std: 1 }, patch: { mean: 3.1, std: 0.9 }, poolGap: 0.1 },
      },
      stepsToThreshold: [{ threshold: 0.3, continual: 100, scratch: null }],
      curves: {},
      seconds: {},
      facts: {},
    }),
    /\| 0\.3 \| 100 \| not reached \|[\s\S]*\| prm \| 3\.00 ± 1\.00 \| 3\.10 ± 0\.90 \| 0\.100 \|/,
  );
});

Deno.test("reward-model training on webgpu gives the cpu backend's losses within 1e-4 over 10 steps", async () => {
  if (!(await haveWebGpu())) return;
  const train = [
    example(PROMPTS[0], 1, false),
    example(PROMPTS[1], 2, true),
    example(PROMPTS[2], 3, true),
  ];
  const losses: Record<string, number[]> = {};
  try {
    for (const backend of ["cpu", "webgpu"] as const) {
      await initBackend({ backend });
      const run = await trainRewardStage(train, {
        stage: "patch",
        steps: 10,
        batchSize: 2,
        config: TINY,
        quiet: true,
        evalEvery: 1,
      });
      losses[backend] = run.curve.map((p) => p.loss);
      disposeRewardModel(run.model);
    }
  } finally {
    await initBackend({ backend: "wasm" });
  }
  assert.equal(losses.webgpu.length, 10);
  losses.webgpu.forEach((loss, i) => {
    const rel = Math.abs(loss - losses.cpu[i]) / Math.abs(losses.cpu[i]);
    assert.ok(
      rel < 1e-4,
      `step ${i + 1}: webgpu ${loss} vs cpu ${losses.cpu[i]} (relative ${rel})`,
    );
  });
});
