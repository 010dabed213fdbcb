/**
 * Which prompts the preference pairs are drawn for: a seeded sample of the train split
 * ({@linkcode pairPrompts}, what `deno task pairs` uses) or a list of prompt texts
 * ({@linkcode listPrompts}, `BuildPairsOptions.promptList`).
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import { parsePrompt, promptSplits, type ShapesPrompt } from "../videos/world.ts";

/** A prompt the pairs are drawn for, and its index (in pair ids and candidate seeds). */
export interface PairPrompt {
  /** Index into the train split ({@linkcode pairPrompts}) or the list ({@linkcode listPrompts}). */
  index: number;
  /** The prompt. */
  prompt: ShapesPrompt;
}

/**
 * A seeded sample of `n` prompts of the train split (indices into it kept, for ids).
 *
 * @example
 * ```ts
 * import { pairPrompts } from "@halo/kit/pairs";
 * const a = pairPrompts(3, 0), b = pairPrompts(3, 0);
 * console.log(a.length, a[0].index === b[0].index); // 3 true
 * ```
 */
export function pairPrompts(n: number, seed: number): PairPrompt[] {
  const train = promptSplits({ seed: 0 }).train;
  checkInt("pairPrompts", "n", n, 1, train.length);
  const order = train.map((_, i) => i);
  const rng = createRng(seed ^ 0x5a17);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, n).map((index) => ({ index, prompt: train[index] }));
}

/**
 * Prompt texts of the ShapesWorld grammar, parsed, indexed by their place in the list; an empty
 * list, a repeated prompt or a text outside the grammar is an error naming it.
 *
 * @example
 * ```ts
 * import { listPrompts } from "@halo/kit/pairs";
 * const [p] = listPrompts(["one red circle moving left slowly on a gray background"]);
 * console.log(p.index, p.prompt.shape); // 0 circle
 * ```
 */
export function listPrompts(texts: readonly string[]): PairPrompt[] {
  const where = "listPrompts";
  if (!Array.isArray(texts) || texts.length === 0) {
    fail(where, "a non-empty list of prompt texts", texts);
  }
  const seen = new Set<string>();
  return texts.map((text, index) => {
    const prompt = parsePrompt(text);
    if (seen.has(prompt.text)) fail(where, `distinct prompts (item ${index} repeats one)`, text);
    seen.add(prompt.text);
    return { index, prompt };
  });
}
