/**
 * The reward models: the video reward model (VRM) and its continual
 * training into the patch reward model (PRM). The model (`model.ts`) and its
 * load/save (`io.ts`), scoring of videos and patches (`score.ts`), the training
 * data (`data.ts`: ShapesWorld renders, injected defects and generator samples,
 * labelled through the judge server), the training loop (`train.ts`) and its loss (`loss.ts`), the
 * experiment with its report (`experiment.ts`), the continual-vs-scratch
 * comparison over seeds (`seeds.ts`), the same two stages on a label file written
 * by `deno task label` (`from_labels.ts`, `deno task train-rm --labels`), and the
 * record of what a checkpoint was trained on (`trained_on.ts`); prompt swaps (`swap.ts`), the
 * held-out targets (`metrics.ts`, `held_out.ts`), ensemble scoring (`ensemble.ts`) and the
 * pairwise loss (`pair_loss.ts`). Internal: `_samples.ts` and its child process `_samples_job.ts`
 * (the generator's samples of the training data, in cached chunks on every core).
 *
 * Paper step: §3.2, the patch reward model distilled from GPT-4o's labels.
 * Reads: labels and videos. Writes: reward checkpoints (`data/reward/`,
 * `shipped.vrm`, `shipped.prm`, `shipped.evaluator`) and reports.
 * @module
 */

export * from "./data.ts";
export * from "./label_file.ts";
export * from "./experiment.ts";
export * from "./io.ts";
export * from "./model.ts";
export * from "./score.ts";
export * from "./seeds.ts";
export * from "./train.ts";
export * from "./from_labels.ts";
export * from "./trained_on.ts";
export * from "./swap.ts";
export * from "./metrics.ts";
export * from "./held_out.ts";
export * from "./ensemble.ts";
export * from "./pair_loss.ts";
