/**
 * `deno task inspect --videos DIR`: the patch labeller and the defect view
 * pointed at your own videos. Every video of a folder (listed in its
 * `prompts.json`, or every mp4/webm/gif/mov/mkv/avi with `--prompt` for all)
 * is decoded, labelled per patch through GPT-4o or any OpenAI-compatible
 * server such as the judge server (the labels cache makes reruns free),
 * scored by the patch reward model when one exists, and written to one
 * offline HTML report: a defect heatmap per video and a table of the worst
 * patches with the labeller's reasons. A file that cannot be decoded gets a
 * clear error in the report and the rest are still inspected.
 *
 * Whose judgement ranks the patches: the labeller's, unless the PRM was trained on
 * labels of that kind of clip (its checkpoint's `meta.trainedOn`): the shipped PRM,
 * trained on ShapesWorld clips, ranks ShapesWorld clips only (a clip whose prompt is a
 * ShapesWorld sentence); a PRM made by `deno task train-rm --labels` on labels of video
 * files ranks video files. The other scorer's scores are shown beside, with a caveat
 * line naming the PRM and what it was trained on.
 * @module
 */

import { modelName, type ModelRef, shipped } from "../core/shipped.ts";
import { basename, extname, join, resolve } from "node:path";
import { pathExists, writeFileAtomic } from "../core/_atomic.ts";
import { checkInt, fail } from "../core/_errors.ts";
import { Progress } from "../core/_progress.ts";
import { defectFigure, patchScore, type PatchScoreOf, worstPatches } from "./figure_defects.ts";
import type { Figure } from "./figure.ts";
import { figurePngs } from "./figure_png.ts";
import { LABEL_DEFAULTS, type LabelItem, labelVideos } from "../labels/label.ts";
import { startJudgeServer } from "../labels/judge_server/server.ts";
import { fitToGrid, readPromptManifest } from "../labels/folder.ts";
import { ASPECTS, type AspectScores, type PatchLabel } from "../videos/scores.ts";
import { DEFAULT_GRID, formatGrid, numSegments, type PatchGrid } from "../videos/patch.ts";
import { escapeHtml, figureDiv, htmlPage } from "./plotly.ts";
import { rewardGrid } from "../reward/model.ts";
import { rewardPatchLabels, scoreRewards } from "../reward/score.ts";
import { disposeRewardModel } from "../reward/model.ts";
import { loadRewardModel } from "../reward/io.ts";
import {
  clipKind,
  describeTrainedOn,
  judgesClipsOf,
  readTrainedOn,
  type RewardTrainedOn,
} from "../reward/trained_on.ts";
import { loadVideo, type Video } from "../videos/video.ts";

/** File extensions taken as videos when a folder has no `prompts.json`. */
export const VIDEO_EXTENSIONS: readonly string[] = Object.freeze([
  ".mp4",
  ".webm",
  ".gif",
  ".mov",
  ".mkv",
  ".avi",
]);

/** The defaults of {@linkcode InspectOptions} that `deno task inspect` shows (labeller defaults: `LABEL_DEFAULTS`). */
export const INSPECT_DEFAULTS: Readonly<{ frames: number; worst: number }> = Object.freeze({
  frames: 16,
  worst: 3,
});

/** Options of {@linkcode inspectVideos}. */
export interface InspectOptions {
  /** Report path. Default `<DIR>-report.html` beside the folder. */
  out?: string;
  /** Prompt of every video, for a folder without `prompts.json`. */
  prompt?: string;
  /** OpenAI-compatible base URL (a judge server's `…/v1`). Default: OpenAI with `OPENAI_API_KEY`. */
  baseURL?: string;
  /** Label with an in-process judge server on loopback instead of `baseURL`. Default false. */
  judge?: boolean;
  /** Model name. Default "gpt-4o". */
  model?: string;
  /** Labels cache (JSONL). Default `<out without .html>.labels.jsonl`. */
  labels?: string;
  /** Patch reward model checkpoint, or null for none. Default: the shipped PRM ({@linkcode shipped}). */
  prm?: ModelRef | null;
  /** Frames kept per video, evenly spaced (fewer when the clip is shorter). Default 16. */
  frames?: number;
  /** Patch grid of the labeller. Default 4×4×4. */
  grid?: PatchGrid;
  /** Worst patches boxed per video and listed in the table. Default 3. */
  worst?: number;
  /** What the heatmap shows per patch. Default "mean" over aspects. */
  score?: PatchScoreOf;
  /** Labelling requests in flight. Default 4. */
  concurrency?: number;
  /** Write one PNG of each video's defect view into this folder (headless Chromium). */
  png?: string;
  /** No progress bars. Default false. */
  quiet?: boolean;
}

