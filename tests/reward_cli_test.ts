import assert from "node:assert/strict";
import { runCli } from "../lib/cli/_flags.ts";
import { trainRmCommand } from "../lib/cli/train_rm.ts";

async function capture(argv: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...xs: unknown[]) => void lines.push(xs.join(" "));
  try {
    const code = await runCli(argv, { "train-rm": trainRmCommand });
    return { code, text: lines.join("\n") };
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("train-rm lists --seeds and --ablation in its help", async () => {
  const { code, text } = await capture(["train-rm", "--help"]);
  assert.equal(code, 0);
  assert.match(text, /--seeds VALUE\s+comma-separated seeds/);
  assert.match(text, /--ablation\s+also train the from-scratch PRM/);
});

Deno.test("train-rm refuses bad --seeds before any work, naming the option", async () => {
  const { code, text } = await capture(["train-rm", "--seeds", "0,one", "--out", "/nonexistent/x"]);
  assert.equal(code, 1);
  assert.match(text, /--seeds: Expected comma-separated integers but found "0,one"/);
  assert.doesNotMatch(text, /backend/, "fails before choosing a backend");
});

Deno.test("train-rm refuses a bad --config and --pair-loss, naming them", async () => {
  const config = await capture(["train-rm", "--config", "[1]", "--out", "/nonexistent/x"]);
  assert.equal(config.code, 1);
  assert.match(config.text, /--config: Expected a JSON object but found "\[1\]"/);
  const pair = await capture(["train-rm", "--pair-loss", "hinge", "--out", "/nonexistent/x"]);
  assert.equal(pair.code, 1);
  assert.match(
    pair.text,
    /train-rm: Expected pairLoss "none" or "bradley-terry" but found "hinge"/,
  );
  const dim = await capture(["train-rm", "--config", '{"dim":0}', "--out", "/nonexistent/x"]);
  assert.equal(dim.code, 1);
  assert.match(dim.text, /dim/);
  for (const r of [config, pair, dim]) assert.doesNotMatch(r.text, /backend/, "before any work");
});

Deno.test("train-rm --labels refuses the flags of generated data, naming them", async () => {
  for (
    const [flag, value] of [["--clips-per-prompt", "2"], ["--generator-share", "0.5"], [
      "--data-seed",
      "1",
    ]]
  ) {
    const { code, text } = await capture([
      "train-rm",
      "--labels",
      "/nonexistent/l.jsonl",
      flag,
      value,
    ]);
    assert.equal(code, 1);
    assert.match(text, new RegExp(`train-rm --labels: Expected no ${flag}`));
    assert.doesNotMatch(text, /backend/, "before any work");
  }
});

Deno.test("train-rm --config --pair-loss --swap-rate --clips-per-prompt --generator-share reach the model and the data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, text } = await capture([
      "train-rm",
      ...["--out", dir, "--train", "12", "--held-out", "6", "--video-steps", "2"],
      ...["--patch-steps", "2", "--batch-size", "4", "--resamples", "20", "--quiet"],
      ...["--config", '{"dim":16,"depth":1,"heads":2,"promptInput":"tokens"}'],
      ...["--pair-loss", "bradley-terry", "--swap-rate", "0.5"],
      ...["--clips-per-prompt", "2", "--generator-share", "0"],
    ]);
    assert.equal(code, 0, text);
    const prm = JSON.parse(await Deno.readTextFile(`${dir}/prm/config.json`));
    assert.equal(prm.config.promptInput, "tokens");
    assert.equal(prm.config.dim, 16);
    const labels = (await Deno.readTextFile(`${dir}/labels.jsonl`)).trim().split("\n");
    assert.ok(labels.length > 12 + 6, `swapped clips labelled too (${labels.length} lines)`);
    const records = labels.map((l) => JSON.parse(l) as { prompt: string; source: string });
    assert.ok(records.every((r) => r.source.startsWith("shapesworld:")), "no generator clips");
    const plain = records.filter((r) =>
      r.source.startsWith("shapesworld:train:") && !/swap=/.test(r.source)
    );
    assert.equal(plain.length, 12);
    assert.ok(new Set(plain.map((r) => r.prompt)).size <= 6, "two clips per prompt");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train-rm --data-seed trains a model of another seed on the same clips and labels", async () => {
  const dir = await Deno.makeTempDir();
  const run = (out: string, ...seeds: string[]) =>
    capture([
      "train-rm",
      ...["--out", `${dir}/${out}`, "--train", "8", "--held-out", "4", "--video-steps", "2"],
      ...["--patch-steps", "2", "--batch-size", "4", "--resamples", "20", "--quiet"],
      ...["--config", '{"dim":16,"depth":1,"heads":2}', "--generator-share", "0", ...seeds],
    ]);
  const sources = async (out: string) =>
    (await Deno.readTextFile(`${dir}/${out}/labels.jsonl`)).trim().split("\n")
      .map((l) => (JSON.parse(l) as { source: string }).source).sort();
  try {
    for (
      const [out, ...seeds] of [
        ["a", "--seed", "0"],
        ["b", "--seed", "1", "--data-seed", "0", "--swap-labels", "text"],
      ]
    ) {
      const { code, text } = await run(out, ...seeds);
      assert.equal(code, 0, text);
    }
    assert.deepEqual(await sources("b"), await sources("a"), "the same clips");
    const facts = JSON.parse(await Deno.readTextFile(`${dir}/b/report.json`)).facts;
    assert.deepEqual([facts.seed, facts.dataSeed], [1, 0]);
    // the report records the loss and the data mix, defaults filled in
    assert.deepEqual(
      [facts.loss.swapWeight, facts.loss.swapGate, facts.loss.pairLoss, facts.loss.swapLabels],
      [0, 1, "none", "text"],
    );
    const bad = await run("c", "--swap-labels", "quality");
    assert.notEqual(bad.code, 0);
    assert.match(bad.text, /swapLabels "all" or "text" but found "quality"/);
    assert.deepEqual([facts.generatorShare, facts.swapRate], [0, 0]);
    assert.notDeepEqual(
      await Deno.readFile(`${dir}/b/prm/weights.bin`),
      await Deno.readFile(`${dir}/a/prm/weights.bin`),
      "other weights",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the recorded train-rm command quotes what a shell would split or expand", async () => {
  const { shellQuote } = await import("../lib/reward/_command.ts");
  assert.equal(shellQuote("--swap-rate"), "--swap-rate");
  assert.equal(shellQuote("out/rm9"), "out/rm9");
  for (const arg of ['{"promptFilm":true}', "it's $HOME", "a b"]) {
    const { stdout } = await new Deno.Command("bash", {
      args: ["-c", `printf %s ${shellQuote(arg)}`],
    })
      .output();
    assert.equal(new TextDecoder().decode(stdout), arg, arg);
  }
});

