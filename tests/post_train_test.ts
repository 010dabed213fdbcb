import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { saveGenerator } from "../lib/generator/io.ts";
import { methodLossOptions, postTrain } from "../lib/dpo/post_train.ts";
import { readPairs } from "../lib/pairs/file.ts";
import { roundPairOptions } from "../lib/dpo/iterative.ts";
import { MAIN, TASK_PERMISSIONS, withTempDir } from "./_helpers.ts";
import { TINY_X0, tinyPairsSetup } from "./_dpo_fixtures.ts";

await initBackend();

Deno.test("methods: dpo is λ = 0, patch-only has no video term, unknown methods are named", () => {
  assert.equal(methodLossOptions("dpo", { lambda: 3 }).lambda, 0);
  assert.equal(methodLossOptions("grandpo", { lambda: 3 }).lambda, 3);
  assert.equal(methodLossOptions("patch-only").video, false);
  assert.throws(() => methodLossOptions("ppo" as never), /method among dpo, grandpo, patch-only/);
});

Deno.test("post-train killed with SIGKILL resumes to the same weights as an uninterrupted run", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    const args = (out: string) => [
      "--out",
      out,
      "--pairs",
      r.file,
      "--generator",
      `${dir}/gen`,
      "--steps",
      "8",
      "--batch-size",
      "2",
      "--lr",
      "1e-3",
      "--checkpoint-every",
      "2",
      "--quiet",
    ];
    const run = (out: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", ...TASK_PERMISSIONS, MAIN, "post-train", ...args(out)],
        stdout: "null",
        stderr: "piped",
      });
    // uninterrupted
    const whole = await run(`${dir}/whole`).output();
    assert.ok(whole.success, new TextDecoder().decode(whole.stderr));
    // killed after its first checkpoint, then resumed
    const child = run(`${dir}/killed`).spawn();
    let step = 0;
    for (let i = 0; i < 600 && step < 2; i++) {
      await new Promise((ok) => setTimeout(ok, 50));
      step = await readCheckpointManifest(`${dir}/killed`).then((m) => m.step, () => 0);
    }
    child.kill("SIGKILL");
    await child.status;
    const stopped = (await readCheckpointManifest(`${dir}/killed`)).step;
    assert.ok(stopped >= 2 && stopped <= 8, `killed at step ${stopped}`);
    const resumed = await run(`${dir}/killed`).output();
    assert.ok(resumed.success, new TextDecoder().decode(resumed.stderr));
    const a = await readCheckpointManifest(`${dir}/whole`);
    const b = await readCheckpointManifest(`${dir}/killed`);
    assert.equal(b.step, 8);
    assert.equal(b.weights.sha256, a.weights.sha256);
    assert.equal(b.optimizer!.sha256, a.optimizer!.sha256);
    const log = await readJsonLines<{ step: number; loss: number }>(`${dir}/killed.log.jsonl`);
    assert.deepEqual(log.map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8]);
    const wholeLog = await readJsonLines<{ step: number; loss: number }>(`${dir}/whole.log.jsonl`);
    assert.deepEqual(log.map((l) => l.loss), wholeLog.map((l) => l.loss));
  });
});

Deno.test("a run whose first checkpoint never landed drops the log lines the kill left", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
    const options = {
      pairs: r.file,
      generatorDir: `${dir}/gen`,
      steps: 2,
      batchSize: 2,
      learningRate: 1e-3,
      checkpointEvery: 2,
      quiet: true,
    };
    await postTrain({ ...options, out: `${dir}/whole` });
    // what a kill after the first log append and before the first checkpoint leaves
    await Deno.writeTextFile(
      `${dir}/killed.log.jsonl`,
      '{"step":1,"loss":9}\n{"step":2,"loss":9}\n{"step":3,"lo',
    );
    await postTrain({ ...options, out: `${dir}/killed` });
    const strip = (rows: Array<Record<string, unknown>>) =>
      rows.map(({ seconds: _, ...rest }) => rest);
    assert.deepEqual(
      strip(await readJsonLines(`${dir}/killed.log.jsonl`)),
      strip(await readJsonLines(`${dir}/whole.log.jsonl`)),
    );
  });
});

