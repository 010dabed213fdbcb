import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import {
  COLOR_NAMES,
  DIRECTIONS,
  parsePrompt,
  renderClip,
  SHAPE_NAMES,
} from "../lib/videos/world.ts";
import { encodePrompt, tokenizeBatch } from "../lib/generator/prompt.ts";
import {
  createRewardModel,
  disposeRewardModel,
  resolveRewardConfig,
  type RewardConfig,
  rewardFlops,
  rewardForward,
} from "../lib/reward/model.ts";
import { encodePromptTokens } from "../lib/reward/_prompt_tokens.ts";
import type { RewardExample } from "../lib/reward/data.ts";
import { buildRewardDataset } from "../lib/reward/data.ts";
import { makeRewardBatch, rewardLoss, trainRewardStage } from "../lib/reward/train.ts";
import { bradleyTerryLoss } from "../lib/reward/pair_loss.ts";
import { swapPrompt } from "../lib/reward/swap.ts";
import {
  directionAgreement,
  samePromptPairs,
  textSwapSensitivity,
  type VideoScorer,
} from "../lib/reward/metrics.ts";
import { reduceScores, scoreEnsemble } from "../lib/reward/ensemble.ts";
import { scoreRewards } from "../lib/reward/score.ts";
import { heldOutMetrics } from "../lib/reward/held_out.ts";

await initBackend();

const GRID = { rows: 4, cols: 4, framesPerPatch: 4 };
const TINY: Partial<RewardConfig> = { dim: 16, depth: 1, heads: 2, promptLayers: 1 };
const PROMPTS = [
  "one red circle moving right slowly on a black background",
  "two blue squares moving down slowly on a gray background",
  "three yellow triangles moving left quickly on a navy background",
];

function example(prompt: string, seed: number): RewardExample {
  const video = renderClip(parsePrompt(prompt), { seed }).video;
  const j = judgeVideo(video, prompt, GRID);
  const labels = { video: j.video, patches: j.patches };
  return { video, prompt, origin: "clean", defects: [], labels, reference: labels };
}

Deno.test("swapPrompt changes exactly the asked word and draws every other value", () => {
  const p = parsePrompt(PROMPTS[0]);
  const values = {
    color: COLOR_NAMES,
    shape: SHAPE_NAMES,
    count: [1, 2, 3],
    direction: DIRECTIONS,
  };
  for (const field of ["color", "shape", "count", "direction"] as const) {
    const seen = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const q = swapPrompt(p, { kind: field, random: seed });
      assert.notEqual(q[field], p[field], `${field} seed ${seed}`);
      for (
        const other of ["count", "color", "shape", "direction", "speed", "background"] as const
      ) {
        if (other !== field) assert.equal(q[other], p[other]);
      }
      assert.deepEqual(parsePrompt(q.text), q);
      seen.add(String(q[field]));
    }
    assert.equal(seen.size, values[field].length - 1, field);
  }
  assert.throws(() => swapPrompt(p, { kind: "speed" as never }), /Expected kind one of/);
});

