/**
 * The data flags of a `train-rm` run, for the benches that rebuild its dataset from its label
 * cache (no labelling, no sampling when the cache is whole): `--labels` and the flags that fix
 * which clips were drawn. They must be the run's own; a note says when some clips had to be
 * labelled anew.
 * @module
 */

import { buildRewardDataset, type RewardDataset, type RewardOrigin } from "../lib/reward/data.ts";

/** Defaults of the data flags: those of the run the bench is usually pointed at. */
export interface RewardDataFlagDefaults {
  train: number;
  clipsPerPrompt: number;
  generatorShare: number;
  swapRate: number;
}

/** `parseArgs` options of the data flags, with these defaults. */
export function rewardDataFlags(d: RewardDataFlagDefaults) {
  return {
    labels: { type: "string" },
    train: { type: "string", default: String(d.train) },
    "held-out": { type: "string", default: "96" },
    "clips-per-prompt": { type: "string", default: String(d.clipsPerPrompt) },
    "generator-share": { type: "string", default: String(d.generatorShare) },
    "swap-rate": { type: "string", default: String(d.swapRate) },
    "swap-origins": { type: "string" },
    "shared-noise": { type: "boolean", default: false },
    seed: { type: "string", default: "0" },
  } as const;
}

/** The number a flag holds, or an error naming it. */
export function numFlag(values: Record<string, unknown>, flag: string): number {
  const n = Number(values[flag]);
  if (typeof values[flag] !== "string" || !Number.isFinite(n) || n < 0) {
    throw new Error(`--${flag}: Expected a number ≥ 0 but found "${values[flag]}"`);
  }
  return n;
}

/** The run's dataset, rebuilt from `--labels` and the data flags. */
export async function rebuildRewardDataset(
  values: Record<string, unknown>,
  options: { quiet?: boolean } = {},
): Promise<RewardDataset> {
  if (typeof values.labels !== "string") {
    throw new Error("--labels: Expected the label cache of a train-rm run");
  }
  const num = (flag: string) => numFlag(values, flag);
  const data = await buildRewardDataset({
    cache: values.labels,
    train: num("train"),
    heldOut: num("held-out"),
    clipsPerPrompt: num("clips-per-prompt"),
    generatorShare: num("generator-share"),
    swapRate: num("swap-rate"),
    swapOrigins: typeof values["swap-origins"] === "string"
      ? values["swap-origins"].split(",") as RewardOrigin[]
      : undefined,
    sharedNoise: values["shared-noise"] === true,
    seed: num("seed"),
    quiet: options.quiet,
  });
  if (data.labelling.calls > 0) {
    console.error(
      `note: ${data.labelling.calls} clips were labelled anew: the flags differ from the cache's run`,
    );
  }
  return data;
}
