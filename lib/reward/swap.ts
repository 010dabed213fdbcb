/**
 * Prompt swaps: the same ShapesWorld prompt with one word changed — another colour, shape,
 * count or direction. Three things use them: the training data's rendered mismatches
 * (`data.ts`, `mismatchRate`: a clip rendered from a swapped colour, shape or direction,
 * labelled against the original prompt), the prompt-swap negatives (`data.ts`, `swapRate`: the
 * same clip again, labelled for a prompt of another colour, shape or count) and the text-swap
 * sensitivity metric (`metrics.ts`: does the reward model's text-alignment score drop when a
 * clip is scored against a swapped prompt?).
 *
 * Reconstruction: the paper does not test text alignment this way; colour, shape and count
 * ({@linkcode TEXT_SWAP_KINDS}) are the words of the ShapesWorld grammar that name what is in
 * the patches (DESIGN §3).
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import { createRng, type Rng } from "../core/_rng.ts";
import {
  COLOR_NAMES,
  DIRECTIONS,
  formatPrompt,
  SHAPE_NAMES,
  type ShapesPrompt,
} from "../videos/world.ts";

/** What a prompt swap changes. */
export type SwapKind = "color" | "shape" | "count" | "direction";

/** Every kind of swap. */
export const SWAP_KINDS: readonly SwapKind[] = Object.freeze([
  "color",
  "shape",
  "count",
  "direction",
]);

/**
 * The swaps that change what is *in* the patches (colour, shape, count): the kinds the
 * text-swap sensitivity metric and the prompt-swap negatives use by default.
 */
export const TEXT_SWAP_KINDS: readonly SwapKind[] = Object.freeze(["color", "shape", "count"]);

/** Options for {@linkcode swapPrompt}. */
export interface SwapPromptOptions {
  /** Which word to change. */
  kind: SwapKind;
  /** Seed or generator of the new value. Default 0. */
  random?: Rng | number;
}

/**
 * The prompt with one field (`kind`) replaced by another value of the grammar, drawn uniformly
 * from the values it does not have; every other field stays, and the canonical text follows.
 *
 * @example
 * ```ts
 * import { parsePrompt } from "@halo/kit";
 * import { swapPrompt } from "@halo/kit/reward";
 * const p = parsePrompt("one red circle moving up slowly on a black background");
 * const q = swapPrompt(p, { kind: "count", random: 0 });
 * console.log(q.count !== 1, q.color, q.shape); // true red circle
 * ```
 */
export function swapPrompt(prompt: ShapesPrompt, options: SwapPromptOptions): ShapesPrompt {
  const where = "swapPrompt";
  const kind = options?.kind;
  const random = options?.random ?? 0;
  if (!prompt || typeof prompt !== "object" || typeof prompt.text !== "string") {
    fail(where, "a parsed ShapesPrompt", prompt);
  }
  if (!SWAP_KINDS.includes(kind)) fail(where, `kind one of ${SWAP_KINDS.join(", ")}`, kind);
  if (typeof random === "number") checkInt(where, "seed", random, 0, 0xffffffff);
  else if (!random || typeof random.int !== "function") fail(where, "a seed or an Rng", random);
  const rng = typeof random === "number" ? createRng(random) : random;
  const other = <T>(all: readonly T[], v: T): T => {
    const rest = all.filter((x) => x !== v);
    return rest[rng.int(rest.length)];
  };
  const fields: Omit<ShapesPrompt, "text"> = {
    count: kind === "count" ? other([1, 2, 3] as const, prompt.count) : prompt.count,
    color: kind === "color" ? other(COLOR_NAMES, prompt.color) : prompt.color,
    shape: kind === "shape" ? other(SHAPE_NAMES, prompt.shape) : prompt.shape,
    direction: kind === "direction" ? other(DIRECTIONS, prompt.direction) : prompt.direction,
    speed: prompt.speed,
    background: prompt.background,
  };
  return { ...fields, text: formatPrompt(fields) };
}
