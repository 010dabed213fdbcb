/**
 * Issue 21's ceiling: how much ShapesBench a reward model's preferences point to at all. For every
 * prompt of a `deno task pairs` folder (its same-prompt candidates, drawn from Base), the candidate a
 * scorer ranks first (best of n) and last (worst of n), against the prompt's mean candidate — what a
 * random pick, i.e. Base itself, scores in expectation. Diffusion-DPO and Gran-DPO move the policy
 * toward the chosen and away from the rejected clip of such candidates, so the best-of-n gain of the
 * reward model that scored the pairs bounds what its pairs can teach about ShapesBench on prompts
 * like these (the policy would have to learn to draw its reward model's best candidate every time).
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/best_of_n.ts \
 *     out/pairsG30-shared data/reward/prm [more reward-model folders …]
 *
 * Rows: ShapesBench itself (the ceiling any scorer can reach on these candidates), the reference
 * judge's video score, one noisy label per clip (σ = 0.6, as the labeller receives it), then each
 * model by its video head (mean of aspects). Ties at the top (or bottom) count as the mean of the
 * tied candidates. `--n K` keeps the first K candidates of each prompt (by clip name); `--unseen
 * PAIRS.jsonl` drops the prompts of that pairs file, as `pair_fit.ts --unseen` does, so the two
 * read the same prompts. `--policy NAME=DIR` (repeatable) adds what a post-trained policy realises:
 * the mean of its candidates in DIR (`deno task pairs --generator <policy>` with the folder's seed
 * and noise, as `pair_fit.ts` reads them) minus the mean of the folder's, prompt by prompt; each
 * policy after the first also gets its paired difference to the first. `NAME=DIR,DIR,…` averages
 * several training seeds' folders prompt by prompt (the interval is then over prompts alone).
 * `--evaluator DIR` adds the evaluator RM's video score (mean of aspects) to the policy rows.
 * `--only-combos` / `--skip-combos cyan/circle,red/square,…` keep or drop the prompts of those
 * (colour, shape) combinations (`combo_holdout.ts` prints the ones it held out of a pairs file).
 * Intervals: 95% bootstrap over prompts.
 *
 * Diagnostics only: nothing here picks a pair or a setting.
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { bootstrapInterval } from "../lib/core/agreement.ts";
import { scoreEnsemble } from "../lib/reward/ensemble.ts";
import { ASPECTS } from "../lib/videos/scores.ts";
import {
  shapesBench,
  SHAPESBENCH_DIMENSIONS,
  type ShapesBenchDimension,
} from "../lib/videos/shapes_bench.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import type { Video } from "../lib/videos/video.ts";
import { readCandidates } from "./_candidates.ts";

const { values, positionals } = parseArgs({
  options: {
    n: { type: "string", default: "0" },
    unseen: { type: "string" },
    policy: { type: "string", multiple: true, default: [] },
    "only-combos": { type: "string" },
    "skip-combos": { type: "string" },
    evaluator: { type: "string" },
  },
  allowPositionals: true,
});
const n = Number(values.n);
if (!Number.isInteger(n) || n < 0 || n === 1) {
  throw new Error(
    `--n: Expected an integer ≥ 2 (or 0 for every candidate) but found "${values.n}"`,
  );
}
const [folder, ...models] = positionals;
if (!folder) {
  throw new Error(
    `best_of_n: Expected a pairs folder and reward-model folders but found ${
      JSON.stringify(Deno.args)
    }`,
  );
}
await initBackend();
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const trained = new Set(values.unseen ? (await readPairs(values.unseen)).map((q) => q.prompt) : []);
const all = (await readCandidates(folder, "best_of_n")).sort((a, b) => a.clip < b.clip ? -1 : 1);
const groups = new Map<string, number[]>();
all.forEach((c, i) => groups.set(c.prompt, [...(groups.get(c.prompt) ?? []), i]));
for (const p of trained) groups.delete(p);
const comboList = (v?: string) =>
  v === undefined ? null : new Set(v.split(",").map((c) => c.trim()));
const only = comboList(values["only-combos"]), skip = comboList(values["skip-combos"]);
for (const p of [...groups.keys()]) {
  const { color, shape } = parsePrompt(p);
  const c = `${color}/${shape}`;
  if ((only && !only.has(c)) || skip?.has(c)) groups.delete(p);
}
const prompts = [...groups.values()].map((ids) => n ? ids.slice(0, n) : ids).filter((ids) =>
  ids.length >= 2
);
const kept = prompts.flat();
const videos = new Map<number, Video>();
for (const i of kept) videos.set(i, await readClip(join(folder, all[i].clip), [16, 32, 32, 3]));
const COLUMNS: readonly Column[] = ["overall", ...SHAPESBENCH_DIMENSIONS];
const judged = new Map(kept.map((i) => {
  const b = shapesBench(videos.get(i)!, all[i].prompt);
  return [i, { bench: b.bench, video: ASPECTS.map((a) => b.judgement.video[a]) }];
}));
type Column = ShapesBenchDimension | "overall";
const bench = (i: number, col: Column) => judged.get(i)!.bench[col];

console.log(
  `${kept.length} candidates of ${prompts.length} prompts (${
    mean(prompts.map((p) => p.length)).toFixed(1)
  } a prompt); random pick (Base): ShapesBench ${
    mean(prompts.map((ids) => mean(ids.map((i) => bench(i, "overall"))))).toFixed(3)
  }. Best (worst) of n minus the prompt's mean candidate; 95% bootstrap over prompts.\n`,
);
console.log(`| scorer | best − mean: ${COLUMNS.join(" | ")} | worst − mean, overall |`);
console.log(`|---|${COLUMNS.map(() => "---").join("|")}|---|`);

const sign = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;
const policyRows: string[] = [];

/** The mean of `col` over the candidates of `ids` whose score is the extreme one. */
function pick(ids: readonly number[], score: (i: number) => number, col: Column, best: boolean) {
  const s = ids.map(score);
  const top = best ? Math.max(...s) : Math.min(...s);
  return mean(ids.filter((_, k) => s[k] === top).map((i) => bench(i, col)));
}
function row(name: string, score: (i: number) => number): void {
  const gain = (col: Column, best: boolean) => (idx: Iterable<number>) =>
    mean(
      Array.from(idx, (p) =>
        pick(prompts[p], score, col, best) - mean(prompts[p].map((i) => bench(i, col)))),
    );
  const cell = (col: Column, best: boolean, interval: boolean) => {
    const est = gain(col, best)(prompts.keys());
    if (!interval) return sign(est);
    const ci = bootstrapInterval(prompts.length, gain(col, best), { resamples: 1000 });
    return `${sign(est)} [${sign(ci.lo)}, ${sign(ci.hi)}]`;
  };
  const cells = COLUMNS.map((col, k) => cell(col, true, k === 0));
  console.log(`| ${name} | ${cells.join(" | ")} | ${cell("overall", false, true)} |`);
}