/** One inspected video. */
export interface InspectedVideo {
  /** File name inside the folder. */
  file: string;
  /** Its prompt. */
  prompt: string;
  /** Error that stopped it (decoding, labelling), if any. */
  error?: string;
  /** Frames, height and width as inspected. */
  shape?: { frames: number; height: number; width: number };
  /** The labeller's video scores. */
  videoLabels?: AspectScores;
  /** The labeller's patch labels. */
  labels?: PatchLabel[];
  /** The PRM's video scores. */
  prmVideo?: AspectScores;
  /** The PRM's patch scores as labels (no reasons). */
  prm?: PatchLabel[];
  /**
   * Whose scores rank the patches (heatmap, boxes, worst-patches table): the PRM's when it
   * was trained on labels of this kind of clip, the labeller's otherwise.
   */
  rankedBy?: "PRM" | "labeller";
  /** Says which scores rank the patches and what the PRM beside them was trained on. */
  caveat?: string;
  /** The defect view, when the video was decoded and scored. */
  figure?: Figure;
}

/** What {@linkcode inspectVideos} did. */
export interface InspectReport {
  /** The report file written. */
  out: string;
  /** The labels cache used. */
  labels: string;
  /** One entry per video, in folder order. */
  videos: InspectedVideo[];
  /** HTTP calls made to the labelling API (0 when everything came from the cache). */
  calls: number;
  /** Videos whose labels came from the cache. */
  cached: number;
  /** Estimated cost of this run at GPT-4o list prices, USD. */
  costUsd: number;
  /** The PRM used, or null. */
  prm: string | null;
  /** What the PRM was trained on, as its checkpoint records it; null without a PRM. */
  prmTrainedOn: RewardTrainedOn | null;
  /** Notes for the reader (PRM grid, prompts the PRM does not know). */
  notes: string[];
}

/** The videos of `dir`: from `prompts.json`, or every video file with one prompt for all. */
async function listVideos(
  dir: string,
  prompt?: string,
): Promise<Array<{ file: string; prompt: string }>> {
  if (await pathExists(join(dir, "prompts.json"))) return await readPromptManifest(dir);
  if (prompt === undefined) {
    fail(
      `inspect ${dir}`,
      'a prompts.json ({"videos": [{"file", "prompt"}]}) or --prompt for every video',
      "neither",
    );
  }
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && VIDEO_EXTENSIONS.includes(extname(entry.name).toLowerCase())) {
      files.push(entry.name);
    }
  }
  if (!files.length) fail(`inspect ${dir}`, `video files (${VIDEO_EXTENSIONS.join(", ")})`, "none");
  return files.sort().map((file) => ({ file, prompt }));
}

/** Decodes one video at up to `frames` evenly spaced frames, trimmed to the grid. */
async function decode(path: string, frames: number, grid: PatchGrid): Promise<Video> {
  let video: Video;
  try {
    video = await loadVideo(path, { frames });
  } catch (error) {
    // a clip shorter than `frames`: keep all its frames
    if (!/Expected at most \d+ frames/.test((error as Error).message)) throw error;
    video = await loadVideo(path);
  }
  return fitToGrid(video, grid);
}

