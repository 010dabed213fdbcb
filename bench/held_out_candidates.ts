/**
 * Issue 21's diagnostic on the held-out (colour, shape) combinations without the test prompts:
 * samples a generator's candidates, four a prompt from one shared x_T (as `deno task pairs
 * --shared-noise` draws them), for the prompts of the test split that are *not* among the 64 test
 * prompts `deno task evaluate` samples (224 of the split's 288), into a folder `bench/best_of_n.ts`
 * reads like a pairs folder. Run it for Base and for each post-trained policy with the same
 * `--seed`: the candidates then share their noise prompt by prompt, and `best_of_n.ts FOLDER PRM
 * --policy NAME=DIR` gives the reward model's best of four on these combinations (how much it
 * would point a policy to there) and what each policy realises on them.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-env --allow-sys \
 *     bench/held_out_candidates.ts --out out/heldcombo/base [--generator DIR] [--prompts 224]
 *
 * Resumable: clips already in the folder are kept. Diagnostics only: nothing here trains on these
 * prompts or picks a setting; the issue's claims stay on the 64 test prompts.
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { createRng } from "../lib/core/_rng.ts";
import { sha256Hex } from "../lib/core/_hash.ts";
import { Progress } from "../lib/core/_progress.ts";
import { shipped } from "../lib/core/shipped.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { testPromptSample } from "../lib/generator/quick_eval.ts";
import { promptSplits } from "../lib/videos/world.ts";
import { type CandidateItem, readCandidates, sampleCandidates } from "../lib/pairs/candidates.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    generator: { type: "string" },
    prompts: { type: "string", default: "224" },
    candidates: { type: "string", default: "4" },
    seed: { type: "string", default: "0" },
  },
});
const int = (name: string, v: string | undefined, lo: number, hi: number) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < lo || x > hi) {
    throw new Error(`--${name}: Expected an integer in [${lo}, ${hi}] but found "${v}"`);
  }
  return x;
};
if (!values.out) throw new Error(`--out: Expected an output folder but found nothing`);
const test = new Set(testPromptSample(64, 0).map((p) => p.text));
const pool = promptSplits({ seed: 0 }).test.filter((p) => !test.has(p.text));
const order = createRng(0x4e1d);
for (let i = pool.length - 1; i > 0; i--) { // a seeded order, so --prompts N mixes the combinations
  const j = order.int(i + 1);
  [pool[i], pool[j]] = [pool[j], pool[i]];
}
const nPrompts = int("prompts", values.prompts, 1, pool.length);
const nCandidates = int("candidates", values.candidates, 2, 16);
const seed = int("seed", values.seed, 0, 0xffff);
const [steps, guidance, eta] = [20, 2, 0.5];

await initBackend();
const { generator, manifest } = await loadGenerator(values.generator ?? shipped.generator);
const known = await readCandidates(values.out);
const items: CandidateItem[] = [];
for (const [index, prompt] of pool.slice(0, nPrompts).entries()) {
  const noiseSeed = createRng((seed * 0x9e3779b1 + index * 0x85ebca6b + 0x27d4eb2f) >>> 0).seed();
  for (let j = 0; j < nCandidates; j++) {
    const s = createRng((seed * 0x9e3779b1 + index * 0x85ebca6b + j * 0xc2b2ae35) >>> 0).seed();
    const key = await sha256Hex(JSON.stringify({
      generator: manifest.weights.sha256,
      prompt: prompt.text,
      seed: s,
      noiseSeed,
      steps,
      guidance,
      eta,
    }));
    if (!known.has(key)) items.push({ prompt, seed: s, noiseSeed, key });
  }
}
const progress = new Progress(nPrompts * nCandidates, {
  label: "held-out combinations: sample",
  unit: "clips",
  initial: nPrompts * nCandidates - items.length,
});
await Deno.mkdir(join(values.out, "clips"), { recursive: true });
await sampleCandidates(generator, {
  out: values.out,
  log: join(values.out, "candidates.0.jsonl"),
  items,
  steps,
  guidance,
  eta,
  batchSize: 16,
  onChunk: (k) => progress.tick(k),
});
disposeGenerator(generator);
console.log(`${nPrompts * nCandidates} candidates of ${nPrompts} prompts in ${values.out}`);
