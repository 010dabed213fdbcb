/**
 * Labelling throughput: videos labelled per second through the real `openai`
 * client against the judge server on loopback — the direct path with a fixed
 * simulated latency (a stand-in for GPT-4o's) at several concurrency levels,
 * and the Batch API path (build and upload the input files, create and poll
 * the batches, download, validate and merge into the cache) with the judge
 * server working through each batch as fast as it can judge.
 * @module
 */

import { createRng } from "../lib/core/_rng.ts";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { labelVideos } from "../lib/labels/label.ts";
import { labelBatch } from "../lib/labels/batch.ts";
import { renderClip, samplePrompt } from "../lib/videos/world.ts";
import type { Bench } from "./_harness.ts";

/** Simulated judge latency of the labelling benches, ms. */
export const LABEL_LATENCY_MS = 200;

/** One bench per concurrency level; each run labels `videos` clips with no cache. */
export function labelBenches(concurrencies: readonly number[] = [1, 4, 16], videos = 16): Bench[] {
  return concurrencies.map((concurrency) => ({
    name: `label ${videos} videos, ${LABEL_LATENCY_MS} ms judge, concurrency ${concurrency}`,
    unit: "videos",
    perBackend: false,
    setup() {
      const rng = createRng(1234);
      const items = Array.from({ length: videos }, (_, i) => {
        const prompt = samplePrompt(rng);
        return { video: renderClip(prompt, { seed: i }).video, prompt: prompt.text };
      });
      const server = startJudgeServer({ port: 0, latencyMs: LABEL_LATENCY_MS });
      return Promise.resolve({
        async run() {
          const report = await labelVideos(items, {
            baseURL: server.url,
            concurrency,
            quiet: true,
          });
          if (report.failed > 0) throw new Error(`${report.failed} of ${videos} items failed`);
        },
        items: videos,
        flops: 0,
        dispose: () => void server.close(),
      });
    },
  }));
}

/** Videos per Batch API bench run, and requests per input file. */
export const BATCH_BENCH = { videos: 64, perFile: 16, inFlight: 2 } as const;

/**
 * The Batch API path end to end on {@linkcode BATCH_BENCH}'s clips: a fresh cache every run,
 * 4 input files, 2 batches in flight, polled every 20 ms, status steps of 10 ms.
 */
export function batchLabelBench(): Bench {
  const { videos, perFile, inFlight } = BATCH_BENCH;
  return {
    name: `label ${videos} videos, batch path, ${perFile} per file, ${inFlight} in flight`,
    unit: "videos",
    perBackend: false,
    async setup() {
      const rng = createRng(1234);
      const items = Array.from({ length: videos }, (_, i) => {
        const prompt = samplePrompt(rng);
        return { video: renderClip(prompt, { seed: i }).video, prompt: prompt.text };
      });
      const server = startJudgeServer({ port: 0, batchStepMs: 10 });
      const dir = await Deno.makeTempDir({ prefix: "halo-batch-bench-" });
      let run = 0;
      return {
        async run() {
          const report = await labelBatch(items, {
            baseURL: server.url,
            cache: `${dir}/labels-${run++}.jsonl`,
            maxRequestsPerFile: perFile,
            maxInFlight: inFlight,
            pollMs: 20,
            quiet: true,
          });
          if (report.labelled !== videos) {
            throw new Error(`${videos - report.labelled} of ${videos} items not labelled`);
          }
        },
        items: videos,
        flops: 0,
        dispose: () => {
          void server.close();
          void Deno.remove(dir, { recursive: true }).catch(() => {});
        },
      };
    },
  };
}
