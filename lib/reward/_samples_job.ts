/**
 * The child side of `lib/core/_spawn.ts` for the reward data: `deno run
 * lib/reward/_samples_job.ts`, its job one line of JSON on stdin, samples one
 * chunk of generator clips with the same function the parent would call
 * in-process.
 * @module
 */

import { runAsChild } from "../core/_spawn.ts";
import { loadGenerator } from "../generator/io.ts";
import { disposeGenerator } from "../generator/model.ts";
import { initBackend } from "../tensor/backend.ts";
import { type SamplesJob, writeSamples } from "./_samples.ts";

if (import.meta.main) {
  await runAsChild(async (job: SamplesJob) => {
    await initBackend();
    const { generator } = await loadGenerator(job.generatorDir);
    try {
      await writeSamples(generator, job);
    } finally {
      disposeGenerator(generator);
    }
  });
}
