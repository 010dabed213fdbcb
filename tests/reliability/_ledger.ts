/**
 * The reliability suite's books: what it tried, what it injected, what it lost,
 * and every place it wrote to (so the key-leak scan can read them all).
 */

import { join } from "node:path";

/** The canary API key: every labelling call of the suite sends it; no file may contain it. */
export const CANARY_KEY = "sk-halo-canary-3c9e1f7a5b2d4e6f8a0c1e3g";

/** Counters printed in the summary line. */
export const ledger = {
  /** Bad inputs tried at public entry points. */
  inputs: 0,
  /** Faulty responses injected. */
  faults: 0,
  /** Kill/resume cycles (a SIGKILL that landed while the process ran, then a resume). */
  cycles: 0,
  /** Items that should have been labelled or trained on and were not. */
  lost: 0,
  /** Calls made for an item after its valid answer was delivered. */
  paidTwice: 0,
  /** Places the canary key was found. */
  leaks: 0,
  /** Files scanned for the key. */
  scanned: 0,
  /** Sections that ran (the summary only judges a complete run). */
  sections: new Set<string>(),
  /** Kill/resume cycles by what was killed. */
  cyclesBy: {} as Record<string, number>,
  /** When the suite started. */
  started: performance.now(),
};

let root: string | undefined;

/** A fresh directory under the suite's root (registered for the key scan). */
export async function suiteDir(name: string): Promise<string> {
  root ??= await Deno.makeTempDir({ prefix: "halo-reliability-" });
  const dir = join(root, `${name}-${crypto.randomUUID().slice(0, 6)}`);
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** The suite's root directory, if anything was written. */
export function suiteRoot(): string | undefined {
  return root;
}

/** Output captured from processes and progress bars, scanned for the key too. */
export const captured: string[] = [];

/** Adds `n` kill/resume cycles of `what`. */
export function countCycles(what: string, n: number): void {
  ledger.cycles += n;
  ledger.cyclesBy[what] = (ledger.cyclesBy[what] ?? 0) + n;
}

/** Removes the suite's root (after the scan). */
export async function removeSuiteRoot(): Promise<void> {
  if (root) await Deno.remove(root, { recursive: true }).catch(() => {});
  root = undefined;
}

globalThis.addEventListener("unload", () => {
  if (root) {
    try {
      Deno.removeSync(root, { recursive: true });
    } catch {
      // already gone
    }
  }
});
