/**
 * The public API is a decision: this test pins every name `mod.ts` exports
 * (values and types), so adding or removing one shows in the diff. It also
 * checks that the root re-exports only stage `mod.ts` files, that no stage
 * exports an internal (`_`) file or a CLI command, and that every value named
 * here really is exported at run time.
 */
import assert from "node:assert/strict";
import * as kit from "../mod.ts";

const ROOT = new URL("../", import.meta.url);

/** Every name `mod.ts` exports, sorted case-insensitively. */
const PINNED: readonly string[] = [
  "AgreementOptions",
  "agreementReport",
  "AgreementRow",
  "agreementScatterFigure",
  "Aspect",
  "ASPECTS",
  "AspectScores",
  "BackendChoice",
  "BackendName",
  "BatchLabelOptions",
  "bestWorst",
  "bootstrapInterval",
  "BootstrapOptions",
  "buildPairs",
  "BuildPairsOptions",
  "BuildPairsResult",
  "buildRewardDataset",
  "CandidateScores",
  "candidateScores",
  "checkIndependentEvaluator",
  "ClipEvaluation",
  "comparisonSheet",
  "ContrastTerm",
  "createGenerator",
  "createRewardModel",
  "createVideo",
  "currentBackend",
  "decodePng",
  "DEFAULT_DPO_OPTIONS",
  "DEFAULT_GENERATOR_CONFIG",
  "DEFAULT_GRID",
  "DEFECT_KINDS",
  "DEFECT_SCORE",
  "DefectCase",
  "defectCases",
  "defectFigure",
  "DefectKind",
  "defectKindOf",
  "defectPairFigure",
  "DefectPairInput",
  "diffusionDpoLoss",
  "DiffusionDpoOptions",
  "display",
  "disposeGenerator",
  "disposeRewardModel",
  "distributionFigure",
  "DpoMetrics",
  "dpoStep",
  "dpoStepInputs",
  "DpoStepOptions",
  "efficiencyFigure",
  "efficiencyFigureOf",
  "EfficiencySummary",
  "encodePng",
  "ErrorWeighting",
  "estimateCost",
  "evaluateCheckpoint",
  "evaluateGenerator",
  "EvaluateGeneratorOptions",
  "evaluateModel",
  "EvaluateModelOptions",
  "evaluationClip",
  "Figure",
  "figurePng",
  "flattenPatchScores",
  "formatEfficiency",
  "formatGrid",
  "formatInterval",
  "formatPreview",
  "formatPrompt",
  "formatResults",
  "formatRewardReport",
  "Generator",
  "GeneratorConfig",
  "GeneratorEvaluation",
  "granDpoLoss",
  "GranDpoOptions",
  "GranDpoTerms",
  "granDpoTerms",
  "gridImage",
  "HALO_PROFILES",
  "HaloProfile",
  "haloProfile",
  "HaloResults",
  "haloResults",
  "initBackend",
  "InitBackendOptions",
  "injectDefect",
  "InjectDefectOptions",
  "InspectOptions",
  "InspectReport",
  "inspectVideos",
  "Interval",
  "judgeGeneric",
  "Judgement",
  "JudgeOptions",
  "JudgeServer",
  "JudgeServerOptions",
  "judgeVideo",
  "kendallTau",
  "LABEL_DEFAULTS",
  "labelBatch",
  "labelFolder",
  "LabelFolderOptions",
  "LabelItem",
  "LabellerOptions",
  "LabelResult",
  "LabelRunReport",
  "labelVideo",
  "labelVideos",
  "loadGenerator",
  "loadPairData",
  "loadRewardModel",
  "loadVideo",
  "LoadVideoOptions",
  "logSeries",
  "modelName",
  "ModelRef",
  "mostFixedClips",
  "numPatches",
  "pairDataOf",
  "PairedDefects",
  "pairedDefects",
  "PAIRS_DEFAULTS",
  "pairwiseAccuracy",
  "parseGrid",
  "parsePrompt",
  "patchBox",
  "patchDefectKinds",
  "PatchDefects",
  "patchErrors",
  "PatchGrid",
  "patchId",
  "patchIds",
  "patchify",
  "PatchLabel",
  "patchLossMap",
  "pickTestPrompts",
  "pixelErrors",
  "POST_TRAIN_DEFAULTS",
  "postTrain",
  "PostTrainMethod",
  "PostTrainOptions",
  "PostTrainResult",
  "PreferencePair",
  "pretrain",
  "PRETRAIN_DEFAULTS",
  "PretrainOptions",
  "PretrainResult",
  "previewLabelling",
  "PromptManifestEntry",
  "promptSplits",
  "readClip",
  "readDpoMetrics",
  "readLabelsFile",
  "readPairs",
  "readPromptManifest",
  "renderClip",
  "RenderOptions",
  "reproduce",
  "REPRODUCE_DEFAULTS",
  "ReproduceOptions",
  "RESULT_METHODS",
  "resultsFigure",
  "resultsTableFigure",
  "RewardConfig",
  "RewardDatasetOptions",
  "rewardGrid",
  "RewardModel",
  "rewardPatchLabels",
  "RewardReport",
  "RewardScores",
  "RgbImage",
  "runEvaluation",
  "runPostTraining",
  "sampleClips",
  "sampleGrid",
  "SampleOptions",
  "samplePrompt",
  "saveGenerator",
  "saveRewardModel",
  "saveVideo",
  "SaveVideoOptions",
  "SCORE_MAX",
  "SCORE_MIN",
  "ScoreItem",
  "scorePatches",
  "scoreRewards",
  "scoreVideo",
  "shapesBench",
  "SHAPESBENCH_DIMENSIONS",
  "ShapesBenchScores",
  "ShapesPrompt",
  "shipped",
  "ShippedModels",
  "spearman",
  "StageOutcome",
  "startJudgeServer",
  "summariseResults",
  "topKHit",
  "trainingCurvesFigure",
  "trainRewardModels",
  "TrainRewardModelsOptions",
  "trainRewardSeeds",
  "unpatchify",
  "Video",
  "videoFromTensor",
  "VideoInit",
  "VideoLabels",
  "videoSheet",
  "videoToTensor",
  "worstPatches",
  "writeReport",
  "writeResults",
  "writeSampleSheet",
];

