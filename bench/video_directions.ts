/**
 * Issue 20/21's open question, "is any video reward above chance on the generator's candidates?":
 * for every pair of same-prompt candidates of a `deno task pairs` folder (all of them, not only the
 * pairs that passed the margin), how often each reward model's video score, per aspect and averaged,
 * prefers the clip the reference judge prefers (where the judge differs), and how often it prefers
 * the clip with the higher ShapesBench.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/video_directions.ts \
 *     out/pairs9 data/reward/prm-v1 data/reward/prm [more reward-model folders …]
 *
 * `--score patch-mean` or `patch-min` orders the clips by the mean or the minimum of a model's patch
 * scores (per aspect) instead of its video head.
 *
 * A comma-separated list of folders is an ensemble, scored by `scoreEnsemble` with `--reduce`
 * (mean, min or mean-std; default mean), e.g. `out/rm-s0/prm,out/rm-s1/prm,out/rm-s2/prm`.
 *
 * The first rows are the judge's own video scores (against ShapesBench: how far the judge's video
 * score and its checklist agree), and one distilled label per clip: the judge's video scores with the
 * judge server's noise (σ = 0.6, rounded to the 1–4 grid, as `deno task label` receives them), the
 * most a reward model distilled from one label per clip could learn from a clip alone.
 *
 * Diagnostics only: nothing here picks a pair or a setting (the judge never chooses a pair).
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { readClip } from "../lib/pairs/file.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { directionAgreement } from "../lib/reward/metrics.ts";
import { bootstrapInterval } from "../lib/core/agreement.ts";
import { ENSEMBLE_REDUCES, type EnsembleReduce, scoreEnsemble } from "../lib/reward/ensemble.ts";
import { ASPECTS } from "../lib/videos/scores.ts";
import { shapesBench } from "../lib/videos/shapes_bench.ts";
import type { Video } from "../lib/videos/video.ts";

const { values, positionals } = parseArgs({
  options: {
    reduce: { type: "string", default: "mean" },
    score: { type: "string", default: "video" },
  },
  allowPositionals: true,
});
const reduce = values.reduce as EnsembleReduce;
if (!ENSEMBLE_REDUCES.includes(reduce)) {
  throw new Error(
    `--reduce: Expected one of ${ENSEMBLE_REDUCES.join(", ")} but found "${values.reduce}"`,
  );
}
// which of a model's scores orders the clips: its video head, or the mean / minimum of its patch scores
const SCORES = ["video", "patch-mean", "patch-min"] as const;
const scoreBy = values.score as typeof SCORES[number];
if (!SCORES.includes(scoreBy)) {
  throw new Error(`--score: Expected one of ${SCORES.join(", ")} but found "${values.score}"`);
}
const [folder, ...models] = positionals;
if (!folder || models.length === 0) {
  throw new Error(
    `video_directions: Expected a pairs folder and one or more reward-model folders but found ${
      JSON.stringify(Deno.args)
    }`,
  );
}
await initBackend();
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Candidate {
  prompt: string;
  clip: string;
}
const candidates: Candidate[] = [];
for await (const entry of Deno.readDir(folder)) {
  if (/^candidates\.\d+\.jsonl$/.test(entry.name)) {
    candidates.push(...await readJsonLines<Candidate>(join(folder, entry.name)));
  }
}
if (candidates.length === 0) {
  throw new Error(
    `${folder}: Expected candidates.N.jsonl files (from deno task pairs) but found none`,
  );
}
candidates.sort((a, b) => a.clip < b.clip ? -1 : 1);
const videos: Video[] = [];
for (const c of candidates) videos.push(await readClip(join(folder, c.clip), [16, 32, 32, 3]));
const judged = candidates.map((c, i) => {
  const b = shapesBench(videos[i], c.prompt);
  return {
    video: mean(ASPECTS.map((a) => b.judgement.video[a])),
    overall: b.bench.overall,
    aspects: ASPECTS.map((a) => b.judgement.video[a]),
  };
});
// one label per clip as the judge server gives it: the judge's score + N(0, 0.6), rounded, in 1–4
const rng = createRng(0);
const labels = judged.map((j) =>
  j.aspects.map((v) => Math.max(1, Math.min(4, Math.round(v + 0.6 * rng.normal()))))
);
const byPrompt = new Map<string, number[]>();
candidates.forEach((c, i) => byPrompt.set(c.prompt, [...(byPrompt.get(c.prompt) ?? []), i]));
const pairsOfPrompt: [number, number][][] = [...byPrompt.values()].map((ids) =>
  ids.flatMap((a, i) => ids.slice(i + 1).map((b) => [a, b] as [number, number]))
);
const pairs = pairsOfPrompt.flat();
const columns = ["mean of aspects", ...ASPECTS];
console.log(
  `${candidates.length} candidates of ${byPrompt.size} prompts, ${pairs.length} same-prompt pairs. ` +
    `Where the judge differs (its video score, mean of aspects): the share of pairs where the model ` +
    `prefers the clip the judge prefers / the share where it prefers the other (the rest it ties); ` +
    `in brackets, the same against ShapesBench overall.\n`,
);
console.log(`| reward model | ${columns.join(" | ")} |`);
console.log(`|---|${columns.map(() => "---").join("|")}|`);
function row(name: string, score: (clip: number, column: number) => number): void {
  const cells = columns.map((_, col) => {
    const agree = (reference: (i: number) => number) => {
      const of = (chosen: readonly [number, number][]) =>
        directionAgreement(chosen.map(([a, b]) => ({
          model: [score(a, col), score(b, col)] as const,
          reference: [reference(a), reference(b)] as const,
        })));
      const d = of(pairs);
      // the mean-of-aspects column gets a 95% bootstrap interval over prompts
      const ci = col === 0
        ? bootstrapInterval(
          pairsOfPrompt.length,
          (idx) => of(Array.from(idx).flatMap((i) => pairsOfPrompt[i])).agreeWhereReferenceDiffers,
          { resamples: 500 },
        )
        : null;
      const interval = ci ? ` [${ci.lo.toFixed(2)}, ${ci.hi.toFixed(2)}]` : "";
      return `${d.agreeWhereReferenceDiffers.toFixed(2)}${interval}/${
        (d.disagree / (1 - d.ties)).toFixed(2)
      }`;
    };
    return `${agree((i) => judged[i].video)} (${agree((i) => judged[i].overall)})`;
  });
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
row(
  "the judge's own video scores",
  (i, col) => col === 0 ? judged[i].video : judged[i].aspects[col - 1],
);
row(
  "one noisy label per clip (σ 0.6)",
  (i, col) => col === 0 ? mean(labels[i]) : labels[i][col - 1],
);
for (const dirs of models) {
  const members = dirs.split(",");
  const loaded = [];
  for (const dir of members) loaded.push((await loadRewardModel(dir)).model);
  try {
    const scores = await scoreEnsemble(
      loaded,
      candidates.map((c, i) => ({ video: videos[i], prompt: c.prompt })),
      { reduce },
    );
    const aspectScores = scores.map((s) => {
      if (scoreBy === "video") return ASPECTS.map((a) => s.video[a]);
      const cells = s.patches.flat(2); // [patches][aspects]
      const pool = (xs: number[]) => scoreBy === "patch-min" ? Math.min(...xs) : mean(xs);
      return ASPECTS.map((_, k) => pool(cells.map((p) => p[k])));
    });
    const name = members.length > 1 ? `${dirs} (${reduce})` : dirs;
    row(
      scoreBy === "video" ? name : `${name} (${scoreBy})`,
      (i, col) => col === 0 ? mean(aspectScores[i]) : aspectScores[i][col - 1],
    );
  } finally {
    loaded.forEach(disposeRewardModel);
  }
}
