/**
 * A small seeded pseudo-random generator (mulberry32) so that every stage of
 * the kit is deterministic for a seed, independent of tfjs' global RNG.
 * @module
 */

/** A seeded random source. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample (Box–Muller). */
  normal(): number;
  /** A random element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A fresh 32-bit seed for a child generator or a tfjs op. */
  seed(): number;
}

/**
 * Creates a deterministic generator from a 32-bit integer seed. With `skip`, it
 * starts as the seed's generator would after `skip` calls of `next()` (mulberry32
 * steps its state by a constant, so skipping costs nothing): a shard of a long
 * draw can start where it would have in one process.
 */
export function createRng(seed: number, skip = 0): Rng {
  let state = (((seed >>> 0) ^ 0x9e3779b9) + Math.imul(skip, 0x6d2b79f5)) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    pick: (items) => items[Math.floor(next() * items.length)],
    seed: () => Math.floor(next() * 4294967296) >>> 0,
  };
}
