/**
 * `deno task label-settings`: measures each request setting's tokens, bytes
 * and agreement with the reference judge ({@linkcode compareRequestSettings}).
 * @module
 */

import {
  COMPARE_SETTINGS_DEFAULTS,
  compareRequestSettings,
  formatSettingsTable,
} from "../labels/settings.ts";
import { type CliCommand, type CliValues, intOption, numberOption } from "./_flags.ts";

/** `deno task label-settings`. */
export const labelSettingsCommand: CliCommand = {
  summary: "measure tokens, bytes and agreement with the reference judge of each request setting",
  spec: {
    "per-kind": {
      type: "string",
      default: `${COMPARE_SETTINGS_DEFAULTS.perKind}`,
      description: "damaged clips per defect kind",
    },
    seed: {
      type: "string",
      default: `${COMPARE_SETTINGS_DEFAULTS.seed}`,
      description: "seed of the clips",
    },
    noise: {
      type: "string",
      default: `${COMPARE_SETTINGS_DEFAULTS.noise}`,
      description: "judge server noise",
    },
    videos: { type: "string", description: "real videos (prompts.json) for tokens and bytes" },
  },
  run: async (values: CliValues): Promise<void> => {
    const rows = await compareRequestSettings({
      perKind: intOption(values, "per-kind"),
      seed: intOption(values, "seed"),
      noise: numberOption(values, "noise"),
      realVideos: typeof values.videos === "string" ? values.videos : undefined,
    });
    console.log(formatSettingsTable(rows));
  },
};
