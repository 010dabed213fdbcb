/**
 * `deno task pairs`: samples candidates from the generator, scores them with
 * the PRM and writes the preference pairs (`lib/pairs/pairs.ts` has the format).
 * @module
 */

import { initBackend } from "../tensor/backend.ts";
import { type CliCommand, intOption, numberOption } from "./_flags.ts";
import { fail } from "../core/_errors.ts";
import {
  buildPairs,
  type BuildPairsOptions,
  type Pairing,
  PAIRS_DEFAULTS as D,
} from "../pairs/pairs.ts";
import { ENSEMBLE_REDUCES, type EnsembleReduce } from "../reward/ensemble.ts";

/** `lib/cli/main.ts pairs`: builds (or resumes) a preference-pairs folder. */
export const pairsCommand: CliCommand = {
  summary: "sample candidates from the generator, score them with the PRM, write preference pairs",
  spec: {
    out: { type: "string", default: "out/pairs", description: "output folder" },
    generator: {
      type: "string",
      description: "generator checkpoint (default: the shipped data/generator)",
    },
    prm: {
      type: "string",
      description:
        "patch reward model, or several comma-separated (an ensemble; default: the shipped data/reward/prm)",
    },
    ensemble: {
      type: "string",
      default: D.ensemble,
      description: "how several PRMs' scores combine: mean | min | mean-std",
    },
    "video-rm": { type: "string", description: "video scores from this RM (default: the PRM's)" },
    prompts: { type: "string", default: `${D.prompts}`, description: "training prompts" },
    candidates: {
      type: "string",
      default: `${D.candidates}`,
      description: "candidates per prompt",
    },
    steps: { type: "string", default: `${D.steps}`, description: "DDIM steps" },
    guidance: { type: "string", default: `${D.guidance}`, description: "classifier-free guidance" },
    "shared-noise": {
      type: "boolean",
      default: false,
      description: "a prompt's candidates share x_T and differ by DDIM η step noise",
    },
    eta: {
      type: "string",
      description: `DDIM η (default: ${D.eta}, or ${D.sharedNoiseEta} with --shared-noise)`,
    },
    seed: { type: "string", default: `${D.seed}`, description: "seed of prompts and noise" },
    pairing: { type: "string", default: D.pairing, description: "best-worst | all" },
    name: { type: "string", default: D.name, description: "pairs file name (<name>.jsonl)" },
    margin: { type: "string", default: `${D.margin}`, description: "minimum video-score gap" },
    quiet: { type: "boolean", default: false, description: "no progress bar" },
  },
  async run(values) {
    // every flag is read and checked before any model is loaded
    const pairing = String(values.pairing);
    if (pairing !== "best-worst" && pairing !== "all") {
      fail("--pairing", '"best-worst" or "all"', pairing);
    }
    const ensemble = String(values.ensemble) as EnsembleReduce;
    if (!ENSEMBLE_REDUCES.includes(ensemble)) {
      fail("--ensemble", ENSEMBLE_REDUCES.join(" | "), ensemble);
    }
    const prms = values.prm === undefined ? [] : String(values.prm).split(",").map((p) => p.trim());
    if (values.prm !== undefined && prms.some((p) => p === "")) {
      fail("--prm", "a reward model folder or comma-separated folders", values.prm);
    }
    const sharedNoise = Boolean(values["shared-noise"]);
    const eta = values.eta === undefined ? undefined : numberOption(values, "eta");
    if (eta !== undefined && !(eta >= 0 && eta <= 1)) fail("--eta", "a number in [0, 1]", eta);
    if (sharedNoise && eta === 0) {
      fail(
        "--eta",
        "η > 0 with --shared-noise (with η = 0 DDIM is deterministic: candidates from the same noise would be the same clip)",
        eta,
      );
    }
    const options: BuildPairsOptions = {
      out: String(values.out),
      generatorDir: values.generator as string | undefined,
      ...(prms.length > 1 ? { prmDirs: prms } : { prmDir: prms[0] }),
      ensemble,
      sharedNoise,
      eta,
      videoRmDir: values["video-rm"] ? String(values["video-rm"]) : undefined,
      prompts: intOption(values, "prompts"),
      candidates: intOption(values, "candidates"),
      steps: intOption(values, "steps"),
      guidance: numberOption(values, "guidance"),
      seed: intOption(values, "seed"),
      pairing: pairing as Pairing,
      name: String(values.name),
      margin: numberOption(values, "margin"),
      quiet: Boolean(values.quiet),
    };
    const backend = await initBackend();
    if (!values.quiet) console.error(`pairs: backend ${backend.name} (${backend.reason})`);
    const r = await buildPairs(options);
    console.log(
      `${r.pairs} pairs from ${r.candidates} candidates (${r.sampled} sampled now) → ${r.file}`,
    );
    console.log(JSON.stringify(r.manifest.diagnostics, null, 2));
  },
};
