/**
 * The generator samples of the reward data, in chunks: one process per core
 * (`lib/reward/_samples_job.ts` children through `lib/core/_spawn.ts`) or in
 * this one, with a progress bar either way. Every chunk starts at its place in
 * the seed's noise (`streamOffset`) and at a multiple of the sampler's batch, so
 * the clips are exactly those of one `sampleClips` call over the whole list —
 * the same labels, the same models, whatever the number of cores. Each chunk is
 * kept in a cache folder under a key of everything that makes it (generator
 * weights, seed, place, prompts, steps): a killed run resumes at the chunk it
 * was on, and a second reward model on the same clips samples nothing.
 *
 * With `sharedNoise` every group of `group` consecutive clips (the clips of one
 * prompt, `clipsPerPrompt`) starts from one x_T and differs by the DDIM η step
 * noise alone, as `deno task pairs --shared-noise` draws its candidates: patch k
 * of two clips of a group is the same place and time, which a patch-level
 * pairwise loss compares. Seeds come from the clip's place in the list, so the
 * chunks still give the clips of one process.
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import { sha256Hex } from "../core/_hash.ts";
import { createRng } from "../core/_rng.ts";
import { Progress } from "../core/_progress.ts";
import { defaultJobs, runJobs } from "../core/_spawn.ts";
import type { Generator } from "../generator/model.ts";
import { sampleClips } from "../generator/sampler.ts";
import type { Video } from "../videos/video.ts";

const SAMPLES_JOB = new URL("./_samples_job.ts", import.meta.url).href;

/** Clips per chunk: a multiple of the sampler's batch (8), about a minute of sampling here. */
const CHUNK = 128;

/** One chunk for a child process: the clips at `offset…` of the seed's noise, written to `file`. */
export type SamplesJob = {
  /** Always "generator-samples". */
  kind: "generator-samples";
  /** Generator checkpoint (a path or URL). */
  generatorDir: string;
  /** The chunk's prompts. */
  prompts: string[];
  /** Noise seed of the whole list. */
  seed: number;
  /** The chunk's first place in the list. */
  offset: number;
  /** DDIM steps. */
  steps: number;
  /** Where the clips go: their frames, float32, one after another. */
  file: string;
  /** Clips of one prompt from one x_T (see the module doc); absent: one noise stream. */
  sharedNoise?: SharedNoise;
};

/** Groups of clips from one x_T: `group` consecutive clips, DDIM η for their step noise. */
export type SharedNoise = { group: number; eta: number };

/** A stable 32-bit seed for place `index` of the list under `seed` (`salt` keeps streams apart). */
function placeSeed(seed: number, index: number, salt: number): number {
  return createRng((Math.imul(seed, 0x9e3779b1) + Math.imul(index, 0x85ebca6b) + salt) >>> 0)
    .seed();
}

/** Samples one chunk and writes its frames (float32, exactly as sampled) to `job.file`. */
export async function writeSamples(generator: Generator, job: SamplesJob): Promise<void> {
  const shared = job.sharedNoise;
  const places = job.prompts.map((_, i) => job.offset + i);
  const clips = await sampleClips(
    generator,
    job.prompts,
    shared
      ? {
        steps: job.steps,
        eta: shared.eta,
        seeds: places.map((k) => placeSeed(job.seed, k, 0x165667b1)),
        noiseSeeds: places.map((k) =>
          placeSeed(job.seed, Math.floor(k / shared.group), 0x27d4eb2f)
        ),
      }
      : { seed: job.seed, steps: job.steps, streamOffset: job.offset },
  );
  const data = new Float32Array(clips.reduce((n, c) => n + c.frames.length, 0));
  let at = 0;
  for (const c of clips) {
    data.set(c.frames, at);
    at += c.frames.length;
  }
  await writeFileAtomic(job.file, new Uint8Array(data.buffer));
}

