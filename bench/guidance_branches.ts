/**
 * Through which branch of classifier-free guidance post-training erases objects (issue 21's
 * question of why a one-object clip comes out empty). For each evaluated policy, the clips of an
 * evaluation (`deno task evaluate`, same prompts and noise for every model) whose objects the
 * policy lost — ShapesBench's count check finds none in the policy's clip and at least one in
 * Base's — are sampled again from their noise five ways, and the objects found in each are printed:
 *
 * - Base as evaluated (guidance w = 2) and the policy as evaluated;
 * - the policy's conditional branch with Base's unconditional one, and the other way round
 *   (x̂0 = u + w · (c − u) with c and u from different models): which model's drift removes them;
 * - Base's conditional branch alone (w = 1): whether Base drew the object only under guidance.
 *
 * Before that it counts Base's **guidance-only** clips of the evaluation (an object at w = 2, none
 * from the conditional branch alone) and, per policy, how many of its lost clips are among them.
 *
 * It also prints what the clips whose direction check the policy fails (and Base passes) cost its
 * ShapesBench against Base, per clip of the evaluation, beside the difference on all clips.
 *
 * `--sheet FILE` writes a contact sheet of the lost clips, five rows each in that order.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-env --allow-sys \
 *     bench/guidance_branches.ts --sheet out/guidance-branches.png \
 *     out/evalG30-test-fc/base-6e3c99550392.jsonl data/generator \
 *     halo=out/ptG30/halo-rmsn10kpp16-kl-both-ptx1000-fc,out/evalG30-test-fc/grandpo-s0-ca936f123b1f.jsonl
 *
 * Diagnostics only: nothing here picks a setting. ShapesWorld prompts only; the sampler is the
 * evaluation's (DDIM, η = 0, the clean estimate, clipped), re-implemented here so the two branches
 * can come from two models.
 * @module
 */

import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { createRng } from "../lib/core/_rng.ts";
import { alphaBars, normalArray } from "../lib/generator/diffusion.ts";
import { disposeGenerator, type Generator, predictNoiseAndClean } from "../lib/generator/model.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { tokenizeBatch } from "../lib/generator/prompt.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import { clipSeed } from "../lib/eval/_clip_seed.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { objectsFound } from "./_object_share.ts";
import { videoSheet } from "../lib/videos/sheet.ts";
import { createVideo, type Video } from "../lib/videos/video.ts";

const { values, positionals } = parseArgs({
  options: { sheet: { type: "string" }, steps: { type: "string", default: "20" } },
  allowPositionals: true,
});
const [baseEval, baseDir, ...models] = positionals;
if (
  !baseEval || !baseDir || models.length === 0 || !models.every((m) => /^[^=]+=[^,]+,.+$/.test(m))
) {
  throw new Error(
    `guidance_branches: Expected BASE_EVAL.jsonl BASE_CHECKPOINT NAME=CHECKPOINT,EVAL.jsonl … ` +
      `but found ${JSON.stringify(positionals)}`,
  );
}
const steps = Number(values.steps);

/** DDIM (η = 0, clean estimate, clipped) with x̂0 = u + w · (c − u), c from `cond`, u from `uncond`. */
function sample(
  cond: Generator,
  uncond: Generator,
  prompt: string,
  seed: number,
  w: number,
): Video {
  const c = cond.config;
  const ab = alphaBars(c.timesteps, c.schedule, c.scheduleShift);
  const ts = Array.from(
    { length: steps },
    (_, i) => Math.round((c.timesteps - 1) * (1 - i / steps)),
  );
  const tokens = tokenizeBatch([prompt]);
  let x = tf.tensor(normalArray(createRng(seed), c.frames * c.size * c.size * 3), [
    1,
    c.frames,
    c.size,
    c.size,
    3,
  ]);
  for (let i = 0; i < steps; i++) {
    const [aT, aPrev] = [ab[ts[i]], i + 1 < steps ? ab[ts[i + 1]] : 1];
    const next = tf.tidy(() => {
      const t = tf.fill([1], ts[i], "int32") as tf.Tensor1D;
      const branch = (g: Generator, keep: number) =>
        predictNoiseAndClean(g, { xt: x, t, tokens }, { keep: tf.fill([1], keep) as tf.Tensor1D })
          .clean;
      const u = branch(uncond, 0);
      const x0 = u.add(branch(cond, 1).sub(u).mul(w)).clipByValue(-1, 1);
      const eps = x.sub(x0.mul(Math.sqrt(aT))).div(Math.sqrt(1 - aT));
      return x0.mul(Math.sqrt(aPrev)).add(eps.mul(Math.sqrt(1 - aPrev)));
    });
    x.dispose();
    x = next;
  }
  const pixels = tf.tidy(() => x.add(1).div(2).clipByValue(0, 1).dataSync() as Float32Array);
  tf.dispose([x, tokens]);
  return createVideo({ frames: pixels, numFrames: c.frames, height: c.size, width: c.size });
}

