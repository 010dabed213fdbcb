/**
 * Evaluation: ShapesBench and the independent evaluator RM on held-out test
 * prompts with the patch-defect analysis and paired bootstrap intervals
 * (`evaluate.ts`), the results table and the paper's claims (`results.ts`),
 * and the experiment that runs pairs, every post-training method and seed,
 * and the evaluation (`experiment.ts`).
 *
 * Paper step: §4, the experiments. Reads: generator and reward checkpoints.
 * Writes: per-clip caches, `results.json` and `results.md`. Internal:
 * `_jobs.ts` (the child process of a post-training run or an evaluation).
 * @module
 */

export * from "./defects.ts";
export * from "./evaluate.ts";
export * from "./experiment.ts";
export * from "./results.ts";
export * from "./summary.ts";
