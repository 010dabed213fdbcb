/** Shared fixtures of the preference-data and post-training tests: a tiny generator, PRM and pairs. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createGenerator, disposeGenerator } from "../lib/generator/model.ts";
import { saveGenerator } from "../lib/generator/io.ts";
import { createRewardModel, disposeRewardModel } from "../lib/reward/model.ts";
import { saveRewardModel } from "../lib/reward/io.ts";
import { buildPairs, type BuildPairsResult } from "../lib/pairs/pairs.ts";
import type { GranDpoInputs } from "../lib/dpo/loss.ts";
import { methodLossOptions, postTrain } from "../lib/dpo/post_train.ts";
import { dpoStep, dpoStepInputs } from "../lib/dpo/step.ts";
import type { GuidanceHoldPatches } from "../lib/dpo/guidance_hold.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { freezeGenerator } from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { readPairs } from "../lib/pairs/file.ts";
import { join } from "node:path";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { postTrainCommand } from "../lib/cli/post_train.ts";
import { TINY_GENERATOR } from "./_helpers.ts";

/** The tiny generator of these tests: x0 head, 4 frames of 16×16. */
export const TINY_X0 = { ...TINY_GENERATOR, prediction: "x0" as const };

/** A tiny PRM for 4 frames of 16×16 on a 2x2x2 grid (8 patches). */
export const TINY_RM = { frames: 4, size: 16, grid: "2x2x2", dim: 16, depth: 1, heads: 2 };

/** The options `tinyPairsSetup` builds its pairs with (beside `out`), for reruns in `dir`. */
export function tinyPairsOptions(dir: string) {
  return {
    generatorDir: `${dir}/gen`,
    prmDir: `${dir}/prm`,
    prompts: 3,
    candidates: 3,
    steps: 2,
    margin: 0,
    quiet: true,
  };
}

/** Writes a tiny generator (`<dir>/gen`), a tiny PRM (`<dir>/prm`) and pairs (`<dir>/pairs`). */
export async function tinyPairsSetup(
  dir: string,
  options: { prompts?: number; candidates?: number } = {},
): Promise<BuildPairsResult> {
  const gen = createGenerator(TINY_X0, { seed: 2 });
  // a non-zero output head, so samples (and their scores) differ
  const w = gen.params.get("pixel.clean.w")!;
  w.assign(tf.randomNormal(w.shape, 0, 0.5, "float32", 4));
  await saveGenerator(`${dir}/gen`, gen);
  const prm = createRewardModel(TINY_RM, { seed: 1 });
  await saveRewardModel(`${dir}/prm`, prm);
  disposeRewardModel(prm);
  try {
    return await buildPairs({
      ...tinyPairsOptions(dir),
      out: `${dir}/pairs`,
      prompts: options.prompts ?? 3,
      candidates: options.candidates ?? 3,
    });
  } finally {
    disposeGenerator(gen);
  }
}

/** Error maps and PRM gaps of two pairs × three patches, for the loss tests (numbers, by name). */
export const LOSS_ROWS = {
  policyChosen: [[0.09, 0.16, 0.25], [0.04, 0.36, 0.01]],
  policyRejected: [[0.3, 0.1, 0.2], [0.2, 0.2, 0.2]],
  referenceChosen: [[0.04, 0.16, 0.36], [0.09, 0.25, 0.01]],
  referenceRejected: [[0.2, 0.2, 0.2], [0.2, 0.25, 0.2]],
  patchGaps: [[1, -1, 0.1], [0.5, -0.5, 0.3]],
};

/** {@linkcode LOSS_ROWS} as tensors; the caller disposes them. */
export function lossInputs(): GranDpoInputs {
  return Object.fromEntries(
    Object.entries(LOSS_ROWS).map(([k, v]) => [k, tf.tensor2d(v)]),
  ) as unknown as GranDpoInputs;
}

/** Asserts that `post-train --pairs /nonexistent/pairs.jsonl …flags` is refused with `error`. */
export async function assertPostTrainRefuses(flags: string[], error: RegExp): Promise<void> {
  await assert.rejects(
    () =>
      postTrainCommand.run(
        parseCli(["--pairs", "/nonexistent/pairs.jsonl", ...flags], postTrainCommand.spec),
      ),
    error,
  );
}

/**
 * A loss option stored with a checkpoint only when it is not the default: a one-step run without it
 * stores no `key` (so checkpoints from before the option resume), one with `{ [key]: value }`
 * stores it, and resuming that run without the option is refused.
 */
