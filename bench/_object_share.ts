/**
 * How much of each patch of a ShapesWorld clip is object (issue 21's investigation of what the
 * PRMs' patch terms ask for): the share of a patch's pixels farther than 0.25 (RGB distance) from
 * the prompt's background colour. Knows ShapesWorld's backgrounds, so it measures ShapesWorld clips
 * only. Shared by `bench/pairs_content.ts` and `bench/pairs_balance.ts`.
 * @module
 */

import { patchBox } from "../lib/videos/patch.ts";
import type { Video } from "../lib/videos/video.ts";
import { BACKGROUNDS, parsePrompt } from "../lib/videos/world.ts";
import { shapesBench } from "../lib/videos/shapes_bench.ts";
import { join } from "node:path";
import { readClip, readPairs } from "../lib/pairs/file.ts";
import { readCandidates } from "./_candidates.ts";

/** The patch grid the pairs are scored on. */
export const PAIRS_GRID = { rows: 4, cols: 4, framesPerPatch: 4 };

/** Patches whose object shares differ by at most this much count as neither emptier nor fuller. */
export const OBJECT_SHARE_TIE = 0.02;

/** Share of each patch's pixels farther than 0.25 (RGB distance) from the background colour. */
export function objectShare(video: Video, prompt: string): number[] {
  const bg = BACKGROUNDS[parsePrompt(prompt).background];
  const grid = PAIRS_GRID;
  const n = (video.numFrames / grid.framesPerPatch) * grid.rows * grid.cols;
  return Array.from({ length: n }, (_, k) => {
    const box = patchBox(grid, video, k);
    let on = 0, all = 0;
    for (let t = box.frameStart; t < box.frameEnd; t++) {
      for (let y = box.top; y < box.bottom; y++) {
        for (let x = box.left; x < box.right; x++) {
          const i = ((t * video.height + y) * video.width + x) * 3;
          const d = Math.hypot(
            video.frames[i] - bg[0],
            video.frames[i + 1] - bg[1],
            video.frames[i + 2] - bg[2],
          );
          if (d > 0.25) on++;
          all++;
        }
      }
    }
    return on / all;
  });
}

/**
 * Which way a patch term points in object pixels: −1 when the preferred patch (the sign of `gap`)
 * is the emptier one, +1 when it is the fuller one, 0 when the shares differ by at most
 * {@linkcode OBJECT_SHARE_TIE}.
 */
export function termDirection(gap: number, chosenShare: number, rejectedShare: number): -1 | 0 | 1 {
  const d = Math.sign(gap) * (chosenShare - rejectedShare); // preferred − other
  if (Math.abs(d) <= OBJECT_SHARE_TIE) return 0;
  return d < 0 ? -1 : 1;
}

/** Whether Gran-DPO uses a patch term: |gap| ≥ τ and gap ≠ 0 (as `lib/dpo/loss.ts`). */
export function isUsedTerm(gap: number, tau: number): boolean {
  return Math.abs(gap) >= tau && gap !== 0;
}

/** How {@linkcode balancePatchGaps} thins a pair's patch terms. */
export type BalanceMode = "balanced" | "random-per-pair" | "no-erase";

/** Below this object share a patch counts as empty for `"no-erase"`. */
export const EMPTY_SHARE = 0.02;
/** At or above this object share a patch counts as full for `"no-erase"`. */
export const FULL_SHARE = 0.2;

/**
 * Thins one pair's patch terms (|gap| ≥ τ) so that as many ask for a fuller patch as for an
 * emptier one (`"balanced"`: the largest |gap| of each side is kept, terms whose patches tie in
 * object pixels are all kept), or drops as many of the pair's terms chosen at random
 * (`"random-per-pair"`: as many terms per pair as balanced), or drops only the terms that ask for
 * an empty patch (object share below {@linkcode EMPTY_SHARE}) where the other holds a full one (at
 * least {@linkcode FULL_SHARE}) — the terms a policy can pay by erasing a whole object — and keeps
 * the rest, those about fragments and partial content among them (`"no-erase"`). A dropped term's
 * gap becomes 0, which Gran-DPO skips. Returns the new gaps and how many terms were dropped.
 */
