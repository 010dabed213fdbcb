/**
 * Which of the generator's weights post-training leaves as pretrained (`postTrain`'s `freeze`):
 * name patterns over the generator's weights.
 * @module
 */

import { fail } from "../core/_errors.ts";
import type { Generator } from "../generator/model.ts";

/**
 * Validates `freeze` patterns (an array of non-empty strings) for `where`'s error; returns a copy.
 *
 * @example
 * ```ts
 * import { checkFreezePatterns } from "@halo/kit/dpo";
 * console.log(checkFreezePatterns("demo", ["prompt", "*.ada"])); // [ "prompt", "*.ada" ]
 * ```
 */
export function checkFreezePatterns(where: string, patterns: readonly string[]): string[] {
  if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === "string" && p.length > 0)) {
    fail(where, "freeze as an array of non-empty weight-name patterns", patterns);
  }
  return [...patterns];
}

/**
 * The names of the generator's weights that `patterns` select: a pattern selects the weights whose
 * name starts with it, where `*` stands for any run of characters (`"prompt"` the prompt encoder,
 * `"*.ada"` every adaLN modulation, `"layer0"` the first block). A pattern that selects nothing
 * is an error, so a typo cannot leave every weight training.
 *
 * @example
 * ```ts
 * import { createGenerator, disposeGenerator } from "@halo/kit/generator";
 * import { frozenParams } from "@halo/kit/dpo";
 * const gen = createGenerator({ frames: 4, size: 16, dim: 16, depth: 1, heads: 2, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } });
 * console.log(frozenParams(gen, ["prompt"]).every((n) => n.startsWith("prompt."))); // true
 * console.log(frozenParams(gen, ["*.ada"]).includes("final.ada.w")); // true
 * disposeGenerator(gen);
 * ```
 */
export function frozenParams(gen: Generator, patterns: readonly string[]): string[] {
  const names = [...gen.params.keys()];
  const selected = new Set<string>();
  for (const pattern of checkFreezePatterns("frozenParams", patterns)) {
    const escaped = pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
    const re = new RegExp(`^${escaped.join(".*")}`);
    const hit = names.filter((n) => re.test(n));
    if (hit.length === 0) {
      fail(
        "frozenParams",
        `a pattern that selects some of the generator's weights (${
          [...new Set(names.map((n) => n.split(".")[0]))].join(", ")
        }, …)`,
        pattern,
      );
    }
    for (const n of hit) selected.add(n);
  }
  return names.filter((n) => selected.has(n));
}
