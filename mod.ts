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
export * from "./lib/tensor/backend.ts";
export * from "./lib/cli/_flags.ts";
export * from "./lib/videos/patch.ts";
export * from "./lib/core/png.ts";
export * from "./lib/videos/video.ts";
export * from "./lib/videos/world.ts";
export * from "./lib/reproduce/reproduce.ts";
export * from "./lib/videos/judge.ts";
export * from "./lib/videos/defects.ts";
export * from "./lib/videos/scores.ts";
export * from "./lib/labels/protocol.ts";
export * from "./lib/tensor/nn.ts";
export * from "./lib/tensor/adam.ts";
export * from "./lib/generator/prompt.ts";
export * from "./lib/generator/model.ts";
export * from "./lib/generator/io.ts";
export * from "./lib/generator/train_step.ts";
export * from "./lib/generator/sampler.ts";
export * from "./lib/dpo/loss_maps.ts";
export * from "./lib/dpo/loss.ts";
export * from "./lib/pairs/pairs.ts";
export * from "./lib/cli/pairs.ts";
export * from "./lib/pairs/file.ts";
export * from "./lib/dpo/step.ts";
export * from "./lib/dpo/post_train.ts";
export * from "./lib/eval/evaluate.ts";
export * from "./lib/eval/results.ts";
export * from "./lib/eval/experiment.ts";
export * from "./lib/cli/evaluate.ts";
export * from "./lib/tensor/checkpoint.ts";
export * from "./lib/core/shipped.ts";
export * from "./lib/generator/pretrain.ts";
export * from "./lib/labels/cache.ts";
export * from "./lib/labels/label.ts";
export * from "./lib/labels/cost.ts";
export * from "./lib/labels/retry.ts";
export * from "./lib/labels/judge_server/server.ts";
export * from "./lib/labels/batch.ts";
export * from "./lib/labels/folder.ts";
export * from "./lib/generator/quick_eval.ts";
export * from "./lib/core/agreement.ts";
export * from "./lib/reward/model.ts";
export * from "./lib/reward/score.ts";
export * from "./lib/reward/io.ts";
export * from "./lib/reward/data.ts";
export * from "./lib/reward/train.ts";
export * from "./lib/reward/experiment.ts";
export * from "./lib/reward/seeds.ts";
export * from "./lib/cli/train_rm.ts";
export * from "./lib/videos/defect_cases.ts";
export * from "./lib/videos/sheet.ts";
export * from "./lib/report/figure.ts";
export * from "./lib/report/figure_results.ts";
export * from "./lib/report/figure_defects.ts";
export * from "./lib/report/figure_efficiency.ts";
export * from "./lib/report/plotly.ts";
export * from "./lib/report/figure_png.ts";
export * from "./lib/report/inspect.ts";
export * from "./lib/report/report.ts";
export * from "./lib/cli/figure.ts";
export * from "./lib/report/report_inputs.ts";
export * from "./lib/labels/images.ts";
export * from "./lib/labels/batch_plan.ts";
export * from "./lib/labels/judge_server/request.ts";
export * from "./lib/labels/judge_server/batches.ts";
export * from "./lib/labels/preview.ts";
export * from "./lib/labels/settings.ts";
