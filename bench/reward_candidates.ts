/**
 * The reward-model candidates of issue 20 at a fixed small budget, against the current
 * default, on one labelled dataset (built once, label cache reused): patch and video ρ, ρ per
 * aspect, text-swap sensitivity and same-prompt pair direction on held-out clips
 * (`heldOutMetrics`). Writes `<out>/<candidate>.json` as each finishes (a rerun skips those),
 * the trained PRMs under `<out>/models/` (a rerun loads them) and `<out>/candidates.md`.
 *
 *   deno run --allow-read --allow-write --allow-env --allow-net=127.0.0.1,localhost --allow-sys \
 *     bench/reward_candidates.ts [--out out/reward_candidates] [--train 300] [--video-steps 150] \
 *     [--patch-steps 200] [--generator-share 0.25] [--only a,b]
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { pathExists, writeFileAtomic } from "../lib/core/_atomic.ts";
import { buildRewardDataset, type RewardExample } from "../lib/reward/data.ts";
import { agreementReport, formatInterval, type ScoredSet } from "../lib/core/agreement.ts";
import { ASPECTS, type VideoLabels } from "../lib/videos/scores.ts";
import { disposeRewardModel, type RewardConfig, type RewardModel } from "../lib/reward/model.ts";
import { type RewardLossWeights, trainRewardStage } from "../lib/reward/train.ts";
import {
  formatHeldOutMetrics,
  type HeldOutMetrics,
  heldOutMetrics,
} from "../lib/reward/held_out.ts";
import type { EnsembleReduce } from "../lib/reward/ensemble.ts";
import { loadRewardModel, saveRewardModel } from "../lib/reward/io.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "out/reward_candidates" },
    train: { type: "string", default: "300" },
    "held-out": { type: "string", default: "96" },
    "video-steps": { type: "string", default: "150" },
    "patch-steps": { type: "string", default: "200" },
    "generator-share": { type: "string", default: "0.25" },
    only: { type: "string" },
  },
});
const out = values.out!;
const budget = {
  train: Number(values.train),
  heldOut: Number(values["held-out"]),
  videoSteps: Number(values["video-steps"]),
  patchSteps: Number(values["patch-steps"]),
  batchSize: 16,
  generatorShare: Number(values["generator-share"]),
};

interface Candidate {
  name: string;
  what: string;
  config?: Partial<RewardConfig>;
  loss?: RewardLossWeights;
  swaps?: boolean;
  seeds?: number[];
  reduce?: EnsembleReduce;
}

const CANDIDATES: Candidate[] = [
  { name: "default", what: "current default (pooled prompt token, regression only)" },
  { name: "tokens", what: "(a) prompt words as tokens", config: { promptInput: "tokens" } },
  { name: "swap", what: "(b) prompt-swap negatives (swapRate 0.5)", swaps: true },
  {
    name: "bt",
    what: "(c) + Bradley–Terry on same-prompt pairs (weight 0.5, scale 2)",
    loss: { pairLoss: "bradley-terry" },
  },
  {
    name: "tokens+swap",
    what: "(a)+(b)",
    config: { promptInput: "tokens" },
    swaps: true,
  },
  {
    name: "tokens+swap+bt",
    what: "(a)+(b)+(c)",
    config: { promptInput: "tokens" },
    swaps: true,
    loss: { pairLoss: "bradley-terry" },
  },
  {
    name: "film",
    what: "(e) the prompt FiLMs the patch tokens (promptFilm)",
    config: { promptFilm: true },
  },
  {
    name: "film+swap",
    what: "(e)+(b)",
    config: { promptFilm: true },
    swaps: true,
  },
  {
    name: "film+tokens+swap",
    what: "(e)+(a)+(b)",
    config: { promptFilm: true, promptInput: "tokens" },
    swaps: true,
  },
  {
    name: "pix+swap",
    what: "(f) per-pixel MLP (16 units, prompt-biased) pooled per patch (pixelMlp) + (b)",
    config: { pixelMlp: 16 },
    swaps: true,
  },
  {
    name: "pix+film+swap",
    what: "(f)+(e)+(b)",
    config: { pixelMlp: 16, promptFilm: true },
    swaps: true,
  },
  {
    name: "wide+film+swap",
    what: "(g) more capacity: d=96, 3 blocks (≈4× the parameters) + (e)+(b)",
    config: { dim: 96, depth: 3, promptFilm: true },
    swaps: true,
  },
  {
    name: "film+swap+contrast",
    what:
      "(h) the swap contrast: own prompt above swapped on text alignment (swapWeight 1) + (e)+(b)",
    config: { promptFilm: true },
    swaps: true,
    loss: { swapWeight: 1 },
  },
  {
    name: "film+swap+contrast+bt",
    what: "(h)+(c)+(e)+(b)",
    config: { promptFilm: true },
    swaps: true,
    loss: { swapWeight: 1, pairLoss: "bradley-terry" },
  },
  {
    name: "win+film+swap",
    what:
      "(i) the per-pixel MLP (16 units) also reads each pixel's 5×5 luminance window (pixelWindow) + (e)+(b)",
    config: { pixelMlp: 16, pixelWindow: 5, promptFilm: true },
    swaps: true,
  },
  {
    name: "split+film+swap",
    what: "(j) 2 × 2 tokens per label patch, 4 × 4 pixels each (tokenSplit 2) + (e)+(b)",
    config: { tokenSplit: 2, promptFilm: true },
    swaps: true,
  },
  {
    name: "split+deep+film+swap",
    what: "(j) with 3 blocks + (e)+(b)",
    config: { tokenSplit: 2, depth: 3, promptFilm: true },
    swaps: true,
  },
  { name: "ens-mean", what: "(d) default × seeds 0,1,2, mean", seeds: [0, 1, 2], reduce: "mean" },
  { name: "ens-min", what: "(d) default × seeds 0,1,2, min", seeds: [0, 1, 2], reduce: "min" },
  {
    name: "ens-mean-std",
    what: "(d) default × seeds 0,1,2, mean − std",
    seeds: [0, 1, 2],
    reduce: "mean-std",
  },
];

await initBackend();
await Deno.mkdir(out, { recursive: true });
const t0 = performance.now();
const data = await buildRewardDataset({
  train: budget.train,
  heldOut: budget.heldOut,
  swapRate: 0.5,
  clipsPerPrompt: 2,
  generatorShare: budget.generatorShare,
  seed: 0,
  cache: join(out, "labels.jsonl"),
  quiet: true,
});
console.log(
  `data: ${data.train.length} training clips (${
    data.train.filter((e) => e.origin === "swap").length
  } swaps), ${data.heldOut.length} held out, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
const plain = data.train.filter((e) => e.origin !== "swap");

/** The distilled labels' own agreement on the held-out clips: the bar a PRM should pass. */
function labelsRow(): string {
  const asSet = (pick: (e: RewardExample) => VideoLabels): ScoredSet => ({
    video: data.heldOut.map((e) => ASPECTS.map((a) => pick(e).video[a])),
    patches: data.heldOut.map((e) => pick(e).patches.map((p) => ASPECTS.map((a) => p.scores[a]))),
  });
  const rows = agreementReport(
    { labels: asSet((e) => e.labels) },
    asSet((e) => e.reference!),
    { resamples: 1000, seed: 0 },
  );
  const row = (level: string) => rows.find((r) => r.level === level)!;
  const byAspect = (level: string) =>
    ASPECTS.map((a, i) => `${a} ${row(level).spearmanByAspect[i]?.toFixed(3) ?? "n/a"}`).join(", ");
  return `Distilled labels (σ = ${data.labelling.noise}) on the same held-out clips: patch ρ ${
    formatInterval(row("patch").spearman)
  } (${byAspect("patch")}), video ρ ${formatInterval(row("video").spearman)} (${
    byAspect("video")
  }).`;
}

