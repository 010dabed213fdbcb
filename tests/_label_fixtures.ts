/** Fixtures of the labelling tests: ShapesWorld clips with injected defects at known patches. */
import { createRng } from "../lib/_rng.ts";
import { DEFECT_KINDS, type DefectKind, injectDefect } from "../lib/defects.ts";
import type { PatchLabel } from "../lib/label_protocol.ts";
import type { PatchGrid } from "../lib/patch.ts";
import type { Video } from "../lib/video.ts";
import { renderClip, samplePrompt, type ShapesPrompt } from "../lib/world.ts";

/** The grid of the tests. */
export const GRID: PatchGrid = { rows: 4, cols: 4, framesPerPatch: 4 };

/** A distinctive fake key: tests grep outputs for it. */
export const FAKE_KEY = "sk-test-DO-NOT-LEAK-4f9a2c7e1b3d5a6c8e0f";

/** A clip, possibly damaged, with the patches the damage touched. */
export interface DefectCase {
  video: Video;
  prompt: string;
  kind: DefectKind | "clean";
  affected: number[];
}

/** Per-patch object presence (mean coverage pixels per frame) from the render's truth. */
export function presence(
  prompt: ShapesPrompt,
  masks: Float32Array,
  grid = GRID,
  T = 16,
  S = 32,
): Float64Array {
  const out = new Float64Array((T / grid.framesPerPatch) * grid.rows * grid.cols);
  const ph = S / grid.rows, pw = S / grid.cols;
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < prompt.count; k++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const m = masks[((t * prompt.count + k) * S + y) * S + x];
          if (m === 0) continue;
          const p =
            (Math.floor(t / grid.framesPerPatch) * grid.rows + Math.floor(y / ph)) * grid.cols +
            Math.floor(x / pw);
          out[p] += m / grid.framesPerPatch;
        }
      }
    }
  }
  return out;
}

/** `perKind` damaged clips of every defect kind (two patches each, on objects; extra objects on empty cells). */
export function defectCases(perKind: number, seed = 11): DefectCase[] {
  const rng = createRng(seed);
  const out: DefectCase[] = [];
  let clip = 0;
  for (const kind of DEFECT_KINDS) {
    let made = 0;
    while (made < perKind) {
      const prompt = samplePrompt(rng);
      const { video, truth } = renderClip(prompt, { seed: clip++ });
      const pres = presence(prompt, truth.masks);
      const pool = [...pres.keys()].filter((p) =>
        kind === "extra_object" ? pres[p] === 0 : pres[p] >= 12
      );
      const chosen: number[] = [];
      while (chosen.length < 2 && pool.length > 0) {
        chosen.push(pool.splice(rng.int(pool.length), 1)[0]);
      }
      const damaged = injectDefect(video, { kind, grid: GRID, patches: chosen });
      if (damaged.affected.length === 0) continue;
      out.push({ video: damaged.video, prompt: prompt.text, kind, affected: damaged.affected });
      made++;
    }
  }
  return out;
}

/** Patch indices ordered worst first (lowest min-aspect score, then lowest sum). */
export function worstFirst(patches: readonly PatchLabel[]): number[] {
  const badness = (p: PatchLabel): number => {
    const s = Object.values(p.scores);
    return Math.min(...s) * 100 + s.reduce((a, b) => a + b, 0);
  };
  return [...patches].sort((a, b) => badness(a) - badness(b) || a.index - b.index).map((p) =>
    p.index
  );
}

/** Share of `affected` among the top-|affected| worst patches. */
export function topKHit(patches: readonly PatchLabel[], affected: readonly number[]): number {
  const top = new Set(worstFirst(patches).slice(0, affected.length));
  return affected.filter((p) => top.has(p)).length / affected.length;
}
