/**
 * The labels → reward hand-off (`deno task train-rm --labels FILE --videos DIR`): a label
 * file written by `deno task label` (direct or `--batch`) becomes the training set of the
 * VRM, which is then continued into the PRM, the same two stages `train-rm` runs on its own
 * ShapesWorld clips. {@linkcode readLabelledClips} reads the file and finds each labelled
 * clip — a video file in the folder, decoded with ffmpeg and resized to the reward model's
 * input, or a generated ShapesWorld clip rendered again from its `shapes:` source — and
 * {@linkcode trainRewardFromLabels} trains on them. The checkpoints record what they were
 * trained on (`meta.trainedOn`, see `trained_on.ts`), which `deno task inspect` reads.
 * @module
 */

import { trainRmCommandLine } from "./_command.ts";
import { stageLengths } from "./_epochs.ts";
import * as tf from "@tensorflow/tfjs";
import { basename, join, resolve } from "node:path";
import { pathExists, readJsonLines, writeFileAtomic } from "../core/_atomic.ts";
import { checkInt, fail } from "../core/_errors.ts";
import { spearman } from "../core/agreement.ts";
import type { LabelRecord } from "../labels/cache.ts";
import {
  fitToGrid,
  parseShapesSource,
  readPromptManifest,
  shapesSource,
} from "../labels/folder.ts";
import { ASPECTS } from "../videos/scores.ts";
import { numPatches } from "../videos/patch.ts";
import { loadVideo, type Video } from "../videos/video.ts";
import { disposeRewardModel, resolveRewardConfig, type RewardConfig, rewardGrid } from "./model.ts";
import { flattenPatchScores, resampleVideo, scoreRewards } from "./score.ts";
import { saveRewardModel } from "./io.ts";
import type { RewardExample } from "./data.ts";
import { readLabelsFile } from "./label_file.ts";
import { REWARD_TRAINING_DEFAULTS } from "./experiment.ts";
import {
  REWARD_STAGE_DEFAULTS,
  rewardLossOf,
  type RewardLossWeights,
  trainRewardStage,
} from "./train.ts";
import { describeTrainedOn, type RewardTrainedOn } from "./trained_on.ts";

/** Options of {@linkcode readLabelledClips}. */
export interface ReadLabelledClipsOptions {
  /**
   * Folder of the labelled video files (the `--videos DIR` they were labelled from, or a
   * copy). Required when the file labels video files; `shapes:` clips are rendered again.
   */
  videos?: string;
  /** The reward model's input: frames, frame side and patch grid. Default: the default model's. */
  config?: Partial<RewardConfig>;
}

/** What {@linkcode readLabelledClips} read. */
export interface LabelledClips {
  /** One training example per label record, its video at the model's input size. */
  examples: RewardExample[];
  /** What a model trained on them should record. */
  trainedOn: RewardTrainedOn & { kind: "labels" };
}

/**
 * The name, inside the videos folder, of the video of a record with a file `source` (the
 * path it was labelled from): the folder's `prompts.json` entry it ends with, else its
 * file name.
 */
function videoFileOf(source: string, manifest: Array<{ file: string }> | null): string {
  const normal = source.replaceAll("\\", "/");
  const listed = manifest?.find((e) => normal === e.file || normal.endsWith(`/${e.file}`));
  return listed ? listed.file : basename(normal);
}

