/**
 * Where a generator loses a clip's layout and shape (issue 19's diagnosis): renders of
 * validation prompts are noised to timestep t, and either the network's one-shot clean
 * estimate x̂0 (`--mode oneshot`) or a DDIM run from x_t down to 0 at the sampler's step spacing
 * (`--mode sdedit`: 25·t/999 steps, η 0, CFG 1, x̂0 clipped) is judged by the reference judge.
 * Shape, count and direction kept at each t say at which noise levels the model fails:
 * kept from t = 850 but lost from pure noise means the layout is not committed from the prompt
 * at the highest noise; lost already from t = 300 means the low-noise steps round shapes off.
 * The last three columns split shape by the asked shape (clips drawn in it / clips asking it).
 * `--mode drift` asks whether the network knows the asked direction where only the prompt can
 * tell it: from pure noise at each t, the x̂0's centroid (weighted by distance from the
 * background colour) should move along the asked direction at the object's speed, as the mean
 * of all clips of the prompt does; it prints the mean centroid velocity per asked direction.
 *
 *   deno run -A bench/generator_denoise.ts --checkpoint DIR [--mode oneshot|sdedit|drift] \
 *     [--prompts 32] [--t 0,100,300,500,700,850,999] [--sheet out/denoise.png]
 *
 * `--sheet PNG` also writes a contact sheet of the first 4 clips at each t (oneshot/sdedit),
 * to look at what the judge's numbers summarise: rounded corners, speckle, fragments.
 * @module
 */

import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import {
  addNoise,
  alphaBars,
  disposeGenerator,
  loadGenerator,
  makeBatch,
  normalArray,
  predictNoiseAndClean,
  promptSample,
  tokenizeBatch,
} from "../lib/generator/mod.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { createRng } from "../lib/core/_rng.ts";
import { BACKGROUNDS } from "../lib/videos/world.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { videoSheet } from "../lib/videos/sheet.ts";
import type { Video } from "../lib/videos/video.ts";

const { values } = parseArgs({
  options: {
    checkpoint: { type: "string" },
    mode: { type: "string", default: "oneshot" },
    prompts: { type: "string", default: "32" },
    t: { type: "string", default: "0,100,300,500,700,850,999" },
    sheet: { type: "string" },
  },
});
const mode = values.mode;
if (mode !== "oneshot" && mode !== "sdedit" && mode !== "drift") {
  throw new TypeError(
    `--mode: Expected oneshot, sdedit or drift but found ${JSON.stringify(mode)}`,
  );
}
if (!values.checkpoint) throw new TypeError("--checkpoint: Expected a generator folder");
await initBackend();
const { generator: gen, step } = await loadGenerator(values.checkpoint);
const c = gen.config;
const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
const prompts = promptSample(Number(values.prompts), 0, "validation");
const grid = { rows: 4, cols: 4, framesPerPatch: 4 };
const perClip = c.frames * c.size * c.size * 3;

/** x_t at t0 → a clean clip in model space: one x̂0, or DDIM down to 0. */
function denoise(x: tf.Tensor, tokens: tf.Tensor2D, t0: number): tf.Tensor {
  const b = x.shape[0];
  const clean = (xt: tf.Tensor, t: number) =>
    predictNoiseAndClean(gen, { xt, t: tf.fill([b], t, "int32") as tf.Tensor1D, tokens }).clean
      .clipByValue(-1, 1);
  if (t0 === 0) return x.clone();
  if (mode === "oneshot") return tf.tidy(() => clean(x, t0));
  const k = Math.max(1, Math.round(25 * t0 / (c.timesteps - 1)));
  const ts = Array.from({ length: k }, (_, i) => Math.round(t0 * (1 - i / k)));
  let cur = x.clone();
  for (let i = 0; i < k; i++) {
    const aT = ab[ts[i]];
    const aPrev = i + 1 < k ? ab[ts[i + 1]] : 1;
    const next = tf.tidy(() => {
      const x0 = clean(cur, ts[i]);
      const eps = cur.sub(x0.mul(Math.sqrt(aT))).div(Math.sqrt(1 - aT));
      return x0.mul(Math.sqrt(aPrev)).add(eps.mul(Math.sqrt(1 - aPrev)));
    });
    cur.dispose();
    cur = next;
  }
  return cur;
}

