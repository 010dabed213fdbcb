/**
 * Preference data for Diffusion-DPO and Gran-DPO (`deno task pairs`): for each
 * training prompt, N candidate clips from a generator (DDIM, one seed per
 * clip), scored by the patch reward model (patch scores) and a video head
 * (the PRM's own, or a VRM's), paired into chosen/rejected clips by video
 * score, with the PRM's per-patch score gaps attached.
 *
 * **Files** (in the output folder):
 * - `clips/<key>.rgb` — one candidate clip, raw bytes: frames × height ×
 *   width × RGB, row-major, 0–255. `<key>` is the SHA-256 of what determines
 *   the clip (generator weights, prompt, seed, sampler settings — η and the
 *   shared x_T seed when used), so a rerun, or a later run with more prompts,
 *   reuses every clip it has, and a run with other noise settings none.
 * - `candidates.jsonl` — one line per sampled clip
 *   (`{key, prompt, seed, clip, sha256}`, and `noiseSeed` with shared noise),
 *   appended as clips are written, so a killed run resumes where it stopped.
 * - `pairs.jsonl` — the interchange another trainer can read, one pair per
 *   line, written atomically once all candidates are scored (another `name`
 *   writes `<name>.jsonl` and `<name>.manifest.json` beside the same clips):
 *
 * ```jsonc
 * {
 *   "id": "p0012-c3-c0",            // prompt index, chosen and rejected candidate
 *   "prompt": "two red circles moving left quickly on a gray background",
 *   "grid": "4x4x4",                // patch geometry of the scores (rows x cols x frames)
 *   "shape": [16, 32, 32, 3],       // frames, height, width, channels of the clips
 *   "chosen":   { "clip": "clips/<key>.rgb", "sha256": "…", "seed": 123,
 *                 "video_score": 3.41, "patch_scores": [/* P numbers, patch-index order *\/] },
 *   "rejected": { … },
 *   "video_gap": 0.62,              // chosen.video_score − rejected.video_score (> 0)
 *   "patch_gaps": [/* P numbers: chosen − rejected per patch; sign = Gran-DPO's direction *\/]
 * }
 * ```
 *
 *   Scores are the reward models' means over the aspects, on the 1–4 scale
 *   (with several PRMs, `prmDirs`, the ensemble's combination of them, clip by
 *   clip and patch by patch: `scores.ts`; the format is the same); a side's
 *   `seed` is its clip's noise seed (with `sharedNoise`, the η step noise's);
 *   patches are in patch-index order `(segment·rows + row)·cols + col` (see
 *   `patchId`); clip paths are relative to the `pairs.jsonl` folder.
 * - `pairs.manifest.json` — settings, counts and diagnostics (score spreads, how
 *   often patch directions disagree with the video direction, and how often
 *   the reference judge agrees with the pair's direction — for reporting
 *   only; the judge never chooses a pair). With an ensemble, `settings.prm`
 *   lists the PRMs, `settings.ensemble` names the combination and
 *   `diagnostics.ensembleVideoStd` is the models' mean disagreement on a clip;
 *   `settings.sharedNoise` and `settings.eta` appear when used.
 *
 * **Candidates from the same noise** (`sharedNoise`, our reconstruction): every
 * candidate of a prompt starts from one x_T (seeded by the prompt) and DDIM
 * with η > 0 (default 0.5 then) gives each its own step noise, so the
 * candidates — and the pairs — differ in local detail rather than in layout,
 * which is what per-patch preferences are about. With η = 0 they would all be
 * the same clip, so that is refused.
 * @module
 */

import { join } from "node:path";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { pathExists, writeFileAtomic } from "../core/_atomic.ts";
import { sha256Hex } from "../core/_hash.ts";
import { createRng } from "../core/_rng.ts";
import { Progress } from "../core/_progress.ts";
import { defaultJobs, runJobs } from "../core/_spawn.ts";
import { disposeGenerator, type Generator } from "../generator/model.ts";
import { loadGenerator } from "../generator/io.ts";
import { loadRewardModel } from "../reward/io.ts";
import { disposeRewardModel, type RewardModel } from "../reward/model.ts";
import { modelName, type ModelRef, shipped } from "../core/shipped.ts";
import { formatGrid, numPatches, parseGrid } from "../videos/patch.ts";
import { type PairSide, type PreferencePair, readClip } from "./file.ts";
import { ENSEMBLE_REDUCES, type EnsembleReduce } from "../reward/ensemble.ts";
import { ensembleCandidateScores, type PairScorer } from "./scores.ts";
import { scoreWith } from "./_scorer.ts";
import { judgeDiagnostics } from "./_judge_diagnostics.ts";
import { listPrompts, pairPrompts } from "./prompts.ts";
import {
  type CandidateItem,
  type CandidateJob,
  generatorHash,
  readCandidates,
  sampleCandidates,
} from "./candidates.ts";

