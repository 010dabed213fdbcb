import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { learningRateAt, pretrain, pretrainPrompts } from "../lib/generator/pretrain.ts";
import { promptPicker } from "../lib/generator/_prompt_mix.ts";
import { createRng } from "../lib/core/_rng.ts";
import * as tf from "@tensorflow/tfjs";
import { tokenizeBatch, VOCAB } from "../lib/generator/prompt.ts";
import { SHAPE_WORD, withoutShapeWord } from "../lib/generator/_shape_word.ts";
import { promptSplits } from "../lib/videos/world.ts";
import { MAIN, TASK_PERMISSIONS, TINY_GENERATOR } from "./_helpers.ts";

await initBackend();

const TINY = TINY_GENERATOR;

function pretrainProcess(out: string, steps: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      MAIN,
      "pretrain",
      "--out",
      out,
      "--steps",
      String(steps),
      "--batch-size",
      "2",
      "--checkpoint-every",
      "10",
      "--eval-every",
      "50",
      "--eval-prompts",
      "1",
      "--config",
      JSON.stringify(TINY),
      "--quiet",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function stepOf(out: string): Promise<number> {
  try {
    return (await readCheckpointManifest(out)).step;
  } catch {
    return -1;
  }
}

Deno.test("a resume drops log lines past the checkpoint (killed between log and checkpoint)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const options = {
      out: `${dir}/g`,
      batchSize: 2,
      checkpointEvery: 2,
      config: TINY,
      quiet: true,
    };
    await pretrain({ ...options, steps: 4 });
    // what a kill after the log append and before the checkpoint rename leaves behind
    await Deno.writeTextFile(`${dir}/g.log.jsonl`, '{"step":5,"loss":1,"seconds":0}\n', {
      append: true,
    });
    await pretrain({ ...options, steps: 6 });
    const log = await readJsonLines<{ step: number }>(`${dir}/g.log.jsonl`);
    assert.deepEqual(log.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pretraining killed half-way resumes and ends at the same step with the same weights and EMA", async () => {
  const dir = await Deno.makeTempDir();
  const steps = 300;
  const child = pretrainProcess(`${dir}/killed`, steps);
  const deadline = Date.now() + 40_000;
  while ((await stepOf(`${dir}/killed`)) < 10 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  await child.output();
  const killedAt = await stepOf(`${dir}/killed`);
  assert.ok(killedAt >= 10 && killedAt < steps, `killed at step ${killedAt}`);

  const rerun = await pretrainProcess(`${dir}/killed`, steps).output();
  assert.equal(rerun.code, 0, new TextDecoder().decode(rerun.stderr));
  const result = JSON.parse(new TextDecoder().decode(rerun.stdout));
  assert.equal(result.step, steps);
  assert.equal(result.resumed, true);
  assert.equal(await stepOf(`${dir}/killed`), steps);
  // every step is logged exactly once, across the kill
  const log = await readJsonLines<{ step: number }>(`${dir}/killed.log.jsonl`);
  assert.deepEqual(log.map((r) => r.step), Array.from({ length: steps }, (_, i) => i + 1));

  // every validation evaluation is logged exactly once, across the kill
  const evals = await readJsonLines<{ step: number; judgeColorAccuracy: number }>(
    `${dir}/killed.eval.jsonl`,
  );
  assert.deepEqual(evals.map((r) => r.step), [50, 100, 150, 200, 250, 300]);
  assert.ok(evals.every((r) => r.judgeColorAccuracy >= 0 && r.judgeColorAccuracy <= 1));

  // the resumed run equals an uninterrupted one bit for bit, its EMA too
  await pretrain({
    out: `${dir}/straight`,
    steps,
    batchSize: 2,
    checkpointEvery: 1000,
    config: TINY,
    quiet: true,
  });
  const a = await loadGenerator(`${dir}/killed`);
  const b = await loadGenerator(`${dir}/straight`);
  for (const [name, v] of a.generator.params) {
    assert.deepEqual(v.dataSync(), b.generator.params.get(name)!.dataSync(), name);
  }
  disposeGenerator(a.generator);
  disposeGenerator(b.generator);
  const emaA = await loadGenerator(`${dir}/killed-ema`);
  const emaB = await loadGenerator(`${dir}/straight-ema`);
  assert.equal(emaA.step, steps);
  for (const [name, v] of emaA.generator.params) {
    assert.deepEqual(v.dataSync(), emaB.generator.params.get(name)!.dataSync(), name);
  }
  disposeGenerator(emaA.generator);
  disposeGenerator(emaB.generator);

  // a finished checkpoint is not trained further
  const again = await pretrain({
    out: `${dir}/killed`,
    steps,
    batchSize: 2,
    config: TINY,
    quiet: true,
  });
  assert.equal(again.step, steps);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resuming with another config or seed is a clear error and leaves the checkpoint alone", async () => {
  const dir = await Deno.makeTempDir();
  await pretrain({ out: `${dir}/g`, steps: 2, batchSize: 1, config: TINY, quiet: true });
  const before = await Deno.readFile(`${dir}/g/weights.bin`);
  await assert.rejects(
    () =>
      pretrain({
        out: `${dir}/g`,
        steps: 4,
        batchSize: 1,
        config: { ...TINY, dim: 32 },
        quiet: true,
      }),
    /Expected a checkpoint of the same config but found .*dim: expected 32 but found 16/,
  );
  await assert.rejects(
    () => pretrain({ out: `${dir}/g`, steps: 4, batchSize: 1, config: TINY, seed: 9, quiet: true }),
    /Expected a run with seed 9 but found "seed 0"/,
  );
  assert.deepEqual(await Deno.readFile(`${dir}/g/weights.bin`), before);
  await assert.rejects(() => pretrain({ steps: 0 }), /Expected steps to be an integer/);
  await assert.rejects(
    () => pretrain({ steps: 4, checkpointEvery: 3, evalEvery: 4 }),
    /Expected evalEvery a multiple of checkpointEvery \(3\) but found 4/,
  );
  await assert.rejects(
    () => pretrain({ steps: 4, cooldownSteps: 2 }),
    /Expected cooldownSteps with lrSchedule "constant"/,
  );
  await assert.rejects(
    () => pretrain({ steps: 4, lrSchedule: "linear" as never }),
    /Expected lrSchedule "cosine" or "constant"/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("learning-rate schedule: warm-up, peak, decay to 10% (or constant)", () => {
  assert.ok(learningRateAt(0, 1000, 1) < 0.05);
  assert.ok(Math.abs(learningRateAt(50, 1000, 1) - 1) < 1e-3);
  assert.ok(Math.abs(learningRateAt(1000, 1000, 1) - 0.1) < 1e-9);
  // constant: after the warm-up the peak, whatever the total, so runs of any length share a prefix
  for (const total of [2000, 20000]) {
    assert.equal(learningRateAt(0, total, 1), 0.01);
    assert.equal(learningRateAt(1500, total, 1, "constant"), 1);
  }
  // a cooldown decays over the last steps only: before it, the constant run's rates
  assert.equal(learningRateAt(7999, 10000, 1, "constant", 2000), 1);
  assert.equal(learningRateAt(8000, 10000, 1, "constant", 2000), 1);
  assert.ok(Math.abs(learningRateAt(9000, 10000, 1, "constant", 2000) - 0.55) < 1e-9);
  assert.ok(Math.abs(learningRateAt(10000, 10000, 1, "constant", 2000) - 0.1) < 1e-9);
});

Deno.test("shapeWeights: the share of each asked shape follows its weight; absent, every prompt alike", () => {
  const prompts = pretrainPrompts();
  const share = (weights: Parameters<typeof promptPicker>[1], shape: string) => {
    const pick = promptPicker(prompts, weights);
    const rng = createRng(5);
    let n = 0;
    for (let i = 0; i < 4000; i++) n += pick(rng).shape === shape ? 1 : 0;
    return n / 4000;
  };
  // 383 of the 1,296 training prompts are squares (two of the four held-out combinations are)
  const perPrompt = prompts.filter((p) => p.shape === "square").length / prompts.length;
  assert.ok(Math.abs(share(undefined, "square") - perPrompt) < 0.03);
  assert.ok(Math.abs(share({ square: 2 }, "square") - 0.5) < 0.03);
  assert.equal(share({ circle: 0, triangle: 0 }, "square"), 1);
  // absent weights draw exactly what rng.pick did before the option existed
  const a = createRng(9), b = createRng(9);
  const pick = promptPicker(prompts, undefined);
  for (let i = 0; i < 50; i++) assert.equal(pick(a), b.pick(prompts));
});

Deno.test("shapeWordDropout: 0 is the run without it; above 0 only shape words are dropped, and the meta says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const base = { steps: 2, batchSize: 4, config: TINY, quiet: true, checkpointEvery: 2 };
    await pretrain({ ...base, out: `${dir}/a` });
    await pretrain({ ...base, out: `${dir}/b`, shapeWordDropout: 0 });
    await pretrain({ ...base, out: `${dir}/c`, shapeWordDropout: 0.5 });
    const weights = (name: string) => Deno.readFile(`${dir}/${name}/weights.bin`);
    assert.deepEqual(await weights("b"), await weights("a"));
    assert.notDeepEqual(await weights("c"), await weights("a"));
    assert.equal((await readCheckpointManifest(`${dir}/c`)).meta.shapeWordDropout, 0.5);
    assert.equal((await readCheckpointManifest(`${dir}/a`)).meta.shapeWordDropout, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const tokens = tokenizeBatch(promptSplits({ seed: 0 }).train.slice(0, 40));
  const dropped = withoutShapeWord(tokens, Array.from({ length: 40 }, (_, i) => i % 2 === 0));
  const [a, b] = [tokens.arraySync(), dropped.arraySync()];
  a.forEach((row, i) =>
    row.forEach((id, j) => {
      if (j !== SHAPE_WORD) return assert.equal(b[i][j], id);
      assert.match(VOCAB[id], /^(circle|square|triangle)s?$/);
      assert.equal(b[i][j], i % 2 === 0 ? 0 : id);
    })
  );
  tf.dispose([tokens, dropped]);
});

Deno.test("shapeWeights and x0Loss: bad values are a clear error; the run's meta records them", async () => {
  await assert.rejects(
    () => pretrain({ steps: 1, shapeWeights: { hexagon: 1 } as never }),
    /Expected shapeWeights keys among circle, square, triangle but found "\\"hexagon\\""/,
  );
  await assert.rejects(
    () => pretrain({ steps: 1, shapeWeights: { circle: 0, square: 0, triangle: 0 } }),
    /Expected shapeWeights with a weight above 0/,
  );
  await assert.rejects(
    () => pretrain({ steps: 1, shapeWeights: { square: -1 } }),
    /shapeWeights\.square/,
  );
  await assert.rejects(
    () => pretrain({ steps: 1, x0Loss: "l2" as never }),
    /pretrain: Expected x0Loss "mse" or "l1" but found/,
  );
  await assert.rejects(
    () => pretrain({ steps: 1, shapeWordDropout: 1.5 }),
    /pretrain: Expected shapeWordDropout/,
  );
  const dir = await Deno.makeTempDir();
  await pretrain({
    out: `${dir}/g`,
    steps: 1,
    batchSize: 2,
    config: TINY,
    shapeWeights: { square: 2 },
    x0Loss: "l1",
    quiet: true,
  });
  const { meta } = await readCheckpointManifest(`${dir}/g`);
  assert.deepEqual([meta.shapeWeights, meta.x0Loss], [{ square: 2 }, "l1"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("holdOutCombinations: those prompts never train, the meta records them, a resume must match", async () => {
  const held = ["red/square", "cyan/circle"];
  const kept = pretrainPrompts(held);
  assert.equal(
    kept.length + pretrainPrompts().filter((p) => held.includes(`${p.color}/${p.shape}`)).length,
    pretrainPrompts().length,
  );
  assert.ok(kept.every((p) => !held.includes(`${p.color}/${p.shape}`)));
  // a test combination (never in training) or a malformed one is a clear error
  assert.throws(
    () => pretrainPrompts(["green/square"]),
    /Expected holdOutCombinations among the training combinations .* but found "green\/square"/,
  );
  await assert.rejects(
    () => pretrain({ steps: 1, holdOutCombinations: ["red"] }),
    /but found "red"/,
  );
  const dir = await Deno.makeTempDir();
  const run = (steps: number, holdOutCombinations?: string[]) =>
    pretrain({
      out: `${dir}/g`,
      steps,
      batchSize: 2,
      config: TINY,
      holdOutCombinations,
      quiet: true,
    });
  await run(1, held);
  const { meta } = await readCheckpointManifest(`${dir}/g`);
  assert.deepEqual(meta.holdOutCombinations, ["cyan/circle", "red/square"]);
  await assert.rejects(
    () => run(2),
    /Expected a run holding out \[\] but found "\[cyan\/circle,red\/square\]"/,
  );
  const again = await run(2, [...held].reverse());
  assert.equal(again.resumed, true);
  await Deno.remove(dir, { recursive: true });
});
