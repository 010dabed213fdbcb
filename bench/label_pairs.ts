/**
 * Issue 21's test of whether the reward model is what holds HALO back: pairs scored by the
 * labeller itself, with no distilled model between — every candidate clip labelled through the
 * judge server (the GPT-4o stand-in, with the label noise the PRMs learn from, σ = 0.6 by default)
 * over the real `openai` client, the video score and patch scores the mean over the aspects, then
 * paired as `deno task pairs` pairs them (`buildPairs` with a `scorer`). Post-train on the result
 * and evaluate as any other row: what a perfect distillation of the labels could give.
 *
 *   deno run -A bench/label_pairs.ts --out out/pairsG30-shared --shared-noise --name pairs-labels
 *
 * The candidates already in `--out` are reused (the same prompts, seeds and generator as the
 * pairs made there); the labels are cached in `<out>/labels-noise-<σ>.jsonl`, so a killed run
 * resumes. `--prm` names the grid (default: the reproduction's PRM); with `--prm-patches` the patch
 * scores are that PRM's and only the video scores the labels' (the labels' own patch scores carry
 * the label noise one patch at a time). `--noise 0` scores with the noise-free judge: a ceiling for
 * diagnosis, never a setting to choose. `--candidates K` reads a folder made with
 * `deno task pairs --candidates K` (default 4), `--prompts N` one made with `--prompts N`
 * (default 256); candidates missing from `--out` are sampled from Base first.
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { intOption } from "../lib/cli/_flags.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import { candidateScores } from "../lib/pairs/scores.ts";
import { labelVideos } from "../lib/labels/label.ts";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { parseGrid } from "../lib/videos/patch.ts";
import { ASPECTS, type AspectScores } from "../lib/videos/scores.ts";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    name: { type: "string", default: "pairs-labels" },
    prm: { type: "string", default: "out/final/reward/seed-0/prm" },
    noise: { type: "string", default: "0.6" },
    margin: { type: "string", default: "0.1" },
    candidates: { type: "string", default: "4" },
    prompts: { type: "string", default: "256" },
    "shared-noise": { type: "boolean", default: false },
    "prm-patches": { type: "boolean", default: false },
  },
});
if (!values.out) throw new Error("label_pairs: Expected --out DIR (a pairs folder) but found none");
const noise = Number(values.noise);
const candidates = intOption(values, "candidates"); // ranges checked by buildPairs
const prompts = intOption(values, "prompts");
if (!(noise >= 0)) throw new Error(`--noise: Expected a number ≥ 0 but found "${values.noise}"`);
const out = values.out;
const prm = await loadRewardModel(values.prm);
const grid = parseGrid(prm.model.config.grid);

const mean = (s: AspectScores) => ASPECTS.reduce((t, a) => t + s[a], 0) / ASPECTS.length;
const server = startJudgeServer({ port: 0, noise, seed: 1 });
try {
  const result = await buildPairs({
    out,
    name: values.name,
    prmDir: values.prm,
    sharedNoise: values["shared-noise"],
    candidates,
    prompts,
    pairing: "all",
    margin: Number(values.margin),
    scorer: {
      name: `labels: judge server, noise ${noise}${
        values["prm-patches"] ? `; patches: ${values.prm}` : ""
      }`,
      async score(items) {
        const report = await labelVideos(items, {
          baseURL: server.url,
          grid,
          cache: join(out, `labels-noise-${noise}.jsonl`),
          concurrency: 4,
          progressLabel: "label candidates",
        });
        const labels = report.results.map((r, i) => {
          if (!r.labels) throw new Error(`candidate ${i}: Expected labels but found ${r.error}`);
          return r.labels;
        });
        return {
          video: labels.map((l) => mean(l.video)),
          patches: values["prm-patches"]
            ? (await candidateScores(prm.model, items)).patches
            : labels.map((l) => l.patches.map((p) => mean(p.scores))),
        };
      },
    },
  });
  console.log(`${result.file}: ${result.pairs} pairs of ${result.candidates} candidates`);
  console.log(JSON.stringify(result.manifest.diagnostics));
} finally {
  await server.close();
  disposeRewardModel(prm.model);
}
