/**
 * Continues a PRM on labelled shared-noise candidates with the patch head's pairwise term
 * (issue 20, `patchPairWeight`; `data/reward/candidates.md`, twelfth round): the candidates of
 * `deno task pairs --shared-noise` (a folder of `candidates.N.jsonl` and their clips) with one
 * label per clip (`bench/label_pairs.ts`'s cache, the judge server's noise), each prompt's four
 * candidates drawn in same-prompt pairs, so the term compares patch k of two clips from one
 * noise — the comparison Gran-DPO's patch terms make. `--patch-pair-weight 0` is the control:
 * the same continued training on the same labels by regression alone. Measure the result with
 * `bench/patch_directions.ts` on candidates of another noise seed.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-env --allow-sys \
 *     bench/reward_patch_pairs.ts --from out/rmgen10k/prm --labels out/pairsG30-shared/labels-noise-0.6.jsonl \
 *     --patch-pair-weight 1 --steps 400 --out out/rmpp/w1 out/pairsG30-shared
 *
 * Resumes from its checkpoint in `--out` (`trainRewardStage`).
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { readClip } from "../lib/pairs/file.ts";
import type { RewardExample } from "../lib/reward/data.ts";
import { readLabelsFile } from "../lib/reward/label_file.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { trainRewardStage } from "../lib/reward/train.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { readCandidates } from "./_candidates.ts";

const { values, positionals } = parseArgs({
  options: {
    from: { type: "string" },
    labels: { type: "string" },
    out: { type: "string" },
    "patch-pair-weight": { type: "string", default: "1" },
    steps: { type: "string", default: "400" },
    "learning-rate": { type: "string" },
    seed: { type: "string", default: "0" },
    shape: { type: "string", default: "16,32,32,3" },
    quiet: { type: "boolean", default: false },
  },
  allowPositionals: true,
});
for (const k of ["from", "labels", "out"] as const) {
  if (!values[k]) throw new Error(`reward_patch_pairs: Expected --${k} but found none`);
}
if (positionals.length !== 1) {
  throw new Error(
    `reward_patch_pairs: Expected one candidates folder but found ${positionals.length} arguments`,
  );
}
const dir = positionals[0];
const shape = values.shape.split(",").map(Number);
const num = (k: keyof typeof values) => {
  const v = Number(values[k]);
  if (!Number.isFinite(v) || v < 0) {
    throw new Error(`--${k}: Expected a number ≥ 0 but found "${values[k]}"`);
  }
  return v;
};

await initBackend();
const records = new Map(
  (await readLabelsFile(values.labels!, { numFrames: shape[0] })).map((
    r,
  ) => [resolve(r.source), r]),
);
const train: RewardExample[] = [];
for (const c of await readCandidates(dir, "reward_patch_pairs")) {
  const r = records.get(resolve(join(dir, c.clip)));
  if (!r) throw new Error(`--labels: Expected a label of ${c.clip} but found none`);
  const video = await readClip(join(dir, c.clip), shape);
  train.push({ video, prompt: c.prompt, origin: "labelled", defects: [], labels: r.labels });
}

const { model: from } = await loadRewardModel(values.from!);
try {
  const { model, step, seconds } = await trainRewardStage(train, {
    stage: "patch",
    from,
    out: values.out,
    steps: num("steps"),
    seed: num("seed"),
    learningRate: values["learning-rate"] ? num("learning-rate") : undefined,
    patchPairWeight: num("patch-pair-weight"),
    quiet: values.quiet,
  });
  console.log(
    `${values.out}: ${train.length} clips, ${step} steps in ${seconds.toFixed(0)} s ` +
      `(patchPairWeight ${num("patch-pair-weight")})`,
  );
  disposeRewardModel(model);
} finally {
  disposeRewardModel(from);
}
