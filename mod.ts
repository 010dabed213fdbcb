/**
 * HALO kit: post-training text-to-video diffusion with patch-level reward
 * models and Gran-DPO, reproduced step by step (arXiv 2502.06812).
 *
 * This module is the curated API: what a notebook cell or a script calls, one
 * group per paper stage, with its option and result types. Each stage has its
 * own sub-path with everything it exports (`@halo/kit/videos`,
 * `@halo/kit/labels`, `@halo/kit/reward`, `@halo/kit/dpo`, …;
 * `@halo/kit/tensor` for the nn building blocks).
 *
 * @example
 * ```ts
 * import { parseGrid, patchIds } from "@halo/kit";
 * console.log(patchIds(parseGrid("2x2x4"), 8)); // ["s0r0c0", …, "s1r1c1"]
 * ```
 * @module
 */

// core
export {
  type AgreementOptions,
  agreementReport,
  type AgreementRow,
  bootstrapInterval,
  type BootstrapOptions,
  decodePng,
  encodePng,
  formatInterval,
  type Interval,
  kendallTau,
  modelName,
  type ModelRef,
  pairwiseAccuracy,
  type RgbImage,
  shipped,
  type ShippedModels,
  spearman,
} from "./lib/core/mod.ts";

// tensor
export {
  type BackendChoice,
  type BackendName,
  currentBackend,
  initBackend,
  type InitBackendOptions,
} from "./lib/tensor/mod.ts";

// videos
export {
  type Aspect,
  ASPECTS,
  type AspectScores,
  createVideo,
  DEFAULT_GRID,
  DEFECT_KINDS,
  DEFECT_SCORE,
  type DefectCase,
  defectCases,
  type DefectKind,
  defectKindOf,
  formatGrid,
  formatPrompt,
  gridImage,
  injectDefect,
  type InjectDefectOptions,
  judgeGeneric,
  type Judgement,
  type JudgeOptions,
  judgeVideo,
  loadVideo,
  type LoadVideoOptions,
  numPatches,
  parseGrid,
  parsePrompt,
  patchBox,
  patchDefectKinds,
  type PatchGrid,
  patchId,
  patchIds,
  patchify,
  type PatchLabel,
  promptSplits,
  renderClip,
  type RenderOptions,
  samplePrompt,
  saveVideo,
  type SaveVideoOptions,
  SCORE_MAX,
  SCORE_MIN,
  shapesBench,
  SHAPESBENCH_DIMENSIONS,
  type ShapesBenchScores,
  type ShapesPrompt,
  topKHit,
  unpatchify,
  type Video,
  videoFromTensor,
  type VideoInit,
  type VideoLabels,
  videoSheet,
  videoToTensor,
} from "./lib/videos/mod.ts";

// generator
export {
  createGenerator,
  DEFAULT_GENERATOR_CONFIG,
  disposeGenerator,
  evaluateCheckpoint,
  evaluateGenerator,
  type EvaluateGeneratorOptions,
  type Generator,
  type GeneratorConfig,
  type GeneratorEvaluation,
  loadGenerator,
  pickTestPrompts,
  pretrain,
  PRETRAIN_DEFAULTS,
  type PretrainOptions,
  type PretrainResult,
  sampleClips,
  sampleGrid,
  type SampleOptions,
  saveGenerator,
  writeSampleSheet,
} from "./lib/generator/mod.ts";

// labels
export {
  type BatchLabelOptions,
  estimateCost,
  formatPreview,
  type JudgeServer,
  type JudgeServerOptions,
  LABEL_DEFAULTS,
  labelBatch,
  labelFolder,
  type LabelFolderOptions,
  type LabelItem,
  type LabellerOptions,
  type LabelResult,
  type LabelRunReport,
  labelVideo,
  labelVideos,
  previewLabelling,
  type PromptManifestEntry,
  readPromptManifest,
  startJudgeServer,
} from "./lib/labels/mod.ts";

// reward
export {
  buildRewardDataset,
  createRewardModel,
  disposeRewardModel,
  type EfficiencySummary,
  flattenPatchScores,
  formatEfficiency,
  formatRewardReport,
  loadRewardModel,
  readLabelsFile,
  type RewardConfig,
  type RewardDatasetOptions,
  rewardGrid,
  type RewardModel,
  rewardPatchLabels,
  type RewardReport,
  type RewardScores,
  saveRewardModel,
  type ScoreItem,
  scorePatches,
  scoreRewards,
  scoreVideo,
  trainRewardModels,
  type TrainRewardModelsOptions,
  trainRewardSeeds,
} from "./lib/reward/mod.ts";

// pairs
export {
  bestWorst,
  buildPairs,
  type BuildPairsOptions,
  type BuildPairsResult,
  type CandidateScores,
  candidateScores,
  PAIRS_DEFAULTS,
  type PreferencePair,
  readClip,
  readPairs,
} from "./lib/pairs/mod.ts";

// dpo
export {
  DEFAULT_DPO_OPTIONS,
  diffusionDpoLoss,
  type DiffusionDpoOptions,
  type DpoMetrics,
  dpoStep,
  dpoStepInputs,
  type DpoStepOptions,
  type ErrorWeighting,
  granDpoLoss,
  type GranDpoOptions,
  type GranDpoTerms,
  granDpoTerms,
  loadPairData,
  pairDataOf,
  patchErrors,
  patchLossMap,
  pixelErrors,
  POST_TRAIN_DEFAULTS,
  postTrain,
  type PostTrainMethod,
  type PostTrainOptions,
  type PostTrainResult,
  readDpoMetrics,
} from "./lib/dpo/mod.ts";

// eval
export {
  checkIndependentEvaluator,
  type ClipEvaluation,
  comparisonSheet,
  type ContrastTerm,
  evaluateModel,
  type EvaluateModelOptions,
  evaluationClip,
  formatResults,
  HALO_PROFILES,
  type HaloProfile,
  haloProfile,
  type HaloResults,
  haloResults,
  mostFixedClips,
  type PairedDefects,
  pairedDefects,
  type PatchDefects,
  RESULT_METHODS,
  runEvaluation,
  runPostTraining,
  summariseResults,
  writeResults,
} from "./lib/eval/mod.ts";

// report
export {
  agreementScatterFigure,
  defectFigure,
  defectPairFigure,
  type DefectPairInput,
  display,
  distributionFigure,
  efficiencyFigure,
  efficiencyFigureOf,
  type Figure,
  figurePng,
  type InspectOptions,
  type InspectReport,
  inspectVideos,
  logSeries,
  resultsFigure,
  resultsTableFigure,
  trainingCurvesFigure,
  worstPatches,
  writeReport,
} from "./lib/report/mod.ts";

// reproduce
export {
  reproduce,
  REPRODUCE_DEFAULTS,
  type ReproduceOptions,
  type StageOutcome,
} from "./lib/reproduce/mod.ts";
