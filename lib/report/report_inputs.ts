/**
 * The shapes the offline report (`report.ts`) reads from the `dpo` and `eval`
 * stage results: post-training runs with their TRL-style logs, the results
 * table (inline rows or the stage's `results.json`), the paper's claims,
 * per-clip distributions, sample sheets and the worst clips as defect heatmaps.
 * @module
 */

import type { ResultRow } from "./figure_results.ts";
import type { PatchLabel } from "../videos/scores.ts";

/** One post-training run of the `dpo` stage: a method, a seed, and its training log. */
export interface DpoRunInput {
  /** Method: `"dpo"`, `"patch-only"`, `"grandpo"` (shown by their table names) or a display name. */
  method: string;
  /** Training seed. */
  seed: number;
  /** The log: TRL-style rows `{step, loss, "rewards/accuracies", …}` or a JSONL file of them. */
  log?: Record<string, unknown>[] | string;
  /** The run's checkpoint folder; without `log`, the log is `<dir>.log.jsonl`. */
  dir?: string;
}

/** The preference pairs the `dpo` stage trained on: the pairs manifest (`lib/pairs/file.ts`), as much as is known. */
export interface DpoPairsInput {
  /** How the candidates were drawn and paired. */
  settings?: {
    prompts?: number;
    candidates?: number;
    steps?: number;
    sharedNoise?: boolean;
    eta?: number;
    pairing?: string;
    margin?: number;
  };
  /** How many pairs came of it. */
  counts?: { pairs?: number; candidates?: number };
  /** The reference judge on the pairs (`judgeDiagnostics`), shares in [0, 1]. */
  diagnostics?: {
    judgeAgreesWithVideoDirectionWhereItDiffers?: number;
    judgeTiesVideo?: number;
    judgeAgreesWithPatchDirection?: number;
    judgeTiesPatchDirection?: number;
  };
}

/** What the report reads from `dpo/result.json` (other fields are kept and ignored). */
export interface DpoStageResult {
  /** Every run, for the training curves (per method and seed). */
  runs: DpoRunInput[];
  /** Log keys to plot, one subplot each. Default: the usual TRL keys that are present. */
  keys?: string[];
  /** The pairs trained on, described above the curves when present. */
  pairs?: DpoPairsInput;
}

/** A picture (PNG) with a title, e.g. a sample sheet before or after post-training. */
export interface SheetInput {
  /** Title. */
  title: string;
  /** PNG file. */
  path: string;
}

/** A clip to show as a defect heatmap. */
export interface ClipInput {
  /** Title, e.g. method, prompt and score. */
  title: string;
  /** A video file of the clip (gif, mp4, …). */
  video: string;
  /** Patch grid, e.g. "4x4x4". */
  grid: string;
  /** Patch scores drawn as the heatmap (PRM or reference judge), in patch-index order. */
  patches: PatchLabel[];
  /** Labels with reasons, shown on hover. */
  labels?: PatchLabel[];
  /** Who scored `patches`. Default "score". */
  scorer?: string;
}

/** Base's clip and a method's from the same noise, for the paired defect view. */
export interface DefectPairClipInput {
  /** Title, e.g. the prompt and how many patches were fixed. */
  title: string;
  /** Patch grid of the labels, e.g. "4x4x4". */
  grid: string;
  /** Base's clip: row name, video file and the judge's labels in patch-index order. */
  base: { name: string; video: string; labels: PatchLabel[] };
  /** The method's clip from the same noise. */
  method: { name: string; video: string; labels: PatchLabel[] };
}

/** A results-table row as `results.json` holds it: each metric's estimate with its 95% interval. */
export interface ResultsTableRow {
  /** Method name. */
  method: string;
  /** Training seeds. */
  seeds?: number;
  /** Metric key → estimate with its interval. */
  metrics: Record<string, { estimate: number; lo: number; hi: number }>;
}

/** What the report reads from `eval/result.json` (other fields are kept and ignored). */
export interface EvalStageResult {
  /**
   * The results table: rows `{method, metric, mean, lo, hi}`, or the files the stage wrote
   * (the `.json` one holding `{rows: ResultsTableRow[], claims}`).
   */
  results: ResultRow[] | string[];
  /** The paper's claims, checked (shown as a table). */
  claims?: Array<{ claim: string; holds: boolean }>;
  /** Metrics where lower is better (e.g. the defect share). */
  lowerIsBetter?: string[];
  /** Per-clip values, e.g. per-clip scores or defect shares per method, as histograms per metric. */
  distributions?: Array<{ metric: string; name: string; values: number[] }>;
  /** Sample sheets, e.g. before/after post-training. */
  sheets?: SheetInput[];
  /** The worst clips, as defect heatmaps. */
  worstClips?: ClipInput[];
  /** Base vs a method from the same noise, the clips with the most fixed patches (heatmap pairs). */
  fixedPairs?: DefectPairClipInput[];
}
