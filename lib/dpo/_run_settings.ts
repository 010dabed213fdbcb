/** The settings a post-training checkpoint stores (internal to `post_train.ts`). @module */

/**
 * The settings stored with a post-training checkpoint; a resume must match them. The anchor, the
 * loss variant, the patch-term variant, the pretraining-data term and the frozen weights are stored
 * only when not the default, so checkpoints written before they existed still resume.
 */
export function runSettings(o: {
  out: string;
  checkpointEvery: number;
  anchor: string;
  anchorWeight: number;
  lossType: string;
  patchOtherWeight: number;
  ptxWeight: number;
  ptxPrompts: string;
  guidanceHoldWeight: number;
  guidanceHoldPatches: string;
  guidanceHoldFrom: number;
  lossGuidance: number;
  freeze: readonly string[];
  [other: string]: unknown;
}): Record<string, unknown> {
  const {
    out: _out,
    checkpointEvery: _every,
    anchor,
    anchorWeight,
    lossType,
    patchOtherWeight,
    ptxWeight,
    ptxPrompts,
    guidanceHoldWeight,
    guidanceHoldPatches,
    guidanceHoldFrom,
    lossGuidance,
    freeze,
    ...rest
  } = o;
  return {
    ...rest,
    ...(freeze.length === 0 ? {} : { freeze }),
    ...(anchor === "none" ? {} : { anchor, anchorWeight }),
    ...(lossType === "sigmoid" ? {} : { lossType }),
    ...(patchOtherWeight === 1 ? {} : { patchOtherWeight }),
    ...(ptxWeight === 0 ? {} : { ptxWeight }),
    ...(ptxPrompts === "pairs" ? {} : { ptxPrompts }),
    ...(guidanceHoldWeight === 0 ? {} : { guidanceHoldWeight }),
    ...(guidanceHoldPatches === "all" ? {} : { guidanceHoldPatches }),
    ...(guidanceHoldFrom === 0 ? {} : { guidanceHoldFrom }),
    ...(lossGuidance === 1 ? {} : { lossGuidance }),
  };
}
