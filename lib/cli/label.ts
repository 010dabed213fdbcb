/**
 * `deno task label`: parses its flags into the labeller's options and labels a
 * folder of videos (`prompts.json`) or generated ShapesWorld clips, directly
 * or through the Batch API; `--dry-run` previews the bill.
 * @module
 */

import { fail } from "../core/_errors.ts";
import { BATCH_LIMITS } from "../labels/batch_plan.ts";
import { LABEL_DEFAULTS } from "../labels/label.ts";
import { BATCH_RUN_DEFAULTS } from "../labels/batch.ts";
import { RETRY_DEFAULTS } from "../labels/retry.ts";
import { labelTask, SHAPES_SOURCE_DEFAULTS } from "../labels/folder.ts";
import type { ImageDetail, ImageFormat } from "../labels/images.ts";
import { formatPreview } from "../labels/preview.ts";
import { DEFAULT_GRID, formatGrid, parseGrid } from "../videos/patch.ts";
import {
  type CliCommand,
  type CliSpec,
  type CliValues,
  intOption,
  numberOption,
} from "./_flags.ts";

/** The command-line flags of the limits (`deno task label`, `deno task judge`). */
export const BATCH_LIMIT_FLAGS: Readonly<CliSpec> = Object.freeze({
  "max-requests-per-file": {
    type: "string",
    default: String(BATCH_LIMITS.maxRequestsPerFile),
    description: "Batch API: requests per input file",
  },
  "max-bytes-per-file": {
    type: "string",
    default: String(BATCH_LIMITS.maxBytesPerFile),
    description: "Batch API: bytes per input file",
  },
});

