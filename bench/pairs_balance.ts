/**
 * Issue 21's direct test of why some PRMs' pairs make post-training erase objects: writes a copy of
 * a pairs file whose patch terms are balanced within each pair, as many "more object here" as "less
 * object here" (`--mode balanced`), or, as controls, thinned to as many terms chosen at random:
 * across the whole file (`--mode random`, which keeps the terms as one-sided as they were) or within
 * each pair (`--mode random-per-pair`, as many terms per pair as balanced). Post-train on each and
 * compare: if the balanced copy keeps colour and count where the random one does not, the
 * one-sidedness of the terms is the cause, not their number. `--mode no-erase` drops only the terms
 * that prefer an empty patch to a full one (a whole object erased) and keeps the rest.
 *
 * `--mode flip` is the null control of `bench/pair_fit.ts`: each pair's two clips trade places with
 * probability 1/2 (clip, hash and seed; the scores and gaps stay where they were), so the pairs keep
 * their number and margins and their directions become coin flips — post-training on it measures how
 * far a run of that size moves the policy with nothing to learn. `--mode flip-patches` keeps each
 * pair's clips and flips the sign of each patch gap with probability 1/2: the video term as it was,
 * the patch terms as many and as large, their directions coin flips.
 *
 * `--mode agree` needs no object measure, so it works on any pairs: it drops the patch terms whose
 * direction goes against their pair's video direction (a negative gap: the PRM prefers the rejected
 * clip's patch), so no patch term asks for what the video score says is worse — the terms through
 * which a patch head that cannot see an absence (`bench/vanished_objects.ts`) teaches erasing.
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
import { type BalanceMode, balancePatchGaps, isUsedTerm, objectShare } from "./_object_share.ts";

const { values, positionals } = parseArgs({
  options: {
    mode: { type: "string", default: "balanced" },
    tau: { type: "string", default: "0.25" },
    seed: { type: "string", default: "0" },
  },
  allowPositionals: true,
});
const mode = String(values.mode);
const MODES = [
  "balanced",
  "random",
  "random-per-pair",
  "no-erase",
  "agree",
  "flip",
  "flip-patches",
];
if (!MODES.includes(mode)) {
  throw new Error(`--mode: Expected one of ${MODES.join(", ")} but found "${values.mode}"`);
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
if (mode === "flip" || mode === "flip-patches") {
  // the null controls: directions made coin flips, nothing else changed
  type Side = (typeof pairs)[number]["chosen"];
  const swap = (from: Side, to: Side): Side => ({
    ...to,
    clip: from.clip,
    sha256: from.sha256,
    seed: from.seed,
  });
  let flipped = 0;
  const lines = pairs.map((q) => {
    if (mode === "flip-patches") {
      return JSON.stringify({
        ...q,
        patch_gaps: q.patch_gaps.map((g) => rng.next() < 0.5 ? -g : g),
      });
    }
    if (rng.next() >= 0.5) return JSON.stringify(q);
    flipped++;
    return JSON.stringify({
      ...q,
      chosen: swap(q.rejected, q.chosen),
      rejected: swap(q.chosen, q.rejected),
    });
  });
  await writeFileAtomic(output, lines.join("\n") + "\n");
  console.log(
    `${output}: ${pairs.length} pairs, ` +
      (mode === "flip"
        ? `${flipped} with their clips swapped`
        : "each patch gap's sign a coin flip"),
  );
  Deno.exit(0);
}
if (mode === "agree") {
  let before = 0, dropped = 0;
  const lines = pairs.map((q) => {
    before += q.patch_gaps.filter((g) => isUsedTerm(g, tau)).length;
    dropped += q.patch_gaps.filter((g) => isUsedTerm(g, tau) && g < 0).length;
    return JSON.stringify({ ...q, patch_gaps: q.patch_gaps.map((g) => (g < 0 ? 0 : g)) });
  });
  await writeFileAtomic(output, lines.join("\n") + "\n");
  console.log(
    `${output}: ${pairs.length} pairs, ${before} patch terms (|gap| ≥ ${tau}), ${dropped} dropped ` +
      `(against the video direction), ${before - dropped} kept`,
  );
  Deno.exit(0);
}
const shares = new Map<string, number[]>();
const shareOf = async (clip: string, prompt: string, shape: readonly number[]) => {
  if (!shares.has(clip)) {
    shares.set(clip, objectShare(await readClip(join(dirname(input), clip), shape), prompt));
  }
  return shares.get(clip)!;
};
const pairMode = (mode === "random" ? "balanced" : mode) as BalanceMode;
const used = (g: number) => isUsedTerm(g, tau);
let before = 0, dropped = 0;
const gaps: number[][] = [];
for (const q of pairs) {
  const chosen = await shareOf(q.chosen.clip, q.prompt, q.shape);
  const rejected = await shareOf(q.rejected.clip, q.prompt, q.shape);
  const out = balancePatchGaps(q.patch_gaps, { chosen, rejected }, {
    tau,
    mode: pairMode,
    random: rng.next,
  });
  before += q.patch_gaps.filter(used).length;
  dropped += out.dropped;
  gaps.push(out.gaps);
}
if (mode === "random") {
  // as many terms as balanced keeps, drawn uniformly from every term of the file
  const all = pairs.flatMap((q, i) => q.patch_gaps.flatMap((g, k) => (used(g) ? [[i, k]] : [])));
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [all[i], all[j]] = [all[j], all[i]];
  }
  pairs.forEach((q, i) => (gaps[i] = [...q.patch_gaps]));
  for (const [i, k] of all.slice(0, dropped)) gaps[i][k] = 0;
}
const lines = pairs.map((q, i) => JSON.stringify({ ...q, patch_gaps: gaps[i] }));
await writeFileAtomic(output, lines.join("\n") + "\n");
console.log(
  `${output}: ${pairs.length} pairs, ${before} patch terms (|gap| ≥ ${tau}), ${dropped} dropped ` +
    `(${mode}), ${before - dropped} kept`,
);
