/**
 * How fast each model's objects move (issue 21's investigation of the direction HALO loses on G30):
 * samples the evaluation's clips (`evaluationClip`: the prompts, sampling seeds and noise that
 * `deno task evaluate` uses, so every model's clip k shows the same prompt from the same noise),
 * measures the objects' speed along the prompt's direction with the reference judge's trajectory
 * check (pixels per frame; ShapesBench's direction check passes above 0.15), and prints per speed
 * word of the prompt the mean speed with a 95% bootstrap interval over clips, and each model's mean
 * paired difference to the first model.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/sample_motion.ts \
 *     [--prompts 64] [--seeds 0,1] [--split test|validation] base=data/generator halo=out/final/dpo/grandpo-s0 …
 *
 * Diagnostics only: nothing here picks a setting.
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { disposeGenerator, loadGenerator } from "../lib/generator/mod.ts";
import { evaluationClip, evaluationPrompts } from "../lib/eval/evaluate.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { bootstrapInterval, formatInterval } from "../lib/core/agreement.ts";
import { DIRECTION_PASS, speedAlong } from "./_motion.ts";

const { values, positionals } = parseArgs({
  options: {
    prompts: { type: "string", default: "64" },
    seeds: { type: "string", default: "0,1" },
    split: { type: "string", default: "test" },
    steps: { type: "string", default: "20" },
  },
  allowPositionals: true,
});
if (positionals.length === 0 || !positionals.every((a) => a.includes("="))) {
  throw new Error(
    `sample_motion: Expected NAME=CHECKPOINT … but found ${JSON.stringify(positionals)}`,
  );
}
const prompts = evaluationPrompts(Number(values.prompts), values.split as "test" | "validation");
const seeds = values.seeds.split(",").map(Number);
const clips = prompts.flatMap((p, promptIndex) =>
  seeds.map((seed) => ({ prompt: p.text, promptIndex, seed }))
);
await initBackend();
const speeds: { name: string; speed: number[] }[] = [];
for (const arg of positionals) {
  const at = arg.indexOf("=");
  const { generator } = await loadGenerator(arg.slice(at + 1));
  try {
    const speed: number[] = [];
    for (const clip of clips) {
      const video = await evaluationClip(generator, clip, { steps: Number(values.steps) });
      speed.push(speedAlong(video, clip.prompt));
    }
    speeds.push({ name: arg.slice(0, at), speed });
  } finally {
    disposeGenerator(generator);
  }
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const interval = (xs: readonly number[]) =>
  formatInterval(
    bootstrapInterval(xs.length, (ix) => mean(Array.from(ix, (i) => xs[i])), { seed: 0 }),
  );
console.log(
  `Speed along the prompt's direction (px/frame) on ${clips.length} ${values.split} clips; ` +
    `direction passes above ${DIRECTION_PASS}.\n`,
);
console.log(
  "| model | prompt speed | clips | mean speed | − first model (paired) | direction passes |",
);
console.log("|---|---|---|---|---|---|");
for (const word of ["slowly", "quickly"]) {
  const at = clips.flatMap((c, i) => parsePrompt(c.prompt).speed === word ? [i] : []);
  for (const { name, speed } of speeds) {
    const mine = at.map((i) => speed[i]);
    const diff = at.map((i) => speed[i] - speeds[0].speed[i]);
    console.log(
      `| ${name} | ${word} | ${at.length} | ${interval(mine)} | ${
        name === speeds[0].name ? "–" : interval(diff)
      } | ${(mine.filter((v) => v > DIRECTION_PASS).length / mine.length).toFixed(2)} |`,
    );
  }
}
