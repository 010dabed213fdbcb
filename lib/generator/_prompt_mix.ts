/**
 * The pretraining data mixture: which training prompt each clip of a step is drawn from.
 * @module
 */

import type { Rng } from "../core/_rng.ts";
import { SHAPE_NAMES, type ShapeName, type ShapesPrompt } from "../videos/world.ts";

/**
 * Draws one training prompt: uniformly over `prompts`, or, with `shapeWeights`, a shape by its
 * weight and then a prompt of that shape uniformly (one `next()` and one `pick` of the step's
 * rng, so a run's batches still depend only on (seed, step)).
 */
export function promptPicker(
  prompts: readonly ShapesPrompt[],
  shapeWeights: Partial<Record<ShapeName, number>> | undefined,
): (rng: Rng) => ShapesPrompt {
  if (!shapeWeights) return (rng) => rng.pick(prompts);
  const groups = SHAPE_NAMES.map((shape) => ({
    prompts: prompts.filter((p) => p.shape === shape),
    weight: shapeWeights[shape] ?? 1,
  })).filter((g) => g.weight > 0 && g.prompts.length > 0);
  const total = groups.reduce((t, g) => t + g.weight, 0);
  return (rng) => {
    let u = rng.next() * total;
    const group = groups.find((g) => (u -= g.weight) < 0) ?? groups[groups.length - 1];
    return rng.pick(group.prompts);
  };
}
