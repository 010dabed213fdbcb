/**
 * Patch labels distilled from a VLM: the wire protocol of one labelling
 * request (`protocol.ts`), its images (`images.ts`), the labeller with its
 * cache, retries and cost budget (`label.ts`, `cache.ts`, `retry.ts`,
 * `cost.ts`), the Batch API path and its planning (`batch.ts`,
 * `batch_plan.ts`, `preview.ts`), folders of videos (`folder.ts`), the choice
 * of request settings (`settings.ts`), and `judge_server/`: a GPT-4o-compatible
 * server on loopback that answers from the reference judge with noise.
 *
 * Paper step: §3.1, GPT-4o patch annotations. Reads: videos and
 * `prompts.json`. Writes: label files (JSONL, also the cache) and Batch API
 * state. Internal: `_batch_state.ts`.
 * @module
 */

export * from "./batch.ts";
export * from "./batch_plan.ts";
export * from "./cache.ts";
export * from "./cost.ts";
export * from "./folder.ts";
export * from "./images.ts";
export * from "./judge_server/batches.ts";
export * from "./judge_server/request.ts";
export * from "./judge_server/server.ts";
export * from "./label.ts";
export * from "./preview.ts";
export * from "./protocol.ts";
export * from "./retry.ts";
export * from "./settings.ts";
