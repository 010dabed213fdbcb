/**
 * Checks what a custom scorer of `buildPairs` returns.
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { Video } from "../videos/video.ts";
import type { EnsembleCandidateScores, PairScorer } from "./scores.ts";

/** A scorer's scores, checked: one video score and `patches` patch scores per item. */
export async function scoreWith(
  scorer: PairScorer,
  items: ReadonlyArray<{ video: Video; prompt: string }>,
  patches: number,
): Promise<EnsembleCandidateScores> {
  const s = await scorer.score(items);
  const n = items.length;
  if (s?.video?.length !== n || s?.patches?.length !== n) {
    fail(
      `scorer ${scorer.name}`,
      `${n} video and ${n} patch score lists`,
      `${s?.video?.length} and ${s?.patches?.length}`,
    );
  }
  s.patches.forEach((p, i) => {
    if (p.length !== patches) {
      fail(`scorer ${scorer.name}`, `${patches} patch scores for item ${i}`, p.length);
    }
  });
  return { ...s, videoStd: s.video.map(() => 0) };
}
