import assert from "node:assert/strict";
import { join } from "node:path";
import { parseCli } from "../lib/cli/_flags.ts";
import { inspectCommand } from "../lib/cli/inspect.ts";
import { inspectVideos } from "../lib/report/inspect.ts";
import { startJudgeServer } from "../lib/labels/judge_server/server.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { saveVideo } from "../lib/videos/video.ts";
import { trainRewardFromLabels } from "../lib/reward/from_labels.ts";
import { createRewardModel, disposeRewardModel } from "../lib/reward/model.ts";
import { saveRewardModel } from "../lib/reward/io.ts";
import { SHARED_VIDEOS, withTempDir } from "./_helpers.ts";

const TEXT = "one red circle moving left slowly on a black background";

Deno.test("inspect: a file that is not a video gets a clear error, the rest are inspected, a rerun makes no call", async () => {
  await withTempDir(async (dir) => {
    const videos = join(dir, "mine");
    await Deno.mkdir(videos);
    await saveVideo(renderClip(parsePrompt(TEXT), { seed: 1 }).video, join(videos, "a.gif"));
    await saveVideo(renderClip(parsePrompt(TEXT), { seed: 2 }).video, join(videos, "b.mp4"));
    await Deno.writeTextFile(join(videos, "c.webm"), "not a video at all");
    await Deno.writeTextFile(join(videos, "notes.txt"), "ignored: not a video extension");
    const server = startJudgeServer({ port: 0 });
    try {
      const first = await inspectVideos(videos, {
        prompt: TEXT,
        baseURL: server.url,
        quiet: true,
        prm: null,
      });
      assert.equal(first.out, `${videos}-report.html`);
      assert.deepEqual(first.videos.map((v) => v.file), ["a.gif", "b.mp4", "c.webm"]);
      assert.deepEqual(first.videos.map((v) => Boolean(v.figure)), [true, true, false]);
      assert.match(
        first.videos[2].error!,
        /^c\.webm: loadVideo\(.*\): Expected a decodable video but ffmpeg failed/,
      );
      assert.equal(first.calls, 2);
      assert.equal(server.stats.chat, 2);
      const html = await Deno.readTextFile(first.out);
      assert.match(html, /<li class="error">c\.webm: /);
      assert.match(html, /No patch reward model/);
      assert.equal((html.match(/class="halo-figure"/g) ?? []).length, 2);
      const again = await inspectVideos(videos, {
        prompt: TEXT,
        baseURL: server.url,
        quiet: true,
        prm: null,
      });
      assert.equal(again.calls, 0);
      assert.equal(again.cached, 2);
      assert.equal(server.stats.chat, 2, "no request on the rerun");
    } finally {
      await server.close();
    }
  });
});

Deno.test("inspect: the shipped PRM scores the heatmaps; a short clip keeps all its frames", async () => {
  await withTempDir(async (dir) => {
    const clip = renderClip(parsePrompt(TEXT), { seed: 3 }).video;
    await saveVideo(clip, join(dir, "short.gif"));
    await Deno.writeTextFile(
      join(dir, "prompts.json"),
      JSON.stringify({ videos: [{ file: "short.gif", prompt: TEXT }] }),
    );
    const server = startJudgeServer({ port: 0 });
    try {
      const report = await inspectVideos(dir, {
        baseURL: server.url,
        out: join(dir, "r.html"),
        frames: 64,
        quiet: true,
      });
      const v = report.videos[0];
      assert.equal(report.prm, "data/reward/prm");
      assert.equal(v.shape!.frames, clip.numFrames);
      assert.equal(v.prm!.length, 64);
      assert.match(String((v.figure!.data[0].text as string[][])[0][0]), /PRM: visual [\d.]+/);
      // the shipped PRM was trained on ShapesWorld clips: it ranks this ShapesWorld clip
      assert.equal(v.rankedBy, "PRM");
      assert.match(
        v.caveat!,
        /^Ranked by the PRM data\/reward\/prm, trained on (\d+ )?ShapesWorld clips/,
      );
    } finally {
      await server.close();
    }
  });
});

Deno.test("inspect: a folder without prompts.json and without --prompt is refused, naming both", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => inspectVideos(dir, { quiet: true }),
      /Expected a prompts\.json .* or --prompt for every video but found "neither"/,
    );
    await assert.rejects(
      () => inspectVideos(join(dir, "nope")),
      /inspectVideos: Expected a folder of videos/,
    );
    const defaults = parseCli([], inspectCommand.spec); // what the CLI passes without flags
    await assert.rejects(() => inspectCommand.run(defaults), /inspect: Expected --videos DIR/);
  });
});

