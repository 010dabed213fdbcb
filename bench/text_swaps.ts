/**
 * Issue 20's text-alignment bar on clean renders: for each reward model, the share of 96 clean
 * renders of validation prompts (never trained on, each with its own seed) whose text-alignment
 * video score is lower under a prompt of another colour, shape or count, with 95% bootstrap
 * intervals over clips. The clips of `tests/reward_shipped_test.ts`, which asserts the colour row
 * for the shipped PRM; this prints all three for any model. Diagnostics: it picks nothing.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-env --allow-sys bench/text_swaps.ts \
 *     data/reward/prm data/reward-g30-film/prm
 * @module
 */

import { initBackend } from "../lib/tensor/backend.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { textSwapSensitivity } from "../lib/reward/metrics.ts";
import { evaluationPrompts } from "../lib/eval/evaluate.ts";
import { renderClip } from "../lib/videos/world.ts";

const dirs = Deno.args;
if (dirs.length === 0) {
  throw new Error("Expected one or more reward-model folders but found none");
}
await initBackend();
const items = evaluationPrompts(96, "validation").map((prompt, i) => ({
  video: renderClip(prompt, { seed: 1000 + i }).video,
  prompt: prompt.text,
}));
const f = (x: number) => x.toFixed(3);
console.log(
  `${items.length} clean renders of validation prompts: text alignment lower under a swapped prompt\n`,
);
console.log("| reward model | colour | shape | count |\n|---|---|---|---|");
for (const dir of dirs) {
  const { model } = await loadRewardModel(dir);
  try {
    const rows = await textSwapSensitivity(model, items, {
      kinds: ["color", "shape", "count"],
      judge: false,
      resamples: 1000,
    });
    const cell = (kind: string) => {
      const d = rows.find((r) => r.kind === kind)!.drops;
      return `${f(d.estimate)} [${f(d.lo)}, ${f(d.hi)}]`;
    };
    console.log(`| ${dir} | ${cell("color")} | ${cell("shape")} | ${cell("count")} |`);
  } finally {
    disposeRewardModel(model);
  }
}
