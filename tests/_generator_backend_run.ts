/**
 * Subprocess fixture of tests/generator_test.ts: on the backend `HALO_BACKEND` names, trains the
 * tiny generator for a few steps, samples clips, saves and reloads a checkpoint with its Adam state
 * and takes one more step from both copies; prints what it measured as one line of JSON
 * ({@linkcode BackendRun}). Every value comes back with an asynchronous read, as WebGPU in Deno
 * cannot read synchronously.
 *
 * Usage: HALO_BACKEND=webgpu deno run <task permissions> tests/_generator_backend_run.ts
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { readParams } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { createRng } from "../lib/core/_rng.ts";
import { loadCheckpoint } from "../lib/tensor/checkpoint.ts";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { makeBatch } from "../lib/generator/diffusion.ts";
import { loadGenerator, saveGenerator } from "../lib/generator/io.ts";
import { trainStep } from "../lib/generator/train_step.ts";
import { sampleClips } from "../lib/generator/sampler.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { TINY_GENERATOR, watchGpuErrors } from "./_helpers.ts";

/** What one run measured. */
export interface BackendRun {
  /** The tfjs backend the run used. */
  backend: string;
  /** The WebGPU adapter, if any. */
  adapter?: string;
  /** The loss of each training step. */
  losses: number[];
  /** Median milliseconds per training step (after the first, which compiles shaders). */
  stepMs: number;
  /** Sampled clips' pixels, concatenated. */
  samples: number[];
  /** Milliseconds of the sampling call. */
  sampleMs: number;
  /** Whether the reloaded weights and Adam moments equal the saved ones bit for bit. */
  checkpointExact: boolean;
  /** The loss of one more step from the live model and from the reloaded checkpoint. */
  resumed: { live: number; reloaded: number };
  /** Validation errors the WebGPU device reported (a broken kernel shows up here). */
  gpuErrors: string[];
}

/** The prompts of the run (one clip each). */
export const RUN_PROMPTS: readonly string[] = [
  "one red circle moving up slowly on a black background",
  "two blue squares moving left quickly on a gray background",
];

/** Runs the measurement on the active backend. */
export async function backendRun(steps = 10): Promise<BackendRun> {
  const choice = await initBackend();
  const gpuErrors = watchGpuErrors();
  const prompts = RUN_PROMPTS.map(parsePrompt);
  const gen = createGenerator(TINY_GENERATOR, { seed: 1 });
  const adam = createAdam(gen.params, { learningRate: 3e-3 });
  const batch = makeBatch(gen.config, prompts, { seeds: [1, 2] });
  const dir = await Deno.makeTempDir({ prefix: "halo-backend-run-" });
  try {
    const rng = createRng(2);
    const losses: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      losses.push(await trainStep(gen, adam, batch, { rng }));
      times.push(performance.now() - t0);
    }
    const t0 = performance.now();
    const clips = await sampleClips(gen, prompts, { steps: 3, seed: 1 });
    const sampleMs = performance.now() - t0;

    await saveGenerator(`${dir}/g`, gen, { step: steps, optimizer: adam });
    const { generator } = await loadGenerator(`${dir}/g`);
    const adam2 = createAdam(generator.params, { learningRate: 3e-3 });
    try {
      await loadCheckpoint(`${dir}/g`, {
        kind: "generator",
        config: generator.config,
        params: generator.params,
        optimizer: adam2,
      });
      const same = async (a: Parameters<typeof readParams>[0], b: typeof a) => {
        const [x, y] = await Promise.all([readParams(a), readParams(b)]);
        return x.length === y.length &&
          x.every((p, i) =>
            p.name === y[i].name && p.values.length === y[i].values.length &&
            p.values.every((v, j) => Object.is(v, y[i].values[j]))
          );
      };
      const checkpointExact = await same(gen.params, generator.params) &&
        await same(adam.state().tensors, adam2.state().tensors) &&
        adam.step === adam2.step;
      const resumed = {
        live: await trainStep(gen, adam, batch, { rng: createRng(7) }),
        reloaded: await trainStep(generator, adam2, batch, { rng: createRng(7) }),
      };
      const sorted = times.slice(1).sort((a, b) => a - b);
      return {
        backend: choice.name,
        ...(choice.adapter ? { adapter: choice.adapter } : {}),
        losses,
        stepMs: sorted[Math.floor(sorted.length / 2)] ?? times[0],
        samples: clips.flatMap((c) => Array.from(c.frames)),
        sampleMs,
        checkpointExact,
        resumed,
        gpuErrors,
      };
    } finally {
      adam2.dispose();
      disposeGenerator(generator);
    }
  } finally {
    tf.dispose([batch.x0, batch.tokens]);
    adam.dispose();
    disposeGenerator(gen);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await backendRun()));
}
