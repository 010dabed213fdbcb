/**
 * Which request to send: the frames per patch segment, their side, PNG or JPEG
 * and the image `detail` trade tokens (the bill) and bytes (the Batch API's
 * 200 MB files) against what the labeller can still see. This module measures
 * each setting on damaged ShapesWorld clips — input tokens and bytes per
 * video, and the labels' agreement with the reference judge — through the real
 * `openai` client and the judge server (`deno task label-settings`), and on
 * real videos the tokens and bytes alone (no reference exists for them).
 *
 * The judge server judges exactly the pixels it is sent, so its agreement
 * measures what a setting throws away, not how a real VLM copes with it; the
 * reference sheet, which the judge server does not read, is measured for its
 * tokens and bytes only.
 * @module
 */

import { checkInt } from "../core/_errors.ts";
import { spearman } from "../core/agreement.ts";
import { defectCases, topKHit } from "../videos/defect_cases.ts";
import { judgeVideo } from "../videos/judge.ts";
import { startJudgeServer } from "./judge_server/server.ts";
import { estimateRequestTokens, type LabelItem, labelVideos } from "./label.ts";
import { batchLine, utf8Bytes } from "./batch_plan.ts";
import { folderSource } from "./folder.ts";
import { buildLabelRequest, type LabelRequestOptions } from "./protocol.ts";
import { DEFAULT_GRID, type PatchGrid } from "../videos/patch.ts";

/** One request setting to measure. */
export interface RequestSetting {
  /** Short name for the table. */
  name: string;
  /** The request options it sets (the rest at their defaults). */
  options: LabelRequestOptions;
}

/** The settings `deno task label-settings` measures, the first defaults first. */
export const REQUEST_SETTINGS: readonly RequestSetting[] = Object.freeze([
  { name: "PNG, 4 frames, 128 px, high (first defaults)", options: {} },
  { name: "JPEG q90", options: { imageFormat: "jpeg", jpegQuality: 90 } },
  { name: "JPEG q75", options: { imageFormat: "jpeg", jpegQuality: 75 } },
  { name: "JPEG q50", options: { imageFormat: "jpeg", jpegQuality: 50 } },
  { name: "3 frames per segment", options: { framesPerSegment: 3 } },
  { name: "2 frames per segment", options: { framesPerSegment: 2 } },
  { name: "96 px frames", options: { frameSide: 96 } },
  { name: "64 px frames", options: { frameSide: 64 } },
  { name: "detail low", options: { detail: "low" } },
  { name: "96 px, detail low", options: { frameSide: 96, detail: "low" } },
  { name: "sheet 120 px", options: { sheetSide: 120 } },
  {
    name: "96 px, detail low, sheet 120 px (batch defaults)",
    options: { frameSide: 96, detail: "low", sheetSide: 120 },
  },
  {
    name: "JPEG q75, 96 px, detail low, sheet 120 px",
    options: { imageFormat: "jpeg", jpegQuality: 75, frameSide: 96, detail: "low", sheetSide: 120 },
  },
  {
    name: "JPEG q50, 96 px, detail low, sheet 120 px",
    options: { imageFormat: "jpeg", jpegQuality: 50, frameSide: 96, detail: "low", sheetSide: 120 },
  },
] as RequestSetting[]);

/** The defaults of {@linkcode CompareSettingsOptions} (the `label-settings` task shows the same). */
export const COMPARE_SETTINGS_DEFAULTS: Readonly<{
  perKind: number;
  seed: number;
  noise: number;
  realFrames: number;
}> = Object.freeze({ perKind: 4, seed: 11, noise: 0, realFrames: 16 });

/** Options of {@linkcode compareRequestSettings}; defaults in {@linkcode COMPARE_SETTINGS_DEFAULTS}. */
export interface CompareSettingsOptions {
  /** Settings to measure. Default {@linkcode REQUEST_SETTINGS}. */
  settings?: readonly RequestSetting[];
  /** Damaged clips per defect kind. Default 4 (24 clips). */
  perKind?: number;
  /** Seed of the clips. Default 11. */
  seed?: number;
  /** Noise of the judge server's scores. Default 0: only what the setting loses. */
  noise?: number;
  /** Grid. Default 4×4×4. */
  grid?: PatchGrid;
  /** Real videos (a folder with prompts.json) to measure tokens and bytes on too. */
  realVideos?: string;
  /** Frames loaded per real video. Default 16. */
  realFrames?: number;
}

/** One measured setting. */
export interface SettingRow {
  /** The setting. */
  setting: RequestSetting;
  /** Mean bytes of one request line (a Batch API input line) per ShapesWorld clip. */
  bytes: number;
  /** Mean estimated input tokens per ShapesWorld clip. */
  tokens: number;
  /** Share of patch × aspect scores equal to the reference judge's. */
  exact: number;
  /** Spearman ρ of the per-patch mean score with the reference's, all clips pooled. */
  spearman: number;
  /** Top-k hit rate of the damaged patches among the worst-scored ones. */
  topK: number;
  /** Mean bytes per real video, when real videos were given. */
  realBytes?: number;
  /** Mean input tokens per real video, when real videos were given. */
  realTokens?: number;
}

