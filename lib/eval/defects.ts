/**
 * Patch defects paired by noise (DESIGN §4, item 3): every model samples each
 * test prompt from the same initial noise (`evaluate.ts`), so patch k of Base's
 * clip and patch k of a post-trained model's clip show the same place and
 * time of the same scene. The reference judge marks each patch clean or
 * defective, with the kind of defect it names first. Then, for a method
 * against Base:
 *
 * - **defects fixed** = (Base's defective patches that are clean in the
 *   method's clip) / (Base's defective patches);
 * - **defects introduced** = (Base's clean patches that are defective in the
 *   method's clip) / (Base's clean patches);
 *
 * per defect kind as well: fixed by the kind Base's patch had, introduced by
 * the kind the method's patch has. Over many clips both are ratios of sums
 * (`summariseResults` bootstraps them over prompts and training seeds), so the
 * per-kind counts add up to the totals.
 *
 * The judge, not the model under test, decides what a defect is. The measure
 * this replaces — "clips at or above the Base median evaluator score whose
 * worst patch is defective" — was degenerate here: the judge finds a defective
 * worst patch in 97–100% of every model's clips, so it counted the clips above
 * the Base median.
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import { DEFECT_KINDS, type DefectKind } from "../videos/defects.ts";

/** Per patch, in patch-index order: the kind of the judge's defect, or null for a clean patch. */
export type PatchDefects = ReadonlyArray<DefectKind | null>;

/** Counts of one defect kind in a paired comparison. */
export interface KindCounts {
  /** Base's patches defective with this kind. */
  baseDefective: number;
  /** Of those, the patches clean in the method's clip. */
  fixed: number;
  /** Base's clean patches that the method's clip has defective with this kind. */
  introduced: number;
}

/** What {@linkcode pairedDefects} finds between two clips from the same noise. */
export interface PairedDefects {
  /** Patches compared. */
  patches: number;
  /** Base's defective patches. */
  baseDefective: number;
  /** Base's clean patches. */
  baseClean: number;
  /** Indices of Base's defective patches that are clean in the method's clip. */
  fixed: number[];
  /** Indices of Base's clean patches that are defective in the method's clip. */
  introduced: number[];
  /** Indices defective in both clips. */
  kept: number[];
  /** The same counts per defect kind (they add up to the totals). */
  byKind: Record<DefectKind, KindCounts>;
}

function checkDefects(where: string, list: PatchDefects): void {
  if (!Array.isArray(list)) fail(where, "an array of defect kinds or null, one per patch", list);
  list.forEach((k, i) => {
    if (k !== null && !DEFECT_KINDS.includes(k)) {
      fail(`${where}[${i}]`, `null or one of ${DEFECT_KINDS.join(", ")}`, k);
    }
  });
}

/**
 * Compares the judge's per-patch defects of Base's clip and a method's clip
 * sampled from the same noise: which of Base's defective patches the method
 * fixed, which clean ones it broke, per kind.
 *
 * @example
 * ```ts
 * import { pairedDefects } from "@halo/kit/eval";
 * const base = ["blur", "flicker", null, null] as const;
 * const halo = [null, "flicker", null, "extra_object"] as const;
 * const d = pairedDefects(base, halo);
 * console.log(d.fixed, d.introduced, d.fixed.length / d.baseDefective); // [ 0 ] [ 3 ] 0.5
 * console.log(d.byKind.blur.fixed, d.byKind.extra_object.introduced); // 1 1
 * ```
 */
export function pairedDefects(base: PatchDefects, method: PatchDefects): PairedDefects {
  checkDefects("pairedDefects base", base);
  checkDefects("pairedDefects method", method);
  if (method.length !== base.length) {
    fail("pairedDefects method", `${base.length} patches (as base)`, method.length);
  }
  const byKind = Object.fromEntries(
    DEFECT_KINDS.map((k) => [k, { baseDefective: 0, fixed: 0, introduced: 0 }]),
  ) as Record<DefectKind, KindCounts>;
  const out: PairedDefects = {
    patches: base.length,
    baseDefective: 0,
    baseClean: 0,
    fixed: [],
    introduced: [],
    kept: [],
    byKind,
  };
  base.forEach((b, i) => {
    const m = method[i];
    if (b !== null) {
      out.baseDefective++;
      byKind[b].baseDefective++;
      if (m === null) {
        out.fixed.push(i);
        byKind[b].fixed++;
      } else out.kept.push(i);
    } else {
      out.baseClean++;
      if (m !== null) {
        out.introduced.push(i);
        byKind[m].introduced++;
      }
    }
  });
  return out;
}

/** A clip evaluated by two models from the same noise: what {@linkcode mostFixedClips} ranks. */
export interface PairedClip<C> {
  /** Base's record. */
  base: C;
  /** The method's record of the same prompt and sampling seed. */
  method: C;
  /** The paired defects. */
  defects: PairedDefects;
}

/**
 * The `k` clips where a method fixed most of Base's defective patches (ties:
 * fewer introduced first, then evaluation order), from two lists of records
 * on the same prompts and sampling seeds, each with its `patchDefects`.
 *
 * @example
 * ```ts
 * import { mostFixedClips } from "@halo/kit/eval";
 * const rec = (seed: number, patchDefects: Array<"blur" | null>) => ({ promptIndex: 0, seed, patchDefects });
 * const top = mostFixedClips([rec(0, ["blur", null]), rec(1, ["blur", "blur"])], [rec(0, [null, null]), rec(1, [null, null])], 1);
 * console.log(top[0].base.seed, top[0].defects.fixed); // 1 [ 0, 1 ]
 * ```
 */
export function mostFixedClips<
  C extends { promptIndex: number; seed: number; patchDefects?: PatchDefects },
>(base: readonly C[], method: readonly C[], k: number): Array<PairedClip<C>> {
  const where = "mostFixedClips";
  checkInt(where, "k", k, 0);
  if (!Array.isArray(base) || !Array.isArray(method) || base.length !== method.length) {
    fail(where, `two lists of records of the same length`, `${base?.length} and ${method?.length}`);
  }
  const pairs = base.map((b, i) => {
    const m = method[i];
    if (m.promptIndex !== b.promptIndex || m.seed !== b.seed) {
      fail(`${where} method[${i}]`, `prompt ${b.promptIndex}, seed ${b.seed} (as base)`, m);
    }
    if (!b.patchDefects || !m.patchDefects) {
      fail(`${where} [${i}]`, "records with patchDefects (evaluated by this kit version)", "none");
    }
    return { base: b, method: m, defects: pairedDefects(b.patchDefects, m.patchDefects) };
  });
  return pairs.map((p, i) => ({ p, i }))
    .sort((u, v) =>
      v.p.defects.fixed.length - u.p.defects.fixed.length ||
      u.p.defects.introduced.length - v.p.defects.introduced.length || u.i - v.i
    )
    .slice(0, k).map((x) => x.p);
}
