/**
 * A reproduction output folder for report tests: the real `videos`, `world`
 * and `labels` stages (run here, seconds), the reward stage's result rebuilt
 * from the shipped `data/reward` numbers, and — until the Gran-DPO stages land —
 * `dpo` and `eval` results written in the shapes `lib/report/report.ts` documents,
 * with real logs, pictures and clips of ShapesWorld.
 */
import { join } from "node:path";
import { injectDefect } from "../lib/videos/defects.ts";
import { judgeVideo } from "../lib/videos/judge.ts";
import { parseGrid } from "../lib/videos/patch.ts";
import { videoSheet } from "../lib/videos/sheet.ts";
import { reproduce } from "../lib/reproduce/reproduce.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { saveVideo } from "../lib/videos/video.ts";
import { SHARED_VIDEOS } from "./_helpers.ts";

const DATA = new URL("../data/reward/", import.meta.url).pathname;

/** Methods of the results table, as the eval stage names them. */
export const METHODS = [
  "Base",
  "Diffusion-DPO (video)",
  "Gran-DPO patch-only",
  "HALO (video + patch)",
];
/** Headline metrics of the fixture's results table (keys of `results.json`). */
export const METRICS = ["shapesbench", "evaluator", "defectsFixed", "defectivePatches"];
/** ShapesBench dimensions of the fixture. */
export const DIMENSIONS = ["color", "count"];

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2));
}

/**
 * Writes the dpo and eval stage results under `root` in the shapes the lead's stages write:
 * runs `{method, seed, dir}` with logs at `<dir>.log.jsonl`, and `results: [json, md]` files
 * beside `root` holding `{rows: [{method, seeds, metrics: {key: interval}}], claims}`.
 */
export async function writeDpoEvalFixture(root: string): Promise<void> {
  const dpo = join(root, "dpo");
  await Deno.mkdir(dpo, { recursive: true });
  const runs = [];
  for (const [m, method] of ["dpo", "patch-only", "grandpo"].entries()) {
    for (const seed of [0, 1]) {
      const log = Array.from({ length: 20 }, (_, i) => ({
        step: (i + 1) * 5,
        seconds: i,
        loss: 0.69 * Math.exp(-i / (8 + m)) + 0.01 * seed,
        "rewards/accuracies": Math.min(1, 0.5 + i * 0.02 + m * 0.01),
        "rewards/margins": i * 0.01 * (m + 1),
        "rewards/chosen": -0.1 + i * 0.003,
        "rewards/rejected": -0.1 - i * 0.003,
        ...(m > 0 ? { "patch/accuracies": 0.5 + i * 0.015 } : {}),
      }));
      const dir = join(dpo, `${method}-seed-${seed}`);
      await Deno.writeTextFile(
        `${dir}.log.jsonl`,
        log.map((r) => JSON.stringify(r)).join("\n") + "\n",
      );
      runs.push({ method, seed, dir, seconds: 20, recent: log.at(-1) });
    }
  }
  const pairs = {
    settings: {
      prompts: 8,
      candidates: 2,
      steps: 4,
      sharedNoise: true,
      eta: 0.5,
      pairing: "best-worst",
      margin: 0,
    },
    counts: { pairs: 8, candidates: 16 },
    diagnostics: {
      judgeAgreesWithVideoDirectionWhereItDiffers: 0.6,
      judgeTiesVideo: 0.375,
      judgeAgreesWithPatchDirection: 0.5,
      judgeTiesPatchDirection: 0.25,
    },
  };
  await writeJson(join(dpo, "result.json"), { stage: "dpo", profile: "tiny", runs, pairs });

  const ev = join(root, "eval");
  await Deno.mkdir(ev, { recursive: true });
  const interval = (estimate: number) => ({
    estimate,
    lo: estimate - 0.03,
    hi: estimate + 0.04,
    resamples: 100,
  });
  const rows = METHODS.map((method, k) => ({
    method,
    seeds: k ? 2 : 1,
    metrics: Object.fromEntries(
      [...METRICS, ...DIMENSIONS].map((key, j) => [
        key,
        interval(
          key === "defectsFixed" || key === "defectivePatches"
            ? 0.4 - 0.05 * k
            : 0.5 + 0.04 * k + j / 10,
        ),
      ]),
    ),
  }));
  const claims = [{ claim: "HALO above Base (ShapesBench)", holds: true }, {
    claim: "HALO cuts the defective patches by at least 30% relative to Base",
    holds: false,
  }];
  const resultsJson = join(root, "..", "results.json");
  await writeJson(resultsJson, { rows, claims, baseMedian: 3, config: {} });
  await Deno.writeTextFile(join(root, "..", "results.md"), "# results\n");
  const grid = parseGrid("4x4x4");
  const text = "two red circles moving left quickly on a gray background";
  const clean = renderClip(parsePrompt(text), { seed: 2 }).video;
  const damaged = injectDefect(clean, { kind: "extra_object", grid, patches: [21] }).video;
  await saveVideo(damaged, join(ev, "worst-1.gif"));
  await saveVideo(clean, join(ev, "fixed-0-halo.gif"));
  const judged = judgeVideo(damaged, text, grid);
  await Deno.writeFile(join(ev, "before.png"), videoSheet([clean, damaged], { frames: 4 }));
  await writeJson(join(ev, "result.json"), {
    stage: "eval",
    results: [resultsJson, join(root, "..", "results.md")],
    claims,
    distributions: METHODS.map((name, k) => ({
      metric: "defect share",
      name,
      values: Array.from({ length: 32 }, (_, i) => ((i * 7 + k) % 10) / 10),
    })),
    sheets: [{ title: "before and after post-training", path: join(ev, "before.png") }],
    worstClips: [{
      title: `HALO: ${text}`,
      video: "worst-1.gif",
      grid: "4x4x4",
      patches: judged.patches,
      labels: judged.patches,
      scorer: "reference judge",
    }],
    // Base (the damaged clip) and HALO (the clean render) from the "same noise"
    fixedPairs: [{
      title: `"${text}": HALO fixed the extra object`,
      grid: "4x4x4",
      base: { name: "Base", video: "worst-1.gif", labels: judged.patches },
      method: {
        name: "HALO seed 0",
        video: "fixed-0-halo.gif",
        labels: judgeVideo(clean, text, grid).patches,
      },
    }],
  });
}

/** Runs the fast real stages into `root` and adds the reward, dpo and eval results. */
export async function writeReportFixture(root: string): Promise<void> {
  await reproduce({
    outDir: root,
    only: ["videos", "world", "labels"],
    videosDir: SHARED_VIDEOS,
    log: () => {},
  });
  const report = JSON.parse(await Deno.readTextFile(join(DATA, "report.json")));
  const efficiency = JSON.parse(
    await Deno.readTextFile(join(DATA, "efficiency-v1", "efficiency.json")),
  );
  await writeJson(join(root, "reward", "seed-0", "report.json"), report);
  await writeJson(join(root, "reward", "result.json"), {
    stage: "reward",
    agreement: report.agreement,
    targets: report.targets,
    distributions: report.distributions,
    efficiency,
  });
  await writeDpoEvalFixture(root);
}