/**
 * Measures every setting (see the module doc).
 *
 * @example
 * ```ts
 * import { compareRequestSettings } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const rows = await compareRequestSettings({
 *   perKind: 1,
 *   settings: [{ name: "png", options: {} }, { name: "low", options: { detail: "low" } }],
 * });
 * assert.ok(rows[0].exact > 0.99);
 * assert.ok(rows[1].tokens < rows[0].tokens);
 * ```
 */
export async function compareRequestSettings(
  options: CompareSettingsOptions = {},
): Promise<SettingRow[]> {
  const grid = options.grid ?? DEFAULT_GRID;
  const cases = defectCases(
    checkInt(
      "compareRequestSettings",
      "perKind",
      options.perKind ?? COMPARE_SETTINGS_DEFAULTS.perKind,
      1,
    ),
    {
      seed: options.seed ?? COMPARE_SETTINGS_DEFAULTS.seed,
      grid,
    },
  );
  const reference = cases.map((c) => judgeVideo(c.video, c.prompt, grid));
  const real: LabelItem[] = [];
  if (options.realVideos) {
    const source = await folderSource(options.realVideos, {
      grid,
      frames: options.realFrames ?? COMPARE_SETTINGS_DEFAULTS.realFrames,
    });
    for (let i = 0; i < source.count; i++) real.push(await source.load(i));
  }
  const server = startJudgeServer({
    port: 0,
    noise: options.noise ?? COMPARE_SETTINGS_DEFAULTS.noise,
  });
  const rows: SettingRow[] = [];
  try {
    for (const setting of options.settings ?? REQUEST_SETTINGS) {
      const size = (items: readonly LabelItem[]) => {
        let bytes = 0, tokens = 0;
        for (const item of items) {
          const body = buildLabelRequest(item.video, item.prompt, grid, setting.options);
          bytes += utf8Bytes(batchLine("0".repeat(64), body)) + 1;
          tokens += estimateRequestTokens(body);
        }
        return { bytes: bytes / items.length, tokens: tokens / items.length };
      };
      const report = await labelVideos(cases, {
        ...setting.options,
        grid,
        baseURL: server.url,
        apiKey: "sk-label-settings",
        quiet: true,
      });
      let same = 0, all = 0;
      const mine: number[] = [], theirs: number[] = [];
      const hits: number[] = [];
      report.results.forEach((r, i) => {
        if (!r.labels) throw new Error(`compareRequestSettings: ${setting.name}: ${r.error}`);
        r.labels.patches.forEach((p, k) => {
          const ref = reference[i].patches[k].scores;
          let a = 0, b = 0;
          for (const [aspect, v] of Object.entries(p.scores)) {
            const w = ref[aspect as keyof typeof ref];
            all++;
            if (v === w) same++;
            a += v;
            b += w;
          }
          mine.push(a);
          theirs.push(b);
        });
        if (cases[i].affected.length > 0) hits.push(topKHit(r.labels.patches, cases[i].affected));
      });
      const shapes = size(cases);
      const realSize = real.length > 0 ? size(real) : undefined;
      rows.push({
        setting,
        bytes: shapes.bytes,
        tokens: shapes.tokens,
        exact: same / all,
        spearman: spearman(mine, theirs),
        topK: hits.reduce((a, b) => a + b, 0) / hits.length,
        realBytes: realSize?.bytes,
        realTokens: realSize?.tokens,
      });
    }
  } finally {
    await server.close();
  }
  return rows;
}

/** The rows as a Markdown table. */
export function formatSettingsTable(rows: readonly SettingRow[]): string {
  const kb = (b?: number) => b === undefined ? "" : `${(b / 1000).toFixed(1)} kB`;
  const real = rows.some((r) => r.realBytes !== undefined);
  const head = [
    "setting",
    "bytes / clip",
    "input tokens / clip",
    "exact agreement",
    "Spearman ρ",
    "top-k hit",
    ...(real ? ["bytes / real video", "input tokens / real video"] : []),
  ];
  const lines = rows.map((r) => [
    r.setting.name,
    kb(r.bytes),
    Math.round(r.tokens).toString(),
    r.exact.toFixed(3),
    r.spearman.toFixed(3),
    r.topK.toFixed(2),
    ...(real ? [kb(r.realBytes), Math.round(r.realTokens ?? 0).toString()] : []),
  ]);
  return [head, head.map(() => "---"), ...lines].map((c) => `| ${c.join(" | ")} |`).join("\n");
}
