import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { makeBatch } from "../lib/generator/diffusion.ts";
import { samplePrompt } from "../lib/videos/world.ts";
import {
  exportForPeer,
  parityGenerator,
  peerAvailable,
  randomisedGenerator,
  runPeer,
} from "../bench/_peer.ts";
import { withTempDir } from "./_helpers.ts";

const peer = await peerAvailable();
// .ci/run installs python3-torch, so in CI a missing peer is a failure, not a skip.
const skipReason = peer.ok || Deno.env.get("CI") ? "" : `no PyTorch peer: ${peer.reason}`;
if (skipReason) console.warn(`bench_peer_test skipped — ${skipReason}`);

// The shipped generator (x0 head: plain x0-MSE) and the default ε head (weighted ε-MSE).
const generators = {
  shipped: async () => (await parityGenerator()).gen,
  "ε head": () => Promise.resolve(randomisedGenerator()),
};

for (const backend of ["cpu", "wasm"] as const) {
  for (const [which, make] of Object.entries(generators)) {
    Deno.test({
      name:
        `PyTorch peer: same loss as the kit (${backend}, ${which}) on identical weights and inputs, ` +
        `before and after one Adam step${skipReason ? ` [skipped: ${skipReason}]` : ""}`,
      ignore: Boolean(skipReason),
      fn: async () => {
        await initBackend({ backend });
        const gen = await make();
        const eps = gen.config.prediction !== "x0";
        const rng = createRng(4);
        const batch = makeBatch(gen.config, Array.from({ length: 2 }, () => samplePrompt(rng)));
        await withTempDir(async (dir) => {
          const kit = await exportForPeer(gen, batch, dir, { seed: 7 });
          const { t, keep } = JSON.parse(await Deno.readTextFile(join(dir, "batch.json")));
          // seed 7: t = 982 (weight capped at 10) and 334 (1.35), one null prompt — the batch exercises
          // the loss weighting of an ε head, its cap and the null prompt (an x0 head is unweighted)
          if (eps) {
            assert.ok(
              Math.abs(kit.weightedLoss - kit.loss) > 1e-3 * kit.loss,
              `weighted ${kit.weightedLoss} vs plain ${kit.loss} at t = ${t}: weights all equal`,
            );
          } else assert.equal(kit.weightedLoss, kit.loss);
          assert.ok(keep.includes(0) && keep.includes(1), `keep mask ${keep}`);
          const report = await runPeer(dir, { seconds: 0, minRuns: 1, warmup: 0 });
          assert.equal(report.kitLoss, kit.loss);
          assert.equal(report.kitWeightedLoss, kit.weightedLoss);
          // cpu: same float32 ops as torch up to summation order; wasm: its Sin/Cos (see bench/NOTES.md)
          // cpu: float32 summation order alone gives ~1e-5 after one Adam step on the shipped weights;
          // 1e-4 still catches a peer that takes its gradient from the unweighted loss (5.7e-4).
          const bound = backend === "cpu" ? 1e-4 : 1e-3;
          for (
            const [what, peerValue, kitValue, rel] of [
              ["plain MSE", report.loss, kit.loss, report.lossRelDiff],
              ["weighted MSE", report.weightedLoss, kit.weightedLoss, report.weightedLossRelDiff],
              [
                "plain MSE after one trainStep",
                report.lossAfterStep,
                kit.lossAfterStep,
                report.lossAfterStepRelDiff,
              ],
              [
                "weighted MSE after one trainStep",
                report.weightedLossAfterStep,
                kit.weightedLossAfterStep,
                report.weightedLossAfterStepRelDiff,
              ],
            ] as const
          ) {
            console.log(
              `${backend} ${which} ${what}: kit ${kitValue} peer ${peerValue} (relative ${rel})`,
            );
            assert.ok(
              rel < bound,
              `${what}: peer ${peerValue} vs kit ${kitValue} (relative ${rel}, bound ${bound})`,
            );
          }
        });
        tf.dispose([batch.x0, batch.tokens]);
        disposeGenerator(gen);
      },
    });
  }
}
