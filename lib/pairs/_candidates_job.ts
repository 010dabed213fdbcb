/**
 * The child side of `lib/core/_spawn.ts` for the pairs stage: `deno run
 * lib/pairs/_candidates_job.ts`, its job one line of JSON on stdin, samples one
 * shard of preference candidates with the same function the parent would call
 * in-process.
 * @module
 */

import { runAsChild } from "../core/_spawn.ts";
import { disposeGenerator } from "../generator/model.ts";
import { loadGenerator } from "../generator/io.ts";
import { initBackend } from "../tensor/backend.ts";
import { parsePrompt } from "../videos/world.ts";
import { type CandidateJob, sampleCandidates } from "./candidates.ts";

/** One shard: the generator to load and the candidates to sample. */
export interface CandidatesJob {
  /** Always "candidates". */
  kind: "candidates";
  /** Generator checkpoint (a path or URL). */
  generatorDir: string;
  /** The shard. */
  job: CandidateJob;
}

/** Samples one shard of candidates in this process. */
export async function runCandidatesJob(job: CandidatesJob): Promise<void> {
  const { generator } = await loadGenerator(job.generatorDir);
  try {
    const items = job.job.items.map((i) => ({ ...i, prompt: parsePrompt(i.prompt) }));
    await sampleCandidates(generator, { ...job.job, items });
  } finally {
    disposeGenerator(generator);
  }
}

if (import.meta.main) {
  await runAsChild(async (job: CandidatesJob) => {
    await initBackend();
    await runCandidatesJob(job);
  });
}