/** The child module that samples one shard of candidates. */
const CANDIDATES_JOB = new URL("./_candidates_job.ts", import.meta.url).href;

/** How candidates of one prompt are paired. */
export type Pairing = "best-worst" | "all";

/** The defaults of {@linkcode BuildPairsOptions} (`deno task pairs` shows the same). */
export const PAIRS_DEFAULTS: Readonly<{
  prompts: number;
  candidates: number;
  steps: number;
  guidance: number;
  seed: number;
  margin: number;
  batchSize: number;
  pairing: Pairing;
  name: string;
  ensemble: EnsembleReduce;
  sharedNoise: boolean;
  eta: number;
  sharedNoiseEta: number;
}> = Object.freeze({
  prompts: 256,
  candidates: 4,
  steps: 20,
  guidance: 2,
  seed: 0,
  margin: 0.1,
  batchSize: 16,
  pairing: "best-worst",
  name: "pairs",
  ensemble: "mean",
  sharedNoise: false,
  eta: 0,
  sharedNoiseEta: 0.5,
});

/** Options for {@linkcode buildPairs}. */
export interface BuildPairsOptions {
  /** Output folder (clips, candidates.jsonl, pairs.jsonl, pairs.manifest.json). Required. */
  out: string;
  /**
   * Name of the pairs file and its manifest in `out` (`<name>.jsonl`, `<name>.manifest.json`), so
   * several pairings of the same candidates share one folder of clips. Default "pairs".
   */
  name?: string;
  /** Generator checkpoint to sample from. Default: the shipped generator ({@linkcode shipped}). */
  generatorDir?: ModelRef;
  /** An in-memory generator instead (iterative DPO samples from the current policy). */
  generator?: Generator;
  /** Patch reward model. Default: the shipped PRM ({@linkcode shipped}). */
  prmDir?: ModelRef;
  /**
   * Several patch reward models instead of `prmDir` (one grid, frames and size): every candidate
   * is scored by each and the scores combined by `ensemble` (`scores.ts`). Our reconstruction.
   */
  prmDirs?: readonly ModelRef[];
  /**
   * How an ensemble's scores of a clip and of each patch are combined: "mean", "min" or
   * "mean-std" (mean − standard deviation; the pessimistic two guard against reward hacking).
   * Default "mean" (one PRM: its own scores whatever this is).
   */
  ensemble?: EnsembleReduce;
  /** Take video scores from this reward model instead of the PRM's video head. */
  videoRmDir?: ModelRef;
  /**
   * Scores the candidates instead of the PRMs, on the first PRM's grid: e.g. the labeller itself
   * (GPT-4o, or the judge server, with no distilled model between; `bench/label_pairs.ts`). `name`
   * stands for the PRM in the manifest. Default: the PRMs' scores.
   */
  scorer?: PairScorer;
  /** Training prompts (a seeded sample of the train split). Default 256. */
  prompts?: number;
  /**
   * Prompt texts of the ShapesWorld grammar to draw the candidates for instead of the train
   * split's sample (`prompts` is then unused; a prompt's index in the list seeds its noise), e.g.
   * your own prompts. Default: the sample.
   */
  promptList?: readonly string[];
  /** Candidates per prompt. Default 4. */
  candidates?: number;
  /** DDIM steps. Default 20. */
  steps?: number;
  /** Classifier-free guidance. Default 2. */
  guidance?: number;
  /**
   * All candidates of a prompt start from the same initial noise x_T and differ only through
   * DDIM's η step noise, so a pair differs in local detail rather than layout. Needs η > 0
   * (with η = 0 they would be one clip). Our reconstruction, not the paper's. Default false.
   */
  sharedNoise?: boolean;
  /** DDIM η of the candidates. Default 0, or 0.5 with `sharedNoise`. */
  eta?: number;
  /** Seed of the prompt sample and of the candidates' noise. Default 0. */
  seed?: number;
  /** "best-worst" (one pair per prompt) or "all" pairs above the margin. Default "best-worst". */
  pairing?: Pairing;
  /** Minimum video-score gap of a pair. Default 0.1. */
  margin?: number;
  /** Clips per sampling batch. Default 16. */
  batchSize?: number;
  /** Child processes that sample candidates at once (a generator from a directory only). Default: the CPU count. */
  jobs?: number;
  /** Add the reference judge's agreement to the manifest (diagnostics only). Default true. */
  judgeDiagnostics?: boolean;
  /** No progress bar. Default false. */
  quiet?: boolean;
}

