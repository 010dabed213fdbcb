/**
 * The reference judge's agreement with a pairs file's directions, for its
 * manifest (`pairs.ts`): diagnostics only; the judge never picks a pair.
 * @module
 */

import { directionAgreement } from "../reward/metrics.ts";
import { ASPECTS } from "../videos/scores.ts";
import { shapesBench } from "../videos/shapes_bench.ts";
import type { Video } from "../videos/video.ts";
import type { PreferencePair } from "./file.ts";

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/**
 * How often ShapesBench agrees with the pairs' video directions and with their
 * patch directions (|gap| ≥ 0.25). `clipOf` gives a clip path's candidate
 * index (each candidate is judged once), video and prompt.
 */
export function judgeDiagnostics(
  pairs: readonly PreferencePair[],
  clipOf: (clip: string) => { index: number; video: Video; prompt: string },
): Record<string, number> {
  const judged = new Map<number, { video: number; overall: number; patches: number[] }>();
  const judgeOf = (clip: string) => {
    const { index: i, video, prompt } = clipOf(clip);
    let j = judged.get(i);
    if (!j) {
      const b = shapesBench(video, prompt);
      j = {
        video: mean(ASPECTS.map((a) => b.judgement.video[a])),
        overall: b.bench.overall,
        patches: b.judgement.patches.map((q) => mean(ASPECTS.map((a) => q.scores[a]))),
      };
      judged.set(i, j);
    }
    return j;
  };
  let overallAgree = 0, patchAgree = 0, patchTies = 0;
  let patchCount = 0;
  // the chosen clip is the pair's preferred one by construction
  const video = directionAgreement(pairs.map((q) => ({
    model: [1, 0] as const,
    reference: [judgeOf(q.chosen.clip).video, judgeOf(q.rejected.clip).video] as const,
  })));
  for (const q of pairs) {
    const a = judgeOf(q.chosen.clip), b = judgeOf(q.rejected.clip);
    if (a.overall > b.overall) overallAgree++;
    q.patch_gaps.forEach((g, k) => {
      if (Math.abs(g) < 0.25) return;
      patchCount++;
      const jg = a.patches[k] - b.patches[k];
      if (jg === 0) patchTies++;
      else if (Math.sign(jg) === Math.sign(g)) patchAgree++;
    });
  }
  const share = (n: number, of: number) => of ? n / of : NaN;
  return {
    judgeAgreesWithVideoDirection: video.agree,
    judgeTiesVideo: video.ties,
    judgeAgreesWithVideoDirectionWhereItDiffers: video.agreeWhereReferenceDiffers,
    judgeShapesBenchAgreesWithVideoDirection: share(overallAgree, pairs.length),
    judgeAgreesWithPatchDirection: share(patchAgree, patchCount),
    judgeTiesPatchDirection: share(patchTies, patchCount),
  };
}
