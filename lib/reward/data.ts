/**
 * The reward models' data: ShapesWorld renders (clean, with injected local
 * defects, or rendered from a mismatched prompt), plus generator samples when
 * a generator checkpoint exists; each labelled by the patch labeller through
 * the judge server (the *distilled* labels, DESIGN §3: GPT-4o's stand-in, with
 * its noise) and, for held-out videos only, by the reference judge (the
 * *human* labels that agreement is measured against). Also the validation of
 * label files: a missing or extra patch is an error naming the item.
 *
 * Reconstruction: the paper labels generated videos of a large model with
 * GPT-4o; our mix (share of defective clips, kinds, label noise) is our choice,
 * every part a parameter.
 * @module
 */

import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng, type Rng } from "../core/_rng.ts";
import { pathExists } from "../core/_atomic.ts";
import { DEFECT_KINDS, type DefectKind, injectDefect } from "../videos/defects.ts";
import { loadGenerator } from "../generator/io.ts";
import { disposeGenerator } from "../generator/model.ts";
import { judgeVideo } from "../videos/judge.ts";
import { labelVideos } from "../labels/label.ts";
import type { VideoLabels } from "../videos/scores.ts";
import { startJudgeServer } from "../labels/judge_server/server.ts";
import { formatGrid, numPatches, parseGrid, type PatchGrid } from "../videos/patch.ts";
import { checkVideoLabels } from "./label_file.ts";
import type { Video } from "../videos/video.ts";
import { parsePrompt, promptSplits, renderClip, type ShapesPrompt } from "../videos/world.ts";
import { swapPrompt, TEXT_SWAP_KINDS } from "./swap.ts";
import { dirname, join } from "node:path";
import { sampleDatasetClips } from "./_samples.ts";
import { modelName, type ModelRef, shipped } from "../core/shipped.ts";
import { checkpointFolder } from "../tensor/_checkpoint_folder.ts";

/** Whether a checkpoint is there: a local one when its config.json exists; a remote one is assumed. */
async function checkpointExists(ref: ModelRef): Promise<boolean> {
  const local = checkpointFolder(ref, "buildRewardDataset: generatorDir").local;
  return local === undefined || await pathExists(join(local, "config.json"));
}

/**
 * Where a training clip came from: `"mismatch"` a clip rendered from a swapped prompt and
 * labelled against the original one; `"swap"` another clip of the set again, labelled against
 * a swapped prompt (a prompt-swap negative, `swapRate`); `"labelled"` a label file
 * (`trainRewardFromLabels`).
 */
export type RewardOrigin = "clean" | "defect" | "mismatch" | "swap" | "generator" | "labelled";

/** One labelled clip. */
export interface RewardExample {
  /** The clip. */
  video: Video;
  /** The prompt it is judged against. */
  prompt: string;
  /** How it was made. */
  origin: RewardOrigin;
  /** Defects injected (kind and affected patch indices), when any. */
  defects: Array<{ kind: DefectKind; patches: number[] }>;
  /** Distilled labels (the labeller through the judge server). */
  labels: VideoLabels;
  /** Reference-judge labels: only on held-out examples, for evaluation. */
  reference?: VideoLabels;
}

/** A train / held-out pair of labelled sets. */
export interface RewardDataset {
  /** Training clips (distilled labels only). */
  train: RewardExample[];
  /** Held-out clips (distilled and reference labels), from prompts never trained on. */
  heldOut: RewardExample[];
  /** Patch grid of all labels. */
  grid: string;
  /** Labelling summary. */
  labelling: { calls: number; cached: number; seconds: number; noise: number; bias: number };
}

/** The origins of the clips a prompt-swap negative can repeat (`swapOrigins`' default: all of them). */
export const SWAP_ORIGINS: readonly RewardOrigin[] = Object.freeze([
  "clean",
  "defect",
  "mismatch",
  "generator",
]);

/** The defaults of {@linkcode RewardDatasetOptions} that `deno task train-rm` shows. */
export const REWARD_DATA_DEFAULTS: Readonly<{
  train: number;
  heldOut: number;
  noise: number;
  clipsPerPrompt: number;
  generatorShare: number;
}> = Object.freeze({
  train: 400,
  heldOut: 96,
  noise: 0.6,
  clipsPerPrompt: 1,
  generatorShare: 0.25,
});

