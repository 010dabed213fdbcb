/**
 * Post-training: the Diffusion-DPO and Gran-DPO losses (`loss.ts`: video
 * term + λ · per-patch terms with directions from the PRM), the opt-in
 * anchoring term toward the reference on the winners (`anchor.ts`), the opt-in
 * guidance hold on them (`guidance_hold.ts`), the weights left as pretrained
 * (`freeze.ts`), the per-patch
 * error maps they compare (`loss_maps.ts`), one optimiser step (`step.ts`)
 * the resumable post-training run (`post_train.ts`) and its on-policy rounds
 * (`iterative.ts`).
 *
 * Paper step: §3.3, Gran-DPO. Reads: pairs and the base generator. Writes: the
 * policy checkpoint and its TRL-style log.
 * @module
 */

export * from "./anchor.ts";
export * from "./freeze.ts";
export * from "./guidance_hold.ts";
export * from "./iterative.ts";
export * from "./loss.ts";
export * from "./loss_maps.ts";
export * from "./post_train.ts";
export * from "./step.ts";
