import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { dpoStepInputs, stepPairIndices } from "../lib/dpo/step.ts";
import { frozenParams } from "../lib/dpo/freeze.ts";
import { postTrain } from "../lib/dpo/post_train.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { postTrainCommand } from "../lib/cli/post_train.ts";
import { readPairs } from "../lib/pairs/file.ts";
import { tokenizeBatch } from "../lib/generator/prompt.ts";
import { promptSplits } from "../lib/videos/world.ts";
import { haveWebGpu, withTempDir } from "./_helpers.ts";
import {
  assertPostTrainRefuses,
  assertStoredOnlyWhenSet,
  dpoRun,
  tinyPairsSetup,
} from "./_dpo_fixtures.ts";

await initBackend();

Deno.test("stepPairIndices: every pair once per epoch, the same for the same (seed, step)", () => {
  const n = 10, b = 4;
  const seen = Array.from(
    { length: 5 },
    (_, s) => stepPairIndices(s, { pairs: n, batchSize: b, seed: 3 }),
  )
    .flat();
  assert.deepEqual(seen.slice(0, 10).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(seen.slice(10, 20).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(stepPairIndices(3, { pairs: n, batchSize: b, seed: 3 }), seen.slice(12, 16));
  assert.notDeepEqual(stepPairIndices(0, { pairs: n, batchSize: b, seed: 4 }), seen.slice(0, 4));
});

Deno.test("DPO steps leak no tensors over 20 steps, and move the policy", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    const run = await dpoRun(dir, r.file);
    const first = await run.step(0);
    assert.ok(
      Math.abs(first.loss - 2 * Math.log(2)) < 1e-4,
      `the first step starts at 2·log 2: ${first.loss}`,
    );
    for (let i = 1; i < 10; i++) await run.step(i);
    const after10 = tf.memory().numTensors;
    for (let i = 10; i < 20; i++) await run.step(i);
    assert.equal(tf.memory().numTensors, after10);
    const moved = tf.tidy(() =>
      run.policy.params.get("pixel.clean.w")!.sub(run.reference.params.get("pixel.clean.w")!).abs()
        .max().dataSync()[0]
    );
    assert.ok(moved > 0);
    run.dispose();
  });
});

Deno.test("the pretraining-data term adds ptxWeight × the denoising error on fresh renders, leak-free", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    const plain = await dpoRun(dir, r.file);
    const withPtx = await dpoRun(dir, r.file, { ptxWeight: 10 });
    const [a, b] = [await plain.step(0), await withPtx.step(0)];
    assert.equal(a["loss/ptx"], undefined);
    assert.ok(b["loss/ptx"] > 0, `loss/ptx ${b["loss/ptx"]}`);
    // policy = reference at step 0: the preference terms are equal, the rest is the term
    assert.ok(Math.abs(b.loss - (a.loss + 10 * b["loss/ptx"])) < 1e-4, `${b.loss} vs ${a.loss}`);
    assert.equal(b["rewards/margins"], a["rewards/margins"]);
    for (let i = 1; i < 5; i++) await withPtx.step(i);
    const after = tf.memory().numTensors;
    for (let i = 5; i < 10; i++) await withPtx.step(i);
    assert.equal(tf.memory().numTensors, after, "the term leaks");
    // the renders depend on (seed, step) alone, and a run without the term draws none
    const data = {
      pairs: await readPairs(r.file),
      clips: [] as Array<[Uint8Array, Uint8Array]>,
      grid: { rows: 2, cols: 2, framesPerPatch: 2 },
    };
    data.clips = data.pairs.map(
      () => [new Uint8Array(4 * 16 * 16 * 3), new Uint8Array(4 * 16 * 16 * 3)],
    );
    const o = { batchSize: 2, seed: 1, tMin: 50, tMax: 950 };
    const [x, y, z] = [
      dpoStepInputs(plain.policy, data, 3, { ...o, ptxWeight: 1 }),
      dpoStepInputs(plain.policy, data, 3, { ...o, ptxWeight: 1 }),
      dpoStepInputs(plain.policy, data, 3, o),
    ];
    assert.deepEqual(x.ptxX0!.dataSync(), y.ptxX0!.dataSync());
    assert.deepEqual(x.ptxT, y.ptxT);
    assert.deepEqual(x.noise.dataSync(), z.noise.dataSync(), "the pairs' draws are unchanged");
    assert.equal(z.ptxX0, undefined);
    for (const v of [x, y, z]) tf.dispose(Object.values(v).filter((t) => t instanceof tf.Tensor));
    plain.dispose();
    withPtx.dispose();
  });
});

Deno.test("post-train --ptx-weight: a bad value fails at once; a set weight is stored, the default is not", async () => {
  await assertPostTrainRefuses(
    ["--ptx-weight=-1"],
    /--ptx-weight: Expected a number ≥ 0 but found -1/,
  );
  await withTempDir(async (dir) => {
    await assertStoredOnlyWhenSet(dir, { key: "ptxWeight", value: 2 });
  });
});

