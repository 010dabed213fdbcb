import assert from "node:assert/strict";
import {
  agreementReport,
  bootstrapInterval,
  concordance,
  formatInterval,
  kendallTau,
  pairwiseAccuracy,
  pearson,
  rank,
  spearman,
} from "../lib/core/agreement.ts";
import { createRng } from "../lib/core/_rng.ts";

/** O(n²) reference implementations. */
function naive(x: number[], y: number[]) {
  let c = 0, d = 0, tx = 0, ty = 0, txy = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const sx = Math.sign(x[i] - x[j]), sy = Math.sign(y[i] - y[j]);
      if (sx === 0 && sy === 0) txy++;
      if (sx === 0) tx++;
      if (sy === 0) ty++;
      if (sx !== 0 && sy !== 0) sx === sy ? c++ : d++;
    }
  }
  const n0 = x.length * (x.length - 1) / 2;
  const tau = (c - d) / Math.sqrt((n0 - tx) * (n0 - ty));
  const acc = (c + 0.5 * (tx - txy)) / (c + d + tx - txy);
  return { c, d, tx, ty, txy, tau, acc };
}

function close(a: number, b: number, eps = 1e-9) {
  assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);
}

Deno.test("rank gives ties their average rank and skips non-finite values", () => {
  assert.deepEqual(Array.from(rank([3, 1, 3, 2, 3])), [4, 1, 4, 2, 4]);
  const r = rank([2, NaN, 1]);
  assert.equal(r[0], 2);
  assert.ok(Number.isNaN(r[1]));
  assert.equal(r[2], 1);
});

Deno.test("spearman matches a hand computation with ties", () => {
  // ranks x: [1, 2.5, 2.5, 4], y: [1, 2, 3, 4]; Pearson of those
  const rho = spearman([10, 20, 20, 30], [1, 2, 3, 4]);
  close(rho, pearson([1, 2.5, 2.5, 4], [1, 2, 3, 4]));
  close(rho, 0.9486832980505138);
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  // monotone transform invariance
  close(spearman([1, 2, 3, 4, 5], [1, 8, 27, 64, 125]), 1);
});

Deno.test("NaN policy: non-finite pairs are dropped; undefined statistics are NaN", () => {
  close(spearman([1, NaN, 2, 3], [1, 5, 2, 3]), 1);
  close(kendallTau([1, 2, Infinity, 3], [1, 2, 0, 3]), 1);
  assert.ok(Number.isNaN(spearman([1, 2, 3], [4, 4, 4])));
  assert.ok(Number.isNaN(kendallTau([1], [1])));
  assert.ok(Number.isNaN(pairwiseAccuracy([1, 2], [3, 3])));
  assert.ok(Number.isNaN(pearson([NaN, NaN], [1, 2])));
  assert.throws(() => spearman([1, 2], [1]), /Expected arrays of equal length 2 but found 1/);
});

Deno.test("concordance, Kendall τ-b and pairwise accuracy equal the O(n²) definitions", () => {
  const rng = createRng(5);
  for (let trial = 0; trial < 20; trial++) {
    const n = 2 + rng.int(60);
    const x = Array.from({ length: n }, () => rng.int(5)); // many ties
    const y = Array.from({ length: n }, () => rng.int(4));
    const ref = naive(x, y);
    const c = concordance(x, y);
    assert.deepEqual(
      [c.concordant, c.discordant, c.tiesX, c.tiesY, c.tiesXY],
      [ref.c, ref.d, ref.tx, ref.ty, ref.txy],
    );
    const tau = kendallTau(x, y);
    if (Number.isNaN(ref.tau)) assert.ok(Number.isNaN(tau));
    else close(tau, ref.tau);
    const acc = pairwiseAccuracy(x, y);
    if (Number.isNaN(ref.acc)) assert.ok(Number.isNaN(acc));
    else close(acc, ref.acc);
  }
  close(pairwiseAccuracy([0.1, 0.5, 0.5], [1, 2, 3]), 2.5 / 3);
});

Deno.test("bootstrap: seeded, contains the estimate, narrows with more data", () => {
  const rng = createRng(2);
  const make = (n: number) => {
    const x = Array.from({ length: n }, () => rng.normal());
    const y = x.map((v) => v + rng.normal());
    return (idx: Int32Array) =>
      spearman(Array.from(idx, (i) => x[i]), Array.from(idx, (i) => y[i]));
  };
  const small = make(30), big = make(600);
  const a = bootstrapInterval(30, small, { resamples: 300, seed: 1 });
  const b = bootstrapInterval(30, small, { resamples: 300, seed: 1 });
  assert.deepEqual(a, b);
  assert.ok(a.lo <= a.estimate && a.estimate <= a.hi);
  const wide = bootstrapInterval(600, big, { resamples: 300, seed: 1 });
  assert.ok(wide.hi - wide.lo < (a.hi - a.lo) / 2, formatInterval(wide));
  // resamples with an undefined statistic are dropped and counted
  const some = bootstrapInterval(3, (idx) => new Set(idx).size > 1 ? 1 : NaN, { resamples: 200 });
  assert.ok(some.resamples < 200 && some.resamples > 100);
  // an undefined interval prints as n/a, also after a JSON round trip (NaN → null)
  const undef = { estimate: NaN, lo: NaN, hi: NaN, resamples: 0 };
  assert.equal(formatInterval(undef), "n/a");
  assert.equal(formatInterval(JSON.parse(JSON.stringify(undef))), "n/a");
  assert.equal(
    formatInterval({ estimate: 0.5, lo: 0.4, hi: 0.6, resamples: 9 }),
    "0.500 [0.400, 0.600]",
  );
});

Deno.test("agreementReport ranks a good scorer above a constant broadcast", () => {
  const rng = createRng(9);
  const nv = 20, np = 8;
  const refPatches = Array.from(
    { length: nv },
    () => Array.from({ length: np }, () => [1 + rng.int(4), 1 + rng.int(4)]),
  );
  const reference = {
    video: refPatches.map((ps) => [0, 1].map((a) => ps.reduce((s, p) => s + p[a], 0) / np)),
    patches: refPatches,
  };
  const good = {
    video: reference.video.map((v) => v.map((s) => s + 0.1 * rng.normal())),
    patches: refPatches.map((ps) => ps.map((p) => p.map((s) => s + 0.3 * rng.normal()))),
  };
  const broadcast = {
    video: good.video,
    patches: good.video.map((v) => refPatches[0].map(() => v)),
  };
  const rows = agreementReport({ good, broadcast }, reference, { resamples: 100 });
  assert.equal(rows.length, 4);
  const get = (m: string, l: string) => rows.find((r) => r.method === m && r.level === l)!;
  assert.ok(get("good", "patch").spearman.lo > get("broadcast", "patch").spearman.hi);
  assert.equal(get("good", "patch").spearmanByAspect.length, 2);
  assert.throws(
    () => agreementReport({ bad: { video: [], patches: [] } }, reference),
    /agreementReport\(bad\): Expected 20 videos/,
  );
});