Deno.test("train-rm --video-epochs / --patch-epochs: passes over the clips set the steps; beside steps, refused first", async () => {
  const both = await capture([
    "train-rm",
    ...["--patch-steps", "5", "--patch-epochs", "2", "--out", "/nonexistent/x"],
  ]);
  assert.equal(both.code, 1);
  assert.match(both.text, /train-rm: Expected --patch-steps or --patch-epochs, not both/);
  const zero = await capture(["train-rm", "--video-epochs", "0", "--out", "/nonexistent/x"]);
  assert.equal(zero.code, 1);
  assert.match(zero.text, /train-rm: Expected --video-epochs above 0 but found 0/);
  const word = await capture(["train-rm", "--patch-epochs", "two", "--out", "/nonexistent/x"]);
  assert.equal(word.code, 1);
  assert.match(word.text, /--patch-epochs: Expected a number but found "two"/);
  for (const r of [both, zero, word]) assert.doesNotMatch(r.text, /backend/, "before any work");

  const dir = await Deno.makeTempDir();
  try {
    const { code, text } = await capture([
      "train-rm",
      ...["--out", dir, "--train", "12", "--held-out", "6", "--swap-rate", "0"],
      ...["--generator-share", "0", "--video-epochs", "1", "--patch-epochs", "0.5"],
      ...["--batch-size", "4", "--resamples", "20", "--quiet"],
      ...["--config", '{"dim":16,"depth":1,"heads":2}'],
    ]);
    assert.equal(code, 0, text);
    const step = async (stage: string) =>
      JSON.parse(await Deno.readTextFile(`${dir}/${stage}/config.json`)).step;
    assert.equal(await step("vrm"), 3, "1 pass of 12 clips at 4 a step");
    assert.equal(await step("prm"), 2, "half a pass, rounded up");
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(report.facts.videoSteps, 3);
    assert.equal(report.facts.patchSteps, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const seeds = await capture([
    "train-rm",
    ...["--seeds", "0,1", "--patch-epochs", "2", "--out", "/nonexistent/x", "--quiet"],
  ]);
  assert.equal(seeds.code, 1);
  assert.match(seeds.text, /trainRewardSeeds: Expected steps, not patchEpochs but found 2/);
});