/** Trained PRMs by (variant, seed), so the ensembles reuse the default's seed-0 run. */
const trained = new Map<string, RewardModel>();
async function train(c: Candidate, seed: number): Promise<RewardModel> {
  const key = `${c.name}-seed${seed}`;
  const have = trained.get(key);
  if (have) return have;
  const dir = join(out, "models", key);
  if (await pathExists(join(dir, "config.json"))) {
    const { model } = await loadRewardModel(dir);
    trained.set(key, model);
    return model;
  }
  const set = c.swaps ? data.train : plain;
  const common = { ...c.loss, batchSize: budget.batchSize, seed, quiet: true, evalEvery: 0 };
  const vrm = await trainRewardStage(set, {
    ...common,
    stage: "video",
    steps: budget.videoSteps,
    config: c.config,
  });
  const prm = await trainRewardStage(set, {
    ...common,
    stage: "patch",
    steps: budget.patchSteps,
    from: vrm.model,
  });
  disposeRewardModel(vrm.model);
  await saveRewardModel(dir, prm.model, { step: prm.step, meta: { candidate: c.name, seed } });
  trained.set(key, prm.model);
  return prm.model;
}

const only = values.only?.split(",");
for (const n of only ?? []) {
  if (!CANDIDATES.some((c) => c.name === n)) {
    throw new Error(
      `--only: Expected candidates among ${
        CANDIDATES.map((c) => c.name).join(", ")
      } but found "${n}"`,
    );
  }
}
const results: Record<string, HeldOutMetrics> = {};
const seconds: Record<string, number> = {};
// in the order --only names them, so the most wanted finish first
const order = only
  ? [
    ...only.map((n) => CANDIDATES.find((c) => c.name === n)!),
    ...CANDIDATES.filter((c) => !only.includes(c.name)),
  ]
  : CANDIDATES;
