/**
 * Rank agreement between a scorer and a reference: Spearman ρ (average ranks
 * for ties), Kendall τ-b, pairwise accuracy, and cluster-bootstrap 95%
 * intervals. Small pure functions over plain arrays, in the style of d3-array.
 *
 * **NaN policy** (every function here): a pair where either value is `NaN`
 * (or not a finite number) is dropped before anything is computed; a statistic
 * that is undefined on what is left (fewer than 2 pairs, a constant input, no
 * pair with distinct reference values) is `NaN`, never an exception. The
 * bootstrap drops resamples whose statistic is `NaN` and reports how many it
 * kept.
 * @module
 */

import { checkInt, checkNumber, fail } from "./_errors.ts";
import { createRng } from "./_rng.ts";

/** Indices of the pairs where both values are finite. */
function finitePairs(x: ArrayLike<number>, y: ArrayLike<number>, where: string): number[] {
  if (x == null || y == null || typeof x.length !== "number" || typeof y.length !== "number") {
    fail(where, "two arrays of numbers", x == null ? x : y);
  }
  if (x.length !== y.length) fail(where, `arrays of equal length ${x.length}`, y.length);
  const keep: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]) && Number.isFinite(y[i])) keep.push(i);
  }
  return keep;
}

/**
 * Ranks of `values` (1-based), ties given their average rank. Non-finite
 * values get rank `NaN` and do not count.
 *
 * @example
 * ```ts
 * import { rank } from "@halo/kit/core";
 * console.log(rank([10, 20, 20, 5])); // Float64Array [2, 3.5, 3.5, 1]
 * ```
 */
export function rank(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const out = new Float64Array(n).fill(NaN);
  const order: number[] = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(values[i])) order.push(i);
  order.sort((a, b) => values[a] - values[b]);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]] = r;
    i = j + 1;
  }
  return out;
}

/**
 * Pearson correlation of two arrays (NaN policy in the module doc).
 *
 * @example
 * ```ts
 * import { pearson } from "@halo/kit/core";
 * console.log(pearson([1, 2, 3], [2, 4, 7])); // ≈ 0.993
 * ```
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const keep = finitePairs(x, y, "pearson");
  const n = keep.length;
  if (n < 2) return NaN;
  let mx = 0, my = 0;
  for (const i of keep) (mx += x[i]), (my += y[i]);
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (const i of keep) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/**
 * Spearman's ρ: the Pearson correlation of the ranks, ties at their average
 * rank (NaN policy in the module doc).
 *
 * @example
 * ```ts
 * import { spearman } from "@halo/kit";
 * console.log(spearman([1, 2, 3, 4], [10, 20, 30, 100])); // 1
 * console.log(spearman([1, 2, 3], [5, 5, 5])); // NaN (constant reference)
 * ```
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const keep = finitePairs(x, y, "spearman");
  const xs = keep.map((i) => x[i]);
  const ys = keep.map((i) => y[i]);
  return pearson(rank(xs), rank(ys));
}

/** Pair counts behind Kendall's τ and pairwise accuracy. */
export interface Concordance {
  /** Pairs used (after dropping non-finite values). */
  n: number;
  /** Pairs ordered the same way by x and y. */
  concordant: number;
  /** Pairs ordered oppositely. */
  discordant: number;
  /** Pairs tied in x (including those tied in both). */
  tiesX: number;
  /** Pairs tied in y (including those tied in both). */
  tiesY: number;
  /** Pairs tied in both. */
  tiesXY: number;
}

/**
 * Counts concordant, discordant and tied pairs in O(n log n) (Knight's
 * algorithm: sort by (x, y), then count the inversions of y with a merge sort).
 *
 * @example
 * ```ts
 * import { concordance } from "@halo/kit/core";
 * const c = concordance([1, 2, 3], [1, 3, 2]);
 * console.log(c.concordant, c.discordant); // 2 1
 * ```
 */
export function concordance(x: ArrayLike<number>, y: ArrayLike<number>): Concordance {
  const keep = finitePairs(x, y, "concordance");
  const n = keep.length;
  const xs = new Float64Array(n), ys = new Float64Array(n);
  keep.forEach((i, k) => ((xs[k] = x[i]), (ys[k] = y[i])));
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    xs[a] - xs[b] || ys[a] - ys[b]
  );
  const tiePairs = (same: (a: number, b: number) => boolean, idx: ArrayLike<number>): number => {
    let total = 0;
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && same(idx[j + 1], idx[i])) j++;
      const t = j - i + 1;
      total += t * (t - 1) / 2;
      i = j + 1;
    }
    return total;
  };
  const tiesX = tiePairs((a, b) => xs[a] === xs[b], order);
  const tiesXY = tiePairs((a, b) => xs[a] === xs[b] && ys[a] === ys[b], order);
  // Merge sort of y in the (x, y) order; every strict inversion is a discordant pair.
  let arr = Float64Array.from(order, (i) => ys[i]);
  let buf = new Float64Array(n);
  let discordant = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n), hi = Math.min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (arr[j] < arr[i]) {
          discordant += mid - i;
          buf[k++] = arr[j++];
        } else buf[k++] = arr[i++];
      }
      while (i < mid) buf[k++] = arr[i++];
      while (j < hi) buf[k++] = arr[j++];
    }
    [arr, buf] = [buf, arr];
  }
  const tiesY = tiePairs((a, b) => a === b, arr);
  const total = n * (n - 1) / 2;
  const concordant = total - discordant - tiesX - tiesY + tiesXY;
  return { n, concordant, discordant, tiesX, tiesY, tiesXY };
}