console.log(`${values.checkpoint} (step ${step}), ${mode}, ${prompts.length} validation prompts`);
if (mode === "drift") {
  await drift(values.t.split(",").map(Number));
  disposeGenerator(gen);
  Deno.exit(0);
}
console.log(
  "| t | shape | count | direction | circles | squares | triangles |\n|---|---|---|---|---|---|---|",
);
const sheetRows: Video[] = [];
for (const t0 of values.t.split(",").map(Number)) {
  const kept = { shape: 0, count: 0, direction: 0 };
  /** Per asked shape: [clips drawn in that shape, clips asked]. */
  const byShape: Record<string, [number, number]> = {
    circle: [0, 0],
    square: [0, 0],
    triangle: [0, 0],
  };
  for (let s = 0; s < prompts.length; s += 8) {
    const ps = prompts.slice(s, s + 8);
    const batch = makeBatch(c, ps, { seeds: ps.map((_, i) => 1000 + s + i) });
    const noise = tf.tensor(normalArray(createRng(7 + s), batch.x0.size), batch.x0.shape);
    const xt = tf.tidy(() =>
      addNoise(c, batch.x0, tf.fill([ps.length], t0, "int32") as tf.Tensor1D, noise)
    );
    const out = denoise(xt, batch.tokens, t0);
    const data = await tf.tidy(() => out.add(1).div(2).clipByValue(0, 1)).data() as Float32Array;
    tf.dispose([out, xt, noise, batch.x0, batch.tokens]);
    ps.forEach((p, i) => {
      const video = {
        frames: data.slice(i * perClip, (i + 1) * perClip),
        numFrames: c.frames,
        height: c.size,
        width: c.size,
        fps: 8,
        source: `denoise:${p.text}:t=${t0}`,
      };
      if (s === 0 && i < 4) sheetRows.push(video);
      const checks = judgeVideo(video, p.text, grid).checks!;
      kept.shape += checks.shapeOk ? 1 : 0;
      kept.count += checks.countOk ? 1 : 0;
      kept.direction += checks.directionOk ? 1 : 0;
      const tally = byShape[p.shape];
      tally[0] += checks.shapeOk ? 1 : 0;
      tally[1]++;
    });
  }
  const rate = (k: number) => (k / prompts.length).toFixed(2);
  console.log(
    `| ${t0} | ${rate(kept.shape)} | ${rate(kept.count)} | ${rate(kept.direction)} | ${
      Object.values(byShape).map(([k, n]) => `${k}/${n}`).join(" | ")
    } |`,
  );
}
if (values.sheet) {
  await Deno.writeFile(values.sheet, videoSheet(sheetRows, { frames: 8, scale: 3 }));
  console.log(`wrote ${values.sheet}: 4 clips (rows) at each t in turn, 8 frames across`);
}
disposeGenerator(gen);

/** Mean centroid velocity (px/frame, + = right/down) of x̂0 from pure noise, per asked direction. */
async function drift(times: number[]): Promise<void> {
  const directions = ["left", "right", "up", "down"];
  console.log(`| t | ${directions.join(" | ")} |\n|---|---|---|---|---|`);
  for (const t0 of times) {
    const velocities: Record<string, number[]> = {};
    for (let s = 0; s < prompts.length; s += 8) {
      const ps = prompts.slice(s, s + 8);
      const tokens = tokenizeBatch(ps);
      const shape = [ps.length, c.frames, c.size, c.size, 3];
      const noise = tf.tensor(normalArray(createRng(s + 1), ps.length * perClip), shape);
      const clean = tf.tidy(() =>
        predictNoiseAndClean(gen, {
          xt: noise,
          t: tf.fill([ps.length], t0, "int32") as tf.Tensor1D,
          tokens,
        }).clean.add(1).div(2)
      );
      const d = await clean.data();
      tf.dispose([clean, noise, tokens]);
      ps.forEach((p, i) => {
        const bg = BACKGROUNDS[p.background];
        const horizontal = p.direction === "left" || p.direction === "right";
        const centroid = (f: number) => {
          let w = 0, m = 0;
          for (let y = 0; y < c.size; y++) {
            for (let x = 0; x < c.size; x++) {
              const o = (((i * c.frames + f) * c.size + y) * c.size + x) * 3;
              const dist = Math.hypot(d[o] - bg[0], d[o + 1] - bg[1], d[o + 2] - bg[2]);
              w += dist;
              m += dist * (horizontal ? x : y);
            }
          }
          return m / w;
        };
        (velocities[p.direction] ??= []).push(
          (centroid(c.frames - 1) - centroid(0)) / (c.frames - 1),
        );
      });
    }
    const mean = (xs: number[] = []) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
    console.log(`| ${t0} | ${directions.map((k) => mean(velocities[k]).toFixed(3)).join(" | ")} |`);
  }
}
