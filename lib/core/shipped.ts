/**
 * The models the kit ships in its `data/` folder, by name, wherever the kit is
 * imported from: URLs resolved against this module (`import.meta.url`), so
 * they are `file:` URLs in a checkout and `https:` URLs when the kit is
 * imported from JSR. Every checkpoint loader takes a {@linkcode ModelRef}: a
 * local path, a `file:` URL or an `http(s):` URL.
 * @module
 */

/** Where a checkpoint is: a local path (relative to the working directory), or a URL. */
export type ModelRef = string | URL;

/** The kit's folder (the one holding `deno.json` and `data/`), as a URL ending in `/`. */
const KIT_ROOT = new URL("../../", import.meta.url);

/** The shipped checkpoints, by name. */
export interface ShippedModels {
  /** The pretrained text-to-video generator (`data/generator/`). */
  readonly generator: URL;
  /** The video reward model, stage 1 of the reward training (`data/reward/vrm/`). */
  readonly vrm: URL;
  /** The patch reward model continued from the VRM (`data/reward/prm/`). */
  readonly prm: URL;
  /** The independent evaluator reward model (`data/reward/evaluator/`). */
  readonly evaluator: URL;
}

/**
 * The shipped checkpoints: pass one wherever a checkpoint is expected.
 *
 * @example
 * ```ts
 * import { shipped } from "@halo/kit";
 * console.log(shipped.generator.href.endsWith("/data/generator/")); // true
 * ```
 */
export const shipped: ShippedModels = Object.freeze({
  generator: new URL("data/generator/", KIT_ROOT),
  vrm: new URL("data/reward/vrm/", KIT_ROOT),
  prm: new URL("data/reward/prm/", KIT_ROOT),
  evaluator: new URL("data/reward/evaluator/", KIT_ROOT),
});

/**
 * A checkpoint's name for records, logs and settings files: a checkpoint inside
 * the kit is named by its path from the kit's folder (`"data/generator"`, the
 * same wherever the kit is imported from); anything else by the path or URL
 * it was given.
 *
 * @example
 * ```ts
 * import { modelName, shipped } from "@halo/kit";
 * console.log(modelName(shipped.prm)); // "data/reward/prm"
 * console.log(modelName("out/rm/prm")); // "out/rm/prm"
 * ```
 */
export function modelName(ref: ModelRef): string {
  const href = ref instanceof URL
    ? ref.href
    : /^(file|https?):/i.test(ref)
    ? new URL(ref).href
    : "";
  if (href.startsWith(KIT_ROOT.href)) return href.slice(KIT_ROOT.href.length).replace(/\/$/, "");
  return ref instanceof URL ? ref.href : ref;
}
