import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { createRewardModel, disposeRewardModel, type RewardConfig } from "../lib/reward/model.ts";
import type { RewardExample, RewardOrigin } from "../lib/reward/data.ts";
import { makeRewardBatch, rewardLoss, trainRewardStage } from "../lib/reward/train.ts";
import { resolveRewardLoss } from "../lib/reward/loss.ts";
import { swapPrompt } from "../lib/reward/swap.ts";

await initBackend();

const GRID = { rows: 4, cols: 4, framesPerPatch: 4 };
const TINY: Partial<RewardConfig> = { dim: 16, depth: 1, heads: 2, promptLayers: 1 };
const PROMPT = "one red circle moving right slowly on a black background";

function clip(prompt: string, seed: number, origin: RewardOrigin = "clean"): RewardExample {
  const video = renderClip(parsePrompt(prompt), { seed }).video;
  const j = judgeVideo(video, prompt, GRID);
  return { video, prompt, origin, defects: [], labels: { video: j.video, patches: j.patches } };
}

/** `own` again under a prompt of another colour, labelled for it, as `data.ts` makes them. */
function swapOf(own: RewardExample): RewardExample {
  const prompt = swapPrompt(parsePrompt(own.prompt), { kind: "color", random: 1 }).text;
  const j = judgeVideo(own.video, prompt, GRID);
  return {
    video: { ...own.video, source: `${own.video.source}:swap=color` },
    prompt,
    origin: "swap",
    defects: [],
    labels: { video: j.video, patches: j.patches },
  };
}

