import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { readParams, writeParams } from "../lib/tensor/nn.ts";
import {
  disposeGenerator,
  type GeneratorConfig,
  resolveGeneratorConfig,
} from "../lib/generator/model.ts";
import { alphaBars } from "../lib/generator/diffusion.ts";
import { loadGenerator, saveGenerator } from "../lib/generator/io.ts";
import { VOCAB } from "../lib/generator/prompt.ts";
import { dpoStep, dpoStepInputs, loadPairData, stepPairIndices } from "../lib/dpo/step.ts";
import {
  methodLossOptions,
  POST_TRAIN_METHODS,
  type PostTrainMethod,
} from "../lib/dpo/post_train.ts";
import type { ErrorWeighting } from "../lib/dpo/loss_maps.ts";
import type { DpoMetrics, GranDpoOptions } from "../lib/dpo/loss.ts";
import { PEER_PYTHON } from "../bench/_peer.ts";
import { f32Bytes } from "../bench/_peer.ts";
import { steppedGenerator, withTempDir } from "./_helpers.ts";
import {
  parseRun,
  randomisedGenerator,
  TORCH_DIR,
  TORCH_ENV,
  TORCH_TINY,
  torchSkipReason,
  writeTinyPairs,
} from "./_torch_fixtures.ts";

const skipReason = await torchSkipReason("torch_parity_test");
const skip = skipReason ? ` [skipped: ${skipReason}]` : "";

/** Runs `python3 <args>` (`-m module …` or `-c script …`) in torch/ and returns its last JSON line. */
async function python(args: string[]) {
  const out = await new Deno.Command(PEER_PYTHON, {
    args,
    cwd: TORCH_DIR,
    env: TORCH_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const r = parseRun(out);
  assert.equal(r.code, 0, r.stderr);
  return r.json;
}

/** |a − b| / |b| (absolute when b = 0). */
const rel = (a: number, b: number) => Math.abs(a - b) / (b === 0 ? 1 : Math.abs(b));

Deno.test("halo_torch's vocabulary is the kit's (tokenizer drift)", async () => {
  const file = join(TORCH_DIR, "halo_torch", "vocab.json");
  assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), [...VOCAB]);
});

Deno.test({
  name: `checkpoints kit → torch → kit: weights.bin and optimizer.bin byte-identical${skip}`,
  ignore: Boolean(skipReason),
  fn: async () => {
    await initBackend({ backend: "cpu" });
    await withTempDir(async (dir) => {
      const { gen, adam } = steppedGenerator(3);
      await saveGenerator(join(dir, "kit"), gen, { step: 7, optimizer: adam, meta: { a: 1 } });
      await python(["-m", "halo_torch.checkpoint", join(dir, "kit"), join(dir, "torch")]);
      for (const file of ["weights.bin", "optimizer.bin"]) {
        assert.deepEqual(
          await Deno.readFile(join(dir, "torch", file)),
          await Deno.readFile(join(dir, "kit", file)),
          file,
        );
      }
      // and the kit loads what torch wrote, config and step included
      const back = await loadGenerator(join(dir, "torch"), { config: gen.config });
      assert.equal(back.step, 7);
      assert.deepEqual(back.manifest.meta, { a: 1 });
      disposeGenerator(back.generator);
      // a corrupted file is refused on the torch side with the kit's message
      const bytes = await Deno.readFile(join(dir, "kit", "weights.bin"));
      bytes[0] ^= 1;
      await Deno.writeFile(join(dir, "kit", "weights.bin"), bytes);
      const bad = await new Deno.Command(PEER_PYTHON, {
        args: ["-m", "halo_torch.checkpoint", join(dir, "kit"), join(dir, "again")],
        cwd: TORCH_DIR,
        env: TORCH_ENV,
        stderr: "piped",
      }).output();
      assert.notEqual(bad.code, 0);
      assert.match(
        new TextDecoder().decode(bad.stderr),
        /Expected weights with SHA-256 .* but found/,
      );
      adam.dispose();
      disposeGenerator(gen);
    });
  },
});

// The cases: the x0 head with each error weighting, the ε head (x̂0 derived from ε̂), the
// cross-token context with the pixel window, and joint attention over all tokens. (The schedule shift has its own test:
// the DPO losses of a shifted schedule are too large for a relative bound after an Adam step.)
const cases: Array<{ config: Partial<GeneratorConfig>; weighting: ErrorWeighting }> = [
  { config: TORCH_TINY, weighting: "min-snr" },
  { config: { ...TORCH_TINY, crossContext: 3, pixelWindow: 3 }, weighting: "x0" },
  { config: { ...TORCH_TINY, attention: "joint" }, weighting: "x0" },
  { config: TORCH_TINY, weighting: "x0" },
  { config: TORCH_TINY, weighting: "eps" },
  { config: { ...TORCH_TINY, prediction: "eps" }, weighting: "min-snr" },
];

