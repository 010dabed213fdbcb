/**
 * A "model soup" of post-trained policies (Wortsman et al. 2022): the element-wise mean of the
 * weights of several post-training runs from the same reference, written as one generator
 * checkpoint (issue 21's test of whether the seed-specific part of an update is what costs shape).
 * `bench/pair_fit.ts` showed that a 300-step run re-draws the shape of about one clip in ten at
 * fixed noise whatever its pairs teach (a run on coin-flip directions does it too); what the pairs
 * teach is shared by runs of other training seeds, what they do not teach mostly is not, so the
 * mean of three seeds should keep the first and shrink the second. Measured (README, issue 21): it
 * does not — the soup loses colour as each seed does and is level with the seeds it averages.
 *
 *   deno run --allow-read --allow-write=out bench/policy_soup.ts out/ptG30/soup \
 *     out/ptG30/halo-a out/ptG30/halo-a-s1 out/ptG30/halo-a-s2
 *
 * The checkpoints must share the generator config; the soup's meta names its parts. Evaluate it
 * as any checkpoint (`deno task evaluate --checkpoint grandpo=out/ptG30/soup`).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { disposeGenerator, loadGenerator, saveGenerator } from "../lib/generator/mod.ts";

const [out, ...parts] = Deno.args;
if (!out || parts.length < 2) {
  throw new Error(
    `policy_soup: Expected OUT_DIR CHECKPOINT CHECKPOINT … (two or more) but found ${
      JSON.stringify(Deno.args)
    }`,
  );
}
const first = await loadGenerator(parts[0]);
const gen = first.generator;
for (const dir of parts.slice(1)) {
  const { generator } = await loadGenerator(dir, { config: gen.config });
  for (const [name, v] of gen.params) {
    const w = generator.params.get(name);
    if (!w) throw new Error(`${dir}: Expected parameter ${name} but found none`);
    tf.tidy(() => v.assign(v.add(w)));
  }
  disposeGenerator(generator);
}
for (const v of gen.params.values()) tf.tidy(() => v.assign(v.div(parts.length)));
await saveGenerator(out, gen, { step: first.step, meta: { soup: parts } });
disposeGenerator(gen);
console.log(`${out}: the mean of ${parts.length} policies (${parts.join(", ")})`);