/**
 * Reads a label file written by `deno task label` and the clips it labels, each
 * at the reward model's input: video files from `options.videos` (decoded with
 * ffmpeg, trimmed to the grid as the labeller trimmed them, frames evenly spaced
 * to the model's count when the file has more, pixels box-filtered to its size),
 * and ShapesWorld clips of `deno task label --shapes N` rendered again from their
 * `shapes:` source (their prompt must come out the same). Errors, naming the file
 * and line: no patch labels at all; labels of another grid or number of frames than
 * the model's; a video named in the labels that is missing from the folder.
 *
 * @example
 * ```ts
 * import { labelTask } from "@halo/kit/labels";
 * import { readLabelledClips } from "@halo/kit/reward";
 * const dir = await Deno.makeTempDir();
 * await labelTask({ shapes: 2, out: `${dir}/l.jsonl`, judge: true, quiet: true });
 * const { examples, trainedOn } = await readLabelledClips(`${dir}/l.jsonl`);
 * console.log(examples.length, examples[0].video.width, trainedOn.domain); // 2 32 shapesworld
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readLabelledClips(
  file: string,
  options: ReadLabelledClipsOptions = {},
): Promise<LabelledClips> {
  const where = "readLabelledClips";
  if (typeof file !== "string" || file === "") fail(where, "a label file (JSONL)", file);
  const config = resolveRewardConfig(options.config ?? {});
  const grid = rewardGrid(config);
  const n = numPatches(grid, config.frames);
  if (!(await pathExists(file))) fail(`${where}(${file})`, "a label file", "no such file");
  // Clear errors first (no patches, another grid, another length), then the full validation.
  const raw = await readJsonLines<Partial<LabelRecord>>(file);
  const patchCount = (r: Partial<LabelRecord>) =>
    Array.isArray(r?.labels?.patches) ? r.labels.patches.length : 0;
  if (raw.every((r) => patchCount(r) === 0)) {
    fail(
      file,
      "patch labels (a label file written by `deno task label`)",
      raw.length ? `no patches in its ${raw.length} record(s)` : "no label records",
    );
  }
  raw.forEach((r, i) => {
    const at = `${file} line ${i + 1} (${JSON.stringify(r?.source ?? "?")})`;
    if (r?.grid !== config.grid) {
      fail(
        at,
        `labels of the reward model's grid ${config.grid} (label with --grid ${config.grid})`,
        `labels of grid ${r?.grid}`,
      );
    }
    if (patchCount(r) !== n) {
      fail(
        at,
        `${n} patches: grid ${config.grid} over the reward model's ${config.frames} frames ` +
          `(label with --frames ${config.frames})`,
        `${patchCount(r)} patches`,
      );
    }
  });
  const records = await readLabelsFile(file, { numFrames: config.frames, grid: config.grid });

  const dir = options.videos;
  if (dir !== undefined) {
    const info = await Deno.stat(dir).catch(() => null);
    if (!info?.isDirectory) {
      fail(
        `${where}: videos`,
        "a folder of the labelled videos",
        `${dir} (${info ? "not a folder" : "missing"})`,
      );
    }
  }
  const manifest = dir !== undefined && await pathExists(join(dir, "prompts.json"))
    ? await readPromptManifest(dir)
    : null;
  const decoded = new Map<string, Video>();
  const toInput = (video: Video): Video =>
    video.height === config.size && video.width === config.size
      ? video
      : resampleVideo(video, { frames: config.frames, size: config.size });
  let shapes = 0, files = 0;
  const examples: RewardExample[] = [];
  for (const [i, record] of records.entries()) {
    const at = `${file} line ${i + 1} (${JSON.stringify(record.source)})`;
    const ref = parseShapesSource(record.source);
    let video: Video;
    if (ref) {
      shapes++;
      const frames = ref.frames ?? config.frames;
      const item = await shapesSource(ref.index + 1, { seed: ref.seed, size: ref.size, frames })
        .load(ref.index);
      if (item.prompt !== record.prompt) {
        fail(at, `the prompt its clip renders with, ${JSON.stringify(item.prompt)}`, record.prompt);
      }
      video = toInput(fitToGrid(item.video, grid));
    } else {
      files++;
      if (dir === undefined) {
        fail(at, "--videos DIR, the folder of the labelled video files", "none given");
      }
      const name = videoFileOf(record.source, manifest);
      const path = resolve(dir, name);
      if (!decoded.has(path)) {
        if (!(await pathExists(path))) {
          fail(at, `the labelled video ${JSON.stringify(name)} in ${dir}`, "no such file");
        }
        // As the labeller read it: all frames trimmed to the grid, or (labelled with
        // --frames) that many evenly spaced.
        let fitted = fitToGrid(await loadVideo(path), grid);
        if (fitted.numFrames !== config.frames) {
          fitted = fitToGrid(await loadVideo(path, { frames: config.frames }), grid);
        }
        if (fitted.numFrames !== config.frames) {
          fail(at, `a video of at least ${config.frames} frames`, `${fitted.numFrames} frames`);
        }
        decoded.set(path, toInput(fitted));
      }
      video = decoded.get(path)!;
    }
    examples.push({
      video: { ...video, source: record.source },
      prompt: record.prompt,
      origin: "labelled",
      defects: [],
      labels: record.labels,
    });
  }
  return {
    examples,
    trainedOn: {
      kind: "labels",
      file,
      videos: files > 0 ? dir! : null,
      clips: examples.length,
      grid: config.grid,
      domain: shapes > 0 && files > 0 ? "mixed" : shapes > 0 ? "shapesworld" : "videos",
    },
  };
}

const { resamples: _resamples, ...trainingDefaults } = REWARD_TRAINING_DEFAULTS;

/**
 * The defaults of {@linkcode TrainRewardFromLabelsOptions} (`deno task train-rm --labels` shows
 * the same): those of `trainRewardModels`, another output folder.
 */
export const REWARD_FROM_LABELS_DEFAULTS: Readonly<
  Omit<typeof REWARD_TRAINING_DEFAULTS, "resamples">
> = Object.freeze({ ...trainingDefaults, out: "out/reward-labels" });

