/**
 * Which patch terms Gran-DPO uses: 1 where the PRM's gap is at least τ and not 0, else 0 (`[B, P]`,
 * float). Shared by the loss (`loss.ts`) and the guidance hold's `"undisputed"` patches (`step.ts`).
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** 1 where |gap| ≥ τ and gap ≠ 0, else 0. */
export function usedPatchTerms(gaps: tf.Tensor2D, tau: number): tf.Tensor2D {
  return tf.tidy(() =>
    gaps.abs().greaterEqual(tau).logicalAnd(gaps.notEqual(0)).toFloat()
  ) as tf.Tensor2D;
}
