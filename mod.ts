/**
 * HALO kit: post-training text-to-video diffusion with patch-level reward
 * models and Gran-DPO, reproduced step by step (arXiv 2502.06812).
 *
 * @example
 * ```ts
 * import { parseGrid, patchIds } from "@halo/kit";
 * console.log(patchIds(parseGrid("2x2x4"), 8)); // ["s0r0c0", …, "s1r1c1"]
 * ```
 * @module
 */
export * from "./lib/backend.ts";
export * from "./lib/cli.ts";
export * from "./lib/patch.ts";
export * from "./lib/png.ts";
export * from "./lib/video.ts";
export * from "./lib/world.ts";
export * from "./lib/reproduce.ts";
export * from "./lib/judge.ts";
export * from "./lib/defects.ts";
export * from "./lib/label_protocol.ts";
export * from "./lib/_nn.ts";
export * from "./lib/adam.ts";
export * from "./lib/prompt.ts";
export * from "./lib/generator.ts";
export * from "./lib/generator_train.ts";
export * from "./lib/sampler.ts";
export * from "./lib/loss_maps.ts";
export * from "./lib/dpo.ts";
export * from "./lib/pairs.ts";
export * from "./lib/pairs_cli.ts";
export * from "./lib/pairs_file.ts";
export * from "./lib/dpo_step.ts";
export * from "./lib/post_train.ts";
export * from "./lib/eval.ts";
export * from "./lib/results.ts";
export * from "./lib/halo_experiment.ts";
export * from "./lib/eval_cli.ts";
export * from "./lib/checkpoint.ts";
export * from "./lib/pretrain.ts";
export * from "./lib/label_cache.ts";
export * from "./lib/label.ts";
export * from "./lib/label_cost.ts";
export * from "./lib/label_retry.ts";
export * from "./lib/judge_server.ts";
export * from "./lib/label_batch.ts";
export * from "./lib/label_cli.ts";
export * from "./lib/generator_eval.ts";
export * from "./lib/agreement.ts";
export * from "./lib/reward.ts";
export * from "./lib/reward_data.ts";
export * from "./lib/reward_train.ts";
export * from "./lib/reward_seeds.ts";
export * from "./lib/reward_cli.ts";
export * from "./lib/defect_cases.ts";
export * from "./lib/plot.ts";
export * from "./lib/figure.ts";
export * from "./lib/figure_results.ts";
export * from "./lib/figure_defects.ts";
export * from "./lib/plotly.ts";
export * from "./lib/figure_png.ts";
export * from "./lib/inspect.ts";
export * from "./lib/report.ts";
export * from "./lib/figure_cli.ts";
export * from "./lib/report_inputs.ts";
export * from "./lib/label_images.ts";
export * from "./lib/batch_plan.ts";
export * from "./lib/judge_request.ts";
export * from "./lib/judge_batches.ts";
export * from "./lib/label_preview.ts";
export * from "./lib/label_settings.ts";
