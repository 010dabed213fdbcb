/**
 * The reward-model experiment (`deno task train-rm`): {@linkcode trainRewardModels} builds
 * the dataset (distilled labels through the judge server), trains stage 1 (VRM) and stage 2
 * (PRM, continued from the VRM; optionally also from scratch, the ablation) with
 * {@linkcode trainRewardStage}, and reports their agreement with the reference judge,
 * score distributions and steps-to-threshold ({@linkcode RewardReport},
 * {@linkcode formatRewardReport}). Also the reward model's benchmarks for `deno task bench`
 * ({@linkcode rewardBenches}).
 * @module
 */

import { trainRmCommandLine } from "./_command.ts";
import { stageLengths } from "./_epochs.ts";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { writeFileAtomic } from "../core/_atomic.ts";
import { paramGrads } from "../tensor/nn.ts";
import { createAdam } from "../tensor/adam.ts";
import {
  agreementReport,
  type AgreementRow,
  formatInterval,
  type ScoredSet,
} from "../core/agreement.ts";
import { ASPECTS } from "../videos/scores.ts";
import { numPatches } from "../videos/patch.ts";
import {
  createRewardModel,
  disposeRewardModel,
  resolveRewardConfig,
  type RewardConfig,
  rewardFlops,
  rewardGrid,
  type RewardModel,
  rewardParamCount,
} from "./model.ts";
import { flattenPatchScores, scoreRewards } from "./score.ts";
import { saveRewardModel } from "./io.ts";
import {
  type CurvePoint,
  makeRewardBatch,
  resolveRewardLoss,
  REWARD_STAGE_DEFAULTS,
  rewardLoss,
  rewardLossOf,
  type RewardLossWeights,
  trainRewardStage,
} from "./train.ts";
import {
  buildRewardDataset,
  REWARD_DATA_DEFAULTS,
  type RewardDatasetOptions,
  type RewardExample,
} from "./data.ts";
import type { RewardTrainedOn } from "./trained_on.ts";
import { formatHeldOutMetrics, type HeldOutMetrics, heldOutMetrics } from "./held_out.ts";
import { renderClip } from "../videos/world.ts";
import { parsePrompt } from "../videos/world.ts";

/** The defaults of {@linkcode TrainRewardModelsOptions} (`deno task train-rm` shows the same). */
export const REWARD_TRAINING_DEFAULTS: Readonly<{
  out: string;
  seed: number;
  videoSteps: number;
  patchSteps: number;
  resamples: number;
}> = Object.freeze({
  out: "out/reward",
  seed: 0,
  videoSteps: 600,
  patchSteps: 800,
  resamples: 1000,
});

/** Options for {@linkcode trainRewardModels}. */
export interface TrainRewardModelsOptions extends RewardLossWeights {
  /** Output directory (checkpoints, curves, report). Default "out/reward". */
  out?: string;
  /**
   * Dataset options (label cache defaults to `<out>/labels.jsonl`). `data.seed` defaults to
   * {@linkcode TrainRewardModelsOptions.seed}; set it to train models of other seeds on one
   * dataset (an ensemble: the labels and samples come from its cache).
   */
  data?: RewardDatasetOptions;
  /** Model config. */
  config?: Partial<RewardConfig>;
  /** Stage-1 steps. Default 600. */
  videoSteps?: number;
  /** Stage-2 steps. Default 800. */
  patchSteps?: number;
  /**
   * Stage-1 length as passes over the training clips, in place of `videoSteps`:
   * ⌈epochs · clips / batchSize⌉ steps. Default: `videoSteps`.
   */
  videoEpochs?: number;
  /**
   * Stage-2 length as passes over the training clips, in place of `patchSteps`. Fixed steps
   * undertrain a larger dataset: at 1600 steps the 20000-clip PRM of `data/reward/candidates.md`
   * saw each clip 1.3 times, and 5 passes lifted its pair directions (sixteenth round).
   * Default: `patchSteps`.
   */
  patchEpochs?: number;
  /** Clips per step. Default 16. */
  batchSize?: number;
  /** Peak learning rate. Default 0.002. */
  learningRate?: number;
  /** Seed of weights, batches and (unless `data.seed` is set) the dataset. Default 0. */
  seed?: number;
  /** Train the stage-2 PRM from scratch instead of from the VRM (the ablation alone). Default false. */
  fromScratch?: boolean;
  /** Also train the from-scratch PRM and compare steps-to-threshold. Default false. */
  ablation?: boolean;
  /** Steps between curve evaluations. Default 50. */
  evalEvery?: number;
  /** Steps between checkpoints of each stage. Default 100. */
  checkpointEvery?: number;
  /** Bootstrap resamples of the agreement report. Default 1000. */
  resamples?: number;
  /** Silence progress. Default false. */
  quiet?: boolean;
  /**
   * Also write weights-only copies of the trained models (`vrm/`, `prm/`) and
   * the report here, with the command, seed and wall time in their metadata
   * (how `data/reward/` is made). Default: none.
   */
  ship?: string;
  /** The command line recorded in shipped checkpoints. Default: this process's. */
  command?: string;
}

