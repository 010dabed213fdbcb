/**
 * The generator samples of the reward data, in chunks: one process per core
 * (`lib/reward/_samples_job.ts` children through `lib/core/_spawn.ts`) or in
 * this one, with a progress bar either way. Every chunk starts at its place in
 * the seed's noise (`streamOffset`) and at a multiple of the sampler's batch, so
 * the clips are exactly those of one `sampleClips` call over the whole list —
 * the same labels, the same models, whatever the number of cores.
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../core/_atomic.ts";
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
};

/** Samples one chunk and writes its frames (float32, exactly as sampled) to `job.file`. */
export async function writeSamples(generator: Generator, job: SamplesJob): Promise<void> {
  const clips = await sampleClips(generator, job.prompts, {
    seed: job.seed,
    steps: job.steps,
    streamOffset: job.offset,
  });
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
  /** Noise seed of the list. */
  seed: number;
  /** DDIM steps. */
  steps: number;
  /** Processes; 1 samples in this one. Default: the machine's cores. */
  jobs?: number;
  /** A folder the children may write to (under `out/`); their chunk files are removed after. */
  scratch: string;
  /** Progress bar label. */
  label: string;
  /** Silence the progress bar. */
  quiet?: boolean;
  /** Clips per chunk, a multiple of the sampler's batch (8). Default 128 (tests use fewer). */
  chunk?: number;
}

/**
 * The clips `sampleClips(generator, prompts, { seed, steps })` returns, sampled
 * in chunks across processes.
 */
export async function sampleDatasetClips(
  prompts: readonly string[],
  options: SampleDatasetClipsOptions,
): Promise<Video[]> {
  const { generator, seed, steps } = options;
  const c = generator.config;
  const perClip = c.frames * c.size * c.size * 3;
  const progress = new Progress(prompts.length, {
    label: options.label,
    unit: "clips",
    quiet: options.quiet,
  });
  const size = options.chunk ?? CHUNK;
  const chunks = Array.from(
    { length: Math.ceil(prompts.length / size) },
    (_, k) => ({ offset: k * size, prompts: prompts.slice(k * size, (k + 1) * size) }),
  );
  const frames: Float32Array[] = [];
  const jobs = Math.min(options.jobs ?? defaultJobs(), chunks.length);
  if (jobs > 1) {
    const dir = join(options.scratch, `.samples-${seed}-${crypto.randomUUID().slice(0, 8)}`);
    await Deno.mkdir(dir, { recursive: true });
    try {
      const specs: SamplesJob[] = chunks.map((chunk, k) => ({
        kind: "generator-samples",
        generatorDir: options.generatorDir,
        seed,
        steps,
        ...chunk,
        file: join(dir, `chunk-${k}.f32`),
      }));
      await runJobs(specs, {
        concurrency: jobs,
        entry: SAMPLES_JOB,
        onDone: (job) => progress.tick((job.prompts as string[]).length),
      });
      for (const spec of specs) {
        const bytes = await Deno.readFile(spec.file);
        frames.push(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  } else {
    for (const chunk of chunks) {
      const clips = await sampleClips(generator, chunk.prompts, {
        seed,
        steps,
        streamOffset: chunk.offset,
      });
      for (const clip of clips) frames.push(clip.frames);
      progress.tick(chunk.prompts.length);
    }
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
