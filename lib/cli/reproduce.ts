/**
 * `deno task reproduce`: the whole HALO reproduction, stage by stage and
 * resumable ({@linkcode reproduce}).
 * @module
 */

import { haloProfile } from "../eval/experiment.ts";
import { reproduce, REPRODUCE_DEFAULTS } from "../reproduce/reproduce.ts";
import { type CliCommand, intOption } from "./_flags.ts";

/** The `reproduce` command of `lib/cli/main.ts`. */
export const reproduceCommand: CliCommand = {
  summary: "run the HALO reproduction, stage by stage (resumable)",
  spec: {
    out: { type: "string", default: REPRODUCE_DEFAULTS.outDir, description: "output directory" },
    videos: {
      type: "string",
      default: REPRODUCE_DEFAULTS.videosDir,
      description: "folder of real videos with prompts.json",
    },
    seed: { type: "string", default: `${REPRODUCE_DEFAULTS.seed}`, description: "random seed" },
    profile: {
      type: "string",
      default: REPRODUCE_DEFAULTS.profile,
      description: "stage sizes: default | tiny",
    },
    generator: {
      type: "string",
      description: "generator checkpoint: a folder or URL (default: the shipped data/generator)",
    },
    evaluator: {
      type: "string",
      description:
        "independent evaluator reward model (default: the shipped data/reward/evaluator)",
    },
    "shared-noise": {
      type: "boolean",
      default: REPRODUCE_DEFAULTS.sharedNoise,
      description: "candidates of a prompt from one x_T, so pairs differ in local detail",
    },
    force: { type: "boolean", default: false, description: "re-run stages that already finished" },
    only: { type: "string", description: "comma-separated stage names to run" },
  },
  async run(values) {
    await reproduce({
      outDir: values.out as string,
      videosDir: values.videos as string,
      generatorDir: values.generator as string | undefined,
      evaluatorDir: values.evaluator as string | undefined,
      profile: haloProfile(String(values.profile)).name,
      seed: intOption(values, "seed"),
      sharedNoise: values["shared-noise"] as boolean,
      force: values.force as boolean,
      only: typeof values.only === "string"
        ? values.only.split(",").map((s) => s.trim())
        : undefined,
    });
  },
};