for (const c of order) {
  const file = join(out, `${c.name}.json`);
  if (await pathExists(file)) {
    const saved = JSON.parse(await Deno.readTextFile(file));
    results[c.name] = saved.metrics;
    seconds[c.name] = saved.seconds;
    continue;
  }
  if (only && !only.includes(c.name)) continue;
  const start = performance.now();
  const base = c.seeds ? { ...c, name: "default", seeds: undefined } : c;
  const models: RewardModel[] = [];
  for (const seed of c.seeds ?? [0]) models.push(await train(base, seed));
  const metrics = await heldOutMetrics(models, data.heldOut, {
    reduce: c.reduce,
    resamples: 1000,
    seed: 0,
  });
  // generalisation gap: the model against its own (noisy) labels, on training clips and held-out
  const asLabels = (set: readonly RewardExample[]) =>
    set.map((e) => ({ ...e, reference: e.labels }));
  const fitOn = async (set: readonly RewardExample[]) =>
    (await heldOutMetrics(models, asLabels(set), { reduce: c.reduce, resamples: 200, seed: 0 }))
      .patchRho.estimate;
  const fit = {
    train: await fitOn(plain.slice(0, data.heldOut.length)),
    heldOut: await fitOn(data.heldOut),
  };
  const s = (performance.now() - start) / 1000;
  results[c.name] = metrics;
  seconds[c.name] = s;
  await writeFileAtomic(
    file,
    JSON.stringify({ candidate: c, budget, seconds: s, metrics, fit }, null, 2) + "\n",
  );
  console.log(
    `${c.name}: patch ρ ${metrics.patchRho.estimate.toFixed(3)} (on the 1–4 grid ${
      metrics.patchRhoOnScale.estimate.toFixed(3)
    }, ceiling ${metrics.patchRhoCeiling.toFixed(3)}), video ρ ${
      metrics.videoRho.estimate.toFixed(3)
    }, swaps ${
      metrics.textSwap.map((r) => r.drops.estimate.toFixed(2)).join("/")
    }; patch ρ vs labels: train ${fit.train.toFixed(3)}, held-out ${fit.heldOut.toFixed(3)}; ${
      s.toFixed(0)
    } s`,
  );
}
for (const m of trained.values()) disposeRewardModel(m);
const md = [
  `Budget: ${
    JSON.stringify(budget)
  }; data ${data.train.length} training clips (${plain.length} without swaps), ${data.heldOut.length} held-out clips (validation prompts, 2 clips per prompt).`,
  "",
  labelsRow(),
  "",
  formatHeldOutMetrics(results),
  "| candidate | what | wall s |",
  "|---|---|---|",
  ...CANDIDATES.filter((c) => results[c.name]).map((c) =>
    `| ${c.name} | ${c.what} | ${seconds[c.name].toFixed(0)} |`
  ),
].join("\n");
await writeFileAtomic(join(out, "candidates.md"), md + "\n");
console.log(md);
