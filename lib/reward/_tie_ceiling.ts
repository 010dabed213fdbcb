/**
 * The ρ ceiling of a tied reference (internal; `held_out.ts` and the localise probe).
 * @module
 */

import { spearman } from "../core/agreement.ts";

/**
 * Spearman ρ of the reference with its ties broken against the reference itself: the highest ρ
 * any score without ties can reach. A jitter below the smallest gap between scores breaks the
 * ties without reordering the groups.
 */
export function tieCeiling(reference: readonly number[]): number {
  return spearman(reference.map((r, i) => r + (0.5 * i) / reference.length), [...reference]);
}
