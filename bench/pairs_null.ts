/**
 * Issue 21's test of a signal that the prompt's object is wanted: writes a copy of a pairs file with
 * one **null pair** added per prompt — the prompt's first chosen clip against what the generator
 * draws for the null prompt (guidance 0, the unconditional branch alone) from that clip's seed, a
 * clip of background without the prompt's object. `bench/guidance_branches.ts` found that the
 * objects post-training erases are ones Base drew from a weak conditional signal; a pair whose loser
 * is the unconditional clip asks the conditional branch to stay away from "nothing", for this
 * prompt, which no candidate pair does (candidates rarely lack their object).
 *
 * The null clip is scored by the given PRM (its video score is the pair's rejected score, and a
 * prompt whose null clip the PRM does not score below the chosen clip gets no null pair), but its
 * **patch scores are set to the chosen clip's**: the patch head cannot see an absence (it prefers
 * an emptied patch, `bench/vanished_objects.ts`), so a null pair carries the video term alone.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-env --allow-sys bench/pairs_null.ts \
 *     --prm out/rmsn10k-pp16/prm out/pairsG30-shared/pairs-rmsn10kpp16-m0.1.jsonl \
 *     out/pairsG30-shared/pairs-rmsn10kpp16-m0.1-null.jsonl
 *
 * The output goes in the input's folder, the null clips in its `clips/` (named by their hash).
 * Experiment tooling, not a library option; a guess of ours, not the paper's.
 * @module
 */

import { parseArgs } from "node:util";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../lib/core/_atomic.ts";
import { quantizePixels, sha256Hex } from "../lib/core/_hash.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { sampleClips } from "../lib/generator/sampler.ts";
import { readPairs } from "../lib/pairs/file.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { scoreRewards } from "../lib/reward/score.ts";
import { initBackend } from "../lib/tensor/backend.ts";

const { values, positionals } = parseArgs({
  options: {
    prm: { type: "string" },
    generator: { type: "string", default: "data/generator" },
    steps: { type: "string", default: "20" },
  },
  allowPositionals: true,
});
const [input, output] = positionals;
if (!input || !output || positionals.length !== 2 || !values.prm) {
  throw new Error(
    `pairs_null: Expected --prm DIR IN.jsonl OUT.jsonl but found ${JSON.stringify(positionals)}`,
  );
}
if (dirname(input) !== dirname(output) || basename(input) === basename(output)) {
  throw new Error(`${output}: Expected another file in ${dirname(input)} (the clips are shared)`);
}

await initBackend();
const pairs = await readPairs(input);
const first = new Map<string, (typeof pairs)[number]>();
for (const q of pairs) if (!first.has(q.prompt)) first.set(q.prompt, q);
const gen = (await loadGenerator(values.generator!)).generator;
const prm = (await loadRewardModel(values.prm)).model;
const added: string[] = [];
let skipped = 0;
for (const q of first.values()) {
  const [video] = await sampleClips(gen, [q.prompt], {
    steps: Number(values.steps),
    guidance: 0,
    seeds: [q.chosen.seed],
  });
  const [s] = await scoreRewards(prm, [{ prompt: q.prompt, video }]);
  const aspects = Object.values(s.video);
  const score = aspects.reduce((a, v) => a + v, 0) / aspects.length;
  if (!(score < q.chosen.video_score)) {
    skipped++;
    continue;
  }
  const bytes = quantizePixels(video.frames);
  const sha256 = await sha256Hex(bytes);
  const clip = `clips/null-${sha256}.rgb`;
  await writeFileAtomic(join(dirname(input), clip), bytes);
  added.push(JSON.stringify({
    ...q,
    id: `${q.id.split("-").slice(0, 2).join("-")}-null`,
    rejected: {
      clip,
      sha256,
      seed: q.chosen.seed,
      video_score: score,
      patch_scores: q.chosen.patch_scores,
    },
    video_gap: q.chosen.video_score - score,
    patch_gaps: q.patch_gaps.map(() => 0),
  }));
}
disposeGenerator(gen);
disposeRewardModel(prm);
await writeFileAtomic(output, [...pairs.map((q) => JSON.stringify(q)), ...added].join("\n") + "\n");
console.log(
  `${output}: ${pairs.length} pairs + ${added.length} null pairs (${skipped} prompts whose null ` +
    `clip the PRM did not score below the chosen one)`,
);