/** DDIM η of the generator's clips under `sharedNoise` (that of `deno task pairs --shared-noise`). */
const SHARED_NOISE_ETA = 0.5;

/** Options for {@linkcode buildRewardDataset}. */
export interface RewardDatasetOptions {
  /** Training clips. Default 400. */
  train?: number;
  /** Held-out clips. Default 96. */
  heldOut?: number;
  /** Share of rendered clips that get 1–3 injected local defects. Default 0.6. */
  defectRate?: number;
  /** Share of rendered clips rendered from a mismatched prompt (wrong colour, shape or direction). Default 0.15. */
  mismatchRate?: number;
  /**
   * Prompt-swap negatives: the share of training clips that are added again with a prompt of
   * another colour, shape or count, labelled (through the labeller, like every clip) for that
   * prompt, so the model sees one clip under a matching and a non-matching prompt. Held-out
   * clips never get them. Default 0.
   */
  swapRate?: number;
  /**
   * Which training clips may get a prompt-swap negative, by origin (`"clean"`, `"defect"`,
   * `"mismatch"`, `"generator"`); `swapRate` is the share of those. Default: every origin.
   * Rendered clips show their own prompt by construction, so `["clean", "defect"]` keeps the
   * prior "own prompt above swapped" true, where a generator sample may already show another
   * shape than its prompt's (`data/reward/candidates.md`, tenth round: swapped copies of
   * generator samples cost the reward model its direction on the generator's candidates).
   */
  swapOrigins?: readonly RewardOrigin[];
  /**
   * Clips per prompt: each drawn prompt is rendered (or sampled) this many times with other
   * seeds and defects, so same-prompt pairs exist for a pairwise loss and for pair-direction
   * agreement. Default 1.
   */
  clipsPerPrompt?: number;
  /**
   * The generator's clips of one prompt start from one x_T and differ by the DDIM step noise
   * alone (η 0.5), as `deno task pairs --shared-noise` draws its
   * candidates, so patch k of two clips of a prompt is the same place and time: what the
   * patch pairwise loss (`patchPairWeight`) and Gran-DPO's patch terms compare. Needs
   * `clipsPerPrompt` ≥ 2. Default false (independent noise).
   */
  sharedNoise?: boolean;
  /** Seed of prompts, render seeds, defects. Default 0. */
  seed?: number;
  /** Patch grid. Default "4x4x4". */
  grid?: string;
  /** Frames and size of the clips. Default 16 and 32. */
  frames?: number;
  /** Frame size. Default 32. */
  size?: number;
  /** Generator checkpoint whose samples join the mix. Default: the shipped generator ({@linkcode shipped}). */
  generatorDir?: ModelRef;
  /** Share of clips taken from the generator when it exists. Default 0.25. */
  generatorShare?: number;
  /**
   * Label cache (JSONL). Default "out/reward/labels.jsonl". The generator's samples are cached
   * beside it, in a `samples/` folder (float32 chunks, about 0.2 MB a clip), so a killed run
   * resumes its sampling and another reward model on the same clips samples nothing.
   */
  cache?: string;
  /**
   * Processes sampling the generator's clips (each a chunk of the list, the clips the same as
   * one process would make). Default: the machine's cores.
   */
  jobs?: number;
  /** Base URL of a running judge server or API; default: a judge server started on loopback. */
  baseURL?: string;
  /** Score noise of the started judge server (a VLM labeller's error). Default 0.6. */
  noise?: number;
  /** Score bias of the started judge server. Default 0. */
  bias?: number;
  /** Silence progress. Default false. */
  quiet?: boolean;
}

interface Draft {
  video: Video;
  prompt: string;
  origin: RewardOrigin;
  defects: Array<{ kind: DefectKind; patches: number[] }>;
}