/**
 * Inspects every video of `dir` and writes the HTML report (see the module doc).
 *
 * @example
 * ```ts
 * import { inspectVideos, parsePrompt, renderClip, saveVideo, startJudgeServer } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const text = "one red circle moving left slowly on a black background";
 * await saveVideo(renderClip(parsePrompt(text), { seed: 1 }).video, `${dir}/a.gif`);
 * await Deno.writeTextFile(`${dir}/notes.mp4`, "not a video");
 * const server = startJudgeServer({ port: 0 });
 * const report = await inspectVideos(dir, { prompt: text, baseURL: server.url, out: `${dir}/r.html`, quiet: true });
 * assert.deepEqual(report.videos.map((v) => Boolean(v.figure)), [true, false]);
 * assert.match(report.videos[1].error!, /notes\.mp4.*Expected a decodable video/);
 * await server.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function inspectVideos(
  dir: string,
  options: InspectOptions = {},
): Promise<InspectReport> {
  const where = "inspectVideos";
  if (typeof dir !== "string" || dir === "") fail(where, "a folder of videos", dir);
  const info = await Deno.stat(dir).catch(() => null);
  if (!info?.isDirectory) {
    fail(where, "a folder of videos", `${dir} (${info ? "not a folder" : "missing"})`);
  }
  const grid = options.grid ?? DEFAULT_GRID;
  const frames = checkInt(where, "frames", options.frames ?? INSPECT_DEFAULTS.frames, 1, 4096);
  const worstCount = checkInt(where, "worst", options.worst ?? INSPECT_DEFAULTS.worst, 0, 1000);
  const score = options.score ?? "mean";
  const trimmed = resolve(dir).replace(/\/+$/, "");
  const out = options.out ?? `${trimmed}-report.html`;
  const labelsPath = options.labels ?? out.replace(/\.html?$/i, "") + ".labels.jsonl";
  const entries = await listVideos(dir, options.prompt);
  const quiet = options.quiet ?? false;
  const notes: string[] = [];
  const labeller = options.judge
    ? "the in-process judge server"
    : options.model ?? LABEL_DEFAULTS.model;

  // 1. decode
  const videos: InspectedVideo[] = entries.map((e) => ({ file: e.file, prompt: e.prompt }));
  const decoded = new Map<number, Video>();
  const progress = new Progress(entries.length, {
    label: "inspect: decode",
    unit: "videos",
    quiet,
  });
  for (const [i, entry] of entries.entries()) {
    try {
      const video = await decode(resolve(dir, entry.file), frames, grid);
      decoded.set(i, video);
      videos[i].shape = { frames: video.numFrames, height: video.height, width: video.width };
    } catch (error) {
      videos[i].error = `${entry.file}: ${(error as Error).message}`;
    }
    progress.tick(1, { failed: videos.filter((v) => v.error).length });
  }

  // 2. label (cached; failures are per video)
  const order = [...decoded.keys()];
  const items: LabelItem[] = order.map((i) => ({
    video: decoded.get(i)!,
    prompt: entries[i].prompt,
  }));
  const server = options.judge && items.length ? startJudgeServer({ port: 0 }) : null;
  const run = await labelVideos(items, {
    baseURL: server?.url ?? options.baseURL,
    model: options.model,
    grid,
    cache: labelsPath,
    concurrency: options.concurrency,
    quiet,
    progressLabel: "inspect: label",
  }).finally(() => server?.close());
  run.results.forEach((r, k) => {
    const v = videos[order[k]];
    if (r.labels) {
      v.videoLabels = r.labels.video;
      v.labels = r.labels.patches;
    } else v.error = `${v.file}: labelling failed: ${r.error}`;
  });

  // 3. PRM scores, when a PRM exists and its grid matches
  const prmRef = options.prm === undefined ? shipped.prm : options.prm;
  const prmPath = prmRef === null ? null : modelName(prmRef);
  let prmTrainedOn: RewardTrainedOn | null = null;
  if (prmPath && order.length) {
    const { model, manifest } = await loadRewardModel(prmRef!);
    try {
      const trainedOn = readTrainedOn(manifest.meta, model.config);
      prmTrainedOn = trainedOn;
      const g = rewardGrid(model.config);
      const fits = order.filter((i) => {
        const v = decoded.get(i)!;
        return g.rows === grid.rows && g.cols === grid.cols &&
          numSegments(g, model.config.frames) === numSegments(grid, v.numFrames);
      });
      if (fits.length < order.length) {
        notes.push(
          `The PRM (${prmPath}, grid ${model.config.grid} over ${model.config.frames} frames) does not ` +
            `match the labeller's grid ${formatGrid(grid)} for ${
              order.length - fits.length
            } video(s); ` +
            "their heatmaps show the labeller's scores.",
        );
      }
      let unknownPrompts = false;
      const scoring = new Progress(fits.length, { label: "inspect: PRM", unit: "videos", quiet });
      const scores = await scoreRewards(
        model,
        fits.map((i) => ({ video: decoded.get(i)!, prompt: entries[i].prompt })),
        {
          resample: true,
          note: (m) => {
            if (/not a ShapesWorld sentence/.test(m)) unknownPrompts = true;
          },
        },
      );
      scoring.tick(fits.length);
      const trained = describeTrainedOn(trainedOn);
      fits.forEach((i, k) => {
        const v = videos[i];
        v.prmVideo = scores[k].video;
        v.prm = rewardPatchLabels(model, scores[k]);
        const kind = clipKind(v.prompt);
        const clips = kind === "shapesworld" ? "ShapesWorld clips" : "video files";
        if (judgesClipsOf(trainedOn, kind)) {
          v.rankedBy = "PRM";
          v.caveat = `Ranked by the PRM ${prmPath}, ${trained}: it was trained on labels of ` +
            `${clips} like this one. The labeller's scores are beside it.`;
        } else {
          v.rankedBy = "labeller";
          v.caveat = `Ranked by the labeller (${labeller}). The PRM scores beside it are ` +
            `${prmPath}'s, ${trained}: not on labels of ${clips} like this one, so they are ` +
            "that model's guess, not a judgement of this clip" +
            (kind === "videos"
              ? "; its text alignment is scored with the null prompt (the prompt is not a " +
                "ShapesWorld sentence)."
              : ".");
        }
      });
      notes.push(
        `PRM scores come from ${prmPath}, ${trained} (frames resampled to its ` +
          `${model.config.frames} of ${model.config.size}×${model.config.size}). Patches are ` +
          "ranked by the PRM only in clips of the kind it was trained on, by the labeller in " +
          "the others; each video says which." +
          (unknownPrompts
            ? " Prompts that are not ShapesWorld sentences are scored with the null prompt, so " +
              "its text-alignment scores mean little on them."
            : ""),
      );
    } finally {
      disposeRewardModel(model);
    }
  } else if (!prmPath) {
    notes.push(
      "No patch reward model was given: heatmaps show the labeller's scores.",
    );
  }

  // 4. figures, ranked by whose judgement fits the clip
  for (const [i, v] of videos.entries()) {
    const video = decoded.get(i);
    if (!video) continue;
    if (v.prm && v.rankedBy === "PRM") {
      v.figure = defectFigure({
        video,
        grid,
        patches: v.prm,
        labels: v.labels,
        title: `${v.file}: ${v.prompt}`,
        scorer: "PRM",
      }, { worst: worstCount, score });
    } else if (v.labels) {
      v.rankedBy = "labeller";
      v.figure = defectFigure({
        video,
        grid,
        patches: v.labels,
        title: `${v.file}: ${v.prompt}`,
        scorer: "labeller",
        beside: v.prm
          ? { name: "PRM (not trained on clips like this)", patches: v.prm }
          : undefined,
      }, { worst: worstCount, score });
    }
  }
  const report: InspectReport = {
    out,
    labels: labelsPath,
    videos,
    calls: run.calls,
    cached: run.cached,
    costUsd: run.costUsd,
    prm: prmPath,
    prmTrainedOn,
    notes,
  };
  await writeFileAtomic(out, await inspectHtml(dir, report, { worst: worstCount, score }));
  if (options.png) {
    const drawn = videos.filter((v) => v.figure);
    if (drawn.length) {
      const pngs = await figurePngs(drawn.map((v) => v.figure!), { width: 1100 });
      for (const [k, v] of drawn.entries()) {
        const name = basename(v.file).replace(/\.[^.]+$/, "") + ".png";
        await writeFileAtomic(join(options.png, name), pngs[k]);
      }
    }
  }
  return report;
}

const fmt = (
  v: number | undefined,
) => (v === undefined ? "" : Number.isInteger(v) ? String(v) : v.toFixed(2));
const scoresText = (s?: AspectScores) => (s ? ASPECTS.map((a) => fmt(s[a])).join(" / ") : "—");

/** The report page of an {@linkcode InspectReport}. */
async function inspectHtml(
  dir: string,
  report: InspectReport,
  options: { worst: number; score: PatchScoreOf },
): Promise<string> {
  const ok = report.videos.filter((v) => v.figure);
  const failed = report.videos.filter((v) => v.error);
  const aspects = ASPECTS.map((a) => a.replace("_", " ")).join(" / ");
  const ranking = (v: InspectedVideo) => (v.rankedBy === "PRM" ? v.prm! : v.labels!);
  const rows = ok.flatMap((v) =>
    worstPatches(ranking(v), options.worst, options.score).map((w) => ({ v, w }))
  ).sort((a, b) => a.w.value - b.w.value);
  const byPrm = ok.filter((v) => v.rankedBy === "PRM").length;
  const body: string[] = [
    `<h1>Patch defects of ${escapeHtml(dir)}</h1>`,
    `<p>${report.videos.length} video(s): ${ok.length} inspected, ${failed.length} with errors. ` +
    `Labels: ${report.calls} API call(s) in this run, ${report.cached} video(s) from the cache ` +
    `<code>${escapeHtml(report.labels)}</code>, estimated cost $${
      report.costUsd.toFixed(4)
    } at GPT-4o prices. ` +
    `Heatmaps and ranking: ${
      byPrm === ok.length
        ? "the patch reward model's scores"
        : byPrm === 0
        ? "the labeller's scores"
        : `the patch reward model's scores in ${byPrm} video(s), the labeller's in ${
          ok.length - byPrm
        }`
    } ` +
    `(${
      options.score === "mean" ? "mean over aspects" : escapeHtml(options.score)
    }, 1 = clearly defective, 4 = fine); ` +
    `hover a patch for its scores and the labeller's reason; the ${options.worst} worst patches of each video are boxed.</p>`,
    ...report.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`),
  ];
  if (failed.length) {
    body.push(
      `<h2>Errors</h2><ul>${
        failed.map((v) => `<li class="error">${escapeHtml(v.error!)}</li>`).join("")
      }</ul>`,
    );
  }
  if (rows.length) {
    body.push(
      `<h2>Worst patches</h2><table id="worst-patches"><thead><tr><th>video</th><th>patch</th>` +
        `<th>ranked by</th><th>score</th><th>labeller (${aspects})</th>` +
        `<th>PRM (${aspects})</th><th>labeller's reason</th></tr></thead><tbody>` +
        rows.map(({ v, w }) => {
          const own = ranking(v)[w.index], label = v.labels?.[w.index], prm = v.prm?.[w.index];
          return `<tr><td>${escapeHtml(v.file)}</td><td><code>${escapeHtml(w.id)}</code></td>` +
            `<td>${v.rankedBy}</td><td class="num">${fmt(patchScore(own, options.score))}</td>` +
            `<td>${scoresText(label?.scores)}</td><td>${scoresText(prm?.scores)}</td>` +
            `<td>${escapeHtml(label?.reason || "")}</td></tr>`;
        }).join("") + `</tbody></table>` +
        (ok.some((v) => v.prm && v.rankedBy === "labeller")
          ? `<p class="caveat">PRM scores of clips ranked by the labeller come from a model not ` +
            `trained on clips like them (see each video's caveat): shown for comparison only.</p>`
          : ""),
    );
  }
  ok.forEach((v, k) => {
    body.push(
      `<h2>${escapeHtml(v.file)}</h2>`,
      `<p>“${escapeHtml(v.prompt)}” — ${v.shape!.frames} frames of ${v.shape!.width}×${
        v.shape!.height
      }. ` +
        `Video scores (${aspects}): labeller ${scoresText(v.videoLabels)}` +
        (v.prmVideo ? `, PRM ${scoresText(v.prmVideo)}` : "") + `.</p>`,
      ...(v.caveat ? [`<p class="caveat">${escapeHtml(v.caveat)}</p>`] : []),
      figureDiv(v.figure!, `video-${k + 1}`),
    );
  });
  return await htmlPage({ title: `Patch defects of ${dir}`, body: body.join("\n") });
}
