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

await initBackend();

// no blocks and RGB only (no differences with neighbours): a token sees only its own pixels
const LOCAL: Partial<RewardConfig> = {
  dim: 16,
  depth: 0,
  heads: 2,
  promptLayers: 1,
  features: "rgb",
  pixelMlp: 8,
};

/** Which patches' scores change when a one-pixel-wide bright line sits at column 24. */
function patchesSeeingTheLine(config: Partial<RewardConfig>): number[] {
  const model = createRewardModel(config, { seed: 3 });
  const prompt = tokenizeBatch(["one red circle moving right slowly on a black background"]);
  try {
    return tf.tidy(() => {
      // with the raw-patch embedding and positions off, only the pixel features tell patches apart
      model.params.get("embed.w")!.assign(tf.zerosLike(model.params.get("embed.w")!));
      model.params.get("pos")!.assign(tf.zerosLike(model.params.get("pos")!));
      const w2 = model.params.get("pixel.fc2.w")!;
      w2.assign(tf.randomNormal(w2.shape, 0, 1, "float32", 5));
      const frames = new Float32Array(16 * 32 * 32 * 3);
      for (let t = 0; t < 4; t++) {
        for (let y = 8; y < 16; y++) {
          frames.fill(1, ((t * 32 + y) * 32 + 24) * 3, ((t * 32 + y) * 32 + 25) * 3);
        }
      }
      const x = tf.tensor(frames, [1, 16, 32, 32, 3]);
      const scores = rewardForward(model, { x, tokens: prompt }).patches.arraySync()[0];
      return scores.map((s, k) => Math.abs(s[0] - scores[0][0]) > 1e-4 ? k : -1)
        .filter((k) => k >= 0);
    });
  } finally {
    prompt.dispose();
    disposeRewardModel(model);
  }
}

Deno.test("pixelWindow: each pixel's MLP sees its neighbourhood, across a patch border", () => {
  const before = tf.memory().numTensors;
  // the line is in patch 7 (rows 8–15, column 24); with a 3×3 window the pixels next to it in
  // patches 6 (column 23), 3 and 11 (rows 7 and 16) and their corners see it too, no others
  assert.deepEqual(patchesSeeingTheLine(LOCAL), [7]);
  const seen = patchesSeeingTheLine({ ...LOCAL, pixelWindow: 3 });
  assert.ok([3, 6, 7, 11].every((k) => seen.includes(k)), `patches ${seen}`);
  assert.ok(seen.every((k) => [2, 3, 6, 7, 10, 11].includes(k)), `patches ${seen}`);
  assert.equal(tf.memory().numTensors, before, "the window leaks");
  const c = { ...LOCAL, pixelWindow: 5 };
  assert.equal(resolveRewardConfig(c).pixelWindow, 5);
  assert.equal("pixelWindow" in resolveRewardConfig({ ...LOCAL, pixelWindow: 1 }), false);
  assert.ok(rewardFlops(c, 1) > rewardFlops(LOCAL, 1));
  assert.throws(
    () => resolveRewardConfig({ pixelMlp: 8, pixelWindow: 4 }),
    /Expected an odd pixelWindow but found 4/,
  );
  assert.throws(
    () => resolveRewardConfig({ pixelWindow: 3 }),
    /Expected pixelMlp > 0 with pixelWindow/,
  );
});
