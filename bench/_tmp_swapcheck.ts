import { initBackend } from "../lib/tensor/backend.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { textSwapSensitivity } from "../lib/reward/metrics.ts";
import { evaluationPrompts } from "../lib/eval/evaluate.ts";
import { renderClip } from "../lib/videos/world.ts";
await initBackend();
for (const dir of Deno.args) {
  const { model } = await loadRewardModel(dir);
  const items = evaluationPrompts(96, "validation").map((prompt, i) => ({
    video: renderClip(prompt, { seed: 1000 + i }).video,
    prompt: prompt.text,
  }));
  const r = await textSwapSensitivity(model, items, { kinds: ["color", "shape", "count"], judge: false, resamples: 200 });
  console.log(dir, r.map((x) => `${x.kind} ${JSON.stringify(x.drops)}`).join(" | "));
  disposeRewardModel(model);
}
