import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { loadPairData } from "../lib/dpo/step.ts";
import { benchPairsFile, DPO_METHODS, exportDpoForPeer, runDpoPeer } from "../bench/_dpo_peer.ts";
import { peerAvailable, SHIPPED_GENERATOR } from "../bench/_peer.ts";
import type { ErrorWeighting } from "../lib/dpo/loss_maps.ts";
import { withTempDir } from "./_helpers.ts";

const peer = await peerAvailable();
// .ci/run installs python3-torch, so in CI a missing peer is a failure, not a skip.
const skipReason = peer.ok || Deno.env.get("CI") ? "" : `no PyTorch peer: ${peer.reason}`;
if (skipReason) console.warn(`bench_dpo_peer_test skipped — ${skipReason}`);

// Two pairs from the shipped generator (20 DDIM steps, as `deno task pairs`: with fewer, the PRM
// sees no patch gap past τ) scored by the shipped PRM, built once for all cases.
let pairsDir: string | undefined;
let pairsFile: string | undefined;
async function pairs(): Promise<string> {
  if (pairsFile) return pairsFile;
  await initBackend({ backend: "wasm" });
  pairsDir = await Deno.makeTempDir({ prefix: "halo-dpo-pairs-" });
  pairsFile = await benchPairsFile({ out: pairsDir, prompts: 2 });
  return pairsFile;
}

const cases: Array<{ backend: "cpu" | "wasm"; weighting: ErrorWeighting }> = [
  // the default weighting, min(SNR, 5) per clip, on both CPU routes; the plain x0-error on wasm
  { backend: "cpu", weighting: "min-snr" },
  { backend: "wasm", weighting: "min-snr" },
  { backend: "wasm", weighting: "x0" },
];

for (const { backend, weighting } of cases) {
  Deno.test({
    name: `PyTorch DPO peer: Diffusion-DPO and Gran-DPO losses as the kit's (${backend}, ` +
      `weighting ${weighting}) on the shipped generator, before and after one dpoStep` +
      (skipReason ? ` [skipped: ${skipReason}]` : ""),
    ignore: Boolean(skipReason),
    fn: async () => {
      const file = await pairs();
      await initBackend({ backend });
      const { generator } = await loadGenerator(SHIPPED_GENERATOR);
      try {
        const data = await loadPairData(file, generator);
        await withTempDir(async (dir) => {
          const kit = await exportDpoForPeer({ generator, data }, dir, {
            batchSize: 2,
            weighting,
          });
          const report = await runDpoPeer(dir, { seconds: 0, minRuns: 1, warmup: 0 });
          const { t } = JSON.parse(await Deno.readTextFile(join(dir, "batch.json")));
          // the batch exercises what the peer must get right: a policy away from its reference (so
          // the "before" loss is not log 2 whatever the code), a step that moves the loss, and a
          // τ mask that keeps some patches and drops others
          assert.ok(report.patchesUsed > 0 && report.patchesUsed < 1, `used ${report.patchesUsed}`);
          for (const method of DPO_METHODS) {
            const k = kit[method];
            assert.ok(
              Math.abs(k.loss - Math.log(2) * (method === "dpo" ? 1 : 2)) > 1e-2,
              `${k.loss}`,
            );
            assert.ok(Math.abs(k.lossAfterStep - k.loss) > 1e-2 * k.loss, `${method}: no change`);
            const m = report.methods[method];
            assert.equal(m.kitLoss, k.loss);
            assert.equal(m.kitLossAfterStep, k.lossAfterStep);
            for (
              const [what, peerValue, kitValue, rel] of [
                ["loss", m.loss, k.loss, m.lossRelDiff],
                ["loss after one step", m.lossAfterStep, k.lossAfterStep, m.lossAfterStepRelDiff],
              ] as const
            ) {
              console.log(
                `${backend} ${weighting} ${method} ${what} (t = ${t}): kit ${kitValue} peer ` +
                  `${peerValue} (relative ${rel.toExponential(2)})`,
              );
              // the bound is 1e-3; kit and peer agree to ~1e-6 on cpu and wasm, and 1e-4 also
              // catches a peer without Adam's gradient clipping (8.5e-4 after the Diffusion-DPO step:
              // the first Adam step is about lr·sign(g), so the clip shows only faintly; bench/NOTES.md)
              assert.ok(
                rel < 1e-4,
                `${method} ${what}: peer ${peerValue} vs kit ${kitValue} (relative ${rel})`,
              );
            }
          }
        });
      } finally {
        disposeGenerator(generator);
      }
    },
  });
}

Deno.test("PyTorch DPO peer: the temporary pairs are removed", async () => {
  if (pairsDir) await Deno.remove(pairsDir, { recursive: true });
});