/**
 * Kendall's τ-b (tie-corrected; NaN policy in the module doc).
 *
 * @example
 * ```ts
 * import { kendallTau } from "@halo/kit";
 * console.log(kendallTau([1, 2, 3, 4], [1, 2, 4, 3])); // ≈ 0.667
 * ```
 */
export function kendallTau(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const c = concordance(x, y);
  const total = c.n * (c.n - 1) / 2;
  const denom = Math.sqrt((total - c.tiesX) * (total - c.tiesY));
  return c.n < 2 || denom === 0 ? NaN : (c.concordant - c.discordant) / denom;
}

/**
 * Pairwise accuracy of scores `x` against reference `y`: over the pairs the
 * reference orders (distinct `y`), the share that `x` orders the same way, a
 * tie in `x` counting one half (NaN policy in the module doc).
 *
 * @example
 * ```ts
 * import { pairwiseAccuracy } from "@halo/kit";
 * console.log(pairwiseAccuracy([0.1, 0.5, 0.5], [1, 2, 3])); // (1 + 1 + 0.5) / 3 ≈ 0.833
 * ```
 */
export function pairwiseAccuracy(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const c = concordance(x, y);
  const tiedXOnly = c.tiesX - c.tiesXY;
  const ordered = c.concordant + c.discordant + tiedXOnly;
  return ordered === 0 ? NaN : (c.concordant + 0.5 * tiedXOnly) / ordered;
}

/** A point estimate with a bootstrap interval. */
export interface Interval {
  /** Statistic on the full sample. */
  estimate: number;
  /** Lower end of the interval. */
  lo: number;
  /** Upper end of the interval. */
  hi: number;
  /** Resamples with a finite statistic (the others are dropped). */
  resamples: number;
}

/** Options for {@linkcode bootstrapInterval}. */
export interface BootstrapOptions {
  /** Resamples. Default 1000. */
  resamples?: number;
  /** Coverage of the percentile interval. Default 0.95. */
  level?: number;
  /** Seed of the resampling. Default 0. */
  seed?: number;
}

/**
 * Percentile bootstrap interval of `statistic` over `groups` clusters: each
 * resample draws `groups` cluster indices with replacement and calls
 * `statistic(indices)` (the full sample is `0 … groups-1`). Resample clusters,
 * not individual patches: patches of one video are correlated, and treating
 * them as independent would make the interval far too narrow.
 *
 * @example
 * ```ts
 * import { bootstrapInterval, spearman } from "@halo/kit";
 * const x = [1, 2, 3, 4, 5, 6, 7, 8], y = [1, 3, 2, 4, 6, 5, 8, 7];
 * const ci = bootstrapInterval(x.length, (idx) => spearman(Array.from(idx, (i) => x[i]), Array.from(idx, (i) => y[i])), { resamples: 200 });
 * console.log(ci.lo <= ci.estimate && ci.estimate <= ci.hi); // true
 * ```
 */
export function bootstrapInterval(
  groups: number,
  statistic: (indices: Int32Array) => number,
  options: BootstrapOptions = {},
): Interval {
  const where = "bootstrapInterval";
  checkInt(where, "groups", groups, 1);
  const resamples = checkInt(where, "resamples", options.resamples ?? 1000, 1);
  const level = checkNumber(where, "level", options.level ?? 0.95, 0, 1);
  const rng = createRng(options.seed ?? 0);
  const estimate = statistic(Int32Array.from({ length: groups }, (_, i) => i));
  const values: number[] = [];
  const idx = new Int32Array(groups);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < groups; i++) idx[i] = rng.int(groups);
    const v = statistic(idx);
    if (Number.isFinite(v)) values.push(v);
  }
  values.sort((a, b) => a - b);
  const q = (p: number): number => {
    if (values.length === 0) return NaN;
    const pos = p * (values.length - 1);
    const lo = Math.floor(pos), hi = Math.ceil(pos);
    return values[lo] + (values[hi] - values[lo]) * (pos - lo);
  };
  return { estimate, lo: q((1 - level) / 2), hi: q(1 - (1 - level) / 2), resamples: values.length };
}

