/**
 * `deno task report` (re-)writes the offline report of a reproduction, and
 * `deno task figure` renders one figure of it — or the reward models'
 * efficiency figure — to a PNG, from the very spec the report draws. The
 * README's charts are made this way.
 * @module
 */

import { writeFileAtomic } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import { type CliCommand, type CliValues, intOption } from "./_flags.ts";
import type { Figure } from "../report/figure.ts";
import { figurePng } from "../report/figure_png.ts";
import { reportSections, writeReport } from "../report/report.ts";
import { efficiencyFigureOf } from "../report/figure_efficiency.ts";
import { pretrainCurveFigure, readPretrainRuns } from "../report/figure_pretrain.ts";

/** `deno task report`. */
export const reportCommand: CliCommand = {
  summary: "write the offline HTML report of a reproduction's stage results",
  spec: {
    root: { type: "string", default: "out/reproduce", description: "reproduction output folder" },
    out: { type: "string", description: "report file (default: report.html beside the root)" },
  },
  run: async (values: CliValues): Promise<void> => {
    const written = await writeReport(String(values.root), {
      out: values.out as string | undefined,
    });
    console.log(
      `report of ${
        written.stages.join(", ") || "no stages"
      } (${written.figures} figures) → ${written.html}`,
    );
  },
};

/** `deno task figure`. */
export const figureCommand: CliCommand = {
  summary:
    "render one report figure (or the reward efficiency or pretraining curve) to PNG in headless Chromium",
  spec: {
    root: { type: "string", default: "out/reproduce", description: "reproduction output folder" },
    id: {
      type: "string",
      description: "figure id in the report (e.g. results, agreement, dpo-curves)",
    },
    efficiency: {
      type: "string",
      description: "a train-rm output or ship folder (efficiency.json)",
    },
    "pretrain-curve": {
      type: "string",
      description: "[NAME=]OUT.eval.jsonl,… of `pretrain --eval-every`: quality vs training time",
    },
    out: { type: "string", description: "PNG file" },
    width: { type: "string", default: "900", description: "width in CSS pixels" },
  },
  run: async (values: CliValues): Promise<void> => {
    const width = intOption(values, "width"); // read first: a bad flag fails at once
    if (typeof values.out !== "string") fail("figure", "--out FILE.png", "nothing");
    let fig: Figure;
    const curves = typeof values["pretrain-curve"] === "string"
      ? values["pretrain-curve"].split(",").filter((s) => s !== "")
      : undefined;
    if (typeof values.efficiency === "string") fig = await efficiencyFigureOf(values.efficiency);
    else if (curves?.length) fig = pretrainCurveFigure(await readPretrainRuns(curves));
    else {
      const { sections } = await reportSections(String(values.root));
      const all = sections.flatMap((s) => s.figures);
      const found = all.find((f) => f.id === values.id);
      if (!found) {
        fail(
          `figure --id`,
          `one of ${
            all.map((f) => f.id).join(", ") || "(no figures: run deno task reproduce first)"
          }`,
          values.id,
        );
      }
      fig = found.figure;
    }
    await writeFileAtomic(values.out, await figurePng(fig, { width }));
    console.log(`figure → ${values.out}`);
  },
};
