/**
 * The guidance hold: an opt-in term of a DPO step (`guidanceHoldWeight` of
 * `dpoStep` and `postTrain`, `--guidance-hold` of `post-train`; off by default) that
 * keeps the policy's conditional prediction from moving toward the
 * unconditional one, patch by patch, on the chosen clips.
 *
 * **Why.** Diffusion-DPO trains the conditional model only, and the clips are
 * sampled with classifier-free guidance, x̂ = u + w·(c − u). Issue 21's
 * diagnosis (`bench/guidance_branches.ts`; README, "Which objects vanish") found
 * that nearly every object post-training erases is one Base draws only under
 * guidance — its conditional branch alone draws none — and that the object comes
 * back when Base's conditional branch replaces the policy's. The preference
 * loss's drift toward "less object", which also removes extra blobs, shrinks
 * c − u where guidance was all that held the object. The anchors of `anchor.ts`
 * hold the winner's *error*, so they block the blob removals along with the
 * erasures (README, validation: DPO-Positive's hinge traded 0.57 → 0.41 of Base's
 * defects fixed for 36 → 17 of 884 objects lost). This term holds only one direction: the
 * prompt's own.
 *
 * **The term (our reconstruction; the HALO paper has none).** On a chosen clip
 * noised at the pair's t and ε, with c_ref and u_ref the reference's clean
 * estimates with the prompt and with the null prompt, d = c_ref − u_ref (what
 * the prompt adds, guidance's direction) and c_θ the policy's estimate with the
 * prompt, each patch k gets
 *
 *   h_k = w(t) · mean over the patch's pixels of ⟨c_θ − c_ref, d⟩ / 3,
 *
 * negative when the policy moved toward the unconditional estimate, and
 *
 *   L_hold = mean over (pair, patch) of max(0, −h_k),
 *
 * a hinge like DPO-Positive's: zero while the policy keeps (or adds to) what
 * the prompt adds to each patch, rising linearly as it takes it away; motion
 * across d (sharper edges, a blob the prompt does not ask for) is free. w(t) is
 * the step's error weighting (`loss_maps.ts`) and the mean over channels is the
 * error maps', so the term has the units of the error maps and a weight of the
 * anchors' order. L = L_DPO (+ anchor) + guidanceHoldWeight · L_hold, logged
 * unweighted as `loss/guidance`.
 *
 * **Which patches** (`guidanceHoldPatches`): `"all"`, or `"undisputed"` — only the patches
 * whose PRM gap the pair's patch terms do not use (|gap| < τ, or 0; the mean still over
 * every (pair, patch), a skipped one counting 0). Candidates drawn from one noise differ where
 * one has a defect, and at high noise the winner's x_t there is nearly the loser's, so the
 * prompt's direction d at a disputed patch points to the loser's extra blob: holding it blocks
 * the repair the patch term asks for. `"undisputed"` leaves the disputed patches to the
 * preference loss and holds the prompt's signal everywhere else. That was the hypothesis; on
 * validation it changed nothing (README): the repairs the hold gives back are lost to the same
 * drift of the conditional estimate that erases objects, not through the disputed patches.
 *
 * **Measured** (README's settings table; `data/results/validation-g30/halo-ptx.md`): at weight
 * 1000 beside the KL anchor, on prompts no pair shows, it halves the objects post-training erases
 * (18 of 884 clips against 36) and fixes 0.46 of Base's defects against 0.57 — above the trade
 * DPO-Positive's hinge makes — and is level with the KL run on validation ShapesBench.
 *
 * **Which timesteps** (`guidanceHoldFrom` of `dpoStep` and `postTrain`, `--guidance-hold-from`):
 * w(t) above is min-SNR-5 by default — 5 at t = 50, 0.11 at 500, 0.003 at 900 — so the hold sits
 * almost entirely at low noise, while whether an object is drawn is decided at high noise. With
 * `guidanceHoldFrom` T > 0 only the clips at t ≥ T are held, each with w = 1. Measured: at weight
 * ≥ 300 (t ≥ 500 or 700) no object of the 884 vanishes and every global check on those prompts rises
 * above Base, but the extra objects stay too (they are decided at high noise as well) and only
 * 0.24–0.31 of Base's defects are fixed on validation; at 30 (t ≥ 500) 9 vanish with 0.47 fixed,
 * the all-t hold's repairs at half its losses. On the test prompts (experiments, README) neither
 * lifts ShapesBench past the all-t hold's. Neither form is a default.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { fail } from "../core/_errors.ts";
import { numPatches, type PatchGrid, reducePatches } from "../videos/patch.ts";

/** Which patches the guidance hold holds (module doc). */
export type GuidanceHoldPatches = "all" | "undisputed";

/** The values of {@linkcode GuidanceHoldPatches}, for validation and command lines. */
export const GUIDANCE_HOLD_PATCHES: readonly GuidanceHoldPatches[] = Object.freeze([
  "all",
  "undisputed",
]);

/**
 * The unweighted guidance hold of the module doc, a scalar, from clean estimates `[B, T, H, W, 3]`
 * of the chosen clips: the policy's with the prompt (differentiable), the reference's with the
 * prompt and with the null prompt; `weights` is w(t) per clip (`errorWeights`); `held`, when
 * given, `[B, P]` with 1 where a patch is held and 0 where not (the others count 0 in the mean).
 * Call it inside `tf.tidy` or dispose the result.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { guidanceHoldLoss } from "@halo/kit/dpo";
 * const grid = { rows: 1, cols: 2, framesPerPatch: 1 };
 * const at = (l: number, r: number) => tf.tensor([l, l, l, r, r, r], [1, 1, 1, 2, 3]);
 * const reference = at(0.5, 0.5), unconditional = at(-0.5, 0.5); // the prompt adds +1 to the left patch
 * const policy = at(0.3, 0.9); // left: 0.2 toward the unconditional; right: moved across d
 * const hold = guidanceHoldLoss({ policy, reference, unconditional }, { weights: [2], grid });
 * console.log(hold.dataSync()[0].toFixed(2)); // "0.20": mean of max(0, 2 · 0.2 · 1) and 0
 * ```
 */
export function guidanceHoldLoss(
  estimates: { policy: tf.Tensor; reference: tf.Tensor; unconditional: tf.Tensor },
  options: { weights: ArrayLike<number>; grid: PatchGrid; held?: tf.Tensor2D },
): tf.Scalar {
  const where = "guidanceHoldLoss";
  const { policy, reference, unconditional } = estimates;
  for (const [name, x] of Object.entries(estimates)) {
    if (x.rank !== 5 || x.shape[4] !== 3 || x.shape.join() !== policy.shape.join()) {
      fail(`${where} ${name}`, `clean estimates [B, T, H, W, 3] of one shape`, `[${x.shape}]`);
    }
  }
  const b = policy.shape[0];
  if (options.weights.length !== b) fail(where, `${b} weights (one per clip)`, options.weights);
  const P = numPatches(options.grid, policy.shape[1]!);
  if (options.held && options.held.shape.join() !== [b, P].join()) {
    fail(`${where} held`, `a mask of shape [${b}, ${P}]`, `[${options.held.shape}]`);
  }
  return tf.tidy(() => {
    const dot = policy.sub(reference).mul(reference.sub(unconditional)).mean(-1)
      .mul(tf.tensor1d(Array.from(options.weights)).reshape([b, 1, 1, 1]));
    const hinge = reducePatches(dot, options.grid).reshape([b, P]).neg().relu();
    return (options.held ? hinge.mul(options.held) : hinge).mean() as tf.Scalar;
  });
}
