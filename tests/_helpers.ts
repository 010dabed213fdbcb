/** Shared test fixtures: paths and small random videos. */
import * as tf from "@tensorflow/tfjs";
import { createRng } from "../lib/core/_rng.ts";
import { type Adam, createAdam } from "../lib/tensor/adam.ts";
import { paramGrads } from "../lib/tensor/nn.ts";
import { createGenerator, type Generator } from "../lib/generator/model.ts";
import { createVideo, type Video } from "../lib/videos/video.ts";

/** The real text-to-video outputs beside the repository. */
export const SHARED_VIDEOS: string = new URL("../../shared/videos/", import.meta.url).pathname;

/** A deterministic random video. */
export function randomVideo(numFrames: number, height: number, width: number, seed = 1): Video {
  const rng = createRng(seed);
  const frames = Float32Array.from({ length: numFrames * height * width * 3 }, () => rng.next());
  return createVideo({ frames, numFrames, height, width, fps: 8, source: `random:${seed}` });
}

/** A smooth moving-gradient video (compresses well, so lossy codecs keep it close). */
export function smoothVideo(numFrames: number, height: number, width: number): Video {
  const frames = new Float32Array(numFrames * height * width * 3);
  for (let t = 0; t < numFrames; t++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = ((t * height + y) * width + x) * 3;
        frames[i] = 0.2 + 0.6 * (x / width);
        frames[i + 1] = 0.2 + 0.6 * (y / height);
        frames[i + 2] = 0.2 + 0.6 * ((t + x) % numFrames) / numFrames;
      }
    }
  }
  return createVideo({ frames, numFrames, height, width, fps: 8, source: "smooth" });
}

/** Runs `fn` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "halo-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The permissions every `deno task` of the kit runs with (deno.json); subprocess tests use the same. */
export { TASK_PERMISSIONS } from "../lib/core/_spawn.ts";

/** The CLI entry point the tasks run. */
export const MAIN: string = new URL("../lib/cli/main.ts", import.meta.url).pathname;

/** A generator config small enough for tests to train and sample in seconds. */
export const TINY_GENERATOR = {
  frames: 4,
  size: 16,
  dim: 16,
  depth: 1,
  heads: 2,
  tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 },
};

/** Collects the validation errors the active WebGPU device reports from now on (none elsewhere). */
export function watchGpuErrors(): string[] {
  const errors: string[] = [];
  if (tf.getBackend() === "webgpu") {
    const device = (tf.backend() as unknown as { device: EventTarget }).device;
    device.addEventListener("uncapturederror", (event) => {
      errors.push(String((event as Event & { error?: { message?: string } }).error?.message));
    });
  }
  return errors;
}

/** Whether a WebGPU adapter exists here; CI installs lavapipe, so there a missing one fails the test. */
export async function haveWebGpu(): Promise<boolean> {
  const { probeWebGpu } = await import("../lib/tensor/backend.ts");
  const probe = await probeWebGpu();
  if (!probe.available && Deno.env.get("CI")) {
    throw new Error(`CI installs lavapipe, so a WebGPU adapter must exist: ${probe.description}`);
  }
  return probe.available;
}

/** A tiny generator after one Adam step, so its optimiser moments are non-trivial (checkpoint tests). */
export function steppedGenerator(seed: number): { gen: Generator; adam: Adam } {
  const gen = createGenerator(TINY_GENERATOR, { seed });
  const adam = createAdam(gen.params);
  const { value, grads } = paramGrads(gen.params, () => {
    let s = gen.params.get("embed.w")!.square().sum();
    for (const v of gen.params.values()) s = s.add(v.sum());
    return s as tf.Scalar;
  });
  adam.apply(grads);
  value.dispose();
  Object.values(grads).forEach((g) => g.dispose());
  return { gen, adam };
}
