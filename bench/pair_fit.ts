/**
 * Does post-training learn the pairs it was trained on? (Issue 21's question of why pairs that
 * carry shape give no shape gain.) The pairs' candidates were sampled from Base with fixed noise;
 * `deno task pairs --generator <post-trained checkpoint>` with the same `--seed` and
 * `--shared-noise` samples the very same prompts from the very same noise with the policy. Each
 * candidate is then judged (ShapesBench's colour, shape, count and direction checks) under both
 * models, so every difference is the policy's and none is sampling noise. Printed per check, with
 * 95% bootstrap intervals over prompts:
 *
 * - **all**: the pass rate over every candidate of every training prompt, Base and policy;
 * - **Base fails → passes**: of the candidates Base fails, the share the policy passes from the
 *   same noise (how often a move fixes the check by chance or by learning);
 * - **taught**: the same at the rejected seeds of the pairs that teach the fix (chosen passes,
 *   rejected fails) — how often the policy now does what those pairs asked;
 * - **untaught**: the same at the chosen seeds of the pairs that teach the failure (chosen fails,
 *   rejected passes) — a pair pushing toward the failing clip;
 * - **Base passes → fails**: of the candidates Base passes, the share the policy now fails.
 * Below it, which way the count fails (too many objects, too few, none) and how many colour
 * failures are clips with no object at all, Base beside the policy.
 *
 *   deno task pairs --generator out/ptG30/<run> --out out/fitG30/<run> --prm <the pairs' PRM> \
 *     --shared-noise --pairing all --margin 0.1
 *   deno run --allow-read bench/pair_fit.ts out/pairsG30-shared/pairs-rmgen10kprm-m0.1.jsonl \
 *     halo=out/fitG30/<run>
 *
 * With `deno task pairs --seed 1` for Base and the policies alike (other training prompts, other
 * noise) and `--unseen <the pairs trained on>`, which drops the prompts the policies trained on, the
 * same table measures what generalises, on four times the clips of the 48 validation prompts.
 *
 * Diagnostics only: nothing here picks a pair or a setting. ShapesWorld prompts only.
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { bootstrapInterval } from "../lib/core/agreement.ts";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { shapesBench } from "../lib/videos/shapes_bench.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { readCandidates } from "./_candidates.ts";

const { values, positionals } = parseArgs({
  options: { unseen: { type: "string" } },
  allowPositionals: true,
});
const [pairsFile, ...models] = positionals;
if (
  !pairsFile?.endsWith(".jsonl") || models.length === 0 || !models.every((m) => m.includes("="))
) {
  throw new Error(
    `pair_fit: Expected [--unseen TRAINED.jsonl] PAIRS.jsonl NAME=CANDIDATES_DIR … but found ${
      JSON.stringify(Deno.args)
    }`,
  );
}

const checks = ["color", "shape", "count", "direction"] as const;
type Check = (typeof checks)[number];
/** The checks passed, and the objects the judge found against the prompt's count. */
type Passes = Record<Check, boolean> & { found: number; asked: number };

/** Every candidate of a folder, judged: `prompt/seed` → passes. */
async function judged(dir: string, shape: readonly number[]): Promise<Map<string, Passes>> {
  const out = new Map<string, Passes>();
  for (const c of await readCandidates(dir, "pair_fit")) {
    const s = shapesBench(await readClip(join(dir, c.clip), shape), c.prompt);
    out.set(`${c.prompt}/${c.seed}`, {
      ...Object.fromEntries(checks.map((k) => [k, s.bench[k] >= 0.5])) as Record<Check, boolean>,
      found: s.judgement.checks?.count ?? NaN,
      asked: parsePrompt(c.prompt).count,
    });
  }
  return out;
}

const pairs = await readPairs(pairsFile);
const shape = pairs[0].shape;
const base = await judged(dirname(pairsFile), shape);
// --unseen: drop the prompts the policies were trained on (those of the pairs file named)
const trained = new Set(values.unseen ? (await readPairs(values.unseen)).map((q) => q.prompt) : []);
for (const k of [...base.keys()]) if (trained.has(k.slice(0, k.lastIndexOf("/")))) base.delete(k);
const prompts = [...new Set([...base.keys()].map((k) => k.slice(0, k.lastIndexOf("/"))))];
const seedsOf = new Map<string, string[]>();
for (const k of base.keys()) {
  const p = k.slice(0, k.lastIndexOf("/"));
  seedsOf.set(p, [...(seedsOf.get(p) ?? []), k]);
}