/** `deno task label`. */
export const labelCommand: CliCommand = {
  summary: "label the videos of a folder (prompts.json) or generated ShapesWorld clips with " +
    "patch labels from GPT-4o or a judge server; --dry-run previews the cost",
  spec: {
    videos: { type: "string", description: "folder with videos and prompts.json" },
    shapes: { type: "string", description: "label N generated ShapesWorld clips instead" },
    size: {
      type: "string",
      default: `${SHAPES_SOURCE_DEFAULTS.size}`,
      description: "frame side of --shapes clips",
    },
    seed: {
      type: "string",
      default: `${SHAPES_SOURCE_DEFAULTS.seed}`,
      description: "seed of --shapes clips",
    },
    out: { type: "string", description: "label file (JSONL, also the cache)" },
    "base-url": { type: "string", description: "OpenAI-compatible base URL (default: OpenAI)" },
    model: { type: "string", default: LABEL_DEFAULTS.model, description: "model name" },
    grid: {
      type: "string",
      default: formatGrid(DEFAULT_GRID),
      description: "patch grid ROWSxCOLSxFRAMES",
    },
    batch: { type: "boolean", default: false, description: "use the Batch API (half price, slow)" },
    "dry-run": {
      type: "boolean",
      default: false,
      description: "print requests, batch files, bytes, tokens and dollars; send nothing",
    },
    count: { type: "string", description: "--dry-run: plan for N videos like the measured ones" },
    sample: { type: "string", description: "--dry-run: build and measure at most N requests" },
    concurrency: {
      type: "string",
      default: `${LABEL_DEFAULTS.concurrency}`,
      description: "requests in flight",
    },
    "max-attempts": {
      type: "string",
      default: `${RETRY_DEFAULTS.maxAttempts}`,
      description: "attempts per video (retries + 1)",
    },
    frames: { type: "string", description: "frames per video: loaded from files, or rendered" },
    "frames-per-segment": { type: "string", description: "frames shown per segment (4)" },
    "frame-side": {
      type: "string",
      description: "longer side of a shown frame (128; --batch and --dry-run: 96)",
    },
    "image-format": { type: "string", description: "png or jpeg (png)" },
    "jpeg-quality": { type: "string", description: "JPEG quality 1-100 (90)" },
    detail: {
      type: "string",
      description: "image detail: low, high or auto (high; --batch and --dry-run: low)",
    },
    "sheet-side": {
      type: "string",
      description:
        "longer side of a reference-sheet frame (0: own size, the default; --batch and --dry-run: 120)",
    },
    ...BATCH_LIMIT_FLAGS,
    "max-in-flight": {
      type: "string",
      default: `${BATCH_RUN_DEFAULTS.maxInFlight}`,
      description: "Batch API: batches at once",
    },
    "poll-ms": {
      type: "string",
      default: `${BATCH_RUN_DEFAULTS.pollMs}`,
      description: "Batch API: poll interval",
    },
    "max-cost": {
      type: "string",
      description: "stop starting calls before the estimated spend passes this many USD; " +
        "a rerun with a higher limit pays only for the rest",
    },
    "timeout-s": {
      type: "string",
      default: `${RETRY_DEFAULTS.timeoutMs / 1000}`,
      description: "time-out of one API call, answer included, in seconds",
    },
    judge: {
      type: "boolean",
      default: false,
      description: "start an in-process judge server and label with it",
    },
    quiet: { type: "boolean", default: false, description: "no progress bar" },
  },
  run: async (values: CliValues): Promise<void> => {
    // Every flag is read (and checked) before any video is: a bad flag fails at once.
    const grid = parseGrid(String(values.grid));
    const frames = values.frames === undefined ? undefined : intOption(values, "frames");
    const optionalInt = (name: string) =>
      values[name] === undefined ? undefined : intOption(values, name);
    const request = {
      model: String(values.model),
      grid,
      framesPerSegment: optionalInt("frames-per-segment"),
      frameSide: optionalInt("frame-side"),
      imageFormat: values["image-format"] as ImageFormat | undefined,
      jpegQuality: optionalInt("jpeg-quality"),
      detail: values.detail as ImageDetail | undefined,
      sheetSide: optionalInt("sheet-side"),
      maxRequestsPerFile: intOption(values, "max-requests-per-file"),
      maxBytesPerFile: intOption(values, "max-bytes-per-file"),
    };
    const preview = { count: optionalInt("count"), sample: optionalInt("sample") };
    const running = {
      batch: Boolean(values.batch),
      concurrency: intOption(values, "concurrency"),
      retry: {
        maxAttempts: intOption(values, "max-attempts"),
        timeoutMs: positive(values, "timeout-s") * 1000,
      },
      maxCostUsd: values["max-cost"] === undefined ? undefined : budgetOption(values),
      maxInFlight: intOption(values, "max-in-flight"),
      pollMs: intOption(values, "poll-ms"),
      quiet: Boolean(values.quiet),
    };
    const shapes = { size: intOption(values, "size"), seed: intOption(values, "seed") };
    if (typeof values.shapes !== "string" && typeof values.videos !== "string") {
      fail("label", "--videos DIR or --shapes N", "neither");
    }
    if (!values["dry-run"] && typeof values.out !== "string") {
      fail("label", "--out FILE", "nothing");
    }
    const result = await labelTask({
      ...request,
      ...running,
      ...preview,
      videos: values.videos as string | undefined,
      shapes: typeof values.shapes === "string" ? intOption(values, "shapes") : undefined,
      shapesOptions: shapes,
      frames,
      out: values.out as string | undefined,
      baseURL: values["base-url"] as string | undefined,
      dryRun: Boolean(values["dry-run"]),
      judge: Boolean(values.judge),
    });
    if (result.kind === "preview") {
      console.log(formatPreview(result.preview));
      return;
    }
    const report = result.report;
    for (const r of report.results) {
      if (r.error && !r.skipped) console.error(`${r.source}: ${r.error}`);
    }
    console.log(
      `labelled ${report.labelled}, cached ${report.cached}, failed ${report.failed} → ${values.out}; ` +
        `${report.usage.promptTokens} input + ${report.usage.completionTokens} output tokens, ` +
        `estimated cost $${report.costUsd.toFixed(4)} (${report.calls} API calls` +
        (report.files === undefined
          ? ")"
          : `; ${report.files} files, ${report.batches} batches, ${report.resumed} resumed, ` +
            `${report.resubmitted} requests re-submitted)`),
    );
    if (report.skipped > 0) {
      throw new Error(
        `budget: stopped at an estimated $${report.costUsd.toFixed(4)} of --max-cost ` +
          `$${values["max-cost"]} with ${report.skipped} of ${report.results.length} videos ` +
          "not labelled; rerun with a higher --max-cost to label them " +
          "(the labelled ones are cached and not paid again)",
      );
    }
    if (report.failed > 0) {
      throw new Error(
        `${report.failed} of ${report.results.length} videos failed; rerun to retry them`,
      );
    }
  },
};

function positive(values: CliValues, name: string): number {
  const n = numberOption(values, name);
  if (!(n > 0)) throw new TypeError(`--${name}: Expected a number > 0 but found ${values[name]}`);
  return n;
}

function budgetOption(values: CliValues): number {
  const n = numberOption(values, "max-cost");
  if (!(n >= 0)) {
    throw new TypeError(`--max-cost: Expected USD ≥ 0 but found ${values["max-cost"]}`);
  }
  return n;
}
