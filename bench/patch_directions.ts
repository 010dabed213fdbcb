/**
 * What a patch term can trust (issue 20's patch targets, measured where Gran-DPO uses them): on a
 * folder of the generator's candidates drawn from shared noise (`deno task pairs --shared-noise`),
 * so that patch k of two candidates of one prompt is the same place at the same time, it compares
 * every pair of candidates of a prompt patch by patch. Where the reference judge scores the two
 * patches differently (mean over aspects), a scorer agrees when its own gap has the judge's sign
 * (a tie counts as not). The pairs are split by which patch the judge prefers: the one with fewer
 * object pixels (**emptier**) or more (**fuller**; patches within 0.02 of each other in object
 * share are **level**). A scorer that agrees on emptier-preferred patches and not on fuller ones
 * is an object counter, not a defect detector: a patch term built on it asks the policy to erase.
 * Also the patch Spearman ρ against the judge over all patches and over the patches with an object
 * (object share above 0.02), and ρ with the object share itself.
 *
 * Scorers: each `--prm DIR` (a reward model, mean of its aspects) and, given `--labels FILE`, the
 * labels of those clips (one noisy judge label each, as `bench/label_pairs.ts` caches them: the
 * bar a distilled PRM must pass). 95% bootstrap intervals over prompts.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/patch_directions.ts \
 *     --prm out/rmgen10k/prm --prm data/reward/prm \
 *     --labels out/pairsG30-shared/labels-noise-0.6.jsonl out/pairsG30-shared
 *
 * Diagnostics only: nothing here picks a pair or a setting. The object-pixel measure knows
 * ShapesWorld's backgrounds, so it works on ShapesWorld prompts only.
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { bootstrapInterval, type Interval, spearman } from "../lib/core/agreement.ts";
import { readClip } from "../lib/pairs/file.ts";
import { labelArrays, readLabelsFile } from "../lib/reward/label_file.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { flattenPatchScores, scoreRewards } from "../lib/reward/score.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { ASPECTS } from "../lib/videos/scores.ts";
import { OBJECT_SHARE_TIE, objectShare, PAIRS_GRID } from "./_object_share.ts";
import { readCandidates } from "./_candidates.ts";

const { values, positionals } = parseArgs({
  options: {
    prm: { type: "string", multiple: true, default: [] },
    labels: { type: "string" },
    shape: { type: "string", default: "16,32,32,3" },
  },
  allowPositionals: true,
});
if (positionals.length !== 1) {
  throw new Error(
    `patch_directions: Expected one candidates folder but found ${positionals.length} arguments`,
  );
}
const dir = positionals[0];
const shape = values.shape.split(",").map(Number);
if (shape.length !== 4 || shape.some((x) => !Number.isInteger(x) || x < 1)) {
  throw new Error(`--shape: Expected frames,height,width,3 but found "${values.shape}"`);
}
if (values.prm.length === 0 && !values.labels) {
  throw new Error("patch_directions: Expected --prm DIR or --labels FILE but found neither");
}

const candidates = await readCandidates(dir, "patch_directions");
await initBackend();
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const videos = await Promise.all(candidates.map((c) => readClip(join(dir, c.clip), shape)));
const judge = videos.map((v, i) =>
  judgeVideo(v, candidates[i].prompt, PAIRS_GRID).patches.map((p) =>
    mean(ASPECTS.map((a) => p.scores[a]))
  )
);
const objects = videos.map((v, i) => objectShare(v, candidates[i].prompt));

/** Each scorer's per-clip, per-patch score (mean over aspects). */
const scorers = new Map<string, number[][]>();
for (const path of values.prm) {
  const { model } = await loadRewardModel(path);
  try {
    const items = candidates.map((c, i) => ({ video: videos[i], prompt: c.prompt }));
    const scores = await scoreRewards(model, items);
    scorers.set(path, scores.map((s) => flattenPatchScores(s.patches).map((p) => mean(p))));
  } finally {
    disposeRewardModel(model);
  }
}
if (values.labels) {
  const bySource = new Map(
    (await readLabelsFile(values.labels, { numFrames: shape[0] })).map((
      r,
    ) => [resolve(r.source), r]),
  );
  scorers.set(
    `labels (${values.labels})`,
    candidates.map((c) => {
      const r = bySource.get(resolve(join(dir, c.clip)));
      if (!r) throw new Error(`--labels: Expected a label of ${c.clip} but found none`);
      return labelArrays(r.labels).patches.map(mean);
    }),
  );
}

