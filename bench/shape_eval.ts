/**
 * How often a generator draws one asked shape (issue 19's square miss): samples every
 * validation prompt that asks for `--shape` (49 squares, 50 circles, 45 triangles) with the
 * sampler's defaults, `--sample-seeds` seeds each (seeds 0, 1, …), and prints how many clips the
 * reference judge reads as that shape, with a 95% bootstrap interval over prompts, and what it
 * found instead. The prompts and noise are the same for every checkpoint, so rows pair up:
 * `--compare A,B` reads two rows of `--out` (by checkpoint) and prints B − A with a paired
 * bootstrap interval over prompts.
 *
 *   deno run -A bench/shape_eval.ts --checkpoint DIR [--shape square] [--sample-seeds 2] [--out FILE] [--shape-guidance λ]
 *   deno run -A bench/shape_eval.ts --out FILE --compare out/exp/FC-ema,out/exp/FW5-ema
 *
 * `--out FILE` appends the row (JSON, with each clip's verdict) to FILE. With `--shape-guidance λ`
 * (the sampler's `shapeGuidance`) the row is named `DIR@shape-guidance=λ`.
 * @module
 */

import { parseArgs } from "node:util";
import { loadGenerator, sampleClips } from "../lib/generator/mod.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { promptSplits, SHAPE_NAMES, type ShapeName } from "../lib/videos/world.ts";
import { bootstrapInterval } from "../lib/core/agreement.ts";
import { initBackend } from "../lib/tensor/backend.ts";

const { values } = parseArgs({
  options: {
    checkpoint: { type: "string" },
    shape: { type: "string", default: "square" },
    "sample-seeds": { type: "string", default: "2" },
    out: { type: "string" },
    compare: { type: "string" },
    "shape-guidance": { type: "string", default: "0" },
  },
});

/** One checkpoint's row: per prompt, the judge's verdict (1 = the asked shape) per seed. */
interface Row {
  checkpoint: string;
  step: number;
  shape: ShapeName;
  clips: number;
  right: number;
  rate: number;
  interval: [number, number];
  detected: Record<string, number>;
  verdicts: number[][];
}

const rate = (rows: number[][], idx: ArrayLike<number>) => {
  let k = 0, n = 0;
  for (const i of Array.from(idx)) for (const v of rows[i]) (k += v, n++);
  return k / n;
};

if (values.compare) {
  const names = values.compare.split(",");
  if (names.length !== 2 || !values.out) {
    throw new TypeError(`--compare: Expected A,B and --out FILE but found ${values.compare}`);
  }
  const rows = (await Deno.readTextFile(values.out)).trim().split("\n").map((l) =>
    JSON.parse(l) as Row
  );
  const [a, b] = names.map((name) => {
    const row = rows.findLast((r) => r.checkpoint === name);
    if (!row) throw new RangeError(`${values.out}: Expected a row of ${name} but found none`);
    return row;
  });
  if (a.shape !== b.shape || a.verdicts.length !== b.verdicts.length) {
    throw new RangeError(`--compare: Expected rows of the same shape and prompts`);
  }
  const diff = (idx: ArrayLike<number>) => rate(b.verdicts, idx) - rate(a.verdicts, idx);
  const all = Int32Array.from(a.verdicts, (_, i) => i);
  const ci = bootstrapInterval(a.verdicts.length, diff, { seed: 0 });
  console.log(
    `${b.checkpoint} − ${a.checkpoint}, ${a.shape}s right: ${b.right} − ${a.right} of ${a.clips}` +
      ` = ${diff(all).toFixed(3)} [${ci.lo.toFixed(3)}, ${ci.hi.toFixed(3)}]`,
  );
  Deno.exit(0);
}
if (!values.checkpoint) throw new TypeError("--checkpoint: Expected a generator folder");
const shape = values.shape as ShapeName;
if (!SHAPE_NAMES.includes(shape)) {
  throw new TypeError(
    `--shape: Expected one of ${SHAPE_NAMES.join(", ")} but found ${JSON.stringify(values.shape)}`,
  );
}
const seeds = Number(values["sample-seeds"]);
if (!Number.isInteger(seeds) || seeds < 1) {
  throw new TypeError(
    `--sample-seeds: Expected an integer ≥ 1 but found ${values["sample-seeds"]}`,
  );
}
const lambda = Number(values["shape-guidance"]);
if (!(lambda >= 0)) {
  throw new TypeError(
    `--shape-guidance: Expected a number ≥ 0 but found ${values["shape-guidance"]}`,
  );
}
await initBackend();
const { generator, step } = await loadGenerator(values.checkpoint);
const prompts = promptSplits({ seed: 0 }).validation.filter((p) => p.shape === shape);
const verdicts: number[][] = prompts.map(() => []);
const detected: Record<string, number> = {};
for (let seed = 0; seed < seeds; seed++) {
  const clips = await sampleClips(generator, prompts, { seed, shapeGuidance: lambda });
  clips.forEach((clip, i) => {
    const checks = judgeVideo(clip, prompts[i].text, { rows: 4, cols: 4, framesPerPatch: 4 })
      .checks;
    verdicts[i].push(checks?.shapeOk ? 1 : 0);
    const found = checks?.shape ?? "none";
    detected[found] = (detected[found] ?? 0) + 1;
  });
}
const all = Int32Array.from(prompts, (_, i) => i);
const ci = bootstrapInterval(prompts.length, (idx) => rate(verdicts, idx), { seed: 0 });
const row: Row = {
  // a row is named by its checkpoint, and by its shape guidance where there is one
  checkpoint: lambda ? `${values.checkpoint}@shape-guidance=${lambda}` : values.checkpoint,
  step,
  shape,
  clips: prompts.length * seeds,
  right: verdicts.flat().reduce((t, v) => t + v, 0),
  rate: rate(verdicts, all),
  interval: [ci.lo, ci.hi],
  detected,
  verdicts,
};
console.log(JSON.stringify({ ...row, verdicts: undefined }));
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify(row) + "\n", { append: true });
