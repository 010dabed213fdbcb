/**
 * `deno task evaluate`: evaluates generator checkpoints against the base model
 * on held-out test prompts by both methods (ShapesBench, the independent
 * evaluator RM) with the patch-defect analysis, and prints the results table.
 * @module
 */

import { initBackend } from "../tensor/backend.ts";
import { type CliCommand, intListOption, intOption, numberOption } from "./_flags.ts";
import { fail } from "../core/_errors.ts";
import { HALO_PROFILES, runEvaluation, writeResults } from "../eval/experiment.ts";
import { POST_TRAIN_METHODS, type PostTrainMethod } from "../dpo/post_train.ts";

/** The evaluation sizes of the default profile: the flags' defaults. */
const EVAL = HALO_PROFILES.default.eval;

/** `lib/cli/main.ts evaluate`: Base vs post-trained checkpoints, both methods, with intervals. */
export const evaluateCommand: CliCommand = {
  summary: "evaluate post-trained checkpoints against the base model (ShapesBench, evaluator RM)",
  spec: {
    checkpoint: {
      type: "string",
      description:
        "comma-separated METHOD=DIR (METHOD: dpo, patch-only, grandpo); DIR alone = grandpo",
    },
    base: { type: "string", description: "base generator (default: the shipped data/generator)" },
    evaluator: {
      type: "string",
      description: "independent evaluator RM (default: the shipped data/reward/evaluator)",
    },
    prm: { type: "string", description: "the training PRM (default: the shipped data/reward/prm)" },
    prompts: { type: "string", default: `${EVAL.prompts}`, description: "held-out test prompts" },
    seeds: { type: "string", default: EVAL.seeds.join(","), description: "sampling seeds" },
    steps: { type: "string", default: `${EVAL.steps}`, description: "DDIM steps" },
    guidance: {
      type: "string",
      default: "2",
      description: "classifier-free guidance of every model's samples",
    },
    split: {
      type: "string",
      default: "test",
      description: "test (held-out combinations) | validation (for choosing settings)",
    },
    out: { type: "string", default: "out/evaluate", description: "per-clip caches and results" },
    quiet: { type: "boolean", default: false, description: "no progress bars" },
  },
  async run(values) {
    // every flag is read and checked before any model is loaded
    if (!values.checkpoint) fail("evaluate", "--checkpoint METHOD=DIR[,…]", values.checkpoint);
    const runs = String(values.checkpoint).split(",").map((spec) => {
      const [method, dir] = spec.includes("=") ? spec.split("=", 2) : ["grandpo", spec];
      if (!POST_TRAIN_METHODS.includes(method as PostTrainMethod)) {
        fail("--checkpoint", `METHOD among ${POST_TRAIN_METHODS.join(", ")}`, method);
      }
      if (!dir) fail("--checkpoint", `a folder after ${method}=`, spec);
      return { method: method as PostTrainMethod, dir, seed: 0 };
    });
    // several checkpoints of one method are its training seeds
    const count = new Map<string, number>();
    for (const r of runs) {
      r.seed = count.get(r.method) ?? 0;
      count.set(r.method, r.seed + 1);
    }
    const split = String(values.split);
    if (split !== "test" && split !== "validation") {
      fail("--split", '"test" or "validation"', split);
    }
    const profile = {
      ...HALO_PROFILES.default,
      eval: {
        prompts: intOption(values, "prompts"),
        seeds: intListOption(values, "seeds"),
        steps: intOption(values, "steps"),
        split: split as "test" | "validation",
        guidance: numberOption(values, "guidance"),
      },
    };
    const backend = await initBackend();
    if (!values.quiet) console.error(`evaluate: backend ${backend.name} (${backend.reason})`);
    const out = String(values.out);
    const { results } = await runEvaluation({
      dir: out,
      generatorDir: values.base as string | undefined,
      runs,
      evaluatorDir: values.evaluator as string | undefined,
      prmDir: values.prm as string | undefined,
      profile,
      config: { checkpoints: runs.map((r) => `${r.method}=${r.dir}`) },
      log: (line) => console.log(line),
      quiet: Boolean(values.quiet),
    });
    console.log(`results → ${(await writeResults(out, results)).join(", ")}`);
  },
};