const fmt = (i: { estimate: number; lo: number; hi: number }) =>
  Number.isNaN(i.estimate)
    ? "–"
    : `${i.estimate.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]`;

/** Mean over the keys of the chosen prompts, `value(key)` per key (NaN when there are none). */
function rate(groups: string[][], value: (key: string) => number) {
  if (groups.length === 0) return { estimate: NaN, lo: NaN, hi: NaN };
  return bootstrapInterval(groups.length, (idx) => {
    let sum = 0, n = 0;
    for (const i of idx) for (const k of groups[i]) (sum += value(k), n++);
    return n === 0 ? NaN : sum / n;
  });
}

console.log(
  `pairs: ${pairsFile} (${pairs.length}), Base candidates: ${base.size} of ${prompts.length} prompts` +
    (values.unseen ? ` (none of ${values.unseen}'s ${trained.size} prompts)\n` : "\n"),
);
for (const arg of models) {
  const name = arg.slice(0, arg.indexOf("=")), dir = arg.slice(arg.indexOf("=") + 1);
  const policy = await judged(dir, shape);
  const missing = [...base.keys()].filter((k) => !policy.has(k));
  if (missing.length > 0) {
    throw new Error(
      `pair_fit: Expected ${dir} to hold Base's ${base.size} candidates (same --seed and ` +
        `--shared-noise) but found ${missing.length} missing, e.g. ${missing[0]}`,
    );
  }
  console.log(`## ${name} (${dir})\n`);
  console.log(
    "| check | Base, all | policy, all | policy − Base | Base fails → passes: all | " +
      "taught (pairs) · at their rejected seeds | untaught (pairs) · at their chosen seeds | " +
      "Base passes → fails |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const c of checks) {
    const b = (k: string) => base.get(k)![c] ? 1 : 0;
    const q = (k: string) => policy.get(k)![c] ? 1 : 0;
    const all = prompts.map((p) => seedsOf.get(p)!);
    const failing = all.map((ks) => ks.filter((k) => b(k) === 0));
    const passing = all.map((ks) => ks.filter((k) => b(k) === 1));
    // seeds Base fails at, split by what a pair of the prompt asked of them
    const taught = new Map<string, Set<string>>(), untaught = new Map<string, Set<string>>();
    let nTaught = 0, nUntaught = 0;
    const add = (m: Map<string, Set<string>>, p: string, k: string) =>
      m.set(p, (m.get(p) ?? new Set()).add(k));
    for (const pair of pairs) {
      if (trained.has(pair.prompt)) continue;
      const ch = `${pair.prompt}/${pair.chosen.seed}`, rj = `${pair.prompt}/${pair.rejected.seed}`;
      if (b(ch) === 1 && b(rj) === 0) (add(taught, pair.prompt, rj), nTaught++);
      if (b(ch) === 0 && b(rj) === 1) (add(untaught, pair.prompt, ch), nUntaught++);
    }
    const groups = (m: Map<string, Set<string>>) => [...m.values()].map((s) => [...s]);
    console.log(
      `| ${c} | ${fmt(rate(all, b))} | ${fmt(rate(all, q))} | ${
        fmt(rate(all, (k) => q(k) - b(k)))
      } | ` +
        `${fmt(rate(failing, q))} | ${nTaught} · ${fmt(rate(groups(taught), q))} | ` +
        `${nUntaught} · ${fmt(rate(groups(untaught), q))} | ${
          fmt(rate(passing, (k) => 1 - q(k)))
        } |`,
    );
  }
  // which way the count fails, and how many colour failures are clips with no object at all
  const all = prompts.map((p) => seedsOf.get(p)!);
  const share = (m: Map<string, Passes>, is: (v: Passes) => boolean) =>
    fmt(rate(all, (k) => is(m.get(k)!) ? 1 : 0));
  const ways: Array<[string, (v: Passes) => boolean]> = [
    ["too many objects", (v) => v.found > v.asked],
    ["too few", (v) => v.found < v.asked],
    ["no object", (v) => v.found === 0],
    ["colour fails, no object", (v) => !v.color && v.found === 0],
    ["colour fails, objects drawn", (v) => !v.color && v.found > 0],
  ];
  console.log("| clips | Base | policy |\n|---|---|---|");
  for (const [way, is] of ways) {
    console.log(`| ${way} | ${share(base, is)} | ${share(policy, is)} |`);
  }
  console.log();
}