export async function assertStoredOnlyWhenSet(
  dir: string,
  setting:
    | { key: "lossType" | "ptxPrompts" | "guidanceHoldPatches"; value: string }
    | {
      key:
        | "patchOtherWeight"
        | "ptxWeight"
        | "guidanceHoldWeight"
        | "guidanceHoldFrom"
        | "lossGuidance";
      value: number;
    }
    | { key: "freeze"; value: string[] },
): Promise<void> {
  const r = await tinyPairsSetup(dir, { prompts: 2, candidates: 2 });
  const base = { pairs: r.file, generatorDir: `${dir}/gen`, steps: 1, batchSize: 2, quiet: true };
  const settings = async (out: string) =>
    (await readCheckpointManifest(out)).meta.settings as Record<string, unknown>;
  await postTrain({ ...base, out: `${dir}/plain` });
  assert.equal(setting.key in await settings(`${dir}/plain`), false, "older checkpoints resume");
  await postTrain({ ...base, out: `${dir}/set`, [setting.key]: setting.value });
  assert.deepEqual((await settings(`${dir}/set`))[setting.key], setting.value);
  await assert.rejects(
    () => postTrain({ ...base, out: `${dir}/set`, steps: 2 }),
    new RegExp(`same settings \\(.*${setting.key}: \\(default\\)`),
  );
}

/** The patch grid of {@linkcode dpoRun}'s steps. */
export const DPO_RUN_GRID = { rows: 2, cols: 2, framesPerPatch: 2 };

/** The loss of {@linkcode dpoRun}'s steps (on the x0-error). */
export const DPO_RUN_LOSS = methodLossOptions("grandpo", { beta: 100, betaPatch: 100, tau: 0 });

/**
 * A fresh generator's adaLN-zero weights make its prompt change nothing (the conditional and
 * unconditional estimates agree): give the generator at `dir`'s modulations random weights, as
 * training would, and save it back.
 */
export async function conditionGenerator(dir: string): Promise<void> {
  const { generator } = await loadGenerator(dir);
  let seed = 11;
  for (const [name, v] of generator.params) {
    if (name.includes(".ada")) v.assign(tf.randomNormal(v.shape, 0, 0.2, "float32", seed++));
  }
  await saveGenerator(dir, generator);
  disposeGenerator(generator);
}

/**
 * Loads the tiny pairs' policy, reference and Adam on the active backend; `step(i)` runs DPO step i
 * (shared by the step tests).
 */
export async function dpoRun(
  dir: string,
  pairsFile: string,
  options: {
    ptxWeight?: number;
    guidanceHoldWeight?: number;
    guidanceHoldPatches?: GuidanceHoldPatches;
    guidanceHoldFrom?: number;
    lossGuidance?: number;
  } = {},
) {
  const { ptxWeight = 0, guidanceHoldWeight = 0, ...stepOptions } = options;
  const pairs = await readPairs(pairsFile);
  const { generator: policy } = await loadGenerator(`${dir}/gen`);
  const reference = freezeGenerator(policy);
  const adam = createAdam(policy.params, { learningRate: 1e-3 });
  const clips = await Promise.all(pairs.map(async (q) =>
    [
      await Deno.readFile(join(dir, "pairs", q.chosen.clip)),
      await Deno.readFile(join(dir, "pairs", q.rejected.clip)),
    ] as [Uint8Array, Uint8Array]
  ));
  const data = { pairs, clips, grid: DPO_RUN_GRID };
  const inputs = (i: number) =>
    dpoStepInputs(policy, data, i, { batchSize: 2, seed: 1, tMin: 50, tMax: 950, ptxWeight });
  return {
    policy,
    reference,
    /** The inputs of step i (the caller disposes them). */
    inputs,
    async step(i: number) {
      const x = inputs(i);
      try {
        return await dpoStep({ policy, reference, adam }, x, {
          loss: DPO_RUN_LOSS,
          weighting: "x0",
          gamma: 5,
          grid: data.grid,
          ptxWeight,
          guidanceHoldWeight,
          ...stepOptions,
        });
      } finally {
        tf.dispose(Object.values(x).filter((v) => v instanceof tf.Tensor));
      }
    },
    dispose() {
      adam.dispose();
      disposeGenerator(policy);
      disposeGenerator(reference);
    },
  };
}