Deno.test("inspect: on real clips the labeller ranks the patches and the shipped PRM is beside it with a caveat; a PRM trained on their labels ranks them", async () => {
  await withTempDir(async (dir) => {
    const server = startJudgeServer({ port: 0 });
    const labels = join(dir, "real.labels.jsonl");
    try {
      const shipped = await inspectVideos(SHARED_VIDEOS, {
        baseURL: server.url,
        out: join(dir, "shipped.html"),
        labels,
        quiet: true,
      });
      assert.equal(shipped.prm, "data/reward/prm");
      assert.equal(shipped.prmTrainedOn?.kind, "shapesworld");
      for (const v of shipped.videos) {
        assert.equal(v.rankedBy, "labeller", v.file);
        assert.equal(v.prm!.length, 64, "the PRM's scores are still there, beside");
        assert.match(
          v.caveat!,
          /^Ranked by the labeller \(gpt-4o\)\. The PRM scores beside it are data\/reward\/prm's, trained on (\d+ )?ShapesWorld clips of 16 frames of 32×32 .*not on labels of video files like this one.*null prompt/,
        );
        // the heatmap is the labeller's: its worst patch is the labeller's worst
        const z = (v.figure!.data as Array<{ z?: number[][] }>).filter((t) => t.z).flatMap((t) =>
          t.z!.flat()
        );
        const labelMeans = v.labels!.map((p) =>
          (p.scores.visual_quality + p.scores.temporal_consistency + p.scores.text_alignment) / 3
        );
        assert.deepEqual(z.slice().sort((a, b) => a - b), labelMeans.slice().sort((a, b) => a - b));
      }
      const html = await Deno.readTextFile(shipped.out);
      assert.match(html, /<th>ranked by<\/th>/);
      assert.doesNotMatch(html, /<td>PRM<\/td>/, "no row of the table is ranked by the toy PRM");
      assert.match(html, /<td>labeller<\/td>/);
      assert.match(html, /class="caveat">Ranked by the labeller/);

      // A PRM made with `train-rm --labels` on these videos' labels qualifies for them.
      const trained = await trainRewardFromLabels(labels, {
        videos: SHARED_VIDEOS,
        out: join(dir, "rm"),
        videoSteps: 2,
        patchSteps: 2,
        batchSize: 4,
        quiet: true,
      });
      const own = await inspectVideos(SHARED_VIDEOS, {
        baseURL: server.url,
        out: join(dir, "own.html"),
        labels,
        prm: trained.checkpoints.prm,
        quiet: true,
      });
      assert.equal(own.calls, 0, "the labels came from the cache");
      assert.equal(own.prmTrainedOn?.kind, "labels");
      for (const v of own.videos) {
        assert.equal(v.rankedBy, "PRM", v.file);
        assert.match(
          v.caveat!,
          /^Ranked by the PRM .*rm\/prm, trained on the labels in .*real\.labels\.jsonl of 4 video files/,
        );
      }
      assert.match(await Deno.readTextFile(own.out), /<td>PRM<\/td>/);
    } finally {
      await server.close();
    }
  });
});

Deno.test("inspect: a PRM whose checkpoint records nothing of its training data ranks no clip", async () => {
  await withTempDir(async (dir) => {
    const videos = join(dir, "clips");
    await Deno.mkdir(videos);
    await saveVideo(renderClip(parsePrompt(TEXT), { seed: 4 }).video, join(videos, "a.gif"));
    const model = createRewardModel({ dim: 16, depth: 1, heads: 2 });
    await saveRewardModel(join(dir, "prm"), model, { meta: { stage: "patch" } });
    disposeRewardModel(model);
    const server = startJudgeServer({ port: 0 });
    try {
      const report = await inspectVideos(videos, {
        prompt: TEXT,
        baseURL: server.url,
        prm: join(dir, "prm"),
        quiet: true,
      });
      assert.deepEqual(report.prmTrainedOn, { kind: "unknown" });
      const v = report.videos[0];
      assert.equal(v.rankedBy, "labeller");
      assert.match(v.caveat!, /trained on data its checkpoint does not record: not on labels/);
      assert.match(
        String((v.figure!.data[0].text as string[][])[0][0]),
        /labeller: visual \d.*PRM \(not trained on clips like this\): visual [\d.]+/s,
      );
    } finally {
      await server.close();
    }
  });
});
