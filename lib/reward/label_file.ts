/**
 * Label files and label checks: one video's labels against a patch grid
 * ({@linkcode checkVideoLabels}), a labels JSONL file read and validated record by record
 * ({@linkcode readLabelsFile}, the format `deno task label` and the label cache write), and the
 * per-aspect score arrays of labels ({@linkcode labelArrays}).
 * @module
 */

import { fail } from "../core/_errors.ts";
import { readJsonLines } from "../core/_atomic.ts";
import type { LabelRecord } from "../labels/cache.ts";
import { ASPECTS, SCORE_MAX, SCORE_MIN, type VideoLabels } from "../videos/scores.ts";
import { formatGrid, parseGrid, type PatchGrid, patchIds } from "../videos/patch.ts";

/** Options for {@linkcode checkVideoLabels}. */
export interface CheckLabelsOptions {
  /** Patch grid the labels must cover. */
  grid: PatchGrid;
  /** Frames of the labelled video. */
  numFrames: number;
  /** Names the item in errors. Default "labels". */
  where?: string;
}

/**
 * Checks one video's labels against the grid: every patch exactly once, in
 * index order, every aspect an integer score on the scale. Errors name the
 * item and the patch (`Expected … but found an extra patch s4r0c0`).
 *
 * @example
 * ```ts
 * import { checkVideoLabels } from "@halo/kit/reward";
 * import assert from "node:assert/strict";
 * const s = { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 };
 * const grid = { rows: 1, cols: 2, framesPerPatch: 4 };
 * const labels = { video: s, patches: [{ id: "s0r0c0", index: 0, scores: s, reason: "" }] };
 * assert.throws(() => checkVideoLabels(labels, { grid, numFrames: 4, where: "clip 7" }), /clip 7.*missing patch s0r0c1/);
 * ```
 */
export function checkVideoLabels(labels: VideoLabels, options: CheckLabelsOptions): void {
  const where = options.where ?? "labels";
  const { grid, numFrames } = options;
  if (!labels || typeof labels !== "object") fail(where, "labels {video, patches}", labels);
  checkScores(`${where}.video`, labels.video);
  if (!Array.isArray(labels.patches)) fail(`${where}.patches`, "an array", labels.patches);
  const ids = patchIds(grid, numFrames);
  const known = new Set(ids);
  const seen = new Set<string>();
  for (const p of labels.patches) {
    const id = p?.id;
    if (!known.has(id)) {
      fail(where, `the ${ids.length} patches of grid ${formatGrid(grid)}`, `an extra patch ${id}`);
    }
    if (seen.has(id)) fail(where, `each patch once`, `patch ${id} twice`);
    seen.add(id);
    checkScores(`${where} patch ${id}`, p.scores);
  }
  const missing = ids.filter((id) => !seen.has(id));
  if (missing.length > 0) {
    fail(
      where,
      `all ${ids.length} patches of grid ${formatGrid(grid)}`,
      `missing patch ${missing.slice(0, 4).join(", ")}${missing.length > 4 ? ", …" : ""}`,
    );
  }
  labels.patches.forEach((p, k) => {
    if (p.id !== ids[k] || p.index !== k) {
      fail(`${where} patch ${p.id}`, `index ${ids.indexOf(p.id)} in patch-index order`, {
        index: p.index,
        position: k,
      });
    }
  });
}

function checkScores(where: string, scores: unknown): void {
  if (!scores || typeof scores !== "object") fail(where, "aspect scores", scores);
  for (const a of ASPECTS) {
    const v = (scores as Record<string, unknown>)[a];
    if (typeof v !== "number" || !Number.isInteger(v) || v < SCORE_MIN || v > SCORE_MAX) {
      fail(`${where}.${a}`, `an integer in [${SCORE_MIN}, ${SCORE_MAX}]`, v);
    }
  }
}

/** Options for {@linkcode readLabelsFile}. */
export interface ReadLabelsOptions {
  /** Frames of the labelled videos. Default 16. */
  numFrames?: number;
  /** Grid the records must use; default: each record's own. */
  grid?: string;
}

/**
 * Reads a labels JSONL file (the label cache format) and validates every
 * record; an error names the file, the line, the video's source and the patch.
 *
 * @example
 * ```ts
 * import { readLabelsFile } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * const s = { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 };
 * const record = { key: "k", grid: "1x1x4", source: "clip-a", prompt: "p", labels: { video: s, patches: [] } };
 * await Deno.writeTextFile(path, JSON.stringify(record) + "\n");
 * await assert.rejects(readLabelsFile(path, { numFrames: 4 }), /line 1 \("clip-a"\).*missing patch s0r0c0/);
 * await Deno.remove(path);
 * ```
 */
export async function readLabelsFile(
  path: string,
  options: ReadLabelsOptions = {},
): Promise<LabelRecord[]> {
  const rows = await readJsonLines<LabelRecord>(path);
  const numFrames = options.numFrames ?? 16;
  rows.forEach((row, i) => {
    const at = `${path} line ${i + 1} (${JSON.stringify(row?.source ?? "?")})`;
    if (!row || typeof row !== "object") fail(at, "a label record", row);
    const gridSpec = options.grid ?? row.grid;
    if (options.grid && row.grid !== options.grid) fail(at, `grid ${options.grid}`, row.grid);
    let grid: PatchGrid;
    try {
      grid = parseGrid(gridSpec);
    } catch {
      fail(at, 'a grid such as "4x4x4"', gridSpec);
    }
    checkVideoLabels(row.labels, { grid, numFrames, where: at });
  });
  return rows;
}

/** Per-aspect score arrays of labels: `video[aspect]`, `patches[patch][aspect]`. */
export function labelArrays(labels: VideoLabels): { video: number[]; patches: number[][] } {
  return {
    video: ASPECTS.map((a) => labels.video[a]),
    patches: labels.patches.map((p) => ASPECTS.map((a) => p.scores[a])),
  };
}
