/**
 * Do the pairs prefer the slower clip? (issue 21's investigation of the direction HALO loses on
 * G30.) For every pair of each pairs file it measures, with the reference judge's own trajectory
 * check, how fast the objects of the chosen and of the rejected clip move along the prompt's
 * direction (pixels per frame; ShapesBench's direction check passes above 0.15), and prints per
 * speed word of the prompt ("slowly", "quickly"): the share of pairs whose chosen clip moves slower,
 * the mean speed of both sides, and how often the chosen clip fails the direction check where the
 * rejected one passes it (and the reverse). A pairs file that prefers slower clips teaches the
 * policy to stop slow objects, which the direction check then fails.
 *
 *   deno run --allow-read bench/pairs_motion.ts out/final/dpo/pairs/pairs.jsonl [more.jsonl …]
 *
 * Diagnostics only: nothing here picks a pair or a setting. ShapesWorld prompts only.
 * @module
 */

import { dirname, join } from "node:path";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { DIRECTION_PASS as THRESHOLD, speedAlong } from "./_motion.ts";

if (Deno.args.length === 0) {
  throw new Error("pairs_motion: Expected one or more pairs files (.jsonl) but found none");
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

console.log(
  "| pairs file | prompt speed | pairs | chosen slower | speed chosen / rejected (px/frame) |" +
    " chosen fails direction, rejected passes | the reverse |",
);
console.log("|---|---|---|---|---|---|---|");
for (const file of Deno.args) {
  const pairs = await readPairs(file);
  const speeds = new Map<string, number>();
  const along = async (clip: string, prompt: string, shape: readonly number[]) => {
    let v = speeds.get(clip);
    if (v === undefined) {
      v = speedAlong(await readClip(join(dirname(file), clip), shape), prompt);
      speeds.set(clip, v);
    }
    return v;
  };
  const groups = new Map<string, { chosen: number[]; rejected: number[] }>();
  for (const q of pairs) {
    const speed = parsePrompt(q.prompt).speed;
    const g = groups.get(speed) ?? { chosen: [], rejected: [] };
    g.chosen.push(await along(q.chosen.clip, q.prompt, q.shape));
    g.rejected.push(await along(q.rejected.clip, q.prompt, q.shape));
    groups.set(speed, g);
  }
  for (const [speed, g] of [...groups].sort()) {
    const n = g.chosen.length;
    const slower = g.chosen.filter((c, i) => c < g.rejected[i]).length / n;
    const lost = g.chosen.filter((c, i) => c <= THRESHOLD && g.rejected[i] > THRESHOLD).length / n;
    const gained = g.chosen.filter((c, i) => c > THRESHOLD && g.rejected[i] <= THRESHOLD).length /
      n;
    console.log(
      `| ${file} | ${speed} | ${n} | ${slower.toFixed(2)} | ${mean(g.chosen).toFixed(3)} / ${
        mean(g.rejected).toFixed(3)
      } | ${lost.toFixed(2)} | ${gained.toFixed(2)} |`,
    );
  }
}