/** Options of {@linkcode trainRewardFromLabels}. */
export interface TrainRewardFromLabelsOptions extends RewardLossWeights {
  /** Folder of the labelled video files (see {@linkcode ReadLabelledClipsOptions.videos}). */
  videos?: string;
  /** Output directory: `vrm/` and `prm/` checkpoints (resumed from), `report.json`. Default "out/reward-labels". */
  out?: string;
  /** Model config (its frames, size and grid are what the videos are resized to). Default: the default model. */
  config?: Partial<RewardConfig>;
  /** Stage-1 (VRM) steps. Default 600. */
  videoSteps?: number;
  /** Stage-2 (PRM, continued from the VRM) steps. Default 800. */
  patchSteps?: number;
  /** Stage-1 length as passes over the labelled clips, in place of `videoSteps`. Default: `videoSteps`. */
  videoEpochs?: number;
  /** Stage-2 length as passes over the labelled clips, in place of `patchSteps`. Default: `patchSteps`. */
  patchEpochs?: number;
  /** Clips per step. Default 16. */
  batchSize?: number;
  /** Peak learning rate. Default 0.002. */
  learningRate?: number;
  /** Seed of weights and batches. Default 0. */
  seed?: number;
  /** Steps between checkpoints. Default 100. */
  checkpointEvery?: number;
  /** Also write weights-only `vrm/`, `prm/` and the report here. Default: none. */
  ship?: string;
  /** The command line recorded in shipped checkpoints. Default: this process's. */
  command?: string;
  /** Silence progress. Default false. */
  quiet?: boolean;
}

/** What {@linkcode trainRewardFromLabels} did (also `<out>/report.json`). */
export interface LabelsRewardReport {
  /** What the models were trained on, as their checkpoints record it. */
  trainedOn: RewardTrainedOn & { kind: "labels" };
  /** Checkpoint folders written. */
  checkpoints: { vrm: string; prm: string };
  /** Steps of each stage. */
  steps: { vrm: number; prm: number };
  /** Mean training loss of each stage's last curve point. */
  finalLoss: { vrm: number; prm: number };
  /**
   * The PRM's fit to its own training labels (Spearman ρ, mean over aspects):
   * patch and video level. Not an agreement on held-out clips.
   */
  trainingFit: { patchRho: number; videoRho: number };
  /** Wall seconds: reading the clips, each stage. */
  seconds: { data: number; vrm: number; prm: number };
}

function fitOf(
  scores: { video: Record<string, number>; patches: number[][][][] }[],
  examples: RewardExample[],
) {
  let patchRho = 0, videoRho = 0, pn = 0, vn = 0;
  ASPECTS.forEach((a, k) => {
    const px: number[] = [], py: number[] = [], vx: number[] = [], vy: number[] = [];
    scores.forEach((s, i) => {
      vx.push(s.video[a]);
      vy.push(examples[i].labels.video[a]);
      flattenPatchScores(s.patches).forEach((p, j) => {
        px.push(p[k]);
        py.push(examples[i].labels.patches[j].scores[a]);
      });
    });
    const pr = spearman(px, py), vr = spearman(vx, vy);
    if (Number.isFinite(pr)) (patchRho += pr), pn++;
    if (Number.isFinite(vr)) (videoRho += vr), vn++;
  });
  return { patchRho: pn ? patchRho / pn : NaN, videoRho: vn ? videoRho / vn : NaN };
}

