/**
 * The labels → reward hand-off: `deno task label` (the real CLI, through the real
 * `openai` client over HTTP to a judge server on loopback) writes a label file, and
 * `deno task train-rm --labels FILE [--videos DIR]` trains the VRM and continues it
 * into a PRM on it, recording what it was trained on.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { runCli } from "../lib/cli/_flags.ts";
import { trainRmCommand } from "../lib/cli/train_rm.ts";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { labelTask, shapesSource } from "../lib/labels/folder.ts";
import { readCheckpointManifest } from "../lib/tensor/checkpoint.ts";
import { readLabelledClips, trainRewardFromLabels } from "../lib/reward/from_labels.ts";
import { judgesClipsOf, readTrainedOn } from "../lib/reward/trained_on.ts";
import { loadVideo, saveVideo } from "../lib/videos/video.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { MAIN, SHARED_VIDEOS, TASK_PERMISSIONS, withTempDir } from "./_helpers.ts";

await initBackend();

/** Runs `deno task label …` as the task does, in a child process. */
async function labelCli(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, MAIN, "label", "--quiet", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  assert.match(text, /failed 0/);
}

async function trainRm(argv: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...xs: unknown[]) => void lines.push(xs.join(" "));
  try {
    const code = await runCli(["train-rm", ...argv], { "train-rm": trainRmCommand });
    return { code, text: lines.join("\n") };
  } finally {
    Object.assign(console, { log, error });
  }
}

const TINY = ["--video-steps", "3", "--patch-steps", "3", "--batch-size", "4", "--quiet"];

Deno.test("train-rm --labels: ShapesWorld clips labelled by `label --shapes 8 --batch` through the judge server", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0, noise: 0.6, seed: 1 });
    const labels = join(dir, "shapes.jsonl");
    try {
      await labelCli([
        "--shapes",
        "8",
        "--batch",
        "--poll-ms",
        "20",
        "--out",
        labels,
        "--base-url",
        server.url,
      ]);
    } finally {
      await server.close();
    }
    assert.equal(server.stats.batchLines, 8, "labelled through the Batch API");
    assert.equal(server.stats.chat, 0);

    // The clips are rendered again from their sources, exactly as they were labelled.
    const { examples, trainedOn } = await readLabelledClips(labels);
    assert.equal(examples.length, 8);
    assert.deepEqual(trainedOn, {
      kind: "labels",
      file: labels,
      videos: null,
      clips: 8,
      grid: "4x4x4",
      domain: "shapesworld",
    });
    const source = shapesSource(8);
    for (const e of examples) {
      const i = Number(/^shapes:0:(\d+):/.exec(e.video.source)![1]);
      const item = await source.load(i);
      assert.equal(e.prompt, item.prompt);
      assert.deepEqual(e.video.frames, item.video.frames);
      assert.equal(e.labels.patches.length, 64);
    }

    const out = join(dir, "rm");
    const { code, text } = await trainRm(["--labels", labels, "--out", out, ...TINY]);
    assert.equal(code, 0, text);
    assert.match(text, /trained on the labels in .*shapes\.jsonl of 8 ShapesWorld clips/);
    for (const stage of ["vrm", "prm"]) {
      const manifest = await readCheckpointManifest(join(out, stage));
      assert.equal(manifest.step, 3);
      assert.equal(manifest.meta.stage, stage === "vrm" ? "video" : "patch");
      assert.deepEqual(manifest.meta.trainedOn, trainedOn);
    }
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.ok(Number.isFinite(report.finalLoss.prm) && report.finalLoss.prm > 0);
    const record = readTrainedOn((await readCheckpointManifest(join(out, "prm"))).meta);
    assert.equal(judgesClipsOf(record, "shapesworld"), true);
    assert.equal(judgesClipsOf(record, "videos"), false);

    // Lengths as passes over the labelled clips: 8 clips at 4 a step.
    const passes = join(dir, "rm-epochs");
    const byEpochs = await trainRm([
      ...["--labels", labels, "--out", passes, "--video-epochs", "0.5", "--patch-epochs", "1"],
      ...["--batch-size", "4", "--quiet"],
    ]);
    assert.equal(byEpochs.code, 0, byEpochs.text);
    assert.equal((await readCheckpointManifest(join(passes, "vrm"))).step, 1);
    assert.equal((await readCheckpointManifest(join(passes, "prm"))).step, 2);
    await assert.rejects(
      trainRewardFromLabels(labels, { out: passes, videoSteps: 1, videoEpochs: 1 }),
      /trainRewardFromLabels: Expected videoSteps or videoEpochs, not both/,
    );

    // A checkpoint trained on other data is never resumed from.
    const other = join(dir, "other.jsonl");
    await Deno.writeTextFile(other, (await Deno.readTextFile(labels)).split("\n")[0] + "\n");
    const refused = await trainRm(["--labels", other, "--out", out, ...TINY]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.text,
      /vrm\/config\.json: Expected a checkpoint trained on .*other\.jsonl/,
    );
  });
});