Deno.test("bad input: another config, other settings, a missing clip, a tMax past the schedule", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
    const base = { pairs: r.file, generatorDir: `${dir}/gen`, steps: 2, batchSize: 2, quiet: true };
    await postTrain({ ...base, out: `${dir}/run` });
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/run`, beta: 7 }),
      /run\/config.json: Expected a post-training run with the same settings \(beta: 7;.* but found "beta: 5000"/,
    );
    // a generator of another config cannot resume this checkpoint
    const other = createGenerator({ ...TINY_X0, dim: 24 });
    await saveGenerator(`${dir}/other`, other);
    disposeGenerator(other);
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/run`, generatorDir: `${dir}/other` }),
      /Expected/,
    );
    // pairs of clips of another size than the generator's
    const big = createGenerator({ ...TINY_X0, size: 32 });
    await saveGenerator(`${dir}/big`, big);
    disposeGenerator(big);
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/run2`, generatorDir: `${dir}/big` }),
      /Expected clips of shape \[4, 32, 32, 3\] but found "\[4, 16, 16, 3\]"/,
    );
    const q = (await readPairs(r.file))[0];
    await Deno.remove(join(dir, "pairs", q.rejected.clip));
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/run3` }),
      new RegExp(`pair "${q.id}"\\): Expected its clip file`),
    );
    await assert.rejects(
      () => postTrain({ ...base, out: `${dir}/run4`, tMax: 5000 }),
      /tMax ≤ 1000/,
    );
    // nothing half-written: failed runs left no checkpoint
    for (const name of ["run2", "run3", "run4"]) {
      await assert.rejects(() => Deno.stat(join(dir, name)), Deno.errors.NotFound);
    }
  });
});

Deno.test("iterative DPO re-samples pairs from the policy every K steps into <out>.rounds/", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
    const result = await postTrain({
      out: `${dir}/it`,
      pairs: r.file,
      generatorDir: `${dir}/gen`,
      steps: 4,
      batchSize: 2,
      learningRate: 1e-3,
      quiet: true,
      iterative: {
        resampleEvery: 2,
        prompts: 2,
        prmDir: `${dir}/prm`,
        margin: 0,
        steps: 2,
      },
    });
    assert.equal(result.step, 4);
    const round = await readPairs(`${dir}/it.rounds/r1/pairs.jsonl`);
    assert.ok(round.length > 0);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/it.rounds/r1/pairs.manifest.json`));
    assert.match(manifest.settings.generator, /^in-memory/);
    // drawn as the offline pairs were: their candidates per prompt and pairing, not the defaults
    const offline = JSON.parse(await Deno.readTextFile(`${dir}/pairs/pairs.manifest.json`));
    assert.equal(manifest.settings.candidates, 2);
    assert.equal(manifest.settings.pairing, offline.settings.pairing);
  });
});

Deno.test("iterative rounds inherit the offline manifest's drawing; explicit options win", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "p.jsonl");
    await Deno.writeTextFile(file, "");
    const settings = { sharedNoise: true, eta: 0.5, pairing: "all", margin: 0.1, candidates: 8 };
    await Deno.writeTextFile(join(dir, "p.manifest.json"), JSON.stringify({ settings }));
    const o = await roundPairOptions(file, { iterative: { resampleEvery: 10 }, seed: 2, round: 3 });
    assert.deepEqual(
      [o.sharedNoise, o.eta, o.pairing, o.margin, o.candidates, o.prompts, o.seed],
      [true, 0.5, "all", 0.1, 8, 128, 2003],
    );
    const own = await roundPairOptions(file, {
      iterative: { resampleEvery: 10, sharedNoise: false, margin: 0.3, candidates: 2 },
      seed: 0,
      round: 1,
    });
    assert.deepEqual([own.sharedNoise, own.eta, own.margin, own.candidates], [
      false,
      undefined,
      0.3,
      2,
    ]);
    await Deno.writeTextFile(join(dir, "p.manifest.json"), "{not json");
    await assert.rejects(
      () => roundPairOptions(file, { iterative: { resampleEvery: 10 }, seed: 0, round: 1 }),
      /p\.manifest\.json: Expected the JSON manifest/,
    );
  });
});