Deno.test({
  name: `scheduleShift: torch's ᾱ(t) is the kit's, in alpha_bars and in a loaded generator${skip}`,
  ignore: Boolean(skipReason),
  fn: async () => {
    await initBackend({ backend: "cpu" });
    await withTempDir(async (dir) => {
      const gen = randomisedGenerator({ ...TORCH_TINY, scheduleShift: 3 }, 5);
      await saveGenerator(join(dir, "gen"), gen);
      disposeGenerator(gen);
      const script = [
        "import json, sys",
        "from halo_torch.model import alpha_bars, Generator",
        "from halo_torch.checkpoint import load_generator",
        "config, weights, _, _ = load_generator(sys.argv[1])",
        "g = Generator(config, weights)",
        "print(json.dumps({'cosine': alpha_bars(1000, 'cosine', 3),",
        "  'linear': alpha_bars(1000, 'linear', 0.5), 'model': g.ab64.tolist()}))",
      ].join("\n");
      const theirs = await python(["-c", script, join(dir, "gen")]) as Record<string, number[]>;
      const worst = (a: number[], b: Float64Array) =>
        Math.max(...a.map((v, i) => Math.abs(v - b[i]) / b[i]));
      assert.ok(worst(theirs.cosine, alphaBars(1000, "cosine", 3)) < 1e-12);
      assert.ok(worst(theirs.linear, alphaBars(1000, "linear", 0.5)) < 1e-12);
      const c = resolveGeneratorConfig({ ...TORCH_TINY, scheduleShift: 3 });
      assert.ok(worst(theirs.model, alphaBars(c.timesteps, c.schedule, c.scheduleShift)) < 1e-12);
    });
  },
});

/**
 * The losses compared in case `k`: the three methods, and in the first case each of them again
 * with an anchor on the winners (each kind), so the anchor's loss, gradient and metric are
 * compared too, and the IPO loss variant.
 */
function variants(
  k: number,
): Array<{ name: string; method: PostTrainMethod; loss: GranDpoOptions }> {
  const plain = POST_TRAIN_METHODS.map((method) => ({ name: method, method, loss: {} }));
  if (k !== 0) return plain;
  return [
    ...plain,
    { name: "dpo+kl", method: "dpo", loss: { anchor: "kl", anchorWeight: 100 } },
    { name: "grandpo+sft", method: "grandpo", loss: { anchor: "sft", anchorWeight: 10 } },
    { name: "patch-only+kl", method: "patch-only", loss: { anchor: "kl", anchorWeight: 100 } },
    { name: "grandpo+dpop", method: "grandpo", loss: { anchor: "dpop", anchorWeight: 100 } },
    { name: "grandpo+ipo", method: "grandpo", loss: { lossType: "ipo" } },
    { name: "dpo+ipo", method: "dpo", loss: { lossType: "ipo" } },
    { name: "grandpo+preferred", method: "grandpo", loss: { patchOtherWeight: 0 } },
    { name: "grandpo+other-half", method: "grandpo", loss: { patchOtherWeight: 0.5 } },
  ];
}

