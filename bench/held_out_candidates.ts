/**
 * Issue 21's diagnostic on the held-out (colour, shape) combinations without the test prompts:
 * `buildPairs` on the prompts of the test split that are *not* among the 64 test prompts
 * `deno task evaluate` samples (224 of the split's 288, in a seeded order so `--prompts N` mixes
 * the combinations), four candidates a prompt from one shared x_T (`--shared-noise`, η 0.5), scored
 * by `--prm`, every pair above margin 0.1. Run it for Base and for each post-trained policy with
 * the same `--seed`: the candidates share their noise prompt by prompt, and `best_of_n.ts FOLDER
 * PRM --policy NAME=DIR` gives the reward model's best of four on these combinations (how far its
 * pairs would point a policy there) and what each policy realises on them.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-run --allow-env --allow-sys \
 *     bench/held_out_candidates.ts --out out/heldcombo/base [--generator DIR] [--prm DIR] [--prompts 224] \
 *     [--name pairs] [--jobs 1]
 *
 * Resumable as `deno task pairs` is. Diagnostics only: nothing here picks a setting, and the
 * issue's claims stay on the 64 test prompts.
 *
 * `--combos colour/shape,…` takes the prompts of those training combinations instead (the train
 * and validation splits' prompts of them, no test prompt): the validation measure of unseen
 * combinations for a generator pretrained without them (`deno task pretrain --hold-out-combos`),
 * on which settings may be chosen. Its post-training pairs must leave them out too
 * (`bench/combo_holdout.ts pairs`).
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import { testPromptSample } from "../lib/generator/quick_eval.ts";
import { promptSplits, type ShapesPrompt } from "../lib/videos/world.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    generator: { type: "string" },
    prm: { type: "string" },
    prompts: { type: "string" },
    seed: { type: "string", default: "0" },
    jobs: { type: "string", default: "1" },
    name: { type: "string", default: "pairs" },
    combos: { type: "string" },
  },
});
if (!values.out) throw new Error(`--out: Expected an output folder but found nothing`);
const splits = promptSplits({ seed: 0 });
const pool = values.combos === undefined
  ? testCombinationPool()
  : trainingCombinationPool(values.combos);
const order = createRng(0x4e1d);
for (let i = pool.length - 1; i > 0; i--) {
  const j = order.int(i + 1);
  [pool[i], pool[j]] = [pool[j], pool[i]];
}
const n = values.prompts === undefined ? Math.min(224, pool.length) : Number(values.prompts);
if (!Number.isInteger(n) || n < 1 || n > pool.length) {
  throw new Error(
    `--prompts: Expected an integer in [1, ${pool.length}] but found "${values.prompts}"`,
  );
}
await initBackend();
const r = await buildPairs({
  out: values.out,
  ...(values.generator ? { generatorDir: values.generator } : {}),
  ...(values.prm ? { prmDir: values.prm } : {}),
  promptList: pool.slice(0, n).map((p) => p.text),
  seed: Number(values.seed),
  sharedNoise: true,
  pairing: "all",
  margin: 0.1,
  jobs: Number(values.jobs),
  name: values.name,
});
console.log(
  `${r.candidates} candidates of ${n} prompts (${r.sampled} sampled), ${r.pairs} pairs → ${r.file}`,
);

/** The test split's prompts outside the 64 that `deno task evaluate` samples. */
function testCombinationPool(): ShapesPrompt[] {
  const test = new Set(testPromptSample(64, 0).map((p) => p.text));
  return splits.test.filter((p) => !test.has(p.text));
}

/** Every train- and validation-split prompt of the `"colour/shape"` combinations listed. */
function trainingCombinationPool(list: string): ShapesPrompt[] {
  const combos = list.split(",");
  const rest = [...splits.train, ...splits.validation];
  const known = new Set(rest.map((p) => `${p.color}/${p.shape}`));
  const unknown = combos.find((c) => !known.has(c));
  if (unknown !== undefined) {
    throw new Error(
      `--combos: Expected training combinations (colour/shape) but found "${unknown}"`,
    );
  }
  return rest.filter((p) => combos.includes(`${p.color}/${p.shape}`));
}