/** Scores of one method on a set of videos, for {@linkcode agreementReport}. */
export interface ScoredSet {
  /** Per video, per aspect: the video-level score. `[video][aspect]`. */
  video: number[][];
  /** Per video, per patch, per aspect. `[video][patch][aspect]`. */
  patches: number[][][];
}

/** Agreement of one method at one level: each metric, averaged over aspects, with its interval. */
export interface AgreementRow {
  /** Method name. */
  method: string;
  /** `"patch"` or `"video"`. */
  level: "patch" | "video";
  /** Spearman ρ. */
  spearman: Interval;
  /** Kendall τ-b. */
  kendall: Interval;
  /** Pairwise accuracy. */
  pairwise: Interval;
  /** Per-aspect point estimates of Spearman ρ. */
  spearmanByAspect: number[];
}

/** Options for {@linkcode agreementReport}. */
export interface AgreementOptions extends BootstrapOptions {
  /** Aspect count (the last axis). Default: from the reference. */
  aspects?: number;
}

/**
 * Agreement of several methods with a reference, at patch level (every patch
 * of every video pooled, per aspect) and video level, each metric averaged over
 * the aspects where it is defined, with cluster-bootstrap intervals that resample videos (the same
 * resamples for every method, so their intervals are comparable).
 *
 * @example
 * ```ts
 * import { agreementReport } from "@halo/kit";
 * const reference = { video: [[4], [2], [3]], patches: [[[4], [3]], [[1], [2]], [[3], [4]]] };
 * const good = { video: [[3.9], [2.2], [3.1]], patches: [[[3.8], [3.1]], [[1.2], [2.1]], [[2.9], [3.7]]] };
 * const rows = agreementReport({ good }, reference, { resamples: 50 });
 * console.log(rows.map((r) => `${r.method}/${r.level}: ${r.spearman.estimate.toFixed(2)}`));
 * ```
 */
export function agreementReport(
  methods: Record<string, ScoredSet>,
  reference: ScoredSet,
  options: AgreementOptions = {},
): AgreementRow[] {
  const where = "agreementReport";
  const nv = reference.video.length;
  if (nv < 1) fail(where, "a reference with at least one video", nv);
  const na = options.aspects ?? reference.video[0].length;
  for (const [name, m] of Object.entries(methods)) {
    if (m.video.length !== nv || m.patches.length !== nv) {
      fail(`${where}(${name})`, `${nv} videos like the reference`, m.video.length);
    }
    m.patches.forEach((p, v) => {
      if (p.length !== reference.patches[v].length) {
        fail(
          `${where}(${name}) video ${v}`,
          `${reference.patches[v].length} patches`,
          p.length,
        );
      }
    });
  }
  const rows: AgreementRow[] = [];
  const metrics = { spearman, kendall: kendallTau, pairwise: pairwiseAccuracy };
  for (const [name, m] of Object.entries(methods)) {
    for (const level of ["patch", "video"] as const) {
      const gather = (idx: Int32Array, a: number, set: ScoredSet): number[] => {
        const out: number[] = [];
        for (const v of idx) {
          if (level === "video") out.push(set.video[v][a]);
          else for (const p of set.patches[v]) out.push(p[a]);
        }
        return out;
      };
      // Mean over the aspects where the statistic is defined (an aspect whose reference is
      // constant on these videos has no ranking to agree with); NaN only if none is.
      const meanOver = (fn: (x: number[], y: number[]) => number) => (idx: Int32Array) => {
        let s = 0, k = 0;
        for (let a = 0; a < na; a++) {
          const v = fn(gather(idx, a, m), gather(idx, a, reference));
          if (Number.isFinite(v)) (s += v), k++;
        }
        return k ? s / k : NaN;
      };
      const all = Int32Array.from({ length: nv }, (_, i) => i);
      const row = { method: name, level } as AgreementRow;
      for (const [key, fn] of Object.entries(metrics)) {
        (row as unknown as Record<string, Interval>)[key] = bootstrapInterval(
          nv,
          meanOver(fn),
          options,
        );
      }
      row.spearmanByAspect = Array.from(
        { length: na },
        (_, a) => spearman(gather(all, a, m), gather(all, a, reference)),
      );
      rows.push(row);
    }
  }
  return rows;
}

/**
 * Formats a row's metric as `0.612 [0.580, 0.641]`; an undefined one (NaN, or `null` as
 * JSON writes NaN) as `n/a`.
 *
 * @example
 * ```ts
 * import { formatInterval } from "@halo/kit";
 * console.log(formatInterval({ estimate: 0.5, lo: 0.4, hi: 0.6, resamples: 100 })); // 0.500 [0.400, 0.600]
 * ```
 */
export function formatInterval(i: Interval, digits = 3): string {
  if (!Number.isFinite(i.estimate)) return "n/a";
  return `${i.estimate.toFixed(digits)} [${i.lo.toFixed(digits)}, ${i.hi.toFixed(digits)}]`;
}