Deno.test("text-swap sensitivity: the share of clips whose text alignment drops, per kind, with the judge's beside it", async () => {
  const items = PROMPTS.map((prompt, i) => ({
    video: renderClip(parsePrompt(prompt), { seed: i }).video,
    prompt,
  }));
  // A scorer that knows each clip's true prompt and gives 4 to it, 1 to any other prompt
  // that changes colour, 4 again when only the count changes; shape: lower for clip 0 only.
  const truth = new Map(items.map((it) => [it.video, parsePrompt(it.prompt)]));
  const calls: number[] = [];
  const scorer: VideoScorer = (xs) => {
    calls.push(xs.length);
    return Promise.resolve(xs.map((x) => {
      const t = truth.get(x.video)!, q = parsePrompt(x.prompt);
      let ta = 4;
      if (q.color !== t.color) ta = 1;
      if (q.shape !== t.shape && x.video === items[0].video) ta = 3.99;
      return { visual_quality: 3, temporal_consistency: 3, text_alignment: ta };
    }));
  };
  const rows = await textSwapSensitivity(scorer, items, { resamples: 50 });
  assert.deepEqual(rows.map((r) => r.kind), ["color", "shape", "count"]);
  assert.deepEqual(rows.map((r) => r.drops.estimate), [1, 1 / 3, 0]);
  assert.ok(Math.abs(rows[0].meanDrop - 3) < 1e-12);
  assert.ok(Math.abs(rows[1].meanDrop - 0.01 / 3) < 1e-9);
  assert.equal(rows[2].meanDrop, 0);
  assert.deepEqual(calls, [3, 3, 3, 3], "originals once, then one batch per kind");
  // the judge notices a colour swap on clean renders of these prompts
  assert.equal(rows[0].judgeDrops, 1);
  assert.equal(rows[0].dropsWhereJudgeDrops, 1);
  // the shape row, recomputed: the swaps replay the metric's generator (colour draws first)
  const rng = createRng(0);
  const swaps = (kind: "color" | "shape") =>
    items.map((it) => swapPrompt(parsePrompt(it.prompt), { kind, random: rng }).text);
  const shapeSwaps = (swaps("color"), swaps("shape"));
  const ta = (i: number, prompt: string) =>
    judgeVideo(items[i].video, prompt, { rows: 1, cols: 1, framesPerPatch: 16 }).video
      .text_alignment;
  const judged = items.map((it, i) => ta(i, shapeSwaps[i]) < ta(i, it.prompt) ? 1 : 0);
  const n = judged.reduce((a: number, b) => a + b, 0);
  assert.equal(rows[1].judgeDrops, n / 3);
  assert.equal(rows[1].dropsWhereJudgeDrops, n === 0 ? null : judged[0] / n);
  for (const r of rows) {
    assert.equal(r.clips, 3);
    assert.ok(r.drops.lo <= r.drops.estimate && r.drops.estimate <= r.drops.hi);
  }
  // an equal score is not a drop
  const flat: VideoScorer = (xs) =>
    Promise.resolve(
      xs.map(() => ({ visual_quality: 3, temporal_consistency: 3, text_alignment: 2 })),
    );
  const none = await textSwapSensitivity(flat, items, { judge: false, resamples: 10 });
  assert.deepEqual(
    none.map((r) => [r.drops.estimate, r.judgeDrops, r.dropsWhereJudgeDrops]),
    [[0, null, null], [0, null, null], [0, null, null]],
  );
  await assert.rejects(
    textSwapSensitivity(flat, [{ video: items[0].video, prompt: "a dog" }]),
    /item 0: Expected a ShapesWorld prompt but found "a dog"/,
  );
  const short: VideoScorer = () => Promise.resolve([]);
  await assert.rejects(textSwapSensitivity(short, items), /the scorer: Expected 3 scores/);
});