// --evaluator: the evaluator RM's video score (mean of aspects) as one more column of the policy rows
const evaluator = values.evaluator ? (await loadRewardModel(values.evaluator)).model : null;
const evaluate = async (clips: { video: Video; prompt: string }[]) =>
  evaluator
    ? (await scoreEnsemble([evaluator], clips)).map((s) => mean(ASPECTS.map((a) => s.video[a])))
    : clips.map(() => 0);
const baseEvaluator = new Map<number, number>();
if (evaluator) {
  const scores = await evaluate(
    kept.map((i) => ({ video: videos.get(i)!, prompt: all[i].prompt })),
  );
  kept.forEach((i, k) => baseEvaluator.set(i, scores[k]));
}
const POLICY_COLUMNS = [...COLUMNS, ...(evaluator ? ["evaluator RM"] : [])];

/** Per policy, per kept prompt, per column: the mean of its candidates minus the folder's. */
const policyGains: { name: string; gains: number[][] }[] = [];
for (const spec of values.policy) {
  const [name, dirs] = spec.split("=");
  if (!name || !dirs) throw new Error(`--policy: Expected NAME=DIR[,DIR…] but found "${spec}"`);
  const perSeed: number[][][] = [];
  for (const dir of dirs.split(",")) {
    const candidates = await readCandidates(dir, "best_of_n --policy");
    const clips = [];
    for (const c of candidates) {
      clips.push({ video: await readClip(join(dir, c.clip), [16, 32, 32, 3]), prompt: c.prompt });
    }
    const scores = await evaluate(clips);
    const theirs = new Map<string, number[][]>();
    clips.forEach(({ video, prompt }, k) => {
      const b = shapesBench(video, prompt).bench;
      const row = [...COLUMNS.map((col) => b[col]), scores[k]];
      theirs.set(prompt, [...(theirs.get(prompt) ?? []), row]);
    });
    perSeed.push(prompts.map((ids) => {
      const own = theirs.get(all[ids[0]].prompt);
      if (!own) {
        throw new Error(`--policy ${dir}: Expected candidates of every prompt of ${folder}`);
      }
      const base = [...COLUMNS.map((col) => mean(ids.map((i) => bench(i, col)))), 0];
      if (evaluator) base[COLUMNS.length] = mean(ids.map((i) => baseEvaluator.get(i)!));
      return POLICY_COLUMNS.map((_, k) => mean(own.map((r) => r[k])) - base[k]);
    }));
  }
  // several training seeds: their gains averaged, prompt by prompt
  const gains = prompts.map((_, p) =>
    POLICY_COLUMNS.map((_, k) => mean(perSeed.map((g) => g[p][k])))
  );
  policyGains.push({
    name: perSeed.length > 1 ? `${name} (${perSeed.length} seeds)` : name,
    gains,
  });
}
if (evaluator) disposeRewardModel(evaluator);
/** A table row of per-prompt differences: every column's mean; overall and evaluator with intervals. */
function differenceRow(name: string, d: readonly number[][]): string {
  const of = (k: number) => (idx: Iterable<number>) => mean(Array.from(idx, (p) => d[p][k]));
  const cells = POLICY_COLUMNS.map((_, k) => {
    const est = of(k)(prompts.keys());
    if (k > 0 && k < COLUMNS.length) return sign(est);
    const ci = bootstrapInterval(prompts.length, of(k), { resamples: 1000 });
    return `${sign(est)} [${sign(ci.lo)}, ${sign(ci.hi)}]`;
  });
  return `| ${name} | ${cells.join(" | ")} |`;
}
policyGains.forEach(({ name, gains }, j) => {
  policyRows.push(differenceRow(`${name}: its candidates − the folder's`, gains));
  if (j === 0) return;
  const first = policyGains[0];
  const paired = gains.map((row, p) => row.map((g, k) => g - first.gains[p][k]));
  policyRows.push(differenceRow(`${name} − ${first.name} (paired)`, paired));
});

row("ShapesBench itself (the ceiling)", (i) => bench(i, "overall"));
row("the reference judge's video score", (i) => mean(judged.get(i)!.video));
const rng = createRng(0);
const labels = new Map(kept.map((i) => [
  i,
  mean(
    judged.get(i)!.video.map((v) => Math.max(1, Math.min(4, Math.round(v + 0.6 * rng.normal())))),
  ),
]));
row("one noisy label per clip (σ 0.6)", (i) => labels.get(i)!);
for (const dir of models) {
  const { model } = await loadRewardModel(dir);
  try {
    const scores = await scoreEnsemble(
      [model],
      kept.map((i) => ({ video: videos.get(i)!, prompt: all[i].prompt })),
    );
    const byClip = new Map(kept.map((i, k) => [i, mean(ASPECTS.map((a) => scores[k].video[a]))]));
    row(dir, (i) => byClip.get(i)!);
  } finally {
    disposeRewardModel(model);
  }
}
if (policyRows.length) {
  console.log(`\n| policy (same prompts and noise) | ${POLICY_COLUMNS.join(" | ")} |`);
  console.log(`|---|${POLICY_COLUMNS.map(() => "---").join("|")}|`);
  policyRows.forEach((r) => console.log(r));
}
