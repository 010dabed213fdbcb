/**
 * The candidates of the preference data: clips sampled from a generator for
 * the training prompts (DDIM, one noise seed per clip; with shared noise, one
 * x_T seed per prompt beside it), each written as
 * `clips/<key>.rgb` under a content key and recorded in `candidates*.jsonl`
 * (see `pairs.ts` for the folder's layout). Sampling resumes: a kill loses at
 * most one batch.
 * @module
 */

import { join } from "node:path";
import { appendJsonLines, readJsonLines, writeFileAtomic } from "../core/_atomic.ts";
import { quantizePixels, sha256Hex } from "../core/_hash.ts";
import type { Generator } from "../generator/model.ts";
import { sampleClips } from "../generator/sampler.ts";
import { readParams } from "../tensor/nn.ts";
import type { ShapesPrompt } from "../videos/world.ts";
import { fail } from "../core/_errors.ts";

/** The SHA-256 of a generator's weights (names, shapes, values), read asynchronously. */
export async function generatorHash(gen: Generator): Promise<string> {
  const parts = await readParams(gen.params);
  const header = JSON.stringify({
    config: gen.config,
    tensors: parts.map((p) => [p.name, p.shape]),
  });
  const head = new TextEncoder().encode(header + "\n");
  const total = parts.reduce((n, p) => n + p.values.byteLength, head.length);
  const all = new Uint8Array(total);
  all.set(head);
  let offset = head.length;
  for (const p of parts) {
    all.set(new Uint8Array(p.values.buffer, p.values.byteOffset, p.values.byteLength), offset);
    offset += p.values.byteLength;
  }
  return await sha256Hex(all);
}

/** A sampled candidate, one line of `candidates*.jsonl`. */
export interface CandidateRecord {
  key: string;
  prompt: string;
  seed: number;
  /** The seed of x_T when the prompt's candidates share it (`sharedNoise`); absent otherwise. */
  noiseSeed?: number;
  clip: string;
  sha256: string;
}

/** One candidate clip to sample: its prompt, noise seed and content key. */
export interface CandidateItem {
  /** The prompt. */
  prompt: ShapesPrompt;
  /** Noise seed of the clip (x_T's and η's, or η's alone when `noiseSeed` is given). */
  seed: number;
  /** Seed of x_T alone, shared by the candidates of a prompt (`sharedNoise`). */
  noiseSeed?: number;
  /** SHA-256 of what determines the clip (the clip file is `clips/<key>.rgb`). */
  key: string;
}

/** A shard of candidates to sample, as JSON for a child process. */
export interface CandidateJob {
  /** Pairs folder (clips go to `<out>/clips/`). */
  out: string;
  /** JSONL the records are appended to (`candidates*.jsonl` in `out`). */
  log: string;
  /** The clips, prompts as text. */
  items: Array<{ prompt: string; seed: number; noiseSeed?: number; key: string }>;
  /** DDIM steps. */
  steps: number;
  /** Classifier-free guidance. */
  guidance: number;
  /** Clips per sampling batch. */
  batchSize: number;
  /** DDIM η. Default: the sampler's (0). */
  eta?: number;
}

/** Every candidate record of a pairs folder (`candidates*.jsonl`), by key. */
export async function readCandidates(out: string): Promise<Map<string, CandidateRecord>> {
  const known = new Map<string, CandidateRecord>();
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(out)].map((e) => e.name)
      .filter((n) => /^candidates(\.\d+)?\.jsonl$/.test(n)).sort();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const name of names) {
    for (const r of await readJsonLines<CandidateRecord>(join(out, name))) known.set(r.key, r);
  }
  return known;
}

/**
 * Samples candidate clips batch by batch, writes each clip atomically as
 * `clips/<key>.rgb` and appends its record to `log` after every batch (so a
 * kill loses at most one batch). Resolves to the records written.
 */
export async function sampleCandidates(
  generator: Generator,
  job: Omit<CandidateJob, "items"> & { items: CandidateItem[]; onChunk?: (n: number) => void },
): Promise<CandidateRecord[]> {
  const written: CandidateRecord[] = [];
  for (let start = 0; start < job.items.length; start += job.batchSize) {
    const chunk = job.items.slice(start, start + job.batchSize);
    const shared = chunk.filter((w) => w.noiseSeed !== undefined).length;
    if (shared !== 0 && shared !== chunk.length) {
      fail(
        "sampleCandidates",
        "a noiseSeed on every item of a batch or on none",
        `${shared} of ${chunk.length}`,
      );
    }
    const clips = await sampleClips(generator, chunk.map((w) => w.prompt), {
      steps: job.steps,
      guidance: job.guidance,
      seeds: chunk.map((w) => w.seed),
      ...(shared ? { noiseSeeds: chunk.map((w) => w.noiseSeed!) } : {}),
      ...(job.eta !== undefined ? { eta: job.eta } : {}),
      batchSize: job.batchSize,
    });
    const records: CandidateRecord[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const bytes = quantizePixels(clips[i].frames);
      const clip = `clips/${chunk[i].key}.rgb`;
      await writeFileAtomic(join(job.out, clip), bytes);
      records.push({
        key: chunk[i].key,
        prompt: chunk[i].prompt.text,
        seed: chunk[i].seed,
        ...(shared ? { noiseSeed: chunk[i].noiseSeed } : {}),
        clip,
        sha256: await sha256Hex(bytes),
      });
    }
    await appendJsonLines(job.log, records);
    written.push(...records);
    job.onChunk?.(chunk.length);
  }
  return written;
}