/** Mean and standard deviation. */
export interface MeanStd {
  /** Mean. */
  mean: number;
  /** Standard deviation (population). */
  std: number;
}

/** The experiment's results, as written to `<out>/report.json`. */
export interface RewardReport {
  /** Agreement rows (PRM, broadcast VRM, raw distilled labels; patch and video level). */
  agreement: AgreementRow[];
  /** Score distributions on held-out videos: `[model][video|patch]`. */
  distributions: Record<string, { video: MeanStd; patch: MeanStd; poolGap: number }>;
  /**
   * Steps to reach each patch-agreement threshold (50, 75, 90 and 100% of the
   * continual PRM's final held-out patch ρ), continual vs scratch (null = never).
   */
  stepsToThreshold: Array<{ threshold: number; continual: number | null; scratch: number | null }>;
  /** Curves of every stage. */
  curves: Record<string, CurvePoint[]>;
  /** Wall seconds per stage. */
  seconds: Record<string, number>;
  /** Data and run facts. */
  facts: Record<string, unknown>;
  /**
   * The held-out targets per trained model (`vrm`, `prm`, `prm_scratch`): ρ per
   * aspect, text-swap sensitivity, same-prompt pair direction. Absent in older reports.
   */
  targets?: Record<string, HeldOutMetrics>;
}

