/**
 * Defect localisation: ShapesWorld clips damaged at known patches, and how
 * well a set of patch labels finds them (the top-k hit rate). Used by the
 * labeller's tests, the `labels` stage of the reproduction and its notebook.
 * @module
 */

import { checkInt } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import { DEFECT_KINDS, type DefectKind, injectDefect } from "./defects.ts";
import type { PatchLabel } from "./scores.ts";
import { DEFAULT_GRID, numPatches, type PatchGrid } from "./patch.ts";
import type { Video } from "./video.ts";
import { renderClip, samplePrompt, type ShapesPrompt } from "./world.ts";

/** A clip, possibly damaged, with the patches the damage touched. */
export interface DefectCase {
  /** The (damaged) clip. */
  video: Video;
  /** Its prompt. */
  prompt: string;
  /** The defect injected, or "clean". */
  kind: DefectKind | "clean";
  /** Flat indices of the patches the defect changed. */
  affected: number[];
}

/**
 * Object presence per patch: the summed mask coverage of the prompt's objects,
 * in pixels per frame, from a render's ground-truth masks `[T, count, H, W]`.
 */
export function objectPresence(
  masks: Float32Array,
  shape: { count: number; numFrames: number; height: number; width: number; grid: PatchGrid },
): Float64Array {
  const { count, numFrames: T, height: H, width: W, grid } = shape;
  const out = new Float64Array(numPatches(grid, T));
  const ph = H / grid.rows, pw = W / grid.cols;
  for (let t = 0; t < T; t++) {
    const segment = Math.floor(t / grid.framesPerPatch);
    for (let k = 0; k < count; k++) {
      for (let y = 0; y < H; y++) {
        const rowBase = (segment * grid.rows + Math.floor(y / ph)) * grid.cols;
        for (let x = 0; x < W; x++) {
          const m = masks[((t * count + k) * H + y) * W + x];
          if (m !== 0) out[rowBase + Math.floor(x / pw)] += m / grid.framesPerPatch;
        }
      }
    }
  }
  return out;
}

/** Options for {@linkcode defectCases}. */
export interface DefectCasesOptions {
  /** Seed of prompts, renders and chosen patches. Default 11. */
  seed?: number;
  /** Patch grid. Default 4x4x4. */
  grid?: PatchGrid;
  /** Patches damaged per clip. Default 2. */
  patchesPerClip?: number;
}

/**
 * `perKind` damaged clips of every defect kind: each damages patches that hold an
 * object (extra objects go to empty cells), and keeps only clips the damage visibly changed.
 *
 * @example
 * ```ts
 * import { defectCases } from "@halo/kit";
 * const cases = defectCases(1);
 * console.log(cases.map((c) => `${c.kind}: ${c.affected.join(",")}`));
 * ```
 */
export function defectCases(perKind: number, options: DefectCasesOptions = {}): DefectCase[] {
  checkInt("defectCases", "perKind", perKind, 1);
  const grid = options.grid ?? DEFAULT_GRID;
  const per = options.patchesPerClip ?? 2;
  const rng = createRng(options.seed ?? 11);
  const out: DefectCase[] = [];
  let clip = 0;
  for (const kind of DEFECT_KINDS) {
    let made = 0;
    while (made < perKind) {
      const prompt: ShapesPrompt = samplePrompt(rng);
      const { video, truth } = renderClip(prompt, { seed: clip++ });
      const presence = objectPresence(truth.masks, { count: prompt.count, ...video, grid });
      const pool = [...presence.keys()].filter((p) =>
        kind === "extra_object" ? presence[p] === 0 : presence[p] >= 12
      );
      const chosen: number[] = [];
      while (chosen.length < per && pool.length > 0) {
        chosen.push(pool.splice(rng.int(pool.length), 1)[0]);
      }
      const damaged = injectDefect(video, { kind, grid, patches: chosen });
      if (damaged.affected.length === 0) continue;
      out.push({ video: damaged.video, prompt: prompt.text, kind, affected: damaged.affected });
      made++;
    }
  }
  return out;
}

/** Patch indices ordered worst first: lowest minimum aspect score, then lowest sum, then index. */
export function worstFirst(patches: readonly PatchLabel[]): number[] {
  const badness = (p: PatchLabel): number => {
    const s = Object.values(p.scores);
    return Math.min(...s) * 100 + s.reduce((a, b) => a + b, 0);
  };
  return [...patches].sort((a, b) => badness(a) - badness(b) || a.index - b.index).map((p) =>
    p.index
  );
}

/**
 * Share of the damaged patches found among the |affected| worst-scored patches.
 *
 * @example
 * ```ts
 * import { topKHit } from "@halo/kit";
 * const s = (v: number) => ({ visual_quality: v, temporal_consistency: v, text_alignment: v });
 * const labels = [4, 1, 4, 2].map((v, index) => ({ id: `p${index}`, index, scores: s(v), reason: "" }));
 * console.log(topKHit(labels, [1, 2])); // 0.5: the two worst are 1 and 3
 * ```
 */
export function topKHit(patches: readonly PatchLabel[], affected: readonly number[]): number {
  const top = new Set(worstFirst(patches).slice(0, affected.length));
  return affected.filter((p) => top.has(p)).length / affected.length;
}
