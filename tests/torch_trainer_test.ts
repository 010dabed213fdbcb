import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import { createRewardModel, disposeRewardModel } from "../lib/reward/model.ts";
import { saveRewardModel } from "../lib/reward/io.ts";
import { PEER_PYTHON } from "../bench/_peer.ts";
import { MAIN, TASK_PERMISSIONS } from "./_helpers.ts";
import { TINY_RM, tinyPairsSetup } from "./_dpo_fixtures.ts";
import {
  parseRun,
  runTrainer,
  TORCH_ENV,
  torchFixture,
  torchSkipReason,
  TRAIN_SCRIPT,
  weightsRelDiff,
} from "./_torch_fixtures.ts";

const skipReason = await torchSkipReason("torch_trainer_test");
const skip = skipReason ? ` [skipped: ${skipReason}]` : "";

// One fixture for the first two tests: a tiny x0-head generator, 8 pairs; steps of 4 pairs (two
// per epoch: the sampler reshuffles every other step), checkpoints every 3 steps.
let fixture: {
  dir: string;
  gen: string;
  pairs: string;
  args: (out: string, steps: number) => string[];
} | null = null;
async function setup() {
  if (fixture) return fixture;
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir({ prefix: "halo-torch-train-" });
  const { gen, pairs } = await torchFixture(dir, 8);
  const args = (out: string, steps: number) => [
    ...["--pairs", pairs, "--generator", gen, "--out", out, "--steps", `${steps}`],
    ...["--global-batch", "4", "--checkpoint-every", "3"],
  ];
  fixture = { dir, gen, pairs, args };
  return fixture;
}

type LogLine = Record<string, number>;
async function readLog(out: string): Promise<LogLine[]> {
  const text = await Deno.readTextFile(`${out}.log.jsonl`);
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

Deno.test({
  name:
    `torchrun --nproc_per_node=2 (gloo, 2 pairs per process) gives the weights of one process ` +
    `with the whole batch of 4 within 1e-6 relative after 6 steps, and its log${skip}`,
  ignore: Boolean(skipReason),
  fn: async () => {
    const f = await setup();
    const one = join(f.dir, "one"), two = join(f.dir, "two");
    // 6 steps at post-training's lr 1e-4: the two runs reduce the gradient in another order, so
    // like any two float32 trainings their weights drift apart over many steps (3.5e-6 after 30
    // steps here; bench/NOTES.md), but from the same draws and the same global batch
    const a = await runTrainer(f.args(one, 6));
    assert.equal(a.code, 0, a.stderr);
    const b = await runTrainer(
      [...f.args(two, 6), "--micro-batch", "1"],
      2,
      join(f.dir, "torchrun-logs"),
    );
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.json?.world, 1);
    assert.equal(b.json?.world, 2);
    const { rel, differ } = await weightsRelDiff(two, one);
    console.log(
      `2 × 2 pairs (2 micro-batches of 1) vs 1 × 4: weights ‖Δ‖/‖w‖ ${rel.toExponential(1)}, ` +
        `${differ} tensors not bit-identical`,
    );
    assert.ok(rel <= 1e-6, `weights differ by ${rel}`);
    // the runs moved the weights far more than they differ
    const moved = await weightsRelDiff(one, f.gen);
    assert.ok(moved.rel > 1e3 * Math.max(rel, 1e-9), `moved only ${moved.rel}`);
    const la = await readLog(one), lb = await readLog(two);
    assert.deepEqual(la.map((l) => l.step), Array.from({ length: 6 }, (_, i) => i + 1));
    assert.deepEqual(lb.map((l) => l.step), la.map((l) => l.step));
    // the logs: the mean errors agree as the weights do; the losses and the gradient norm are
    // β/2 = 2500 times a difference of errors, so the float32 rounding of an error (6e-8 of it,
    // in forward passes of other batch sizes) reaches them at up to 1e-4 of their value
    const bounds: Record<string, number> = {
      "mse/policy_chosen": 1e-6,
      "mse/policy_rejected": 1e-6,
      loss: 1e-4,
      "loss/video": 1e-4,
      "loss/patch": 1e-4,
      grad_norm: 1e-4,
    };
    const worst: Record<string, number> = {};
    for (const [i, line] of la.entries()) {
      for (const [name, bound] of Object.entries(bounds)) {
        const r = Math.abs(lb[i][name] - line[name]) / Math.abs(line[name]);
        worst[name] = Math.max(worst[name] ?? 0, r);
        assert.ok(r <= bound, `step ${line.step} ${name}: ${lb[i][name]} vs ${line[name]}`);
      }
      // counts over the global batch are exact
      assert.equal(lb[i]["patch/used"], line["patch/used"]);
    }
    console.log("log, largest relative difference:", worst);
  },
});

