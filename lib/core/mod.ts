/**
 * The kit's foundations, used by every stage: errors in the "Expected X but
 * found Y" style, seeded random numbers, hashing, atomic writes and resumable
 * JSONL logs, progress bars, child processes for parallel work, rank
 * agreement statistics with bootstrap intervals (`agreement.ts`), PNG
 * encoding, and the shipped checkpoints by name (`shipped.ts`).
 *
 * Paper step: none (infrastructure). Reads and writes: nothing of its own.
 * Internal files: `_errors.ts`, `_rng.ts`, `_hash.ts`, `_atomic.ts`,
 * `_progress.ts`, `_spawn.ts`, `_font.ts`.
 * @module
 */

export * from "./agreement.ts";
export * from "./png.ts";
export * from "./shipped.ts";
