/**
 * The candidates `deno task pairs` leaves in its folder (`candidates[.N].jsonl`, one line per clip,
 * the clips beside them), read by the benches that re-judge or re-score them
 * (`pair_fit.ts`, `patch_directions.ts`, `reward_patch_pairs.ts`).
 * @module
 */

import { join } from "node:path";
import { readJsonLines } from "../lib/core/_atomic.ts";

/** One candidate line: its prompt, sampling seed and clip path (relative to the folder). */
export interface Candidate {
  prompt: string;
  seed: number;
  clip: string;
}

/** Every `candidates[.N].jsonl` line of `dir`, in file order; `where` names the caller in errors. */
export async function readCandidates(dir: string, where: string): Promise<Candidate[]> {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    /^candidates(\.\d+)?\.jsonl$/.test(n)
  ).sort();
  const out: Candidate[] = [];
  for (const f of files) out.push(...await readJsonLines<Candidate>(join(dir, f)));
  if (out.length === 0) {
    throw new Error(`${where}: Expected candidates[.N].jsonl in ${dir} but found none`);
  }
  return out;
}
