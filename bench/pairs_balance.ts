/**
 * Issue 21's direct test of why some PRMs' pairs make post-training erase objects: writes a copy of
 * a pairs file whose patch terms are balanced within each pair, as many "more object here" as "less
 * object here" (`--mode balanced`), or, as the control, thinned by the same number of terms per pair
 * chosen at random (`--mode random`). Post-train on both and compare: if the balanced copy keeps
 * colour and count where the random one does not, the one-sidedness of the terms is the cause.
 *
 *   deno run --allow-read --allow-write=out bench/pairs_balance.ts --mode balanced \
 *     out/pairs9/pairs-newprm.jsonl out/pairs9/pairs-newprm-balanced.jsonl
 *
 * The output goes in the input's folder (the clips are shared). Experiment tooling, not a library
 * option: the object-pixel measure knows ShapesWorld's backgrounds only.
 * @module
 */

import { parseArgs } from "node:util";
import { basename, dirname, join } from "node:path";
import { createRng } from "../lib/core/_rng.ts";
import { writeFileAtomic } from "../lib/core/_atomic.ts";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { type BalanceMode, balancePatchGaps, objectShare } from "./_object_share.ts";

const { values, positionals } = parseArgs({
  options: {
    mode: { type: "string", default: "balanced" },
    tau: { type: "string", default: "0.25" },
    seed: { type: "string", default: "0" },
  },
  allowPositionals: true,
});
const mode = values.mode as BalanceMode;
if (mode !== "balanced" && mode !== "random") {
  throw new Error(`--mode: Expected "balanced" or "random" but found "${values.mode}"`);
}
const tau = Number(values.tau);
if (!(tau >= 0)) throw new Error(`--tau: Expected a number ≥ 0 but found "${values.tau}"`);
const [input, output] = positionals;
if (!input || !output || positionals.length !== 2) {
  throw new Error(
    `pairs_balance: Expected IN.jsonl OUT.jsonl but found ${positionals.length} paths`,
  );
}
if (dirname(input) !== dirname(output) || basename(input) === basename(output)) {
  throw new Error(`${output}: Expected another file in ${dirname(input)} (the clips are shared)`);
}

const pairs = await readPairs(input);
const rng = createRng(Number(values.seed));
const shares = new Map<string, number[]>();
const shareOf = async (clip: string, prompt: string, shape: readonly number[]) => {
  if (!shares.has(clip)) {
    shares.set(clip, objectShare(await readClip(join(dirname(input), clip), shape), prompt));
  }
  return shares.get(clip)!;
};
let before = 0, dropped = 0;
const lines: string[] = [];
for (const q of pairs) {
  const chosen = await shareOf(q.chosen.clip, q.prompt, q.shape);
  const rejected = await shareOf(q.rejected.clip, q.prompt, q.shape);
  const out = balancePatchGaps(q.patch_gaps, { chosen, rejected }, { tau, mode, random: rng.next });
  before += q.patch_gaps.filter((g) => Math.abs(g) >= tau && g !== 0).length;
  dropped += out.dropped;
  lines.push(JSON.stringify({ ...q, patch_gaps: out.gaps }));
}
await writeFileAtomic(output, lines.join("\n") + "\n");
console.log(
  `${output}: ${pairs.length} pairs, ${before} patch terms (|gap| ≥ ${tau}), ${dropped} dropped ` +
    `(${mode}), ${before - dropped} kept`,
);