/**
 * Trains the VRM on a label file's video labels, then continues it into the PRM on its
 * patch labels (the continual training of `deno task train-rm`), on the clips
 * {@linkcode readLabelledClips} finds. Both checkpoints record `meta.trainedOn`; each
 * stage resumes from its checkpoint in `out` (one trained on other data is refused).
 *
 * @example
 * ```ts
 * import { labelTask } from "@halo/kit/labels";
 * import { trainRewardFromLabels } from "@halo/kit/reward";
 * const dir = await Deno.makeTempDir();
 * await labelTask({ shapes: 2, out: `${dir}/l.jsonl`, judge: true, quiet: true });
 * const report = await trainRewardFromLabels(`${dir}/l.jsonl`, {
 *   out: `${dir}/rm`, videoSteps: 1, patchSteps: 1, batchSize: 2, quiet: true,
 *   config: { dim: 16, depth: 1, heads: 2 },
 * });
 * console.log(report.trainedOn.clips, report.steps.prm); // 2 1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function trainRewardFromLabels(
  labels: string,
  options: TrainRewardFromLabelsOptions = {},
): Promise<LabelsRewardReport> {
  const where = "trainRewardFromLabels";
  const d = REWARD_FROM_LABELS_DEFAULTS;
  const out = options.out ?? d.out;
  if (typeof out !== "string" || out === "") fail(where, "out (a folder)", out);
  const batchSize = options.batchSize ?? REWARD_STAGE_DEFAULTS.batchSize;
  const lengths = { ...options, batchSize, defaults: d };
  stageLengths(where, { ...lengths, clips: 1 });
  const seed = checkInt(where, "seed", options.seed ?? d.seed, 0, 0xffffffff);
  const quiet = options.quiet ?? false;
  const config = resolveRewardConfig(options.config ?? {});
  const t0 = performance.now();
  const { examples, trainedOn } = await readLabelledClips(labels, {
    videos: options.videos,
    config,
  });
  const dataSeconds = (performance.now() - t0) / 1000;
  const { video: videoSteps, patch: patchSteps } = stageLengths(where, {
    ...lengths,
    clips: examples.length,
  });
  const common = {
    batchSize,
    learningRate: options.learningRate,
    seed,
    evalEvery: 0,
    checkpointEvery: options.checkpointEvery,
    quiet,
    ...rewardLossOf(options),
    trainedOn,
  };
  const checkpoints = { vrm: join(out, "vrm"), prm: join(out, "prm") };
  const vrm = await trainRewardStage(examples, {
    ...common,
    stage: "video",
    steps: videoSteps,
    config,
    out: checkpoints.vrm,
    label: "train-rm --labels stage 1 (VRM)",
  });
  try {
    const prm = await trainRewardStage(examples, {
      ...common,
      stage: "patch",
      steps: patchSteps,
      from: vrm.model,
      out: checkpoints.prm,
      label: "train-rm --labels stage 2 (PRM, continual)",
    });
    try {
      const scores = await scoreRewards(prm.model, examples, { note: () => {} });
      const report: LabelsRewardReport = {
        trainedOn,
        checkpoints,
        steps: { vrm: vrm.step, prm: prm.step },
        finalLoss: { vrm: vrm.curve.at(-1)?.loss ?? NaN, prm: prm.curve.at(-1)?.loss ?? NaN },
        trainingFit: fitOf(scores, examples),
        seconds: { data: dataSeconds, vrm: vrm.seconds, prm: prm.seconds },
      };
      await writeFileAtomic(join(out, "report.json"), JSON.stringify(report, null, 2) + "\n");
      if (options.ship) {
        const command = options.command ?? trainRmCommandLine("trainRewardFromLabels()");
        for (const [name, stage] of [["vrm", vrm], ["prm", prm]] as const) {
          await saveRewardModel(join(options.ship, name), stage.model, {
            step: stage.step,
            meta: {
              stage: name === "vrm" ? "video" : "patch",
              seed,
              command,
              wallSeconds: stage.seconds + (name === "prm" ? vrm.seconds : 0),
              backend: tf.getBackend(),
              trainedOn,
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
      disposeRewardModel(prm.model);
    }
  } finally {
    disposeRewardModel(vrm.model);
  }
}

const rho = (x: number) => Number.isFinite(x) ? x.toFixed(3) : "undefined (constant scores)";

/**
 * A {@linkcode LabelsRewardReport} in a few lines.
 *
 * @example
 * ```ts
 * import { formatLabelsRewardReport } from "@halo/kit/reward";
 * const text = formatLabelsRewardReport({
 *   trainedOn: { kind: "labels", file: "l.jsonl", videos: null, clips: 8, grid: "4x4x4", domain: "shapesworld" },
 *   checkpoints: { vrm: "out/rm/vrm", prm: "out/rm/prm" }, steps: { vrm: 4, prm: 4 },
 *   finalLoss: { vrm: 0.5, prm: 0.7 }, trainingFit: { patchRho: 0.3, videoRho: 0.4 },
 *   seconds: { data: 1, vrm: 2, prm: 3 },
 * });
 * console.log(text.split("\n")[0]); // PRM out/rm/prm: trained on the labels in l.jsonl of 8 ShapesWorld clips (grid 4x4x4)
 * ```
 */
export function formatLabelsRewardReport(report: LabelsRewardReport): string {
  return [
    `PRM ${report.checkpoints.prm}: ${describeTrainedOn(report.trainedOn)}`,
    `VRM ${report.checkpoints.vrm}: ${report.steps.vrm} steps, final loss ${
      report.finalLoss.vrm.toFixed(3)
    }; PRM: ${report.steps.prm} steps, final loss ${report.finalLoss.prm.toFixed(3)}`,
    `fit to its own training labels (not held out): patch ρ ${
      rho(report.trainingFit.patchRho)
    }, video ρ ${rho(report.trainingFit.videoRho)}`,
    `seconds: reading clips ${report.seconds.data.toFixed(1)}, VRM ${
      report.seconds.vrm.toFixed(1)
    }, PRM ${report.seconds.prm.toFixed(1)}`,
  ].join("\n") + "\n";
}
