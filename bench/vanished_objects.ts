/**
 * Where post-training erases the prompt's objects, and what the PRM says about it (issue 21's
 * question of why HALO's objects vanish on prompts no pair shows). `deno task pairs --seed 1
 * --shared-noise` samples the same prompts from the same noise under Base and under a policy (as
 * for `bench/pair_fit.ts`); a clip **lost its objects** when ShapesBench's count check finds none
 * in the policy's clip and at least one in Base's clip from the same noise. Prints, for the prompts
 * the pairs did not train on:
 *
 * - the share of clips that lost their objects, by each word of the prompt (count, speed, colour,
 *   shape, direction, background);
 * - what the reference judge's labels say of the lost clips: their video text alignment, and how
 *   many of their patches it finds defective (any aspect ≤ 2);
 * - with `--prm DIR`, how that PRM scores each lost clip against Base's: its video score (mean of
 *   the three aspects) and text alignment, and per patch the mean-of-aspects gap (lost − Base) —
 *   how often the patch head prefers the emptied patch, among all patches and among the gaps of at
 *   least 0.25.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/vanished_objects.ts \
 *     --prm out/rmsn10k-pp16/prm out/pairsG30-shared/pairs-rmsn10kpp16-m0.1.jsonl out/fitG30-s1/base \
 *     halo=out/fitG30-s1/halo-snpp16-both-ptx1000
 *
 * Diagnostics only: nothing here picks a pair or a setting. ShapesWorld prompts only.
 * @module
 */

import { parseArgs } from "node:util";
import { parsePrompt } from "../lib/videos/world.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { type RewardScores, scoreRewards } from "../lib/reward/score.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { type UnseenClip, unseenClips } from "./_object_share.ts";

const { values, positionals } = parseArgs({
  options: { prm: { type: "string" } },
  allowPositionals: true,
});
const [pairsFile, baseDir, ...models] = positionals;
if (!pairsFile || !baseDir || models.length === 0 || !models.every((m) => m.includes("="))) {
  throw new Error(
    `vanished_objects: Expected PAIRS.jsonl BASE_DIR NAME=DIR … but found ${
      JSON.stringify(positionals)
    }`,
  );
}
await initBackend();
const prm = values.prm ? (await loadRewardModel(values.prm)).model : null;
const aspectMean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;

for (const arg of models) {
  const at = arg.indexOf("=");
  const [name, dir] = [arg.slice(0, at), arg.slice(at + 1)];
  const byWord = new Map<string, [number, number]>();
  const clips = await unseenClips(pairsFile, { base: baseDir, policy: dir }, "vanished_objects");
  const lost = clips.filter((c) => c.lost) as Array<Required<UnseenClip>>;
  for (const c of clips) {
    for (const [k, v] of Object.entries(parsePrompt(c.prompt))) {
      if (k === "text") continue;
      const e = byWord.get(`${k} ${v}`) ?? [0, 0];
      byWord.set(`${k} ${v}`, [e[0] + (c.lost ? 1 : 0), e[1] + 1]);
    }
  }
  const n = [...byWord].filter(([k]) => k.startsWith("count ")).reduce((s, [, [, m]]) => s + m, 0);
  console.log(`## ${name} (${dir}): ${lost.length} of ${n} unseen clips lost their objects\n`);
  console.log("| prompt word | lost / clips | share |\n|---|---|---|");
  for (const [k, [g, m]] of [...byWord].sort()) {
    console.log(`| ${k} | ${g} / ${m} | ${(g / m).toFixed(3)} |`);
  }
  if (lost.length > 0) {
    const grid = { rows: 4, cols: 4, framesPerPatch: 4 }; // the labels' grid
    let text = 0, defective = 0, patches = 0;
    for (const x of lost) {
      const j = judgeVideo(x.policy, x.prompt, grid);
      text += j.video.text_alignment;
      for (const q of j.patches) {
        patches++;
        if (Math.min(...Object.values(q.scores)) <= 2) defective++;
      }
    }
    console.log(
      `\nThe judge on the lost clips: video text alignment ${(text / lost.length).toFixed(2)} ` +
        `(of 4); defective patches ${defective} of ${patches}.`,
    );
  }
  if (prm && lost.length > 0) {
    const score = (key: "base" | "policy"): Promise<RewardScores[]> =>
      scoreRewards(prm, lost.map((x) => ({ prompt: x.prompt, video: x[key] })));
    const [sb, sp] = [await score("base"), await score("policy")];
    let videoHigher = 0, textHigher = 0, gapSum = 0, textBase = 0, textLost = 0;
    let patches = 0, patchHigher = 0, big = 0, bigHigher = 0;
    lost.forEach((_, i) => {
      const gap = aspectMean(Object.values(sp[i].video)) - aspectMean(Object.values(sb[i].video));
      gapSum += gap;
      if (gap > 0) videoHigher++;
      if (sp[i].video.text_alignment > sb[i].video.text_alignment) textHigher++;
      textBase += sb[i].video.text_alignment / lost.length;
      textLost += sp[i].video.text_alignment / lost.length;
      const pb = sb[i].patches.flat(2), pp = sp[i].patches.flat(2);
      pb.forEach((aspects, k) => {
        const g = aspectMean(pp[k]) - aspectMean(aspects);
        patches++;
        if (g > 0) patchHigher++;
        if (Math.abs(g) >= 0.25) {
          big++;
          if (g > 0) bigHigher++;
        }
      });
    });
    console.log(
      `\nThe PRM (${values.prm}) on the ${lost.length} lost clips against Base's: video score higher ` +
        `in ${videoHigher} (mean gap ${
          (gapSum / lost.length).toFixed(3)
        }), text alignment higher in ${textHigher} (mean ${textBase.toFixed(2)} → ` +
        `${
          textLost.toFixed(2)
        }); patches: the emptied clip's higher in ${patchHigher} of ${patches}, and in ` +
        `${bigHigher} of the ${big} gaps of at least 0.25.\n`,
    );
  }
}
if (prm) disposeRewardModel(prm);
