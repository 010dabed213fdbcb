/**
 * Where `pretrain --stable-targets K` acts: the effective number of clips (1/Σw²) in the stable
 * target of a row with K references, at each timestep, for the unshifted and the shifted (3)
 * cosine schedule. 1 = the plain target (the row's own clip), K + 1 = the mean of all.
 *
 *   deno run -A bench/stable_targets_ess.ts [--refs 7] [--t 999,950,900,850,800,700]
 * @module
 */

import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  addNoise,
  alphaBars,
  makeBatch,
  promptSample,
  resolveGeneratorConfig,
} from "../lib/generator/mod.ts";

const { values } = parseArgs({
  options: {
    refs: { type: "string", default: "7" },
    t: { type: "string", default: "999,950,900,850,800,700" },
  },
});
const k = Number(values.refs);
if (!Number.isInteger(k) || k < 1) {
  throw new TypeError(`--refs: Expected an integer ≥ 1 but found ${values.refs}`);
}
await initBackend();
for (const shift of [1, 3]) {
  const c = resolveGeneratorConfig({ prediction: "x0", scheduleShift: shift });
  const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
  const ps = promptSample(8, 0, "validation");
  const batch = makeBatch(c, ps, { seeds: ps.map((_, i) => i + 1), refs: k });
  const row = values.t.split(",").map(Number).map((t) => {
    const ess = tf.tidy(() => {
      const noise = tf.randomNormal(batch.x0.shape, 0, 1, "float32", t);
      const xt = addNoise(c, batch.x0, tf.fill([8], t, "int32") as tf.Tensor1D, noise);
      const all = tf.concat([batch.x0.expandDims(1), batch.refs!], 1).reshape([8, k + 1, -1]);
      const d = xt.reshape([8, 1, -1]).sub(all.mul(Math.sqrt(ab[t]))).square().sum(2);
      const w = tf.softmax(d.div(-2 * (1 - ab[t])), 1);
      return tf.div(1, w.square().sum(1)).mean().dataSync()[0];
    });
    return `t=${t}: ${ess.toFixed(2)}`;
  });
  console.log(`shift ${shift}: ${row.join(", ")} (of ${k + 1})`);
  tf.dispose([batch.x0, batch.tokens, batch.refs!]);
}
