import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { createRng } from "../lib/_rng.ts";
import { disposeGenerator, makeBatch } from "../lib/generator.ts";
import { samplePrompt } from "../lib/world.ts";
import { exportForPeer, parityGenerator, peerAvailable, runPeer } from "../bench/_peer.ts";
import { withTempDir } from "./_helpers.ts";

const peer = await peerAvailable();
// .ci/run installs python3-torch, so in CI a missing peer is a failure, not a skip.
const skipReason = peer.ok || Deno.env.get("CI") ? "" : `no PyTorch peer: ${peer.reason}`;
if (skipReason) console.warn(`bench_peer_test skipped — ${skipReason}`);

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test({
    name: `PyTorch peer: same loss as the kit (${backend}) on identical weights and inputs, ` +
      `before and after one Adam step${skipReason ? ` [skipped: ${skipReason}]` : ""}`,
    ignore: Boolean(skipReason),
    fn: async () => {
      await initBackend({ backend });
      const { gen } = await parityGenerator();
      const rng = createRng(4);
      const batch = makeBatch(gen.config, Array.from({ length: 2 }, () => samplePrompt(rng)));
      await withTempDir(async (dir) => {
        const kit = await exportForPeer(gen, batch, dir, { seed: 2 });
        const report = await runPeer(dir, { seconds: 0, minRuns: 1, warmup: 0 });
        assert.equal(report.kitLoss, kit.loss);
        assert.ok(
          report.lossRelDiff < 1e-3,
          `loss: peer ${report.loss} vs kit ${kit.loss} (relative ${report.lossRelDiff})`,
        );
        assert.ok(
          report.lossAfterStepRelDiff < 1e-3,
          `after one Adam step: peer ${report.lossAfterStep} vs kit ${kit.lossAfterStep}`,
        );
      });
      tf.dispose([batch.x0, batch.tokens]);
      disposeGenerator(gen);
    },
  });
}
