/**
 * Gives a pretraining checkpoint a wider per-pixel decoder input (`pixelWindow` w): the same
 * weights, Adam moments and EMA, with the rows of `pixel.x.w` for the w² − 1 neighbours added
 * at zero, so the widened model computes exactly the function it had and `deno task pretrain`
 * resumes it (with `"pixelWindow": w` in `--config`) to test whether the neighbours' evidence
 * helps from a trained model on (issue 19's ninth round).
 *
 *   deno run -A bench/widen_pixel_window.ts --from out/exp/DP3 --to out/exp/FP [--window 3]
 *
 * Writes `--to` (weights + optimiser state) and `--to`-ema.
 * @module
 */

import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  createGenerator,
  disposeGenerator,
  loadGenerator,
  saveGenerator,
} from "../lib/generator/mod.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import { createEma, withEma } from "../lib/tensor/ema.ts";
import { loadCheckpoint } from "../lib/tensor/checkpoint.ts";
import { initBackend } from "../lib/tensor/backend.ts";

const { values } = parseArgs({
  options: {
    from: { type: "string" },
    to: { type: "string" },
    window: { type: "string", default: "3" },
  },
});
if (!values.from || !values.to) throw new TypeError("--from, --to: Expected checkpoint folders");
const w = Number(values.window);
if (!Number.isInteger(w) || w < 3 || w % 2 === 0) {
  throw new TypeError(`--window: Expected an odd integer ≥ 3 but found ${values.window}`);
}
await initBackend();
const { generator: gen, manifest } = await loadGenerator(values.from);
if ((gen.config.pixelWindow ?? 1) !== 1) {
  throw new RangeError(`${values.from}: Expected a checkpoint without pixelWindow`);
}
const optimizer = withEma(createAdam(gen.params), createEma(gen.params));
const loaded = await loadCheckpoint(values.from, { kind: "generator", optimizer });
const wide = createGenerator({ ...gen.config, pixelWindow: w }, { seed: 0 });
const wideEma = createEma(wide.params);
const wideOptimizer = withEma(createAdam(wide.params), wideEma);
const old = optimizer.state().tensors;
// the pixel's own x_t is the window's centre, (row r, column r) of the w×w window, 3 channels
const centre = (((w - 1) / 2) * w + (w - 1) / 2) * 3;

/** `old`'s values at `shape`: the same, or pixel.x.w's rows placed at the window's centre. */
function widen(name: string, from: tf.Tensor, shape: number[]): Float32Array {
  const values = from.dataSync() as Float32Array;
  if (from.shape.join() === shape.join()) return Float32Array.from(values);
  if (!/pixel\.x\.w(\/[mv])?$/.test(name)) {
    throw new RangeError(`${name}: Expected the same shape but found ${from.shape} → ${shape}`);
  }
  const out = new Float32Array(shape[0] * shape[1]);
  out.set(values, centre * shape[1]);
  return out;
}
for (const [name, v] of wide.params) {
  v.assign(tf.tensor(widen(name, gen.params.get(name)!, v.shape), v.shape));
}
wideOptimizer.load(
  loaded.manifest.optimizer!.step,
  [...wideOptimizer.state().tensors].map(([name, v]) => ({
    name,
    shape: v.shape,
    values: widen(name, old.get(name)!, v.shape),
  })),
);
const meta = { ...manifest.meta, widenedFrom: values.from, pixelWindow: w };
await saveGenerator(values.to, wide, { step: manifest.step, optimizer: wideOptimizer, meta });
await saveGenerator(`${values.to}-ema`, { config: wide.config, params: wideEma.params }, {
  step: manifest.step,
  meta,
});
disposeGenerator(gen);
disposeGenerator(wide);
console.log(`wrote ${values.to} and ${values.to}-ema at step ${manifest.step} (pixelWindow ${w})`);