Deno.test("train-rm --labels --videos: the real VideoCrafter2 GIFs, labelled directly, resized to the model", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0 });
    const labels = join(dir, "real.jsonl");
    try {
      await labelCli([
        "--videos",
        SHARED_VIDEOS,
        "--frames",
        "16",
        "--out",
        labels,
        "--base-url",
        server.url,
      ]);
    } finally {
      await server.close();
    }
    const { examples, trainedOn } = await readLabelledClips(labels, { videos: SHARED_VIDEOS });
    assert.equal(examples.length, 4);
    assert.equal(trainedOn.domain, "videos");
    const duck = examples.find((e) => e.video.source.endsWith("duck.gif"))!;
    assert.deepEqual([duck.video.numFrames, duck.video.height, duck.video.width], [16, 32, 32]);
    // Box-filtered down, the frame keeps the real clip's mean colour.
    const full = await loadVideo(join(SHARED_VIDEOS, "duck.gif"), { frames: 16 });
    const mean = (xs: Float32Array) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(Math.abs(mean(duck.video.frames) - mean(full.frames)) < 0.02);

    const out = join(dir, "rm");
    const { code, text } = await trainRm([
      "--labels",
      labels,
      "--videos",
      SHARED_VIDEOS,
      "--out",
      out,
      ...TINY,
    ]);
    assert.equal(code, 0, text);
    assert.match(text, /of 4 video files in /);
    const meta = (await readCheckpointManifest(join(out, "prm"))).meta;
    assert.equal(judgesClipsOf(readTrainedOn(meta), "videos"), true);
    assert.equal(judgesClipsOf(readTrainedOn(meta), "shapesworld"), false);
  });
});

Deno.test("train-rm --labels: clear errors for no patches, another grid, a missing video, no --videos", async () => {
  await withTempDir(async (dir) => {
    const empty = join(dir, "empty.jsonl");
    await Deno.writeTextFile(empty, "");
    await assert.rejects(
      readLabelledClips(empty),
      /empty\.jsonl: Expected patch labels \(a label file written by `deno task label`\) but found "no label records"/,
    );
    const shapes = join(dir, "shapes.jsonl");
    await labelTask({ shapes: 1, out: shapes, judge: true, quiet: true });
    const record = JSON.parse((await Deno.readTextFile(shapes)).trim());
    const noPatches = join(dir, "no-patches.jsonl");
    await Deno.writeTextFile(
      noPatches,
      JSON.stringify({ ...record, labels: { ...record.labels, patches: [] } }) + "\n",
    );
    await assert.rejects(
      readLabelledClips(noPatches),
      /but found "no patches in its 1 record\(s\)"/,
    );

    const coarse = join(dir, "coarse.jsonl");
    await labelTask({
      shapes: 1,
      out: coarse,
      judge: true,
      quiet: true,
      grid: { rows: 2, cols: 2, framesPerPatch: 4 },
    });
    await assert.rejects(
      readLabelledClips(coarse),
      /coarse\.jsonl line 1 \("shapes:0:0:size=32:frames=16"\): Expected labels of the reward model's grid 4x4x4 \(label with --grid 4x4x4\) but found "labels of grid 2x2x4"/,
    );
    const long = join(dir, "long.jsonl");
    await labelTask({ shapes: 1, frames: 32, out: long, judge: true, quiet: true });
    await assert.rejects(
      readLabelledClips(long),
      /Expected 64 patches: grid 4x4x4 over the reward model's 16 frames \(label with --frames 16\) but found "128 patches"/,
    );

    // Video files: one named in the labels is missing from the folder.
    const videos = join(dir, "mine");
    await Deno.mkdir(videos);
    const text = "one red circle moving left slowly on a black background";
    for (const [i, name] of ["a.gif", "b.mp4"].entries()) {
      await saveVideo(renderClip(parsePrompt(text), { seed: i + 1 }).video, join(videos, name));
    }
    await Deno.writeTextFile(
      join(videos, "prompts.json"),
      JSON.stringify({ videos: ["a.gif", "b.mp4"].map((file) => ({ file, prompt: text })) }),
    );
    const files = join(dir, "files.jsonl");
    await labelTask({ videos, out: files, judge: true, quiet: true });
    assert.equal((await readLabelledClips(files, { videos })).examples.length, 2);
    await assert.rejects(
      readLabelledClips(files),
      /Expected --videos DIR, the folder of the labelled video files but found "none given"/,
    );
    await Deno.remove(join(videos, "b.mp4"));
    await assert.rejects(
      readLabelledClips(files, { videos }),
      /files\.jsonl line 2 \(".*b\.mp4"\): Expected the labelled video "b\.mp4" in .*mine but found "no such file"/,
    );

    // The CLI refuses flags of the ShapesWorld experiment with --labels, and --videos without it.
    const seeds = await trainRm(["--labels", shapes, "--seeds", "0,1"]);
    assert.equal(seeds.code, 1);
    assert.match(seeds.text, /train-rm --labels: Expected no --seeds but found "0,1"/);
    const noise = await trainRm(["--labels", shapes, "--shared-noise"]);
    assert.equal(noise.code, 1);
    assert.match(noise.text, /train-rm --labels: Expected no --shared-noise but found true/);
    const lone = await trainRm(["--videos", videos]);
    assert.equal(lone.code, 1);
    assert.match(lone.text, /train-rm: Expected --videos only with --labels/);
  });
});