// same-prompt pairs of candidates, grouped by prompt for the bootstrap
const byPrompt = new Map<string, number[]>();
candidates.forEach((c, i) => byPrompt.set(c.prompt, [...(byPrompt.get(c.prompt) ?? []), i]));
const prompts = [...byPrompt.values()];
type Split = "emptier" | "fuller" | "level";
/** Per prompt, per split: [agreements, comparisons] of one scorer. */
function directions(score: number[][]): Record<Split, [number, number]>[] {
  return prompts.map((clips) => {
    const out: Record<Split, [number, number]> = { emptier: [0, 0], fuller: [0, 0], level: [0, 0] };
    for (let x = 0; x < clips.length; x++) {
      for (let y = x + 1; y < clips.length; y++) {
        const [i, j] = [clips[x], clips[y]];
        judge[i].forEach((ji, k) => {
          const g = ji - judge[j][k];
          if (g === 0) return;
          const [win, lose] = g > 0 ? [i, j] : [j, i];
          const d = objects[win][k] - objects[lose][k];
          const split: Split = Math.abs(d) <= OBJECT_SHARE_TIE
            ? "level"
            : d < 0
            ? "emptier"
            : "fuller";
          out[split][1]++;
          if (score[win][k] > score[lose][k]) out[split][0]++;
        });
      }
    }
    return out;
  });
}
const fmt = (i: Interval) =>
  Number.isNaN(i.estimate)
    ? "–"
    : `${i.estimate.toFixed(2)} [${i.lo.toFixed(2)}, ${i.hi.toFixed(2)}]`;
/** Patch ρ of a scorer against the judge (or the object share) on the patches `keep` admits. */
function rho(score: number[][], against: number[][], keep: (i: number, k: number) => boolean) {
  return bootstrapInterval(prompts.length, (idx) => {
    const xs: number[] = [], ys: number[] = [];
    for (const p of idx) {
      for (const i of prompts[p]) {
        score[i].forEach((s, k) => {
          if (keep(i, k)) xs.push(s), ys.push(against[i][k]);
        });
      }
    }
    return spearman(xs, ys);
  });
}
const all = () => true, withObject = (i: number, k: number) => objects[i][k] > OBJECT_SHARE_TIE;

const rows: string[] = [];
rows.push(`| reference judge (itself) | 1 | 1 | 1 | 1 | 1 | ${fmt(rho(judge, objects, all))} |`);
let counts = "";
for (const [name, score] of scorers) {
  const d = directions(score);
  const share = (split: Split) =>
    bootstrapInterval(prompts.length, (idx) => {
      let a = 0, n = 0;
      for (const p of idx) (a += d[p][split][0]), (n += d[p][split][1]);
      return n ? a / n : NaN;
    });
  const total = (split: Split) => d.reduce((s, x) => s + x[split][1], 0);
  counts ||= `emptier ${total("emptier")}, fuller ${total("fuller")}, level ${total("level")}`;
  rows.push(
    `| ${name} | ${fmt(share("emptier"))} | ${fmt(share("fuller"))} | ${fmt(share("level"))} | ` +
      `${fmt(rho(score, judge, all))} | ${fmt(rho(score, judge, withObject))} | ` +
      `${fmt(rho(score, objects, all))} |`,
  );
}
console.log(
  `${candidates.length} candidates of ${prompts.length} prompts in ${dir}; patch pairs where the` +
    ` judge differs, by the patch it prefers: ${counts}.\n`,
);
console.log(
  "| scorer | agrees, judge prefers the emptier | agrees, judge prefers the fuller |" +
    " agrees, level in objects | patch ρ vs judge | patch ρ vs judge, patches with an object |" +
    " patch ρ vs object share |",
);
console.log("|---|---|---|---|---|---|---|");
console.log(rows.join("\n"));
