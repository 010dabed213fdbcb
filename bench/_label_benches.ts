/**
 * Labelling throughput: videos labelled per second through the real `openai`
 * client against the judge server on loopback, with a fixed simulated latency
 * (a stand-in for GPT-4o's), at several concurrency levels.
 * @module
 */

import { createRng } from "../lib/_rng.ts";
import { startJudgeServer } from "../lib/judge_server.ts";
import { labelVideos } from "../lib/label.ts";
import { renderClip, samplePrompt } from "../lib/world.ts";
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
