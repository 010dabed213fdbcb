/**
 * The pairs of an iterative (on-policy) DPO round, drawn as the offline pairs were.
 *
 * Round 0 trains on the offline pairs; each later round samples new candidates from the current
 * policy (`postTrain`'s `iterative.resampleEvery`). A round draws them the way its offline pairs
 * file was drawn — the same noise sharing, DDIM η, pairing, margin, candidates per prompt, DDIM
 * steps and guidance, read from the `<name>.manifest.json` beside it — so that a run on
 * shared-noise pairs of every pair above the margin stays on such pairs; what
 * {@linkcode IterativeOptions} sets explicitly wins, and without a manifest the rounds take
 * `buildPairs`' defaults. Our reconstruction: the paper post-trains offline.
 * @module
 */

import { pathExists } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import type { BuildPairsOptions, Pairing } from "../pairs/pairs.ts";
import type { ModelRef } from "../core/shipped.ts";

/** Iterative (on-policy) DPO settings. */
export interface IterativeOptions {
  /** Re-sample pairs from the current policy every this many steps (0 = offline). */
  resampleEvery: number;
  /** Prompts per round. Default 128. */
  prompts?: number;
  /** Candidates per prompt. Default: the offline pairs', else `buildPairs`' (4). */
  candidates?: number;
  /** Patch reward model that scores the new candidates. Default: the shipped PRM. */
  prmDir?: ModelRef;
  /** Minimum video-score gap. Default: the offline pairs', else 0.1. */
  margin?: number;
  /** DDIM steps of the candidates. Default: the offline pairs', else 20. */
  steps?: number;
  /** Candidates of a prompt from one x_T. Default: the offline pairs', else false. */
  sharedNoise?: boolean;
  /** "best-worst" or "all". Default: the offline pairs', else "best-worst". */
  pairing?: Pairing;
}

/** The defaults of {@linkcode IterativeOptions} that no offline manifest supplies. */
export const ITERATIVE_DEFAULTS: Readonly<{ prompts: number }> = Object.freeze({ prompts: 128 });

const INHERITED = ["candidates", "margin", "steps", "sharedNoise", "eta", "pairing", "guidance"];

/**
 * The `buildPairs` options of round `round` of a run on `pairsFile` (seed `seed`).
 * A manifest that is not JSON is an error naming it; a missing one is not (pairs written by hand).
 *
 * @example What round 1 of a run on hand-written pairs draws
 * ```ts
 * import { roundPairOptions } from "@halo/kit/dpo";
 * const o = await roundPairOptions("no-such-pairs.jsonl", {
 *   iterative: { resampleEvery: 100, margin: 0.2 },
 *   seed: 0,
 *   round: 1,
 * });
 * console.log(o.prompts, o.margin, o.sharedNoise, o.seed); // 128 0.2 undefined 1
 * ```
 */
export async function roundPairOptions(
  pairsFile: string,
  o: { iterative: IterativeOptions; seed: number; round: number },
): Promise<Omit<BuildPairsOptions, "out">> {
  const manifest = pairsFile.replace(/\.jsonl$/, "") + ".manifest.json";
  const drawn: Record<string, unknown> = {};
  if (pairsFile.endsWith(".jsonl") && await pathExists(manifest)) {
    let settings: Record<string, unknown>;
    try {
      settings = JSON.parse(await Deno.readTextFile(manifest)).settings ?? {};
    } catch (e) {
      fail(manifest, "the JSON manifest `deno task pairs` writes", (e as Error).message);
    }
    for (const key of INHERITED) if (settings[key] !== undefined) drawn[key] = settings[key];
  }
  const it = o.iterative;
  const given = Object.fromEntries(
    Object.entries({
      candidates: it.candidates,
      margin: it.margin,
      steps: it.steps,
      sharedNoise: it.sharedNoise,
      pairing: it.pairing,
    }).filter(([, v]) => v !== undefined),
  );
  // η belongs to the manifest's noise sharing: an explicit sharedNoise takes buildPairs' η for it
  if (it.sharedNoise !== undefined) delete drawn.eta;
  return {
    ...drawn,
    ...given,
    prmDir: it.prmDir,
    prompts: it.prompts ?? ITERATIVE_DEFAULTS.prompts,
    seed: (o.seed * 1000 + o.round) >>> 0,
  };
}
