import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { tokenizeBatch } from "../lib/generator/prompt.ts";
import {
  createRewardModel,
  disposeRewardModel,
  resolveRewardConfig,
  type RewardConfig,
  rewardFlops,
  rewardForward,
} from "../lib/reward/model.ts";
import { countParams } from "../lib/tensor/nn.ts";

await initBackend();

// no blocks: a label patch's score is a function of its own tokens only
const LOCAL: Partial<RewardConfig> = { dim: 16, depth: 0, heads: 2, features: "rgb" };

/** Patch scores of a black clip and of the same clip with a lit 2 × 2 square at (y, x). */
function scoresWithSquare(config: Partial<RewardConfig>, y: number, x: number): number[][][] {
  const model = createRewardModel(config, { seed: 1 });
  const prompt = tokenizeBatch(["one red circle moving right slowly on a black background"]);
  try {
    return tf.tidy(() => {
      const frames = new Float32Array(16 * 32 * 32 * 3);
      for (let t = 0; t < 16; t++) {
        for (let dy = 0; dy < 2; dy++) {
          const at = ((t * 32 + y + dy) * 32 + x) * 3;
          frames.fill(1, at, at + 6);
        }
      }
      const clips = tf.stack([tf.zeros([16, 32, 32, 3]), tf.tensor(frames, [16, 32, 32, 3])]);
      const both = tf.concat([prompt, prompt]) as tf.Tensor2D;
      return rewardForward(model, { x: clips, tokens: both }).patches.arraySync();
    });
  } finally {
    prompt.dispose();
    disposeRewardModel(model);
  }
}

/** The label patches whose scores the square changes. */
function changed(scores: number[][][]): number[] {
  return scores[0].map((s, k) => (Math.abs(s[0] - scores[1][k][0]) > 1e-5 ? k : -1))
    .filter((k) => k >= 0);
}

Deno.test("tokenSplit: patch scores stay on the label grid, each from its own k × k tokens", () => {
  const before = tf.memory().numTensors;
  const split = { ...LOCAL, tokenSplit: 2 };
  // a square in label patch 5 (rows 8–15, cols 8–15), in its lower-right 4 × 4 token: every
  // segment's patch 5 (5, 21, 37, 53) changes, no other
  const scores = scoresWithSquare(split, 12, 12);
  assert.equal(scores[0].length, 64, "label patches per clip");
  assert.deepEqual(changed(scores), [5, 21, 37, 53]);
  // and with one token per patch the same square moves the same patches
  assert.deepEqual(changed(scoresWithSquare(LOCAL, 12, 12)), [5, 21, 37, 53]);
  assert.equal(tf.memory().numTensors, before, "the split leaks");
});

Deno.test("tokenSplit: config, flops and parameters", () => {
  assert.equal(resolveRewardConfig({ tokenSplit: 2 }).tokenSplit, 2);
  assert.equal("tokenSplit" in resolveRewardConfig({ tokenSplit: 1 }), false);
  assert.ok(rewardFlops({ tokenSplit: 2 }, 1) > 2 * rewardFlops({}, 1));
  // four times the positions, a quarter of the values per token
  const one = createRewardModel({}), two = createRewardModel({ tokenSplit: 2 });
  try {
    assert.deepEqual(two.params.get("pos")!.shape, [256, 48]);
    assert.deepEqual(two.params.get("embed.w")!.shape, [384, 48]);
    assert.ok(countParams(two.params) < countParams(one.params));
  } finally {
    disposeRewardModel(one);
    disposeRewardModel(two);
  }
  assert.throws(
    () => resolveRewardConfig({ tokenSplit: 3 }),
    /Expected tokenSplit dividing the patch size 8×8 but found 3/,
  );
  assert.throws(() => resolveRewardConfig({ tokenSplit: 0 }), /tokenSplit/);
});
