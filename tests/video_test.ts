import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  createVideo,
  findFfmpeg,
  loadVideo,
  saveVideo,
  videoFromTensor,
  videoToTensor,
} from "../lib/videos/video.ts";
import { SHARED_VIDEOS, smoothVideo, withTempDir } from "./_helpers.ts";

const GIFS = ["child.gif", "couple.gif", "duck.gif", "rabbit.gif"];

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

Deno.test("loadVideo decodes every real text-to-video GIF at 512×320, 16 frames, values in [0, 1]", async () => {
  for (const file of GIFS) {
    const video = await loadVideo(join(SHARED_VIDEOS, file));
    assert.equal(video.numFrames, 16, file);
    assert.equal(video.width, 512, file);
    assert.equal(video.height, 320, file);
    assert.equal(video.frames.length, 16 * 320 * 512 * 3);
    let min = Infinity, max = -Infinity;
    for (const v of video.frames) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.ok(min >= 0 && max <= 1, `${file}: range [${min}, ${max}]`);
    assert.ok(max - min > 0.5, `${file}: a real video has contrast`);
    assert.ok(video.fps > 0);
  }
});

Deno.test("real GIFs round-trip through saveVideo/loadVideo as mp4 and re-sample to 8 frames of 64×64", async () => {
  await withTempDir(async (dir) => {
    for (const file of GIFS) {
      const small = await loadVideo(join(SHARED_VIDEOS, file), { frames: 8, size: 64 });
      assert.deepEqual([small.numFrames, small.height, small.width], [8, 64, 64]);
      const full = await loadVideo(join(SHARED_VIDEOS, file));
      const path = join(dir, file.replace(".gif", ".mp4"));
      await saveVideo(full, path);
      const back = await loadVideo(path);
      assert.deepEqual([back.numFrames, back.height, back.width], [16, 320, 512]);
      const err = meanAbsDiff(full.frames, back.frames);
      // The GIFs are dithered, so H.264 at crf 12 loses some of the dither noise.
      assert.ok(err < 0.08, `${file}: mean abs error after mp4 round trip ${err}`);
    }
  });
});

Deno.test("sub-sampling keeps evenly spaced frames including the first and last", async () => {
  await withTempDir(async (dir) => {
    const frames = new Float32Array(16 * 16 * 16 * 3);
    for (let t = 0; t < 16; t++) frames.fill(t / 15, t * 768, (t + 1) * 768);
    const path = join(dir, "ramp.mp4");
    await saveVideo(createVideo({ frames, numFrames: 16, height: 16, width: 16, fps: 16 }), path, {
      crf: 0,
    });
    const video = await loadVideo(path, { frames: 4 });
    const levels = Array.from({ length: 4 }, (_, t) => Math.round(video.frames[t * 768] * 15));
    assert.deepEqual(levels, [0, 5, 10, 15]);
    assert.equal(video.fps, 16 * 3 / 15);
  });
});

Deno.test("saveVideo writes gif and webm that decode to the same size", async () => {
  await withTempDir(async (dir) => {
    const video = smoothVideo(8, 32, 48);
    for (const ext of ["gif", "webm", "mp4"]) {
      const path = join(dir, `clip.${ext}`);
      await saveVideo(video, path);
      const back = await loadVideo(path);
      assert.deepEqual([back.numFrames, back.height, back.width], [8, 32, 48], ext);
      assert.ok(meanAbsDiff(video.frames, back.frames) < 0.05, ext);
    }
    const entries = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(
      entries,
      ["clip.gif", "clip.mp4", "clip.webm"],
      "no temporary files are left behind",
    );
  });
});

Deno.test("odd frame sizes survive an mp4 round trip", async () => {
  await withTempDir(async (dir) => {
    const video = smoothVideo(4, 33, 35);
    await saveVideo(video, join(dir, "odd.mp4"));
    const back = await loadVideo(join(dir, "odd.mp4"));
    assert.deepEqual([back.height, back.width], [33, 35]);
  });
});