Deno.test("Gran-DPO steps on webgpu give the cpu backend's losses within 1e-4 over 10 steps", async () => {
  if (!(await haveWebGpu())) return;
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    const losses: Record<string, number[]> = {};
    try {
      for (const backend of ["cpu", "webgpu"] as const) {
        await initBackend({ backend });
        const run = await dpoRun(dir, r.file);
        losses[backend] = [];
        for (let i = 0; i < 10; i++) losses[backend].push((await run.step(i)).loss);
        run.dispose();
      }
    } finally {
      await initBackend({ backend: "wasm" });
    }
    losses.webgpu.forEach((loss, i) => {
      const rel = Math.abs(loss - losses.cpu[i]) / Math.abs(losses.cpu[i]);
      assert.ok(
        rel < 1e-4,
        `step ${i + 1}: webgpu ${loss} vs cpu ${losses.cpu[i]} (relative ${rel})`,
      );
    });
  });
});

Deno.test("post-train --freeze: the selected weights stay as pretrained, the rest train; a pattern that selects nothing fails", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
    const base = { pairs: r.file, generatorDir: `${dir}/gen`, steps: 3, batchSize: 2, quiet: true };
    await postTrain({ ...base, out: `${dir}/frozen`, freeze: ["prompt", "*.ada"] });
    const { generator: before } = await loadGenerator(`${dir}/gen`);
    const { generator: after } = await loadGenerator(`${dir}/frozen`);
    const frozen = frozenParams(before, ["prompt", "*.ada"]);
    assert.ok(frozen.includes("prompt.proj.w") && frozen.includes("final.ada.w"), `${frozen}`);
    assert.ok(!frozen.includes("final.out.w"));
    const moved = (name: string) =>
      tf.tidy(() =>
        after.params.get(name)!.sub(before.params.get(name)!).abs().max().dataSync()[0]
      );
    for (const name of frozen) assert.equal(moved(name), 0, `${name} moved`);
    assert.ok(moved("final.out.w") > 0, "the rest trains");
    disposeGenerator(before);
    disposeGenerator(after);
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/typo`, freeze: ["promt"] }),
      /frozenParams: Expected a pattern that selects some of the generator's weights \(embed, .*prompt.*\) but found "promt"/,
    );
    assert.equal(await Deno.stat(`${dir}/typo`).then(() => true, () => false), false);
  });
  const flags = parseCli(["--freeze", "prompt, *.ada"], postTrainCommand.spec);
  assert.equal(flags.freeze, "prompt, *.ada");
  await withTempDir(async (dir) => {
    await assertStoredOnlyWhenSet(dir, { key: "freeze", value: ["prompt"] });
  });
});

Deno.test('ptxPrompts "pretraining": the term renders pretraining prompts drawn by (seed, step), the pairs\' draws unchanged', async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    const pairs = await readPairs(r.file);
    const data = {
      pairs,
      clips: pairs.map(() =>
        [new Uint8Array(4 * 16 * 16 * 3), new Uint8Array(4 * 16 * 16 * 3)] as [
          Uint8Array,
          Uint8Array,
        ]
      ),
      grid: { rows: 2, cols: 2, framesPerPatch: 2 },
    };
    const { generator } = await loadGenerator(`${dir}/gen`);
    const o = { batchSize: 2, seed: 1, tMin: 50, tMax: 950, ptxWeight: 1 };
    const own = dpoStepInputs(generator, data, 0, o);
    const drawn = [0, 0, 1].map((step) =>
      dpoStepInputs(generator, data, step, { ...o, ptxPrompts: "pretraining" })
    );
    const rows = (t: tf.Tensor2D) => (t.arraySync() as number[][]).map((row) => row.join(","));
    assert.deepEqual(
      rows(own.ptxTokens!),
      rows(own.tokens).slice(0, 2),
      "pairs: the step's prompts",
    );
    assert.deepEqual(rows(drawn[0].ptxTokens!), rows(drawn[1].ptxTokens!), "the same (seed, step)");
    assert.notDeepEqual(rows(drawn[0].ptxTokens!), rows(drawn[2].ptxTokens!));
    const trainTokens = tokenizeBatch(promptSplits({ seed: 0 }).train.map((p) => p.text));
    const train = new Set(rows(trainTokens));
    trainTokens.dispose();
    assert.ok(rows(drawn[0].ptxTokens!).every((row) => train.has(row)), "pretraining prompts");
    assert.notDeepEqual(rows(drawn[0].ptxTokens!), rows(own.ptxTokens!));
    assert.deepEqual(
      drawn[0].noise.dataSync(),
      own.noise.dataSync(),
      "the pairs' draws are unchanged",
    );
    for (const v of [own, ...drawn]) {
      tf.dispose(Object.values(v).filter((t) => t instanceof tf.Tensor));
    }
    disposeGenerator(generator);
    await assertStoredOnlyWhenSet(dir, { key: "ptxPrompts", value: "pretraining" });
  });
  await assertPostTrainRefuses(
    ["--ptx-prompts", "test"],
    /--ptx-prompts: Expected pairs \| pretraining but found "test"/,
  );
});