Deno.test({
  name: `a run killed with SIGKILL and started again ends with the uninterrupted run's weights ` +
    `(byte-identical) and log${skip}`,
  ignore: Boolean(skipReason),
  fn: async () => {
    const f = await setup();
    const one = join(f.dir, "uninterrupted");
    const u = await runTrainer(f.args(one, 30));
    assert.equal(u.code, 0, u.stderr);
    const out = join(f.dir, "killed");
    const child = new Deno.Command(PEER_PYTHON, {
      args: [TRAIN_SCRIPT, "--threads", "1", "--device", "cpu", "--quiet", ...f.args(out, 30)],
      env: TORCH_ENV,
      stdout: "null",
      stderr: "null",
    }).spawn();
    // kill it once two checkpoints have landed (and it is somewhere past them)
    let killedAt = -1;
    for (let i = 0; i < 3000 && killedAt < 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const lines = await readLog(out).catch(() => []);
      if (lines.length >= 7) {
        child.kill("SIGKILL");
        killedAt = (await readCheckpointManifest(out)).step;
      }
    }
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL", "the run finished before it could be killed");
    assert.ok(killedAt >= 6 && killedAt < 30, `checkpoint at step ${killedAt}`);
    const resumed = await runTrainer(f.args(out, 30));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.json?.resumed, true);
    const [ma, mb] = [await readCheckpointManifest(out), await readCheckpointManifest(one)];
    assert.equal(ma.step, 30);
    assert.equal(ma.weights.sha256, mb.weights.sha256, "weights.bin differs");
    assert.equal(ma.optimizer?.sha256, mb.optimizer?.sha256, "optimizer.bin differs");
    const strip = (lines: LogLine[]) => lines.map(({ seconds: _, ...rest }) => rest);
    assert.deepEqual(strip(await readLog(out)), strip(await readLog(one)));
    await Deno.remove(f.dir, { recursive: true });
    fixture = null;
  },
});

Deno.test({
  name:
    `a generator post-trained by the torch trainer on \`deno task pairs\` output is evaluated ` +
    `by \`deno task evaluate\` as it is${skip}`,
  ignore: Boolean(skipReason),
  fn: async () => {
    await initBackend({ backend: "cpu" });
    const dir = await Deno.makeTempDir({ prefix: "halo-torch-eval-" });
    try {
      const built = await tinyPairsSetup(dir); // buildPairs: <dir>/gen, <dir>/prm, <dir>/pairs
      // evaluate's reward models score on the judge's 4x4x4 grid: a training PRM and another one
      for (const [name, seed] of [["prm44", 8], ["evaluator", 9]] as const) {
        const rm = createRewardModel({ ...TINY_RM, grid: "4x4x4" }, { seed });
        await saveRewardModel(join(dir, name), rm);
        disposeRewardModel(rm);
      }
      const post = join(dir, "post");
      const r = await runTrainer([
        ...["--pairs", built.file, "--generator", join(dir, "gen"), "--out", post],
        ...["--steps", "3", "--global-batch", "2", "--lr", "1e-3"],
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Number.isFinite((r.json?.recent as LogLine).loss));
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", ...TASK_PERMISSIONS, MAIN, "evaluate", "--checkpoint", `grandpo=${post}`],
          ...["--base", join(dir, "gen"), "--evaluator", join(dir, "evaluator")],
          ...["--prm", join(dir, "prm44"), "--prompts", "2", "--seeds", "0", "--steps", "2"],
          ...["--out", join(dir, "eval"), "--quiet"],
        ],
        env: { HALO_BACKEND: "cpu" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const run = parseRun(out);
      assert.equal(run.code, 0, run.stderr);
      const results = JSON.parse(await Deno.readTextFile(join(dir, "eval", "results.json")));
      const text = JSON.stringify(results);
      assert.match(text, /HALO|grandpo|Gran-DPO/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
