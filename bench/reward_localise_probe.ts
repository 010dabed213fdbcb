/**
 * Does a trained PRM localise, and how far can ρ go against a tied reference? On the held-out
 * clips of a `bench/reward_candidates.ts` dataset (rebuilt from its label cache, so no new
 * labels), per aspect: the pooled patch ρ of the model, of the model rounded to the 1–4 grid,
 * of the distilled labels and of the model's video score broadcast to every patch; the ceiling
 * a score without ties can reach (see `HeldOutMetrics.patchRhoCeiling`); the mean within-clip
 * ρ over clips whose reference varies (localisation only, clip-level differences removed); and
 * the share of reference patches at 4.
 *
 *   deno run --allow-read --allow-write --allow-env --allow-net=127.0.0.1,localhost --allow-sys \
 *     bench/reward_localise_probe.ts --data out/rc5 --model out/rc5/models/film+swap-seed0 [--train 1000]
 * @module
 */

import { tieCeiling } from "../lib/reward/_tie_ceiling.ts";
import { parseArgs } from "node:util";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { buildRewardDataset } from "../lib/reward/data.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { flattenPatchScores, scoreRewards } from "../lib/reward/score.ts";
import { spearman } from "../lib/core/agreement.ts";
import { ASPECTS } from "../lib/videos/scores.ts";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    model: { type: "string" },
    train: { type: "string", default: "1000" },
    "held-out": { type: "string", default: "96" },
    "generator-share": { type: "string", default: "0.25" },
  },
});
if (!values.data || !values.model) {
  throw new Error("Expected --data DIR (a reward_candidates --out folder) and --model DIR");
}
await initBackend();
const data = await buildRewardDataset({
  train: Number(values.train),
  heldOut: Number(values["held-out"]),
  swapRate: 0.5,
  clipsPerPrompt: 2,
  generatorShare: Number(values["generator-share"]),
  seed: 0,
  cache: join(values.data, "labels.jsonl"),
  quiet: true,
});
const { model } = await loadRewardModel(values.model);
const set = data.heldOut;
const scored = await scoreRewards(model, set.map((e) => ({ video: e.video, prompt: e.prompt })));
const f = (x: number) => Number.isFinite(x) ? x.toFixed(3) : "n/a";
console.log(
  "| aspect | model | model on the 1–4 grid | labels | video score broadcast | ceiling without ties | within-clip ρ: model / labels (clips) | reference at 4 |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const [i, a] of ASPECTS.entries()) {
  const ref: number[] = [], lab: number[] = [], mod: number[] = [], broadcast: number[] = [];
  let withinModel = 0, withinLabels = 0, n = 0;
  set.forEach((e, v) => {
    const m = flattenPatchScores(scored[v].patches).map((s) => s[i]);
    const r = e.reference!.patches.map((p) => p.scores[a]);
    const l = e.labels.patches.map((p) => p.scores[a]);
    ref.push(...r),
      lab.push(...l),
      mod.push(...m),
      broadcast.push(...r.map(() => scored[v].video[a]));
    const rm = spearman(m, r), rl = spearman(l, r);
    if (Number.isFinite(rm) && Number.isFinite(rl)) (withinModel += rm), (withinLabels += rl), n++;
  });
  const ceiling = tieCeiling(ref);
  console.log(
    `| ${a} | ${f(spearman(mod, ref))} | ${f(spearman(mod.map(Math.round), ref))} | ${
      f(spearman(lab, ref))
    } | ${f(spearman(broadcast, ref))} | ${f(ceiling)} | ${f(withinModel / n)} / ${
      f(withinLabels / n)
    } (${n}) | ${(ref.filter((x) => x === 4).length / ref.length).toFixed(3)} |`,
  );
}
