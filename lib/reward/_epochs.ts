/**
 * The two training stages' lengths, given as steps or as passes over the training clips
 * (internal; `trainRewardModels` and `trainRewardFromLabels` share it).
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";

/** What sets the stages' lengths: a trainer's options, its defaults and its data. */
export interface StageLengthInput {
  videoSteps?: number;
  patchSteps?: number;
  videoEpochs?: number;
  patchEpochs?: number;
  /** Clips per step (already defaulted). */
  batchSize: number;
  /** Steps of a stage given neither steps nor epochs. */
  defaults: { videoSteps: number; patchSteps: number };
  /** Training clips (1 to check the options before the data exists). */
  clips: number;
}

/**
 * Each stage's steps: its `…Steps`, or ⌈epochs · clips / batchSize⌉ with its `…Epochs`
 * (TRL's `num_train_epochs`), or the default; both given is an error naming the two options.
 */
export function stageLengths(
  where: string,
  input: StageLengthInput,
): { video: number; patch: number } {
  const one = (stage: "video" | "patch"): number => {
    const steps = input[`${stage}Steps`], epochs = input[`${stage}Epochs`];
    if (steps !== undefined && epochs !== undefined) {
      fail(where, `${stage}Steps or ${stage}Epochs, not both`, { steps, epochs });
    }
    if (epochs === undefined) {
      return checkInt(where, `${stage}Steps`, steps ?? input.defaults[`${stage}Steps`], 0);
    }
    checkNumber(where, `${stage}Epochs`, epochs, Number.MIN_VALUE);
    const batchSize = checkInt(where, "batchSize", input.batchSize);
    return Math.ceil(epochs * checkInt(where, "the training clips", input.clips) / batchSize);
  };
  return { video: one("video"), patch: one("patch") };
}
