/**
 * What a pairs file's patch terms ask the policy for (issue 21's investigation of the new PRM's
 * pairs). For every patch term (|patch gap| ≥ τ) of each pairs file it compares the preferred patch
 * with the other one on **object pixels** (pixels farther than 0.25 from the prompt's background
 * colour) and reports how often the preferred patch is the emptier one — overall, by the reference
 * judge's own patch scores on the same patches, and, given `--prm`, by each aspect of that reward
 * model's patch scores. A patch term that prefers the emptier patch pulls the policy toward erasing
 * or dimming objects, which the judge's colour and count checks then fail at the video level.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/pairs_content.ts \
 *     [--tau 0.25] [--prm data/reward/prm] out/pairs9/pairs-oldprm.jsonl [more.jsonl …]
 *
 * Diagnostics only: nothing here picks a pair or a setting. The object-pixel measure knows
 * ShapesWorld's backgrounds, so it works on ShapesWorld pairs only.
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { type PreferencePair, readClip, readPairs } from "../lib/pairs/file.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { flattenPatchScores, scoreRewards } from "../lib/reward/score.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { ASPECTS } from "../lib/videos/scores.ts";
import { objectShare, PAIRS_GRID, termDirection } from "./_object_share.ts";

const { values, positionals } = parseArgs({
  options: { tau: { type: "string", default: "0.25" }, prm: { type: "string" } },
  allowPositionals: true,
});
const tau = Number(values.tau);
if (!(tau >= 0)) throw new Error(`--tau: Expected a number ≥ 0 but found "${values.tau}"`);
if (positionals.length === 0) {
  throw new Error("pairs_content: Expected one or more pairs files (.jsonl) but found none");
}
await initBackend();

const grid = PAIRS_GRID;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const prm = values.prm ? (await loadRewardModel(values.prm)).model : undefined;
const rows: string[] = [];
try {
  for (const file of positionals) {
    const pairs: PreferencePair[] = await readPairs(file);
    const clips = new Map<
      string,
      { objects: number[]; judge: number[][]; prm?: number[][] }
    >();
    const side = async (clip: string, prompt: string, shape: readonly number[]) => {
      let c = clips.get(clip);
      if (!c) {
        const video = await readClip(join(dirname(file), clip), shape);
        const j = judgeVideo(video, prompt, grid);
        const judge = j.patches.map((p) => ASPECTS.map((a) => p.scores[a]));
        const prmScores = prm
          ? flattenPatchScores((await scoreRewards(prm, [{ video, prompt }]))[0].patches)
          : undefined;
        c = { objects: objectShare(video, prompt), judge, prm: prmScores };
        clips.set(clip, c);
      }
      return c;
    };
    // terms whose patches differ by more than 2% of their pixels: is the preferred one the emptier?
    let terms = 0, emptier = 0, fuller = 0;
    const judgeEmptier: number[] = []; // the judge's mean-aspect gap, oriented emptier − fuller
    const aspectEmptier = ASPECTS.map(() => [] as number[]);
    for (const q of pairs) {
      const a = await side(q.chosen.clip, q.prompt, q.shape);
      const b = await side(q.rejected.clip, q.prompt, q.shape);
      q.patch_gaps.forEach((g, k) => {
        if (Math.abs(g) < tau) return;
        terms++;
        const direction = termDirection(g, a.objects[k], b.objects[k]);
        if (direction === 0) return;
        if (direction < 0) emptier++;
        else fuller++;
        // orient every score gap as (emptier patch) − (fuller patch)
        const e = a.objects[k] < b.objects[k] ? a : b, f = e === a ? b : a;
        judgeEmptier.push(mean(e.judge[k]) - mean(f.judge[k]));
        if (e.prm && f.prm) {
          ASPECTS.forEach((_, i) => aspectEmptier[i].push(e.prm![k][i] - f.prm![k][i]));
        }
      });
    }
    const differ = emptier + fuller;
    const share = (xs: number[]) => (xs.filter((x) => x > 0).length / xs.length).toFixed(2);
    rows.push(
      `| ${file} | ${pairs.length} | ${terms} | ${(emptier / differ).toFixed(2)} (${differ}) | ` +
        `${share(judgeEmptier)} | ` +
        (prm ? aspectEmptier.map(share).join(" | ") : ASPECTS.map(() => "–").join(" | ")) + " |",
    );
  }
} finally {
  if (prm) disposeRewardModel(prm);
}
console.log(
  `Patch terms (|gap| ≥ ${tau}) whose two patches differ in object pixels (by more than 0.02):` +
    ` the share where the preferred patch is the emptier one; the share where the judge scores the` +
    ` emptier one higher (mean over aspects; a tie counts as not)` +
    (values.prm ? `; and where ${values.prm} does, per aspect.` : "."),
);
console.log(
  `\n| pairs file | pairs | patch terms | preferred patch is the emptier | judge prefers the emptier | ${
    ASPECTS.join(" | ")
  } |`,
);
console.log(`|---|---|---|---|---|${ASPECTS.map(() => "---").join("|")}|`);
console.log(rows.join("\n"));