Deno.test("text-swap sensitivity of a reward model equals the same measure through its scores", async () => {
  const model = createRewardModel({ ...TINY, promptInput: "tokens" }, { seed: 3 });
  try {
    const items = PROMPTS.map((prompt, i) => ({
      video: renderClip(parsePrompt(prompt), { seed: i }).video,
      prompt,
    }));
    const direct = await textSwapSensitivity(model, items, { resamples: 10, judge: false });
    const via: VideoScorer = async (xs) =>
      (await scoreRewards(model, xs, { note: () => {} })).map((s) => s.video);
    const indirect = await textSwapSensitivity(via, items, { resamples: 10, judge: false });
    assert.deepEqual(direct, indirect);
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("Bradley–Terry loss: the closed form, large logits stay finite, gradient matches a finite difference", () => {
  const mask = tf.tensor2d([[0, 1, 1], [0, 0, 1], [0, 0, 0]]);
  const labels = tf.tensor2d([[4, 2], [1, 2], [3, 2]]); // aspect 2 ties everywhere: skipped
  try {
    // closed form: pairs (0,1) y=+1, (0,2) y=+1, (1,2) y=−1 on aspect 0
    const s = [[3, 1], [2, 5], [2.5, 0]];
    const softplus = (x: number) => Math.log1p(Math.exp(x));
    const want = (softplus(-2 * (3 - 2)) + softplus(-2 * (3 - 2.5)) + softplus(2 * (2 - 2.5))) / 3;
    const got = tf.tidy(() =>
      bradleyTerryLoss({ scores: tf.tensor2d(s), labels, mask }, { scale: 2 }).dataSync()[0]
    );
    assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
    // huge logits: wrong-way pairs cost |logit|, right-way pairs cost 0, never Inf or NaN
    const big = tf.tidy(() =>
      bradleyTerryLoss({ scores: tf.tensor2d([[1e4, 0], [-1e4, 0], [0, 0]]), labels, mask }, {
        scale: 1e3,
      }).dataSync()[0]
    );
    assert.ok(Number.isFinite(big), `${big}`);
    // (0,1): right way, 0; (0,2): right way, 0; (1,2): y=−1, diff −1e4: right way, 0
    assert.ok(big < 1e-3, `${big}`);
    const wrong = tf.tidy(() =>
      bradleyTerryLoss({ scores: tf.tensor2d([[-1e4, 0], [1e4, 0], [0, 0]]), labels, mask }, {
        scale: 1e3,
      }).dataSync()[0]
    );
    assert.ok(Number.isFinite(wrong) && Math.abs(wrong - (2e7 + 1e7 + 1e7) / 3) / wrong < 1e-5);
    const g = tf.tidy(() =>
      tf.grad((x: tf.Tensor) =>
        bradleyTerryLoss({ scores: x as tf.Tensor2D, labels, mask }, { scale: 1e3 })
      )(tf.tensor2d([[1e4, 0], [-1e4, 0], [0, 0]])).arraySync() as number[][]
    );
    assert.ok(g.flat().every(Number.isFinite));
    // gradient against central differences at moderate scores
    const base = [[2.2, 1.3], [1.9, 3.1], [2.6, 1.1]];
    const f = (x: number[][]) =>
      tf.tidy(() =>
        bradleyTerryLoss({ scores: tf.tensor2d(x), labels, mask }, { scale: 2 }).dataSync()[0]
      );
    const analytic = tf.tidy(() =>
      tf.grad((x: tf.Tensor) =>
        bradleyTerryLoss({ scores: x as tf.Tensor2D, labels, mask }, { scale: 2 })
      )(tf.tensor2d(base)).arraySync() as number[][]
    );
    const h = 1e-2;
    for (let i = 0; i < 3; i++) {
      for (let a = 0; a < 2; a++) {
        const up = base.map((r) => [...r]), down = base.map((r) => [...r]);
        up[i][a] += h;
        down[i][a] -= h;
        const numeric = (f(up) - f(down)) / (2 * h);
        assert.ok(
          Math.abs(numeric - analytic[i][a]) < 2e-3,
          `d/ds[${i}][${a}]: ${analytic[i][a]} vs ${numeric}`,
        );
      }
    }
    assert.ok(Math.abs(analytic[0][0]) > 0.01 && analytic[0][1] === 0);
    // no pair: 0, not NaN
    const empty = tf.tidy(() =>
      bradleyTerryLoss({ scores: tf.tensor2d(base), labels, mask: tf.zeros([3, 3]) }).dataSync()[0]
    );
    assert.equal(empty, 0);
    assert.throws(
      () => bradleyTerryLoss({ scores: tf.tensor2d(base), labels, mask }, { scale: 0 }),
      /Expected scale > 0/,
    );
  } finally {
    tf.dispose([mask, labels]);
  }
});

Deno.test("promptInput tokens: shapes, the pooled token equals encodePrompt, the null prompt ignores the words", () => {
  const model = createRewardModel({ ...TINY, promptInput: "tokens" }, { seed: 1 });
  const pooled = createRewardModel(TINY, { seed: 1 });
  const before = tf.memory().numTensors;
  try {
    assert.equal(model.config.promptInput, "tokens");
    assert.deepEqual(model.params.get("wordType")!.shape, [16]);
    assert.equal(pooled.params.has("wordType"), false);
    // same weights as the pooled model apart from the word type
    for (const [name, v] of pooled.params) {
      const same = tf.tidy(() => v.sub(model.params.get(name)!).abs().max().dataSync()[0]);
      assert.equal(same, 0, name);
    }
    tf.tidy(() => {
      const tokens = tokenizeBatch([PROMPTS[0], PROMPTS[1]]);
      const keep = tf.tensor1d([1, 0]);
      const enc = encodePromptTokens(model.params, "prompt", tokens, {
        layers: 1,
        heads: 2,
        keep,
      });
      assert.deepEqual(enc.words.shape, [2, 10, 16]);
      assert.deepEqual(enc.pooled.shape, [2, 16]);
      const ref = encodePrompt(model.params, "prompt", tokens, { layers: 1, heads: 2, keep });
      assert.ok(enc.pooled.sub(ref).abs().max().dataSync()[0] < 1e-5);
      const x = tf.stack([
        renderClip(parsePrompt(PROMPTS[0]), { seed: 1 }).video.frames,
        renderClip(parsePrompt(PROMPTS[1]), { seed: 1 }).video.frames,
      ].map((f) => tf.tensor(f, [16, 32, 32, 3])));
      const out = rewardForward(model, { x, tokens }, { keep });
      assert.deepEqual(out.video.shape, [2, 3]);
      assert.deepEqual(out.patches.shape, [2, 64, 3]);
      // a dropped prompt: other words give the same scores
      const other = tokenizeBatch([PROMPTS[0], PROMPTS[2]]);
      const out2 = rewardForward(model, { x, tokens: other }, { keep });
      const d = out.video.sub(out2.video).abs().max(1).dataSync();
      assert.equal(d[1], 0);
      assert.ok(d[0] === 0, "row 0 has the same prompt");
      const out3 = rewardForward(model, { x, tokens: other }, { keep: tf.tensor1d([1, 1]) });
      assert.ok(out.video.sub(out3.video).abs().max().dataSync()[0] > 0);
    });
    assert.equal(tf.memory().numTensors, before, "the forward pass leaks");
    assert.ok(rewardFlops(model.config, 1) > rewardFlops(pooled.config, 1));
    assert.throws(
      () => createRewardModel({ promptInput: "words" as never }),
      /Expected promptInput "pooled" or "tokens" but found "words"/,
    );
  } finally {
    disposeRewardModel(model);
    disposeRewardModel(pooled);
  }
});

Deno.test("promptFilm: starts as the model without it, then the prompt scales the patch tokens; one train step moves the FiLM weights", async () => {
  const before = tf.memory().numTensors;
  const film = createRewardModel({ ...TINY, promptFilm: true }, { seed: 2 });
  const plain = createRewardModel(TINY, { seed: 2 });
  try {
    assert.equal(film.config.promptFilm, true);
    assert.equal("promptFilm" in plain.config, false);
    assert.deepEqual(film.params.get("film.scale.w")!.shape, [16, 16]);
    const train = [example(PROMPTS[0], 1), example(PROMPTS[1], 2)];
    tf.tidy(() => {
      const x = tf.stack(train.map((e) => tf.tensor(e.video.frames, [16, 32, 32, 3])));
      const tokens = tokenizeBatch(train.map((e) => e.prompt));
      const a = rewardForward(film, { x, tokens });
      const b = rewardForward(plain, { x, tokens });
      assert.equal(a.patches.sub(b.patches).abs().max().dataSync()[0], 0, "zero FiLM = no FiLM");
    });
    const out = await trainRewardStage(train, {
      stage: "video",
      steps: 2,
      batchSize: 2,
      from: film,
      quiet: true,
      evalEvery: 0,
    });
    const moved = tf.tidy(() => out.model.params.get("film.scale.w")!.abs().max().dataSync()[0]);
    assert.ok(moved > 0, "the FiLM scale learns");
    disposeRewardModel(out.model);
    assert.ok(rewardFlops(film.config, 1) > rewardFlops(plain.config, 1));
    assert.throws(
      () => createRewardModel({ promptFilm: 1 as never }),
      /Expected promptFilm true or false but found 1/,
    );
  } finally {
    disposeRewardModel(film);
    disposeRewardModel(plain);
  }
  assert.equal(tf.memory().numTensors, before, "FiLM leaks");
});

/** No blocks and RGB only (no differences with neighbours), so a patch's token sees only its own pixels. */
const LOCAL: Partial<RewardConfig> = { ...TINY, depth: 0, features: "rgb" };

Deno.test("pixelMlp: starts as the model without it, pools each patch's pixels into that patch's token, and learns", async () => {
  const before = tf.memory().numTensors;
  const pix = createRewardModel({ ...LOCAL, pixelMlp: 8 }, { seed: 3 });
  const plain = createRewardModel(LOCAL, { seed: 3 });
  const prompt = tokenizeBatch([PROMPTS[0]]);
  try {
    assert.equal(pix.config.pixelMlp, 8);
    assert.equal("pixelMlp" in plain.config, false);
    assert.equal("pixelMlp" in resolveRewardConfig({ pixelMlp: 0 }), false);
    // one bright tube: frames 0–3, rows 8–15, columns 16–23 = patch (segment 0, row 1, col 2)
    const frames = new Float32Array(16 * 32 * 32 * 3);
    for (let t = 0; t < 4; t++) {
      for (let y = 8; y < 16; y++) {
        for (let x = 16; x < 24; x++) {
          frames.fill(1, ((t * 32 + y) * 32 + x) * 3, ((t * 32 + y) * 32 + x) * 3 + 3);
        }
      }
    }
    tf.tidy(() => {
      const x = tf.tensor(frames, [1, 16, 32, 32, 3]);
      const a = rewardForward(pix, { x, tokens: prompt });
      const b = rewardForward(plain, { x, tokens: prompt });
      assert.equal(a.patches.sub(b.patches).abs().max().dataSync()[0], 0, "zero W₂ = no pixel MLP");
      // with the raw-patch embedding and positions off, only the pixel features tell patches apart
      pix.params.get("embed.w")!.assign(tf.zerosLike(pix.params.get("embed.w")!));
      pix.params.get("pos")!.assign(tf.zerosLike(pix.params.get("pos")!));
      const w2 = pix.params.get("pixel.fc2.w")!;
      w2.assign(tf.randomNormal(w2.shape, 0, 1, "float32", 5));
      const scores = rewardForward(pix, { x, tokens: prompt }).patches.arraySync()[0];
      const differs = scores.map((s, k) => Math.abs(s[0] - scores[0][0]) > 1e-4 ? k : -1)
        .filter((k) => k >= 0);
      assert.deepEqual(differs, [6], "only the bright patch's token changes");
    });
    const train = [example(PROMPTS[0], 1), example(PROMPTS[1], 2)];
    const out = await trainRewardStage(train, {
      stage: "video",
      steps: 2,
      batchSize: 2,
      from: pix,
      quiet: true,
      evalEvery: 0,
    });
    const moved = tf.tidy(() =>
      out.model.params.get("pixel.fc1.w")!.sub(pix.params.get("pixel.fc1.w")!).abs().max()
        .dataSync()[0]
    );
    assert.ok(moved > 0, "the pixel MLP learns");
    disposeRewardModel(out.model);
    assert.ok(rewardFlops(pix.config, 1) > rewardFlops(plain.config, 1));
    assert.throws(
      () => createRewardModel({ pixelMlp: -1 }),
      /Expected pixelMlp/,
    );
  } finally {
    prompt.dispose();
    disposeRewardModel(pix);
    disposeRewardModel(plain);
  }
  assert.equal(tf.memory().numTensors, before, "the pixel MLP leaks");
});

Deno.test("a train step with word tokens and the Bradley–Terry term leaks no tensor and moves the pair term", async () => {
  const train = [
    example(PROMPTS[0], 1),
    example(PROMPTS[0], 2),
    example(PROMPTS[1], 3),
    example(PROMPTS[1], 4),
  ];
  // make the same-prompt pairs disagree in their labels
  train[1] = {
    ...train[1],
    labels: { ...train[1].labels, video: { ...train[1].labels.video, visual_quality: 1 } },
  };
  const model = createRewardModel({ ...TINY, promptInput: "tokens" });
  try {
    const batch = makeRewardBatch(model, train, { keep: [1, 1, 1, 0] });
    assert.deepEqual(batch.groups, [0, 0, 1, -1]);
    const before = tf.memory().numTensors;
    for (const stage of ["video", "patch"] as const) {
      const { value, grads } = paramGrads(
        model.params,
        () =>
          tf.tidy(() =>
            rewardLoss(model, batch, { stage, pairLoss: "bradley-terry", pairWeight: 1 }).total
          ),
      );
      assert.ok(Number.isFinite(value.dataSync()[0]));
      const wordGrad = tf.tidy(() => grads["wordType"].abs().sum().dataSync()[0]);
      assert.ok(wordGrad > 0, `${stage}: the word tokens take part`);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const parts = tf.tidy(() => {
      const l = rewardLoss(model, batch, { stage: "patch", pairLoss: "bradley-terry" });
      const off = rewardLoss(model, batch, { stage: "patch" });
      return [l.total, l.pair, off.total].map((t) => t.dataSync()[0]);
    });
    assert.ok(parts[1] > 0, "one same-prompt pair with a label gap");
    assert.ok(Math.abs(parts[0] - (parts[2] + 0.5 * parts[1])) < 1e-5);
    assert.equal(tf.memory().numTensors, before, "a train step leaks");
    tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
    assert.throws(
      () => rewardLoss(model, batch, { stage: "patch", pairLoss: "hinge" as never }),
      /Expected pairLoss "none" or "bradley-terry" but found "hinge"/,
    );
  } finally {
    disposeRewardModel(model);
  }
  const before = tf.memory().numTensors;
  const { model: trained, step } = await trainRewardStage(train, {
    stage: "video",
    steps: 3,
    batchSize: 4,
    quiet: true,
    config: { ...TINY, promptInput: "tokens" },
    pairLoss: "bradley-terry",
  });
  assert.equal(step, 3);
  disposeRewardModel(trained);
  assert.equal(tf.memory().numTensors, before, "trainRewardStage leaks");
});

Deno.test("the patch head's pairwise term compares patch k of same-prompt clips but not swap negatives, in stage 2 only", () => {
  // two clips of one prompt (patch k of each compared) and one of another prompt (no pair)
  const train = [example(PROMPTS[0], 1), example(PROMPTS[0], 2), example(PROMPTS[1], 3)];
  // clean renders are labelled 4 everywhere: lower one patch aspect of each, one either way
  const lower = (e: RewardExample, k: number, aspect: string): RewardExample => ({
    ...e,
    labels: {
      ...e.labels,
      patches: e.labels.patches.map((q, i) =>
        i === k ? { ...q, scores: { ...q.scores, [aspect]: 1 } } : q
      ),
    },
  });
  train[0] = lower(train[0], 9, "temporal_consistency");
  train[1] = lower(train[1], 5, "visual_quality");
  const model = createRewardModel(TINY);
  try {
    const batch = makeRewardBatch(model, train, { keep: [1, 1, 1] });
    const before = tf.memory().numTensors;
    const [on, off, video, swap, out] = tf.tidy(() => {
      const w = { stage: "patch" as const, patchPairWeight: 2 };
      const l = rewardLoss(model, batch, w);
      const o = rewardLoss(model, batch, { stage: "patch" });
      const v = rewardLoss(model, batch, { ...w, stage: "video" });
      // a prompt-swap negative is another clip's noise: no patch pair with it
      const s = rewardLoss(model, { ...batch, swapped: [false, true, false] }, w);
      return [[l.total, l.patchPair], [o.total, o.patchPair], [v.patchPair], [s.patchPair], [
        rewardForward(model, batch, { keep: batch.keep }).patches,
        batch.patchLabels,
      ]].map((ts) => ts.map((t) => t.arraySync()));
    });
    // by hand: mean over (patch, aspect) whose labels differ of softplus(−2 · sign(Δlabel) · Δscore)
    const [p, y] = out as number[][][][];
    let sum = 0, n = 0;
    p[0].forEach((row, k) =>
      row.forEach((s0, a) => {
        const dy = y[0][k][a] - y[1][k][a];
        if (dy === 0) return;
        sum += Math.log1p(Math.exp(-2 * Math.sign(dy) * (s0 - p[1][k][a])));
        n++;
      })
    );
    assert.equal(n, 2, "the two lowered patch aspects");
    assert.ok(Math.abs((on[1] as number) - sum / n) < 1e-4, `patchPair ${on[1]} vs ${sum / n}`);
    assert.ok(Math.abs((on[0] as number) - ((off[0] as number) + 2 * (on[1] as number))) < 1e-4);
    assert.equal(off[1], 0);
    assert.equal(video[0], 0);
    assert.equal(swap[0], 0);
    assert.equal(tf.memory().numTensors, before, "the patch pair term leaks");
    tf.dispose([batch.x, batch.tokens, batch.videoLabels, batch.patchLabels, batch.keep]);
    assert.throws(
      () => rewardLoss(model, batch, { stage: "patch", patchPairWeight: -1 }),
      /patchPairWeight/,
    );
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("pair direction: agreement where the reference differs, ties, model ties", () => {
  const d = directionAgreement([
    { model: [3, 2], reference: [4, 1] },
    { model: [2, 3], reference: [4, 1] },
    { model: [3, 3.05], reference: [4, 1] },
    { model: [3, 2], reference: [2, 2] },
  ], { tolerance: 0.1 });
  assert.deepEqual(d, {
    pairs: 4,
    agree: 0.25,
    disagree: 0.25,
    ties: 0.25,
    modelTies: 0.25,
    agreeWhereReferenceDiffers: 1 / 3,
  });
  assert.ok(Number.isNaN(directionAgreement([]).agree));
  assert.throws(
    () => directionAgreement([{ model: [1, NaN], reference: [1, 2] }]),
    /pair 0: Expected two finite model and reference scores/,
  );
  assert.deepEqual(samePromptPairs(["a", "b", "b", "a", "c"]), [[0, 3], [1, 2]]);
});

Deno.test("ensemble scoring: one model is itself; mean, min and mean − std combine per score", async () => {
  const models = [1, 2, 3].map((seed) => createRewardModel(TINY, { seed }));
  try {
    const items = PROMPTS.slice(0, 2).map((prompt, i) => ({
      video: renderClip(parsePrompt(prompt), { seed: i }).video,
      prompt,
    }));
    const each = await Promise.all(models.map((m) => scoreRewards(m, items)));
    assert.deepEqual(await scoreEnsemble([models[0]], items), each[0]);
    for (const reduce of ["mean", "min", "mean-std"] as const) {
      const ens = await scoreEnsemble(models, items, { reduce });
      const want = reduceScores(each.map((s) => s[1].video.text_alignment), reduce);
      assert.equal(ens[1].video.text_alignment, want);
      const p = reduceScores(each.map((s) => s[0].patches[2][1][3][0]), reduce);
      assert.equal(ens[0].patches[2][1][3][0], p);
    }
    const [mn] = await scoreEnsemble(models, items.slice(0, 1), { reduce: "min" });
    const [ms] = await scoreEnsemble(models, items.slice(0, 1), { reduce: "mean-std" });
    const [me] = await scoreEnsemble(models, items.slice(0, 1), { reduce: "mean" });
    assert.ok(mn.video.visual_quality <= me.video.visual_quality);
    assert.ok(ms.video.visual_quality <= me.video.visual_quality);
    const other = createRewardModel({ ...TINY, grid: "2x2x4" });
    await assert.rejects(
      scoreEnsemble([models[0], other], items),
      /model 1: Expected .*grid 4x4x4/,
    );
    disposeRewardModel(other);
    assert.equal(reduceScores([1, 3], "mean-std"), 1);
  } finally {
    models.forEach(disposeRewardModel);
  }
});

Deno.test("held-out metrics of a model: per-aspect ρ, text swaps and same-prompt pairs", async () => {
  const held = [
    example(PROMPTS[0], 1),
    example(PROMPTS[0], 2),
    example(PROMPTS[1], 3),
    example(PROMPTS[2], 4),
  ];
  const model = createRewardModel(TINY);
  try {
    const m = await heldOutMetrics(model, held, { resamples: 20 });
    assert.equal(m.clips, 4);
    assert.deepEqual(m.aspects.map((a) => a.aspect), [
      "visual_quality",
      "temporal_consistency",
      "text_alignment",
    ]);
    assert.equal(m.direction.pairs, 1);
    assert.deepEqual(m.textSwap.map((r) => r.clips), [4, 4, 4]);
    // 16 of 256 patches at 3, the rest tied at 4: the ceiling is √(3q(1−q)), q = 1/16
    const tied = held.map((e, v) => ({
      ...e,
      reference: {
        video: e.reference!.video,
        patches: e.reference!.patches.map((p, k) => {
          const score = v === 0 && k < 16 ? 3 : 4;
          return {
            ...p,
            scores: { visual_quality: score, temporal_consistency: score, text_alignment: score },
          };
        }),
      },
    }));
    const t = await heldOutMetrics(model, tied, { resamples: 20 });
    assert.ok(
      Math.abs(t.patchRhoCeiling - Math.sqrt(3 / 16 * (15 / 16))) < 1e-4,
      `${t.patchRhoCeiling}`,
    );
    // no score without ties orders a tied reference better than the ceiling
    assert.ok(Math.abs(t.patchRho.estimate) <= t.patchRhoCeiling + 1e-9);
    assert.ok(t.patchRhoOnScale.estimate >= -1 && t.patchRhoOnScale.estimate <= 1);
    await assert.rejects(
      heldOutMetrics(model, [{ ...held[0], reference: undefined }]),
      /example 0: Expected reference labels/,
    );
  } finally {
    disposeRewardModel(model);
  }
});

Deno.test("prompt-swap negatives and clips per prompt: the same clip under a swapped prompt; defaults change nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const common = { train: 8, heldOut: 4, generatorShare: 0, quiet: true, seed: 5 };
    const plain = await buildRewardDataset({ ...common, cache: `${dir}/a.jsonl` });
    const same = await buildRewardDataset({
      ...common,
      cache: `${dir}/a.jsonl`,
      swapRate: 0,
      clipsPerPrompt: 1,
    });
    assert.deepEqual(same.train.map((e) => e.video.source), plain.train.map((e) => e.video.source));
    const swapped = await buildRewardDataset({ ...common, cache: `${dir}/b.jsonl`, swapRate: 1 });
    const swaps = swapped.train.filter((e) => e.origin === "swap");
    assert.equal(swaps.length, 8);
    assert.deepEqual(
      swapped.heldOut.map((e) => e.video.source),
      plain.heldOut.map((e) => e.video.source),
    );
    swaps.forEach((s, i) => {
      const original = swapped.train[i];
      assert.equal(s.video.frames, original.video.frames, "the same clip");
      const a = parsePrompt(original.prompt), b = parsePrompt(s.prompt);
      const kind = ["color", "shape", "count"][i % 3] as "color" | "shape" | "count";
      assert.notEqual(a[kind], b[kind]);
      assert.match(s.video.source, new RegExp(`:swap=${kind}$`));
    });
    // text alignment of the swaps' labels is lower on average (labels are noisy)
    const mean = (xs: RewardExample[]) =>
      xs.reduce((acc, e) => acc + e.labels.video.text_alignment, 0) / xs.length;
    assert.ok(mean(swaps) < mean(swapped.train.slice(0, 8)));
    const grouped = await buildRewardDataset({
      ...common,
      cache: `${dir}/c.jsonl`,
      clipsPerPrompt: 2,
    });
    assert.equal(samePromptPairs(grouped.heldOut.map((e) => e.prompt)).length >= 2, true);
    assert.equal(samePromptPairs(grouped.train.map((e) => e.prompt)).length >= 4, true);
    await assert.rejects(
      buildRewardDataset({ ...common, swapRate: 2 }),
      /swapRate/,
    );
    // swaps of the chosen origins only: every swap repeats a clip of those origins
    const onlyDefects = await buildRewardDataset({
      ...common,
      cache: `${dir}/b.jsonl`,
      swapRate: 1,
      swapOrigins: ["defect"],
    });
    const bySource = new Map(onlyDefects.train.map((e) => [e.video.source, e.origin]));
    const repeated = onlyDefects.train.filter((e) => e.origin === "swap")
      .map((e) => bySource.get(e.video.source.replace(/:swap=\w+$/, "")));
    assert.equal(repeated.length, onlyDefects.train.filter((e) => e.origin === "defect").length);
    assert.ok(repeated.length > 0 && repeated.length < 8);
    assert.ok(repeated.every((o) => o === "defect"), `${repeated}`);
    await assert.rejects(
      buildRewardDataset({ ...common, swapRate: 1, swapOrigins: ["swap" as "clean"] }),
      /swapOrigins a non-empty list of clean, defect, mismatch, generator/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
