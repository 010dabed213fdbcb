/**
 * Preference pairs for Gran-DPO: N candidates per training prompt (`prompts.ts`) sampled
 * from the generator (`candidates.ts`), scored per patch and per video by the PRM
 * or an ensemble of PRMs (`scores.ts`), paired
 * best-worst (or every pair above a margin), with per-patch score gaps; the
 * pairs file (JSONL + content-addressed clips) and its reader (`file.ts`).
 *
 * Paper step: §3.3, the preference data. Reads: a generator and a PRM. Writes:
 * `<name>.jsonl`, `<name>.manifest.json` and `clips/`. Internal:
 * `_candidates_job.ts` (the child process of a sampling shard),
 * `_judge_diagnostics.ts` (the reference judge's agreement in the manifest).
 * @module
 */

export * from "./candidates.ts";
export * from "./file.ts";
export * from "./pairs.ts";
export * from "./prompts.ts";
export * from "./scores.ts";