const key = (c: ClipEvaluation) => `${c.promptIndex}|${c.seed}`;

await initBackend();
const base = (await loadGenerator(baseDir)).generator;
const baseClips = new Map((await readJsonLines<ClipEvaluation>(baseEval)).map((c) => [key(c), c]));
const sheet: Video[] = [];
const WAYS = [
  "Base",
  "policy",
  "policy's conditional, Base's unconditional",
  "Base's conditional, policy's unconditional",
  "Base's conditional alone (w = 1)",
];
// Base's clips that hold an object only under guidance: found at w = 2, none by the conditional alone
const guidanceOnly = new Set<string>();
let withObject = 0;
for (const c of baseClips.values()) {
  const seed = clipSeed(c.promptIndex, c.seed);
  if (objectsFound(sample(base, base, c.prompt, seed, 2), c.prompt) === 0) continue;
  withObject++;
  if (objectsFound(sample(base, base, c.prompt, seed, 1), c.prompt) === 0) guidanceOnly.add(key(c));
}
console.log(
  `Base: ${withObject} of ${baseClips.size} clips hold an object; in ${guidanceOnly.size} of them ` +
    `its conditional branch alone (w = 1) draws none.\n`,
);
for (const arg of models) {
  const [name, rest] = [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)];
  const [dir, evalFile] = rest.split(",");
  const policy = (await loadGenerator(dir)).generator;
  const lost: number[][] = [];
  const clips = await readJsonLines<ClipEvaluation>(evalFile);
  let all = 0, turned = 0;
  for (const c of clips) {
    const b = baseClips.get(key(c));
    if (!b) throw new Error(`guidance_branches: Expected ${baseEval} to hold ${key(c)}`);
    all += (c.bench.overall - b.bench.overall) / clips.length;
    if (c.bench.direction < b.bench.direction) {
      turned += (c.bench.overall - b.bench.overall) / clips.length;
    }
    // only clips whose colour, shape or direction check failed can have lost every object
    if (c.bench.direction >= b.bench.direction && c.bench.color >= b.bench.color) continue;
    const seed = clipSeed(c.promptIndex, c.seed);
    const ways = [
      sample(base, base, c.prompt, seed, 2),
      sample(policy, policy, c.prompt, seed, 2),
      sample(policy, base, c.prompt, seed, 2),
      sample(base, policy, c.prompt, seed, 2),
      sample(base, base, c.prompt, seed, 1),
    ];
    const found = ways.map((v) => objectsFound(v, c.prompt));
    if (found[1] === 0 && found[0] > 0) {
      lost.push([...found, guidanceOnly.has(key(c)) ? 1 : 0]);
      sheet.push(...ways);
      console.log(
        `${name}: prompt ${c.promptIndex} seed ${c.seed} "${c.prompt}": ${found.join(" / ")}`,
      );
    }
  }
  disposeGenerator(policy);
  console.log(
    `\n## ${name}: ${lost.length} clips lost their objects\n\nShapesBench − Base: ${
      all.toFixed(4)
    } ` +
      `on all ${clips.length} clips, of which ${
        turned.toFixed(4)
      } from the clips whose direction ` +
      `check it fails and Base passes, ${(all - turned).toFixed(4)} from the rest.\n`,
  );
  console.log("| sampled with | clips with an object |\n|---|---|");
  WAYS.forEach((w, i) => console.log(`| ${w} | ${lost.filter((f) => f[i] > 0).length} |`));
  console.log(
    `\n${lost.filter((f) => f[WAYS.length] === 1).length} of the ${lost.length} are among Base's ` +
      `${guidanceOnly.size} guidance-only clips.`,
  );
}
disposeGenerator(base);
if (values.sheet && sheet.length > 0) {
  await Deno.writeFile(values.sheet, videoSheet(sheet, { frames: 16, scale: 2 }));
  console.log(`\nwrote ${values.sheet}: per lost clip, rows ${WAYS.join(" / ")}`);
}