export function balancePatchGaps(
  gaps: readonly number[],
  shares: { chosen: readonly number[]; rejected: readonly number[] },
  options: { tau: number; mode: BalanceMode; random: () => number },
): { gaps: number[]; dropped: number } {
  const used = gaps.flatMap((g, k) => (isUsedTerm(g, options.tau) ? [k] : []));
  if (options.mode === "no-erase") {
    const erases = (k: number) => {
      const [preferred, other] = gaps[k] > 0
        ? [shares.chosen[k], shares.rejected[k]]
        : [shares.rejected[k], shares.chosen[k]];
      return preferred < EMPTY_SHARE && other >= FULL_SHARE;
    };
    const drop = used.filter(erases);
    return { gaps: gaps.map((g, k) => (drop.includes(k) ? 0 : g)), dropped: drop.length };
  }
  const side = (want: -1 | 1) =>
    used
      .filter((k) => termDirection(gaps[k], shares.chosen[k], shares.rejected[k]) === want)
      .sort((a, b) => Math.abs(gaps[b]) - Math.abs(gaps[a]));
  const emptier = side(-1), fuller = side(1);
  const keep = Math.min(emptier.length, fuller.length);
  const drop = new Set([...emptier.slice(keep), ...fuller.slice(keep)]);
  if (options.mode === "random-per-pair") {
    const pool = [...used];
    const n = drop.size;
    drop.clear();
    for (let i = 0; i < n; i++) {
      drop.add(pool.splice(Math.floor(options.random() * pool.length), 1)[0]);
    }
  }
  return { gaps: gaps.map((g, k) => (drop.has(k) ? 0 : g)), dropped: drop.size };
}

/** How many objects ShapesBench's count check finds in a clip (0: the prompt's objects are gone). */
export function objectsFound(video: Video, prompt: string): number {
  // deno-lint-ignore no-explicit-any
  return (shapesBench(video, prompt).judgement as any).checks.count as number;
}

/** One clip of a policy on a prompt no pair trained on, beside Base's clip from the same noise. */
export interface UnseenClip {
  prompt: string;
  /** ShapesBench's count check finds no object in the policy's clip and at least one in Base's. */
  lost: boolean;
  /** The two clips, kept only for lost ones (884 clip pairs would not fit in memory). */
  base?: Video;
  policy?: Video;
}

/**
 * The clips `deno task pairs --seed 1 --shared-noise` sampled under a policy (`policyDir`) on the
 * prompts the pairs file did not train on, each against Base's clip of the same prompt and seed
 * (`baseDir`); `where` names the caller in errors. Shared by `vanished_objects.ts` and
 * `hold_frontier.ts`.
 */
export async function unseenClips(
  pairsFile: string,
  dirs: { base: string; policy: string },
  where: string,
): Promise<UnseenClip[]> {
  const pairs = await readPairs(pairsFile);
  const trained = new Set(pairs.map((q) => q.prompt));
  const clip = (dir: string, file: string) => readClip(join(dir, file), pairs[0].shape);
  const baseClips = new Map<string, string>();
  for (const c of await readCandidates(dirs.base, where)) {
    baseClips.set(`${c.prompt}|${c.seed}`, c.clip);
  }
  const out: UnseenClip[] = [];
  for (const c of await readCandidates(dirs.policy, where)) {
    if (trained.has(c.prompt)) continue;
    const baseFile = baseClips.get(`${c.prompt}|${c.seed}`);
    if (!baseFile) {
      throw new Error(`${where}: Expected ${dirs.base} to hold "${c.prompt}" seed ${c.seed}`);
    }
    const [base, policy] = [await clip(dirs.base, baseFile), await clip(dirs.policy, c.clip)];
    const lost = objectsFound(policy, c.prompt) === 0 && objectsFound(base, c.prompt) > 0;
    out.push(lost ? { prompt: c.prompt, lost, base, policy } : { prompt: c.prompt, lost });
  }
  return out;
}