Deno.test("the swap contrast pairs a clip with its swap, leaks no tensor, and is BT with the known direction", () => {
  const own = clip(PROMPT, 1);
  const mismatch = clip(PROMPT, 2, "mismatch");
  const train = [own, clip(PROMPT, 3), swapOf(own), swapOf(mismatch)];
  const model = createRewardModel(TINY);
  try {
    const batch = makeRewardBatch(model, train);
    // a rendered mismatch does not show its own prompt: its swap is not contrasted
    assert.deepEqual(batch.swapPairs, [[0, 2]]);
    const dropped = makeRewardBatch(model, train, { keep: [1, 1, 0, 1] });
    assert.deepEqual(dropped.swapPairs, [], "a pair with a null prompt is skipped");
    assert.throws(() => makeRewardBatch(model, train, [1, 1, 0, 1] as never), /keep moved/);
    tf.dispose([dropped.x, dropped.tokens, dropped.videoLabels, dropped.patchLabels, dropped.keep]);
    const before = tf.memory().numTensors;
    for (const stage of ["video", "patch"] as const) {
      const { value, grads } = paramGrads(
        model.params,
        () => tf.tidy(() => rewardLoss(model, batch, { stage, swapWeight: 1 }).total),
      );
      assert.ok(Number.isFinite(value.dataSync()[0]));
      tf.dispose([value, ...Object.values(grads)]);
    }
    const [total, swap, off] = tf.tidy(() => {
      const on = rewardLoss(model, batch, { stage: "patch", swapWeight: 0.25, pairScale: 3 });
      const plain = rewardLoss(model, batch, { stage: "patch" });
      return [on.total, on.swap, plain.total].map((t) => t.dataSync()[0]);
    });
    assert.ok(swap > 0);
    assert.ok(Math.abs(total - (off + 0.25 * swap)) < 1e-5, `${total} vs ${off} + ¼·${swap}`);
    assert.equal(tf.memory().numTensors, before, "a train step leaks");
    tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("training with the swap contrast draws swap partners and separates own from swapped prompts", async () => {
  const owns = [1, 2, 3, 4].map((s) => clip(PROMPT, s));
  const train = [...owns, ...owns.map(swapOf)];
  const before = tf.memory().numTensors;
  const { model, step } = await trainRewardStage(train, {
    stage: "video",
    steps: 40,
    batchSize: 4,
    quiet: true,
    config: TINY,
    promptDropout: 0,
    swapWeight: 2,
  });
  try {
    assert.equal(step, 40);
    const batch = makeRewardBatch(model, train);
    const gap = tf.tidy(() => {
      const l = rewardLoss(model, batch, { stage: "video", swapWeight: 1 });
      return l.swap.dataSync()[0];
    });
    // the contrast starts at softplus(0) = log 2 and falls as own and swapped scores separate
    assert.ok(gap < Math.log(2), `swap contrast ${gap} after training`);
    tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
  } finally {
    disposeRewardModel(model);
  }
  assert.equal(tf.memory().numTensors, before, "trainRewardStage leaks");
  await assert.rejects(
    () => trainRewardStage(owns, { stage: "video", steps: 1, quiet: true, swapWeight: 1 }),
    /Expected prompt-swap negatives in the training set for swapWeight > 0/,
  );
  assert.throws(
    () => resolveRewardLoss({ swapWeight: -1 }),
    /swapWeight/,
  );
});

Deno.test("swapGate keeps the contrast to clips whose labelled text alignment reaches it", async () => {
  // labelled text alignment 3: under a gate of 4 no pair is left, so the contrast's weight
  // changes nothing; under a gate of 3 every pair is kept and it does
  const owns = [1, 2, 3, 4].map((s) => {
    const e = clip(PROMPT, s);
    return { ...e, labels: { ...e.labels, video: { ...e.labels.video, text_alignment: 3 } } };
  });
  const train = [...owns, ...owns.map(swapOf)];
  const weights = async (swapWeight: number, swapGate: number) => {
    const { model } = await trainRewardStage(train, {
      stage: "video",
      steps: 3,
      batchSize: 4,
      quiet: true,
      config: TINY,
      promptDropout: 0,
      swapWeight,
      swapGate,
    });
    const flat = [...model.params.values()].flatMap((v) => Array.from(v.dataSync()));
    disposeRewardModel(model);
    return flat;
  };
  const gap = (a: number[], b: number[]) =>
    a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  assert.equal(gap(await weights(1, 4), await weights(3, 4)), 0);
  assert.ok(gap(await weights(1, 3), await weights(3, 3)) > 0);
  assert.throws(() => resolveRewardLoss({ swapGate: 5 }), /swapGate/);
});

Deno.test('swapLabels "text" trains a swap\'s text alignment only, in the regression and the pairs', () => {
  const own = clip(PROMPT, 1);
  const swap = swapOf(own);
  // the swap's quality labels moved: "text" does not see them, "all" does
  const moved: RewardExample = {
    ...swap,
    labels: {
      video: { ...swap.labels.video, visual_quality: 1, temporal_consistency: 1 },
      patches: swap.labels.patches.map((p) => ({
        ...p,
        scores: { ...p.scores, visual_quality: 1, temporal_consistency: 1 },
      })),
    },
  };
  const model = createRewardModel(TINY);
  const twin = clip(swap.prompt, 5); // shares the swap's prompt: a Bradley–Terry pair with it
  const loss = (example: RewardExample, swapLabels: "all" | "text") => {
    const batch = makeRewardBatch(model, [own, example, twin]);
    assert.deepEqual(batch.swapped, [false, true, false]);
    const parts = tf.tidy(() => {
      const l = rewardLoss(model, batch, { stage: "patch", swapLabels, pairLoss: "bradley-terry" });
      return [l.video, l.patch, l.pair].map((t) => t.dataSync()[0]);
    });
    tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
    return parts;
  };
  try {
    const before = tf.memory().numTensors;
    assert.deepEqual(loss(moved, "text"), loss(swap, "text"));
    const [a, b] = [loss(moved, "all"), loss(swap, "all")];
    assert.ok(a[0] !== b[0] && a[1] !== b[1], `"all" trains the quality labels: ${a} vs ${b}`);
    assert.equal(tf.memory().numTensors, before);
    assert.throws(() => resolveRewardLoss({ swapLabels: "none" as never }), /swapLabels/);
  } finally {
    disposeRewardModel(model);
  }
});
