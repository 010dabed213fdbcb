/**
 * The whole reproduction, stage by stage and resumable: videos, world,
 * generator, labels, reward, dpo, eval, then the report (`deno task
 * reproduce`).
 *
 * Paper step: all of them, in order. Reads: the shipped checkpoints and
 * `../shared/videos`. Writes: `out/reproduce/<stage>/` and
 * `out/report.html`.
 * @module
 */

export * from "./reproduce.ts";