/** The names `mod.ts` re-exports, read from its `export { … } from` statements. */
async function rootNames(): Promise<{ names: string[]; sources: string[]; types: Set<string> }> {
  const text = await Deno.readTextFile(new URL("mod.ts", ROOT));
  const names: string[] = [];
  const types = new Set<string>();
  const sources: string[] = [];
  for (const m of text.matchAll(/export \{([^}]*)\} from "([^"]+)";/g)) {
    sources.push(m[2]);
    for (const item of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const name = item.replace(/^type\s+/, "");
      if (item.startsWith("type ")) types.add(name);
      names.push(name);
    }
  }
  assert.doesNotMatch(text, /export \*/, "mod.ts names what it exports (no export *)");
  return { names, sources, types };
}

Deno.test("mod.ts exports exactly the pinned API (a change here is a change of the public API)", async () => {
  const { names } = await rootNames();
  const key = (n: string) => [n.toLowerCase(), n] as const;
  const sorted = [...names].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
  });
  assert.deepEqual(sorted, [...PINNED]);
});

Deno.test("mod.ts: every pinned value is exported at run time; no command, no internal", async () => {
  const { names, sources, types } = await rootNames();
  const runtime = new Set(Object.keys(kit));
  assert.deepEqual(names.filter((n) => !types.has(n) && !runtime.has(n)), []);
  assert.deepEqual([...runtime].filter((n) => !names.includes(n)), []);
  assert.deepEqual(names.filter((n) => /Command$/.test(n)), []);
  assert.deepEqual(sources.filter((s) => !/^\.\/lib\/\w+\/mod\.ts$/.test(s)), []);
});

Deno.test("every stage mod.ts re-exports only its public files, and deno.json has a sub-path for each", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const stages: string[] = [];
  for await (const e of Deno.readDir(new URL("lib/", ROOT))) {
    if (e.isDirectory && e.name !== "cli") stages.push(e.name);
  }
  for (const stage of stages.sort()) {
    const text = await Deno.readTextFile(new URL(`lib/${stage}/mod.ts`, ROOT));
    assert.match(text, /@module/, `lib/${stage}/mod.ts has a module doc`);
    const files = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(files.filter((f) => /(^|\/)_/.test(f) || f.includes("/cli/")), [], stage);
    assert.equal(config.exports[`./${stage}`], `./lib/${stage}/mod.ts`);
  }
});

/** JSR's size limit of one package version. */
const JSR_LIMIT_BYTES = 20 * 1000 * 1000;

Deno.test("deno publish --dry-run passes, ships data/ (the models load by name from JSR) and fits JSR's limit", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: new URL(".", ROOT).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text.slice(-2000));
  const files = [
    ...text.matchAll(/file:\/\/\S+\/(data\/\S+|lib\/\S+|mod\.ts) \(([\d.]+)(B|KB|MB)\)/g),
  ];
  const listed = new Set(files.map((m) => m[1]));
  for (const model of ["generator", "reward/vrm", "reward/prm", "reward/evaluator"]) {
    assert.ok(listed.has(`data/${model}/config.json`), `data/${model}/config.json listed`);
    assert.ok(listed.has(`data/${model}/weights.bin`), `data/${model}/weights.bin listed`);
  }
  const unit = { B: 1, KB: 1024, MB: 1024 * 1024 } as const;
  const bytes = [...text.matchAll(/\(([\d.]+)(B|KB|MB)\)\n/g)]
    .reduce((sum, m) => sum + Number(m[1]) * unit[m[2] as keyof typeof unit], 0);
  assert.ok(bytes > 5e6 && bytes < JSR_LIMIT_BYTES, `package ${bytes} bytes`);
});
