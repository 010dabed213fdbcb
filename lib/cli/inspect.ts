/**
 * `deno task inspect`: labels your own videos and writes their defect
 * heatmaps into one offline HTML report ({@linkcode inspectVideos}).
 * @module
 */

import { fail } from "../core/_errors.ts";
import { LABEL_DEFAULTS } from "../labels/label.ts";
import { INSPECT_DEFAULTS, inspectVideos } from "../report/inspect.ts";
import { DEFAULT_GRID, formatGrid, parseGrid } from "../videos/patch.ts";
import { type CliCommand, type CliValues, intOption } from "./_flags.ts";

/** `deno task inspect`. */
export const inspectCommand: CliCommand = {
  summary: "label and plot the patch defects of your own videos into an HTML report",
  spec: {
    videos: {
      type: "string",
      description: "folder of videos (with prompts.json, or use --prompt)",
    },
    prompt: {
      type: "string",
      description: "prompt of every video (a folder without prompts.json)",
    },
    out: { type: "string", description: "report file (default: DIR-report.html)" },
    labels: { type: "string", description: "labels cache, JSONL (default: beside the report)" },
    "base-url": { type: "string", description: "OpenAI-compatible base URL (default: OpenAI)" },
    model: { type: "string", default: LABEL_DEFAULTS.model, description: "model name" },
    judge: {
      type: "boolean",
      default: false,
      description: "start an in-process judge server and label with it",
    },
    prm: {
      type: "string",
      description:
        'patch reward model: a folder or URL (default: the shipped data/reward/prm; "none"); it ' +
        "ranks the patches of the kinds of clip it was trained on, the labeller the others",
    },
    frames: {
      type: "string",
      default: `${INSPECT_DEFAULTS.frames}`,
      description: "frames per video, evenly spaced",
    },
    grid: {
      type: "string",
      default: formatGrid(DEFAULT_GRID),
      description: "patch grid ROWSxCOLSxFRAMES",
    },
    worst: {
      type: "string",
      default: `${INSPECT_DEFAULTS.worst}`,
      description: "worst patches boxed and listed per video",
    },
    concurrency: {
      type: "string",
      default: `${LABEL_DEFAULTS.concurrency}`,
      description: "labelling requests in flight",
    },
    png: {
      type: "string",
      description: "also write each video's defect view as PNG into this folder",
    },
    quiet: { type: "boolean", default: false, description: "no progress bars" },
  },
  run: async (values: CliValues): Promise<void> => {
    // Every flag is read (and checked) before the folder is: a bad flag fails at once.
    const numbers = {
      frames: intOption(values, "frames"),
      grid: parseGrid(String(values.grid)),
      worst: intOption(values, "worst"),
      concurrency: intOption(values, "concurrency"),
    };
    if (typeof values.videos !== "string") fail("inspect", "--videos DIR", "nothing");
    const report = await inspectVideos(values.videos, {
      ...numbers,
      prompt: values.prompt as string | undefined,
      out: values.out as string | undefined,
      labels: values.labels as string | undefined,
      baseURL: values["base-url"] as string | undefined,
      judge: Boolean(values.judge),
      model: String(values.model),
      prm: values.prm === "none" ? null : (values.prm as string | undefined),
      png: values.png as string | undefined,
      quiet: Boolean(values.quiet),
    });
    for (const v of report.videos) if (v.error) console.error(v.error);
    const drawn = report.videos.filter((v) => v.figure).length;
    console.log(
      `inspected ${drawn} of ${report.videos.length} videos → ${report.out}; ${report.calls} API calls, ` +
        `${report.cached} from the cache (${report.labels}), estimated cost $${
          report.costUsd.toFixed(4)
        }`,
    );
    if (drawn === 0) throw new Error("no video could be inspected");
  },
};
