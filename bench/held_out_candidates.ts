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
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import { testPromptSample } from "../lib/generator/quick_eval.ts";
import { promptSplits } from "../lib/videos/world.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    generator: { type: "string" },
    prm: { type: "string" },
    prompts: { type: "string", default: "224" },
    seed: { type: "string", default: "0" },
    jobs: { type: "string", default: "1" },
    name: { type: "string", default: "pairs" },
  },
});
if (!values.out) throw new Error(`--out: Expected an output folder but found nothing`);
const test = new Set(testPromptSample(64, 0).map((p) => p.text));
const pool = promptSplits({ seed: 0 }).test.filter((p) => !test.has(p.text));
const order = createRng(0x4e1d);
for (let i = pool.length - 1; i > 0; i--) {
  const j = order.int(i + 1);
  [pool[i], pool[j]] = [pool[j], pool[i]];
}
const n = Number(values.prompts);
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
