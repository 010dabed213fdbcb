/**
 * What a pairs file's video-level preferences teach, check by check (issue 21's investigation of
 * why Diffusion-DPO loses colour on shared-noise pairs). For every pair of each pairs file it runs
 * ShapesBench's pass/fail checks (the reference judge's colour, shape, count and direction) on the chosen and
 * the rejected clip and prints, per check, how often the chosen clip fails a check the rejected one
 * passes (the pair teaches the failure) and the reverse (it teaches the fix). Where the first
 * exceeds the second, the video term pushes the policy toward failing that check.
 *
 *   deno run --allow-read bench/pairs_checks.ts out/final/dpo/pairs/pairs.jsonl \
 *     out/g30-shared/dpo/pairs/pairs.jsonl
 *
 * Diagnostics only: nothing here picks a pair or a setting. ShapesWorld prompts only.
 * @module
 */

import { dirname, join } from "node:path";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { shapesBench } from "../lib/videos/shapes_bench.ts";

if (Deno.args.length === 0) {
  throw new Error("pairs_checks: Expected one or more pairs files (.jsonl) but found none");
}

/** ShapesBench's pass/fail checks (the other dimensions are shares). */
const checks = ["color", "shape", "count", "direction"] as const;
console.log(
  `| pairs file | pairs | ${
    checks.map((c) => `${c}: chosen fails / rejected fails`).join(" | ")
  } |`,
);
console.log(`|---|---|${checks.map(() => "---").join("|")}|`);
for (const file of Deno.args) {
  const pairs = await readPairs(file);
  const cache = new Map<string, Record<(typeof checks)[number], number>>();
  const bench = async (clip: string, prompt: string, shape: readonly number[]) => {
    let b = cache.get(clip);
    if (!b) {
      b = shapesBench(await readClip(join(dirname(file), clip), shape), prompt).bench;
      cache.set(clip, b);
    }
    return b;
  };
  const lost = Object.fromEntries(checks.map((c) => [c, 0]));
  const fixed = Object.fromEntries(checks.map((c) => [c, 0]));
  for (const q of pairs) {
    const chosen = await bench(q.chosen.clip, q.prompt, q.shape);
    const rejected = await bench(q.rejected.clip, q.prompt, q.shape);
    for (const c of checks) {
      if (chosen[c] < 0.5 && rejected[c] >= 0.5) lost[c]++;
      if (chosen[c] >= 0.5 && rejected[c] < 0.5) fixed[c]++;
    }
  }
  const n = pairs.length;
  console.log(
    `| ${file} | ${n} | ${
      checks.map((c) => `${(lost[c] / n).toFixed(3)} / ${(fixed[c] / n).toFixed(3)}`).join(" | ")
    } |`,
  );
}