Deno.test({
  name:
    "Diffusion-DPO, Gran-DPO and patch-only, plain and anchored: torch's loss and every metric " +
    `within 1e-5 relative of the kit's before one step, 2e-5 after it (cpu backend)${skip}`,
  ignore: Boolean(skipReason),
  fn: async () => {
    await initBackend({ backend: "cpu" });
    await withTempDir(async (dir) => {
      const pairs = await writeTinyPairs(join(dir, "pairs"), 6, { frames: 4, size: 16 });
      const kits: Array<{
        dir: string;
        label: string;
        kit: Record<string, { before: DpoMetrics; after: DpoMetrics }>;
        variants: ReturnType<typeof variants>;
      }> = [];
      for (const [k, { config, weighting }] of cases.entries()) {
        const caseDir = join(dir, `case${k}`);
        const reference = randomisedGenerator(config, 5);
        const policy = randomisedGenerator(config, 5, 1); // away from its reference
        await saveGenerator(join(caseDir, "reference"), reference);
        await saveGenerator(join(caseDir, "policy"), policy);
        const data = await loadPairData(pairs, policy);
        const draw = { batchSize: 4, seed: 1, tMin: 50, tMax: 950 };
        const inputs = dpoStepInputs(policy, data, 0, draw);
        const b = draw.batchSize;
        const learningRate = 1e-4;
        const start = await readParams(policy.params);
        const kit: Record<string, { before: DpoMetrics; after: DpoMetrics }> = {};
        const methods: Record<string, unknown> = {};
        for (const { name, method, loss: lossOptions } of variants(k)) {
          const loss = methodLossOptions(method, lossOptions);
          methods[name] = loss;
          writeParams(policy.params, start);
          const adam = createAdam(policy.params, { learningRate });
          // the metrics at the stepped weights as dpoStep computes them: at lr 0 nothing moves
          const still = createAdam(policy.params, { learningRate: 0 });
          const options = { loss, weighting, gamma: 5, grid: data.grid };
          const before = await dpoStep({ policy, reference, adam }, inputs, options);
          const after = await dpoStep({ policy, reference, adam: still }, inputs, options);
          kit[name] = { before, after };
          adam.dispose();
          still.dispose();
        }
        const noise = (await inputs.noise.data() as Float32Array).slice(0, inputs.noise.size / 2);
        await Deno.writeFile(join(caseDir, "noise.f32"), f32Bytes(noise));
        await Deno.writeTextFile(
          join(caseDir, "step.json"),
          JSON.stringify({
            pairs,
            indices: stepPairIndices(0, { pairs: data.pairs.length, ...draw }),
            t: inputs.t.slice(0, b),
            weighting,
            gamma: 5,
            learningRate,
            clipNorm: 1,
            methods,
          }),
        );
        tf.dispose(Object.values(inputs).filter((v) => v instanceof tf.Tensor));
        disposeGenerator(policy);
        disposeGenerator(reference);
        kits.push({
          dir: caseDir,
          label: `${config.prediction} head${config.crossContext ? " + cross context" : ""}${
            config.pixelWindow ? ` + pixel window ${config.pixelWindow}` : ""
          }${config.attention === "joint" ? " + joint attention" : ""}${
            config.scheduleShift ? ` + schedule shift ${config.scheduleShift}` : ""
          }, ${weighting}`,
          kit,
          variants: variants(k),
        });
      }
      const all = await python(["-m", "halo_torch.parity", ...kits.map((k) => k.dir)]) as {
        cases: Array<{
          methods: Record<
            string,
            { before: DpoMetrics; after: DpoMetrics; scales: Record<string, number> }
          >;
        }>;
      };
      for (const [k, { label, kit, variants: compared }] of kits.entries()) {
        const report = all.cases[k];
        for (const { name: method, method: kind, loss } of compared) {
          const k0 = kit[method];
          if (loss.anchor) {
            // the anchor is there, and weighs enough to matter
            const anchor = k0.before["loss/anchor"] * loss.anchorWeight!;
            assert.ok(anchor > 1e-2 * k0.before.loss, `${method}: anchor ${anchor}`);
          }
          // the batch exercises what must match: a loss away from log 2 (policy ≠ reference), a
          // step that moves it, and a τ mask that keeps some patches and drops others
          assert.ok(Math.abs(k0.before["rewards/margins"]) > 1e-3, `${method}: margins ≈ 0`);
          assert.ok(rel(k0.after.loss, k0.before.loss) > 1e-3, `${method}: the step moved nothing`);
          if (kind !== "dpo") {
            const used = k0.before["patch/used"];
            assert.ok(used > 0 && used < 1, `patch/used ${used}`);
          }
          for (const when of ["before", "after"] as const) {
            const ours = report.methods[method][when], theirs = k0[when];
            assert.deepEqual(
              Object.keys(ours).sort(),
              Object.keys(theirs).sort(),
              `${method} names`,
            );
            let worst = 0;
            for (const [name, value] of Object.entries(theirs)) {
              // relative to the value; for the two signed means (margins), whose terms may cancel,
              // relative to the mean magnitude of their terms when that is larger: float32 sums
              // are exact to that scale, on both sides
              const scale = Math.max(Math.abs(value), report.methods[method].scales[name] ?? 0);
              const r = Math.abs(ours[name] - value) / (scale || 1);
              worst = Math.max(worst, r);
              // After one Adam step m/√v turns float32 noise in near-zero gradient entries into
              // moves of up to the learning rate, so the two sides drift apart a little more.
              const tolerance = when === "before" ? 1e-5 : 2e-5;
              assert.ok(
                r <= tolerance,
                `${label}, ${method} ${when} ${name}: torch ${ours[name]} kit ${value}`,
              );
            }
            console.log(
              `${label}, ${method} ${when}: loss ${
                theirs.loss.toFixed(6)
              }, worst metric relative difference ${worst.toExponential(1)}`,
            );
          }
        }
      }
    });
  },
});