function meanStd(xs: number[]): MeanStd {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Scores held-out examples into a {@linkcode ScoredSet}. */
async function scoredSet(
  model: RewardModel,
  examples: readonly RewardExample[],
): Promise<ScoredSet> {
  const scores = await scoreRewards(model, examples, { note: () => {} });
  return {
    video: scores.map((s) => ASPECTS.map((a) => s.video[a])),
    patches: scores.map((s) => flattenPatchScores(s.patches)),
  };
}

/**
 * First step of a training curve whose held-out patch agreement reaches
 * `threshold` (null when it never does).
 *
 * @example
 * ```ts
 * import { firstStepReaching } from "@halo/kit/reward";
 * const curve = [0.05, 0.2, 0.3].map((patchRho, i) => ({ step: i * 10, loss: 0, seconds: 0, patchRho }));
 * console.log(firstStepReaching(curve, 0.2), firstStepReaching(curve, 0.5)); // 10 null
 * ```
 */
export function firstStepReaching(curve: readonly CurvePoint[], threshold: number): number | null {
  return curve.find((p) => (p.patchRho ?? -Infinity) >= threshold)?.step ?? null;
}

/**
 * The whole experiment: dataset (distilled labels through the judge server),
 * stage 1 (VRM), stage 2 (PRM, continual), optionally the from-scratch PRM,
 * then the agreement report with bootstrap intervals, score distributions and
 * steps-to-threshold. Every stage checkpoints and resumes; the report is
 * written to `<out>/report.json` and `<out>/report.md`.
 */
export async function trainRewardModels(
  options: TrainRewardModelsOptions = {},
): Promise<RewardReport> {
  const d = REWARD_TRAINING_DEFAULTS;
  const out = options.out ?? d.out;
  const seed = options.seed ?? d.seed;
  const quiet = options.quiet ?? false;
  const batchSize = options.batchSize ?? REWARD_STAGE_DEFAULTS.batchSize;
  const lengths = { ...options, batchSize, defaults: d };
  stageLengths("trainRewardModels", { ...lengths, clips: 1 }); // before an hour of sampling
  const t0 = performance.now();
  const data = await buildRewardDataset({
    cache: join(out, "labels.jsonl"),
    quiet,
    ...options.data,
    seed: options.data?.seed ?? seed,
  });
  const dataSeconds = (performance.now() - t0) / 1000;
  const first = data.train[0]?.video;
  const trainedOn: RewardTrainedOn = {
    kind: "shapesworld",
    clips: data.train.length,
    grid: data.grid,
    frames: first?.numFrames ?? 16,
    size: first?.width ?? 32,
    recorded: true,
  };
  const { video: videoSteps, patch: patchSteps } = stageLengths("trainRewardModels", {
    ...lengths,
    clips: data.train.length,
  });
  const common = {
    trainedOn,
    batchSize,
    learningRate: options.learningRate,
    seed,
    heldOut: data.heldOut,
    evalEvery: options.evalEvery ?? REWARD_STAGE_DEFAULTS.evalEvery,
    checkpointEvery: options.checkpointEvery,
    quiet,
    ...rewardLossOf(options),
  };
  const curves: Record<string, CurvePoint[]> = {};
  const seconds: Record<string, number> = { data: dataSeconds };
  const models: Record<string, RewardModel> = {};
  try {
    const vrm = await trainRewardStage(data.train, {
      ...common,
      stage: "video",
      steps: videoSteps,
      config: options.config,
      out: join(out, "vrm"),
      label: "train-rm stage 1 (VRM)",
    });
    models.vrm = vrm.model;
    curves.vrm = vrm.curve;
    seconds.vrm = vrm.seconds;
    if (!options.fromScratch) {
      const prm = await trainRewardStage(data.train, {
        ...common,
        stage: "patch",
        steps: patchSteps,
        from: vrm.model,
        out: join(out, "prm"),
        label: "train-rm stage 2 (PRM, continual)",
      });
      models.prm = prm.model;
      curves.prm = prm.curve;
      seconds.prm = prm.seconds;
    }
    if (options.fromScratch || options.ablation) {
      const scratch = await trainRewardStage(data.train, {
        ...common,
        stage: "patch",
        steps: patchSteps,
        config: options.config,
        out: join(out, "prm_scratch"),
        label: "train-rm stage 2 (PRM, from scratch)",
      });
      models.prm_scratch = scratch.model;
      curves.prm_scratch = scratch.curve;
      seconds.prm_scratch = scratch.seconds;
    }

    // Agreement on held-out videos against the reference judge.
    const held = data.heldOut;
    const reference: ScoredSet = {
      video: held.map((e) => ASPECTS.map((a) => e.reference!.video[a])),
      patches: held.map((e) => e.reference!.patches.map((p) => ASPECTS.map((a) => p.scores[a]))),
    };
    const sets: Record<string, ScoredSet> = {};
    for (const [name, m] of Object.entries(models)) sets[name] = await scoredSet(m, held);
    const methods: Record<string, ScoredSet> = {};
    const main = models.prm ? "prm" : "prm_scratch";
    methods[main === "prm" ? "PRM (continual)" : "PRM (from scratch)"] = sets[main];
    if (main === "prm" && sets.prm_scratch) methods["PRM (from scratch)"] = sets.prm_scratch;
    methods["VRM broadcast"] = {
      video: sets.vrm.video,
      patches: sets.vrm.video.map((v, i) => sets.vrm.patches[i].map(() => v)),
    };
    methods["distilled labels"] = {
      video: held.map((e) => ASPECTS.map((a) => e.labels.video[a])),
      patches: held.map((e) => e.labels.patches.map((p) => ASPECTS.map((a) => p.scores[a]))),
    };
    const agreement = agreementReport(methods, reference, {
      resamples: options.resamples ?? d.resamples,
      seed,
    });
    const distributions: RewardReport["distributions"] = {};
    const labelSet = methods["distilled labels"];
    for (const [name, set] of [...Object.entries(sets), ["labels", labelSet] as const]) {
      const gaps: number[] = [];
      set.video.forEach((v, i) =>
        v.forEach((s, a) => {
          const pooled = set.patches[i].reduce((acc, p) => acc + p[a], 0) / set.patches[i].length;
          gaps.push(Math.abs(pooled - s));
        })
      );
      distributions[name] = {
        video: meanStd(set.video.flat()),
        patch: meanStd(set.patches.flat(2)),
        poolGap: gaps.reduce((a, b) => a + b, 0) / gaps.length,
      };
    }
    // Thresholds relative to what the continual PRM ends at, so the table is informative
    // whatever the absolute level: half, three quarters, 90% and all of its final agreement.
    const final = curves.prm?.at(-1)?.patchRho ?? NaN;
    const stepsToThreshold = curves.prm && curves.prm_scratch && final > 0
      ? [0.5, 0.75, 0.9, 1].map((f) => Math.floor(f * final * 1000) / 1000).map((threshold) => ({
        threshold,
        continual: firstStepReaching(curves.prm, threshold),
        scratch: firstStepReaching(curves.prm_scratch, threshold),
      }))
      : [];
    const targets: Record<string, HeldOutMetrics> = {};
    for (const [name, m] of Object.entries(models)) {
      targets[name] = await heldOutMetrics(m, held, {
        resamples: options.resamples ?? d.resamples,
        seed,
      });
    }
    const report: RewardReport = {
      agreement,
      targets,
      distributions,
      stepsToThreshold,
      curves,
      seconds,
      facts: {
        train: data.train.length,
        heldOut: held.length,
        grid: data.grid,
        origins: countBy(data.train.map((e) => e.origin)),
        labelling: data.labelling,
        params: rewardParamCount(models.vrm),
        config: models.vrm.config,
        seed,
        ...(options.data?.seed === undefined ? {} : { dataSeed: options.data.seed }),
        backend: tf.getBackend(),
        videoSteps,
        patchSteps,
        batchSize,
        // what makes two runs on one label cache differ: the loss and the data's mix
        loss: resolveRewardLoss(rewardLossOf(options), "trainRewardModels"),
        clipsPerPrompt: options.data?.clipsPerPrompt ?? REWARD_DATA_DEFAULTS.clipsPerPrompt,
        generatorShare: options.data?.generatorShare ?? REWARD_DATA_DEFAULTS.generatorShare,
        swapRate: options.data?.swapRate ?? 0,
        ...(options.data?.swapOrigins ? { swapOrigins: options.data.swapOrigins } : {}),
        ...(options.data?.sharedNoise ? { sharedNoise: true } : {}),
      },
    };
    await writeFileAtomic(join(out, "report.json"), JSON.stringify(report, null, 2) + "\n");
    await writeFileAtomic(join(out, "report.md"), formatRewardReport(report));
    if (options.ship) {
      const command = options.command ?? trainRmCommandLine("trainRewardModels()");
      for (const name of ["vrm", "prm"]) {
        if (!models[name]) continue;
        await saveRewardModel(join(options.ship, name), models[name], {
          step: name === "vrm" ? report.facts.videoSteps as number : patchSteps,
          meta: {
            stage: name === "vrm" ? "video" : "patch",
            seed,
            command,
            wallSeconds: seconds[name] + (name === "prm" ? seconds.vrm : 0),
            backend: tf.getBackend(),
            trainedOn,
            note: name === "prm"
              ? "PRM: stage 2 continued from the VRM; wallSeconds covers both stages"
              : "VRM: stage 1",
          },
        });
      }
      await writeFileAtomic(
        join(options.ship, "report.json"),
        JSON.stringify({ command, ...report }, null, 2) + "\n",
      );
    }
    return report;
  } finally {
    for (const m of Object.values(models)) disposeRewardModel(m);
  }
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * Formats a {@linkcode RewardReport} as Markdown tables.
 *
 * @example
 * ```ts
 * import { formatRewardReport } from "@halo/kit";
 * const md = formatRewardReport({ agreement: [], distributions: {}, stepsToThreshold: [], curves: {}, seconds: {}, facts: {} });
 * console.log(md.startsWith("### Agreement")); // true
 * ```
 */
export function formatRewardReport(report: RewardReport): string {
  const lines: string[] = [];
  lines.push("### Agreement with the reference judge (held-out videos, mean over aspects, 95% CI)");
  lines.push("");
  lines.push("| method | level | Spearman ρ | Kendall τ-b | pairwise accuracy |");
  lines.push("|---|---|---|---|---|");
  for (const r of report.agreement) {
    lines.push(
      `| ${r.method} | ${r.level} | ${formatInterval(r.spearman)} | ${
        formatInterval(r.kendall)
      } | ${formatInterval(r.pairwise)} |`,
    );
  }
  if (report.stepsToThreshold.length) {
    lines.push("", "### Stage-2 steps to reach a held-out patch agreement (Spearman ρ)", "");
    lines.push("| patch ρ ≥ | continual (from VRM) | from scratch |", "|---|---|---|");
    for (const s of report.stepsToThreshold) {
      lines.push(
        `| ${s.threshold} | ${s.continual ?? "not reached"} | ${s.scratch ?? "not reached"} |`,
      );
    }
  }
  if (report.targets && Object.keys(report.targets).length) {
    lines.push("", formatHeldOutMetrics(report.targets).trimEnd());
  }
  lines.push("", "### Score distributions on held-out videos (all aspects pooled)", "");
  lines.push(
    "| scores | video mean ± std | patch mean ± std | mean pool gap |pooled patches − video| |",
  );
  lines.push("|---|---|---|---|");
  for (const [name, d] of Object.entries(report.distributions)) {
    lines.push(
      `| ${name} | ${d.video.mean.toFixed(2)} ± ${d.video.std.toFixed(2)} | ${
        d.patch.mean.toFixed(2)
      } ± ${d.patch.std.toFixed(2)} | ${d.poolGap.toFixed(3)} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** A benchmark in the shape `bench/bench.ts` runs. */
export interface RewardBench {
  /** Name shown in the table. */
  name: string;
  /** Unit of the items. */
  unit: string;
  /** Runs once per backend. */
  perBackend: boolean;
  /** Builds the case on the active backend. */
  setup(): Promise<
    { run(): Promise<void>; items: number; flops: number; dispose(): void }
  >;
}

/**
 * Benchmarks of the reward model for `deno task bench`: scored videos/s
 * (forward, batch 16) and training steps/s (stage-2 step, batch 16), with
 * analytic FLOP counts ({@linkcode rewardFlops}; a training step ≈ 3×).
 *
 * @example
 * ```ts
 * import { rewardBenches } from "@halo/kit/reward";
 * console.log(rewardBenches().map((b) => b.name));
 * ```
 */
export function rewardBenches(config: Partial<RewardConfig> = {}): RewardBench[] {
  const batch = 16;
  const prompt = "two red circles moving left quickly on a gray background";
  const examples = (): RewardExample[] => {
    const c = resolveRewardConfig(config);
    return Array.from({ length: batch }, (_, i) => {
      const video = renderClip(parsePrompt(prompt), { seed: i, frames: c.frames, size: c.size })
        .video;
      const s = { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 };
      const grid = rewardGrid(c);
      const patches = Array.from({ length: numPatches(grid, c.frames) }, (_, k) => ({
        id: "",
        index: k,
        scores: s,
        reason: "",
      }));
      return { video, prompt, origin: "clean", defects: [], labels: { video: s, patches } };
    });
  };
  return [
    {
      name: `reward model score ×${batch}`,
      unit: "videos",
      perBackend: true,
      setup() {
        const model = createRewardModel(config);
        const items = examples();
        return Promise.resolve({
          run: async () => void (await scoreRewards(model, items, { batchSize: batch })),
          items: batch,
          flops: rewardFlops(model.config, batch),
          dispose: () => disposeRewardModel(model),
        });
      },
    },
    {
      name: `reward model train step ×${batch}`,
      unit: "steps",
      perBackend: true,
      setup() {
        const model = createRewardModel(config);
        const adam = createAdam(model.params);
        const batchT = makeRewardBatch(model, examples());
        return Promise.resolve({
          run: async () => {
            const { value, grads } = paramGrads(
              model.params,
              () => tf.tidy(() => rewardLoss(model, batchT, { stage: "patch" }).total),
            );
            adam.apply(grads);
            tf.dispose(grads);
            await value.data();
            value.dispose();
          },
          items: 1,
          flops: 3 * rewardFlops(model.config, batch),
          dispose: () => {
            tf.dispose([
              batchT.x,
              batchT.tokens,
              batchT.videoLabels,
              batchT.patchLabels,
              batchT.keep,
            ]);
            adam.dispose();
            disposeRewardModel(model);
          },
        });
      },
    },
  ];
}