/** Options for {@linkcode sampleDatasetClips}. */
export interface SampleDatasetClipsOptions {
  /** The loaded generator (serial chunks and the clips' shape). */
  generator: Generator;
  /** Its checkpoint, for child processes. */
  generatorDir: string;
  /** SHA-256 of its weights (the cache key). */
  generatorSha256: string;
  /** Noise seed of the list. */
  seed: number;
  /** DDIM steps. */
  steps: number;
  /** Processes; 1 samples in this one. Default: the machine's cores. */
  jobs?: number;
  /** The chunk cache: a folder the children may write to (under `out/` for the tasks). */
  cache: string;
  /** Progress bar label. */
  label: string;
  /** Silence the progress bar. */
  quiet?: boolean;
  /** Clips per chunk, a multiple of the sampler's batch (8). Default 128 (tests use fewer). */
  chunk?: number;
  /** Consecutive groups of clips from one x_T (see the module doc). Default: one noise stream. */
  sharedNoise?: SharedNoise;
}

/**
 * The clips `sampleClips(generator, prompts, { seed, steps })` returns (or, with
 * `sharedNoise`, the groups from one x_T each), sampled in chunks across processes.
 */
export async function sampleDatasetClips(
  prompts: readonly string[],
  options: SampleDatasetClipsOptions,
): Promise<Video[]> {
  const { generator, seed, steps } = options;
  const c = generator.config;
  const perClip = c.frames * c.size * c.size * 3;
  const size = options.chunk ?? CHUNK;
  const chunks = Array.from(
    { length: Math.ceil(prompts.length / size) },
    (_, k) => ({ offset: k * size, prompts: prompts.slice(k * size, (k + 1) * size) }),
  );
  // in the key only when used, so the caches of earlier runs keep their keys
  const shared = options.sharedNoise ? { sharedNoise: options.sharedNoise } : {};
  await Deno.mkdir(options.cache, { recursive: true });
  const bytesPerChunk = (n: number) => n * perClip * 4;
  const specs: SamplesJob[] = [];
  for (const chunk of chunks) {
    const key = await sha256Hex(JSON.stringify({
      generator: options.generatorSha256,
      seed,
      steps,
      offset: chunk.offset,
      prompts: chunk.prompts,
      ...shared,
    }));
    specs.push({
      kind: "generator-samples",
      generatorDir: options.generatorDir,
      seed,
      steps,
      ...chunk,
      ...shared,
      file: join(options.cache, `${key.slice(0, 24)}.f32`),
    });
  }
  const missing: SamplesJob[] = [];
  for (const spec of specs) {
    const size = await Deno.stat(spec.file).then((s) => s.size, () => -1);
    if (size !== bytesPerChunk(spec.prompts.length)) missing.push(spec);
  }
  const cached = prompts.length - missing.reduce((n, s) => n + s.prompts.length, 0);
  const progress = new Progress(prompts.length, {
    label: options.label,
    unit: "clips",
    quiet: options.quiet || missing.length === 0,
    initial: cached,
  });
  // children need to run Deno itself; without that permission the chunks run here
  const mayRun =
    Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state === "granted";
  const jobs = mayRun ? Math.min(options.jobs ?? defaultJobs(), missing.length) : 1;
  if (jobs > 1) {
    await runJobs(missing, {
      concurrency: jobs,
      entry: SAMPLES_JOB,
      onDone: (job) => progress.tick((job.prompts as string[]).length),
    });
  } else {
    for (const spec of missing) {
      await writeSamples(generator, spec);
      progress.tick(spec.prompts.length);
    }
  }
  const frames: Float32Array[] = [];
  for (const spec of specs) {
    const bytes = await Deno.readFile(spec.file);
    if (bytes.length !== bytesPerChunk(spec.prompts.length)) {
      fail(spec.file, `${bytesPerChunk(spec.prompts.length)} bytes of samples`, bytes.length);
    }
    frames.push(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  }
  // one clip per prompt, cut out of the chunks' frames
  const videos: Video[] = [];
  for (const data of frames) {
    for (let at = 0; at < data.length; at += perClip) {
      videos.push({
        frames: data.slice(at, at + perClip),
        numFrames: c.frames,
        height: c.size,
        width: c.size,
        fps: 8,
        source: `generator:${prompts[videos.length]}:seed=${seed}#${videos.length}`,
      });
    }
  }
  return videos;
}