Deno.test("paths with spaces and shell metacharacters are plain file names", async () => {
  await withTempDir(async (dir) => {
    const name = join(dir, "a b;$(touch PWNED)'`x`&|-i.mp4");
    await saveVideo(smoothVideo(4, 16, 16), name);
    const video = await loadVideo(name);
    assert.equal(video.numFrames, 4);
    assert.equal(video.source, name);
    const entries = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(!entries.includes("PWNED"), "no shell ran");
    await assert.rejects(() => loadVideo(join(dir, "-")), /no file at that path/);
  });
});

Deno.test("bad input gives clear errors naming the file", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => loadVideo(join(dir, "missing.mp4")),
      /missing\.mp4.*Expected a video file but found no file/,
    );
    await Deno.writeTextFile(join(dir, "notes.mp4"), "this is not a video at all\n".repeat(20));
    await assert.rejects(
      () => loadVideo(join(dir, "notes.mp4")),
      /notes\.mp4.*Expected a decodable video.*Invalid data/,
    );
    await Deno.writeFile(join(dir, "empty.gif"), new Uint8Array());
    await assert.rejects(() => loadVideo(join(dir, "empty.gif")), /empty\.gif.*empty file/);
    const gif = await Deno.readFile(join(SHARED_VIDEOS, "duck.gif"));
    await Deno.writeFile(join(dir, "truncated.gif"), gif.subarray(0, 3000));
    await assert.rejects(
      () => loadVideo(join(dir, "truncated.gif")),
      /truncated\.gif.*(0 frames|failed)/,
    );
    await saveVideo(smoothVideo(8, 32, 32), join(dir, "whole.mp4"));
    const mp4 = await Deno.readFile(join(dir, "whole.mp4"));
    await Deno.writeFile(join(dir, "cut.mp4"), mp4.subarray(0, Math.floor(mp4.length / 2)));
    await assert.rejects(() => loadVideo(join(dir, "cut.mp4")), /cut\.mp4/);
    await assert.rejects(() => loadVideo(dir), /directory/);
    await assert.rejects(
      () => loadVideo(join(SHARED_VIDEOS, "duck.gif"), { frames: 17 }),
      /at most 16 frames/,
    );
    await assert.rejects(() => loadVideo(join(SHARED_VIDEOS, "duck.gif"), { size: 0 }), /size/);
    await assert.rejects(
      () => saveVideo(smoothVideo(2, 8, 8), join(dir, "clip.avi")),
      /\.mp4, \.mov, \.gif or \.webm/,
    );
  });
});

Deno.test("a video without video frames (audio only) is refused clearly", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "audio only.mp4");
    const ffmpeg = await findFfmpeg();
    const out = await new Deno.Command(ffmpeg, {
      args: [
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono",
        "-t",
        "0.5",
        "-c:a",
        "aac",
        `file:${path}`,
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(out.code, 0);
    await assert.rejects(
      () => loadVideo(path),
      /audio only\.mp4.*Expected a video stream but found none/,
    );
  });
});

Deno.test("a named pipe is refused without hanging", async () => {
  await withTempDir(async (dir) => {
    const fifo = join(dir, "pipe.mp4");
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(made.code, 0);
    await assert.rejects(() => loadVideo(fifo), /special file/);
  });
});

Deno.test("createVideo validates sizes and values; tensors convert both ways", async () => {
  assert.throws(
    () => createVideo({ frames: new Float32Array(10), numFrames: 1, height: 2, width: 2 }),
    /Expected 12 values for 1×2×2×3 but found "10 values"/,
  );
  const bad = new Float32Array(12);
  bad[5] = NaN;
  assert.throws(
    () => createVideo({ frames: bad, numFrames: 1, height: 2, width: 2 }),
    /pixel values in \[0, 1\]/,
  );
  const video = smoothVideo(2, 4, 6);
  const before = tf.memory().numTensors;
  const t = videoToTensor(video);
  assert.deepEqual(t.shape, [2, 4, 6, 3]);
  const back = await videoFromTensor(t, { fps: 8 });
  t.dispose();
  assert.deepEqual(back.frames, video.frames);
  assert.equal(tf.memory().numTensors, before);
  const flat = tf.zeros([2, 4, 4]);
  await assert.rejects(() => videoFromTensor(flat), /shape \[T, H, W, 3\]/);
  flat.dispose();
});