/** Patch indices whose tube holds at least `share` object coverage on average. */
function objectPatches(
  masks: Float32Array,
  count: number,
  video: Video,
  grid: PatchGrid,
): number[] {
  const { numFrames: T, height: H, width: W } = video;
  const n = numPatches(grid, T);
  const cover = new Float64Array(n);
  const ph = H / grid.rows, pw = W / grid.cols;
  for (let t = 0; t < T; t++) {
    const s = Math.floor(t / grid.framesPerPatch);
    for (let o = 0; o < count; o++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const m = masks[((t * count + o) * H + y) * W + x];
          if (m > 0) {
            cover[(s * grid.rows + Math.floor(y / ph)) * grid.cols + Math.floor(x / pw)] += m;
          }
        }
      }
    }
  }
  const perPatch = grid.framesPerPatch * ph * pw;
  return Array.from({ length: n }, (_, i) => i).filter((i) => cover[i] / perPatch > 0.04);
}

/** A rendered mismatch: another colour, shape or direction (the stream of draws predates {@linkcode swapPrompt}). */
function mismatch(p: ShapesPrompt, rng: Rng): ShapesPrompt {
  const kind = (["color", "shape", "direction"] as const)[rng.int(3)];
  return swapPrompt(p, { kind, random: rng });
}

/**
 * Prompt-swap negatives: for a `rate` share of the clips with a ShapesWorld prompt, the same
 * clip again with a prompt of another colour, shape or count (kinds in turn), to be labelled
 * for that prompt; only clips of `origins` are drawn. Drawn from their own generator, so the
 * other clips do not change.
 */
function swapDrafts(
  drafts: readonly Draft[],
  rate: number,
  o: { seed: number; origins: readonly RewardOrigin[] },
): Draft[] {
  if (rate === 0) return [];
  const rng = createRng((o.seed ^ 0x5f3759df) >>> 0);
  const out: Draft[] = [];
  for (const d of drafts) {
    if (!o.origins.includes(d.origin)) continue;
    if (rng.next() >= rate) continue;
    let parsed: ShapesPrompt;
    try {
      parsed = parsePrompt(d.prompt);
    } catch {
      continue;
    }
    const kind = TEXT_SWAP_KINDS[out.length % TEXT_SWAP_KINDS.length];
    const swapped = swapPrompt(parsed, { kind, random: rng });
    out.push({
      video: { ...d.video, source: `${d.video.source}:swap=${kind}` },
      prompt: swapped.text,
      origin: "swap",
      defects: d.defects,
    });
  }
  return out;
}

function renderDrafts(
  prompts: ShapesPrompt[],
  n: number,
  rng: Rng,
  o:
    & Required<
      Pick<
        RewardDatasetOptions,
        "defectRate" | "mismatchRate" | "frames" | "size" | "clipsPerPrompt"
      >
    >
    & {
      grid: PatchGrid;
      tag: string;
    },
): Draft[] {
  const drafts: Draft[] = [];
  let prompt = prompts[0];
  for (let i = 0; i < n; i++) {
    if (i % o.clipsPerPrompt === 0) prompt = rng.pick(prompts);
    const seed = rng.seed();
    const u = rng.next();
    const source = `shapesworld:${o.tag}:${i}:seed=${seed}`;
    if (u < o.mismatchRate) {
      const shown = mismatch(prompt, rng);
      const { video } = renderClip(shown, { seed, frames: o.frames, size: o.size });
      drafts.push({
        video: { ...video, source: `${source}:shows=${shown.text}` },
        prompt: prompt.text,
        origin: "mismatch",
        defects: [],
      });
      continue;
    }
    const { video, truth } = renderClip(prompt, { seed, frames: o.frames, size: o.size });
    let current: Video = { ...video, source };
    const defects: Draft["defects"] = [];
    if (u < o.mismatchRate + o.defectRate) {
      const onObject = objectPatches(truth.masks, prompt.count, video, o.grid);
      const all = Array.from({ length: numPatches(o.grid, o.frames) }, (_, k) => k);
      const kinds = 1 + rng.int(2);
      for (let k = 0; k < kinds; k++) {
        const kind = rng.pick(DEFECT_KINDS);
        const pool = kind === "extra_object"
          ? all.filter((p) => !onObject.includes(p))
          : onObject.length > 0
          ? onObject
          : all;
        const chosen = Array.from({ length: 1 + rng.int(3) }, () => pool[rng.int(pool.length)]);
        const out = injectDefect(current, {
          kind,
          grid: o.grid,
          patches: chosen,
          strength: 0.7 + 0.6 * rng.next(),
        });
        if (out.affected.length > 0) {
          current = out.video;
          defects.push({ kind, patches: out.affected });
        }
      }
    }
    drafts.push({
      video: { ...current, source: defects.length ? `${source}:defects` : source },
      prompt: prompt.text,
      origin: defects.length ? "defect" : "clean",
      defects,
    });
  }
  return drafts;
}

