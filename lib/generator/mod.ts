/**
 * The text-to-video diffusion generator that HALO post-trains: a small DiT
 * (`model.ts`), its forward process and training batches (`diffusion.ts`), its prompt encoder (`prompt.ts`), the DDIM sampler with
 * classifier-free guidance (`sampler.ts`), the training step
 * (`train_step.ts`), pretraining on ShapesWorld (`pretrain.ts`; data-parallel with
 * `workers`), the sample sheet (`samples.ts`) and the quick colour/judge evaluation
 * (`quick_eval.ts`).
 *
 * Paper step: the base model (the paper post-trains VideoCrafter2; we pretrain
 * our own, DESIGN §2). Reads and writes: generator checkpoints (`io.ts`;
 * `data/generator/`, `shipped.generator`).
 * @module
 */

export * from "./diffusion.ts";
export * from "./io.ts";
export * from "./model.ts";
export * from "./pretrain.ts";
export * from "./prompt.ts";
export * from "./quick_eval.ts";
export * from "./sampler.ts";
export * from "./samples.ts";
export * from "./train_step.ts";