/** What {@linkcode buildPairs} did. */
export interface BuildPairsResult {
  /** The pairs file written. */
  file: string;
  /** Pairs written. */
  pairs: number;
  /** Candidate clips in all. */
  candidates: number;
  /** Clips sampled by this run (the rest were reused). */
  sampled: number;
  /** The manifest written beside the pairs. */
  manifest: PairsManifest;
}

/** `pairs.manifest.json`: the settings and diagnostics of a pairs file. */
export interface PairsManifest {
  /** Settings that made the pairs. */
  settings: Record<string, unknown>;
  /** Pairs, prompts, candidates. */
  counts: { pairs: number; prompts: number; candidates: number; skippedBelowMargin: number };
  /** Diagnostics of the pairs. */
  diagnostics: Record<string, number>;
}

const CLIP_FORMAT_VERSION = 1;

/** A stable 32-bit seed for candidate `j` of prompt `index` under `seed`. */
function candidateSeed(seed: number, index: number, j: number): number {
  return createRng((seed * 0x9e3779b1 + index * 0x85ebca6b + j * 0xc2b2ae35) >>> 0).seed();
}

/** The seed of the x_T every candidate of prompt `index` shares under `sharedNoise`. */
function sharedNoiseSeed(seed: number, index: number): number {
  return createRng((seed * 0x9e3779b1 + index * 0x85ebca6b + 0x27d4eb2f) >>> 0).seed();
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/**
 * The best-worst pairing of one prompt's candidates: the indices of the
 * highest and the lowest video score (first of equals).
 *
 * @example
 * ```ts
 * import { bestWorst } from "@halo/kit/pairs";
 * console.log(bestWorst([2.9, 3.4, 2.1, 3.0])); // [ 1, 2 ]
 * ```
 */
export function bestWorst(videoScores: readonly number[]): [number, number] {
  if (!Array.isArray(videoScores) || videoScores.length < 2) {
    fail("bestWorst", "at least two video scores", videoScores);
  }
  const sorted = videoScores.map((_, i) => i).sort((a, b) => videoScores[b] - videoScores[a]);
  return [sorted[0], sorted[sorted.length - 1]];
}

/**
 * Samples (or reuses) candidates, scores them, pairs them and writes the
 * pairs folder described in the module doc. Resumable: clips already in
 * `candidates.jsonl` with an intact file are reused, so a killed run picks up
 * where it stopped and a rerun samples nothing.
 *
 * @example
 * ```ts
 * import { buildPairs, createGenerator, createRewardModel, disposeGenerator, disposeRewardModel, saveRewardModel } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * const prm = createRewardModel({ frames: 4, size: 16, grid: "2x2x2", dim: 16, depth: 1, heads: 2 }, { seed: 1 });
 * await saveRewardModel(`${dir}/prm`, prm);
 * const generator = createGenerator({ frames: 4, size: 16, dim: 16, depth: 1, heads: 2, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } });
 * const r = await buildPairs({ out: `${dir}/pairs`, generator, prmDir: `${dir}/prm`, prompts: 2, candidates: 3, steps: 2, margin: 0, quiet: true });
 * console.log(r.candidates, r.pairs); // 6 2
 * disposeGenerator(generator);
 * disposeRewardModel(prm);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function buildPairs(options: BuildPairsOptions): Promise<BuildPairsResult> {
  const where = "buildPairs";
  if (!options || typeof options.out !== "string" || options.out === "") {
    fail(where, "an options object with an output folder `out`", options?.out);
  }
  const out = options.out;
  const d = PAIRS_DEFAULTS;
  const nPrompts = checkInt(where, "prompts", options.prompts ?? d.prompts, 1);
  const nCandidates = checkInt(where, "candidates", options.candidates ?? d.candidates, 2, 64);
  const steps = checkInt(where, "steps", options.steps ?? d.steps, 1, 1000);
  const guidance = checkNumber(where, "guidance", options.guidance ?? d.guidance, 0, 100);
  const seed = checkInt(where, "seed", options.seed ?? d.seed, 0, 0xffffffff);
  const margin = checkNumber(where, "margin", options.margin ?? d.margin, 0);
  const batchSize = checkInt(where, "batchSize", options.batchSize ?? d.batchSize, 1);
  const pairing = options.pairing ?? d.pairing;
  if (pairing !== "best-worst" && pairing !== "all") {
    fail(where, 'pairing "best-worst" or "all"', pairing);
  }
  if (
    options.scorer !== undefined &&
    (typeof options.scorer?.score !== "function" || typeof options.scorer?.name !== "string")
  ) {
    fail(where, "scorer with a name and a score function", options.scorer);
  }
  const sharedNoise = options.sharedNoise ?? d.sharedNoise;
  if (typeof sharedNoise !== "boolean") fail(where, "sharedNoise true or false", sharedNoise);
  const eta = checkNumber(
    where,
    "eta",
    options.eta ?? (sharedNoise ? d.sharedNoiseEta : d.eta),
    0,
    1,
  );
  if (sharedNoise && eta === 0) {
    fail(
      where,
      "eta > 0 with sharedNoise (with η = 0 DDIM is deterministic, so candidates from the same noise would be the same clip)",
      eta,
    );
  }
  const ensemble = options.ensemble ?? d.ensemble;
  if (!ENSEMBLE_REDUCES.includes(ensemble)) {
    fail(where, `ensemble one of ${ENSEMBLE_REDUCES.join(", ")}`, ensemble);
  }
  if (options.prmDirs !== undefined) {
    if (options.prmDir !== undefined) fail(where, "prmDir or prmDirs, not both", options.prmDirs);
    if (!Array.isArray(options.prmDirs) || options.prmDirs.length === 0) {
      fail(where, "prmDirs with at least one reward model", options.prmDirs);
    }
  }
  const generatorRef = options.generatorDir ?? shipped.generator;
  const prmRefs = options.prmDirs ?? [options.prmDir ?? shipped.prm];
  const prmNames = prmRefs.map((r) => modelName(r));
  const name = options.name ?? d.name;
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith(".")) {
    fail(where, "a file name of letters, digits, '_', '-' and '.'", name);
  }
  const prompts = options.promptList === undefined
    ? pairPrompts(nPrompts, seed)
    : listPrompts(options.promptList);

  // Models: the generator (own or loaded), the PRM and an optional video RM.
  let generator = options.generator;
  let generatorKey: string;
  let ownGenerator = false;
  if (generator) generatorKey = await generatorHash(generator);
  else {
    const loaded = await loadGenerator(generatorRef);
    generator = loaded.generator;
    ownGenerator = true;
    generatorKey = loaded.manifest.weights.sha256;
  }
  const models: RewardModel[] = [];
  try {
    const prms: RewardModel[] = [];
    for (const ref of prmRefs) {
      prms.push((await loadRewardModel(ref)).model);
      models.push(prms.at(-1)!);
    }
    const prm = prms[0];
    const videoRm = options.videoRmDir ? (await loadRewardModel(options.videoRmDir)).model : null;
    if (videoRm) models.push(videoRm);
    const c = generator.config;
    prms.forEach((m, i) => {
      if (
        m.config.frames !== c.frames || m.config.size !== c.size ||
        m.config.grid !== prm.config.grid
      ) {
        fail(
          prmNames[i],
          `a reward model for ${c.frames} frames of ${c.size}×${c.size} (the generator's) on grid ${prm.config.grid} (${
            prmNames[0]
          }'s)`,
          `${m.config.frames} frames of ${m.config.size}×${m.config.size} on grid ${m.config.grid}`,
        );
      }
    });
    const shape: [number, number, number, number] = [c.frames, c.size, c.size, 3];
    const grid = parseGrid(prm.config.grid);
    const P = numPatches(grid, c.frames);

    // 1. Candidates: reuse what is on disk (every candidates*.jsonl), sample the rest.
    const known = await readCandidates(out);
    const wanted: CandidateItem[] = [];
    for (const { index, prompt } of prompts) {
      const noiseSeed = sharedNoise ? sharedNoiseSeed(seed, index) : undefined;
      for (let j = 0; j < nCandidates; j++) {
        const s = candidateSeed(seed, index, j);
        // η and the shared x_T enter the key only when used, so older folders keep their keys
        const key = await sha256Hex(JSON.stringify({
          v: CLIP_FORMAT_VERSION,
          generator: generatorKey,
          prompt: prompt.text,
          seed: s,
          steps,
          guidance,
          ...(eta > 0 ? { eta } : {}),
          ...(noiseSeed !== undefined ? { noiseSeed } : {}),
        }));
        wanted.push({ prompt, seed: s, key, ...(noiseSeed !== undefined ? { noiseSeed } : {}) });
      }
    }
    const missing: CandidateItem[] = [];
    for (const w of wanted) {
      const r = known.get(w.key);
      if (!r || !(await pathExists(join(out, r.clip)))) missing.push(w);
    }
    const progress = new Progress(wanted.length, {
      label: "pairs: sample candidates",
      unit: "clips",
      initial: wanted.length - missing.length,
      quiet: options.quiet || missing.length === 0,
    });
    const jobs = options.jobs ?? defaultJobs();
    const sampling = { out, steps, guidance, batchSize, ...(eta > 0 ? { eta } : {}) };
    if (jobs > 1 && !options.generator && missing.length > batchSize) {
      // One shard per core, each in a child process with its own log file.
      const per = Math.ceil(missing.length / jobs);
      const shards = Array.from({ length: jobs }, (_, k) => missing.slice(k * per, (k + 1) * per))
        .filter((shard) => shard.length > 0);
      await runJobs(
        shards.map((shard, k) => ({
          kind: "candidates",
          generatorDir: String(generatorRef),
          job: {
            ...sampling,
            log: join(out, `candidates.${k}.jsonl`),
            items: shard.map((w) => ({ ...w, prompt: w.prompt.text })),
          },
        })),
        {
          concurrency: jobs,
          entry: CANDIDATES_JOB,
          onDone: (job) => progress.tick((job.job as CandidateJob).items.length),
        },
      );
      for (const [key, r] of await readCandidates(out)) known.set(key, r);
    } else {
      const records = await sampleCandidates(generator, {
        ...sampling,
        log: join(out, "candidates.jsonl"),
        items: missing,
        onChunk: (n) => progress.tick(n),
      });
      for (const r of records) known.set(r.key, r);
    }

    // 2. Scores of every candidate (cheap, so always recomputed: a new PRM needs no resampling).
    const videos = await Promise.all(
      wanted.map((w) => {
        const r = known.get(w.key)!;
        return readClip(join(out, r.clip), shape, r.sha256);
      }),
    );
    const items = videos.map((video, i) => ({ video, prompt: wanted[i].prompt.text }));
    const prmScores = options.scorer
      ? await scoreWith(options.scorer, items, P)
      : await ensembleCandidateScores(prms, items, { ensemble });
    const videoScores = videoRm
      ? (await ensembleCandidateScores([videoRm], items)).video
      : prmScores.video;
    const patchScores = prmScores.patches;
    for (const [i, v] of videoScores.entries()) {
      if (!Number.isFinite(v) || patchScores[i].some((x) => !Number.isFinite(x))) {
        fail(where, `finite reward scores`, `NaN for candidate ${wanted[i].key.slice(0, 12)}…`);
      }
    }

    // 3. Pairs.
    const pairs: PreferencePair[] = [];
    let skipped = 0;
    const round = (x: number) => Math.round(x * 1e5) / 1e5;
    const side = (i: number): PairSide => {
      const r = known.get(wanted[i].key)!;
      return {
        clip: r.clip,
        sha256: r.sha256,
        seed: r.seed,
        video_score: round(videoScores[i]),
        patch_scores: patchScores[i].map(round),
      };
    };
    for (let p = 0; p < prompts.length; p++) {
      const ids = Array.from({ length: nCandidates }, (_, j) => p * nCandidates + j);
      const candidatesPairs: Array<[number, number]> = [];
      if (pairing === "best-worst") {
        const [best, worst] = bestWorst(ids.map((i) => videoScores[i]));
        candidatesPairs.push([ids[best], ids[worst]]);
      } else {
        for (const a of ids) {
          for (const b of ids) if (videoScores[a] > videoScores[b]) candidatesPairs.push([a, b]);
        }
      }
      for (const [a, b] of candidatesPairs) {
        const gap = videoScores[a] - videoScores[b];
        if (!(gap >= margin) || gap <= 0) {
          skipped++;
          continue;
        }
        const chosen = side(a), rejected = side(b);
        pairs.push({
          id: `p${String(prompts[p].index).padStart(4, "0")}-c${a % nCandidates}-c${
            b % nCandidates
          }`,
          prompt: prompts[p].prompt.text,
          grid: formatGrid(grid),
          shape,
          chosen,
          rejected,
          video_gap: round(gap),
          patch_gaps: chosen.patch_scores.map((s, k) => round(s - rejected.patch_scores[k])),
        });
      }
    }

    // 4. Diagnostics (the judge only reports; it never picks a pair).
    const diagnostics: Record<string, number> = {
      meanVideoGap: mean(pairs.map((q) => q.video_gap)),
      meanAbsPatchGap: mean(pairs.flatMap((q) => q.patch_gaps.map(Math.abs))),
      patchGapsOver025: mean(
        pairs.flatMap((q) => q.patch_gaps.map((g) => Math.abs(g) >= 0.25 ? 1 : 0)),
      ),
      patchDisagreeOver025: mean(
        pairs.flatMap((q) =>
          q.patch_gaps.filter((g) => Math.abs(g) >= 0.25).map((g) => g < 0 ? 1 : 0)
        ),
      ),
      videoScoreStd: Math.sqrt(mean(videoScores.map((v) => (v - mean(videoScores)) ** 2))),
      ...(prms.length > 1 ? { ensembleVideoStd: mean(prmScores.videoStd) } : {}),
    };
    if (options.judgeDiagnostics ?? true) {
      const clipIndex = new Map(wanted.map((w, i) => [known.get(w.key)!.clip, i]));
      Object.assign(
        diagnostics,
        judgeDiagnostics(pairs, (clip) => {
          const i = clipIndex.get(clip)!;
          return { index: i, video: videos[i], prompt: wanted[i].prompt.text };
        }),
      );
    }
    const manifest: PairsManifest = {
      settings: {
        generator: options.generator
          ? `in-memory ${generatorKey.slice(0, 12)}…`
          : modelName(generatorRef),
        generatorSha256: generatorKey,
        prm: options.scorer ? options.scorer.name : prms.length > 1 ? prmNames : prmNames[0],
        ...(prms.length > 1 ? { ensemble } : {}),
        videoRm: options.videoRmDir === undefined ? null : modelName(options.videoRmDir),
        prompts: prompts.length,
        ...(options.promptList === undefined ? {} : { promptList: true }),
        candidates: nCandidates,
        steps,
        guidance,
        seed,
        ...(sharedNoise ? { sharedNoise } : {}),
        ...(eta > 0 ? { eta } : {}),
        pairing,
        margin,
        grid: formatGrid(grid),
        patches: P,
      },
      counts: {
        pairs: pairs.length,
        prompts: prompts.length,
        candidates: wanted.length,
        skippedBelowMargin: skipped,
      },
      diagnostics,
    };
    const file = join(out, `${name}.jsonl`);
    await writeFileAtomic(file, pairs.map((q) => JSON.stringify(q) + "\n").join(""));
    await writeFileAtomic(
      join(out, `${name}.manifest.json`),
      JSON.stringify(manifest, null, 2) + "\n",
    );
    return {
      file,
      pairs: pairs.length,
      candidates: wanted.length,
      sampled: missing.length,
      manifest,
    };
  } finally {
    for (const m of new Set(models)) disposeRewardModel(m);
    if (ownGenerator) disposeGenerator(generator);
  }
}