/**
 * Builds the labelled train and held-out sets. Training prompts come from the
 * grammar's train split, held-out prompts from its validation split (prompts
 * never trained on). Every clip is labelled through the real labeller
 * (`openai` client) against a judge server on loopback (or `baseURL`), with a
 * label cache so a rerun makes no calls; held-out clips also get the reference
 * judge's labels. Labels are validated patch by patch.
 *
 * @example
 * ```ts
 * import { buildRewardDataset } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * const data = await buildRewardDataset({ train: 2, heldOut: 1, cache: `${dir}/labels.jsonl`, quiet: true });
 * console.log(data.train.length, data.heldOut[0].reference!.patches.length); // 2 64
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function buildRewardDataset(
  options: RewardDatasetOptions = {},
): Promise<RewardDataset> {
  const where = "buildRewardDataset";
  const nTrain = checkInt(where, "train", options.train ?? REWARD_DATA_DEFAULTS.train, 0);
  const nHeld = checkInt(where, "heldOut", options.heldOut ?? REWARD_DATA_DEFAULTS.heldOut, 0);
  const defectRate = checkNumber(where, "defectRate", options.defectRate ?? 0.6, 0, 1);
  const mismatchRate = checkNumber(where, "mismatchRate", options.mismatchRate ?? 0.15, 0, 1);
  if (defectRate + mismatchRate > 1) {
    fail(where, "defectRate + mismatchRate ≤ 1", defectRate + mismatchRate);
  }
  const swapRate = checkNumber(where, "swapRate", options.swapRate ?? 0, 0, 1);
  const swapOrigins = options.swapOrigins ?? SWAP_ORIGINS;
  if (
    !Array.isArray(swapOrigins) || swapOrigins.length === 0 ||
    swapOrigins.some((o) => !SWAP_ORIGINS.includes(o))
  ) {
    fail(where, `swapOrigins a non-empty list of ${SWAP_ORIGINS.join(", ")}`, swapOrigins);
  }
  const clipsPerPrompt = checkInt(
    where,
    "clipsPerPrompt",
    options.clipsPerPrompt ?? REWARD_DATA_DEFAULTS.clipsPerPrompt,
    1,
    64,
  );
  const sharedNoise = options.sharedNoise ?? false;
  if (typeof sharedNoise !== "boolean") fail(where, "sharedNoise true or false", sharedNoise);
  if (sharedNoise && clipsPerPrompt < 2) {
    fail(
      where,
      "clipsPerPrompt ≥ 2 with sharedNoise (clips of one prompt share x_T)",
      clipsPerPrompt,
    );
  }
  const frames = checkInt(where, "frames", options.frames ?? 16, 1);
  const size = checkInt(where, "size", options.size ?? 32, 16);
  const grid = parseGrid(options.grid ?? "4x4x4");
  const generatorShare = checkNumber(
    where,
    "generatorShare",
    options.generatorShare ?? REWARD_DATA_DEFAULTS.generatorShare,
    0,
    1,
  );
  const noise = checkNumber(where, "noise", options.noise ?? REWARD_DATA_DEFAULTS.noise, 0);
  const bias = checkNumber(where, "bias", options.bias ?? 0);
  const seed = checkInt(where, "seed", options.seed ?? 0, 0, 0xffffffff);
  const jobs = options.jobs === undefined ? undefined : checkInt(where, "jobs", options.jobs, 1);
  const cache = options.cache ?? "out/reward/labels.jsonl";
  const rng = createRng(seed);
  const splits = promptSplits({ seed: 0 });
  const common = { defectRate, mismatchRate, frames, size, grid, clipsPerPrompt };

  const genRef = options.generatorDir ?? shipped.generator;
  const genDir = modelName(genRef);
  let genTrain: Draft[] = [], genHeld: Draft[] = [];
  if (generatorShare > 0 && await checkpointExists(genRef)) {
    const { generator, manifest } = await loadGenerator(genRef);
    try {
      if (generator.config.frames !== frames || generator.config.size !== size) {
        fail(
          `${genDir}/config.json`,
          `a generator of ${frames} frames of ${size}×${size}`,
          `${generator.config.frames} frames of ${generator.config.size}`,
        );
      }
      const sample = async (
        prompts: ShapesPrompt[],
        n: number,
        seed: number,
        tag: string,
      ): Promise<Draft[]> => {
        if (n === 0) return [];
        let last = prompts[0];
        const picked = Array.from(
          { length: n },
          (_, i) => i % clipsPerPrompt === 0 ? (last = rng.pick(prompts)) : last,
        );
        const videos = await sampleDatasetClips(picked.map((p) => p.text), {
          generator,
          generatorDir: String(genRef),
          generatorSha256: manifest.weights.sha256,
          seed,
          steps: 20,
          jobs,
          cache: join(dirname(cache), "samples"),
          label: `sample (${tag})`,
          quiet: options.quiet,
          ...(sharedNoise ? { sharedNoise: { group: clipsPerPrompt, eta: SHARED_NOISE_ETA } } : {}),
        });
        return videos.map((video, i) => ({
          video: { ...video, source: `generator:${tag}:${i}:seed=${seed}` },
          prompt: picked[i].text,
          origin: "generator" as const,
          defects: [],
        }));
      };
      genTrain = await sample(
        splits.train,
        Math.round(nTrain * generatorShare),
        rng.seed(),
        "train",
      );
      genHeld = await sample(
        splits.validation,
        Math.round(nHeld * generatorShare),
        rng.seed(),
        "held",
      );
    } finally {
      disposeGenerator(generator);
    }
  }
  const drafts = [
    ...renderDrafts(splits.train, nTrain - genTrain.length, rng, { ...common, tag: "train" }),
    ...genTrain,
  ];
  const train = [...drafts, ...swapDrafts(drafts, swapRate, { seed, origins: swapOrigins })];
  const held = [
    ...renderDrafts(splits.validation, nHeld - genHeld.length, rng, { ...common, tag: "held" }),
    ...genHeld,
  ];

  const server = options.baseURL ? null : startJudgeServer({ port: 0, noise, bias, seed: 1 });
  let report;
  try {
    report = await labelVideos(
      [...train, ...held].map((d) => ({ video: d.video, prompt: d.prompt })),
      {
        baseURL: options.baseURL ?? server!.url,
        grid,
        cache,
        quiet: options.quiet,
        progressLabel: "label (distil)",
        concurrency: 4,
      },
    );
  } finally {
    await server?.close();
  }
  const all = [...train, ...held];
  const examples: RewardExample[] = report.results.map((r, i) => {
    if (!r.labels) {
      fail(`${where}: item ${i} (${JSON.stringify(all[i].video.source)})`, "labels", r.error);
    }
    checkVideoLabels(r.labels, {
      grid,
      numFrames: frames,
      where: `labels of item ${i} (${JSON.stringify(all[i].video.source)})`,
    });
    return { ...all[i], labels: r.labels };
  });
  const heldOut = examples.slice(train.length).map((e) => {
    const j = judgeVideo(e.video, e.prompt, grid);
    return { ...e, reference: { video: j.video, patches: j.patches } };
  });
  return {
    train: examples.slice(0, train.length),
    heldOut,
    grid: formatGrid(grid),
    labelling: {
      calls: report.calls,
      cached: report.cached,
      seconds: report.seconds,
      noise: options.baseURL ? NaN : noise,
      bias: options.baseURL ? NaN : bias,
    },
  };
}
