/**
 * Subprocess fixture of tests/webgpu_kernels_test.ts: one training step of the default generator
 * at a batch size on the backend `HALO_BACKEND` names, optionally in passes of a micro-batch;
 * prints `{backend, loss, gpuErrors}` or `{backend, error}` as one line of JSON.
 *
 * Usage: HALO_BACKEND=webgpu deno run <task permissions> tests/_big_batch_run.ts 64 [microBatch]
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { createRng } from "../lib/core/_rng.ts";
import {
  createGenerator,
  DEFAULT_GENERATOR_CONFIG,
  disposeGenerator,
} from "../lib/generator/model.ts";
import { makeBatch } from "../lib/generator/diffusion.ts";
import { trainStep } from "../lib/generator/train_step.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { watchGpuErrors } from "./_helpers.ts";

const PROMPTS = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
  "three green triangles moving right slowly on a navy background",
];

if (import.meta.main) {
  const batchSize = Number(Deno.args[0] ?? 64);
  const microBatch = Deno.args[1] ? Number(Deno.args[1]) : undefined;
  const choice = await initBackend();
  const gpuErrors = watchGpuErrors();
  const gen = createGenerator(DEFAULT_GENERATOR_CONFIG, { seed: 1 });
  const adam = createAdam(gen.params, { learningRate: 1e-3 });
  const prompts = Array.from({ length: batchSize }, (_, i) => parsePrompt(PROMPTS[i % 3]));
  const batch = makeBatch(gen.config, prompts, { seeds: prompts.map((_, i) => i) });
  try {
    const loss = await trainStep(gen, adam, batch, { rng: createRng(2), microBatch });
    console.log(JSON.stringify({ backend: choice.name, loss, gpuErrors }));
  } catch (error) {
    console.log(JSON.stringify({ backend: choice.name, error: (error as Error).message }));
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
  }
}
