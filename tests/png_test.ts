import assert from "node:assert/strict";
import { join } from "node:path";
import { decodePng, encodePng } from "../lib/core/png.ts";
import { findFfmpeg } from "../lib/videos/video.ts";
import { createRng } from "../lib/core/_rng.ts";
import { withTempDir } from "./_helpers.ts";

Deno.test("encodePng → decodePng round-trips random pixels", () => {
  const rng = createRng(3);
  for (const [w, h] of [[1, 1], [7, 3], [64, 33]]) {
    const rgb = Uint8Array.from({ length: w * h * 3 }, () => rng.int(256));
    const image = decodePng(encodePng(rgb, w, h));
    assert.deepEqual([image.width, image.height], [w, h]);
    assert.deepEqual(image.rgb, rgb);
  }
});

Deno.test("decodePng reads PNGs written by ffmpeg (filtered scanlines, RGB and RGBA)", async () => {
  const ffmpeg = await findFfmpeg();
  await withTempDir(async (dir) => {
    for (const pixFmt of ["rgb24", "rgba", "gray"]) {
      const path = join(dir, `${pixFmt}.png`);
      const made = await new Deno.Command(ffmpeg, {
        args: [
          "-nostdin",
          "-f",
          "lavfi",
          "-i",
          "testsrc2=size=48x32",
          "-frames:v",
          "1",
          "-pix_fmt",
          pixFmt,
          "-pred",
          "mixed",
          path,
        ],
        stdout: "null",
        stderr: "null",
      }).output();
      assert.equal(made.code, 0);
      const raw = await new Deno.Command(ffmpeg, {
        args: ["-nostdin", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        stdout: "piped",
        stderr: "null",
      }).output();
      const image = decodePng(await Deno.readFile(path));
      assert.deepEqual([image.width, image.height], [48, 32]);
      assert.deepEqual(image.rgb, raw.stdout, pixFmt);
    }
  });
});

Deno.test("bad PNG input is refused clearly", () => {
  assert.throws(() => decodePng(new Uint8Array([1, 2, 3])), /decodePng: Expected PNG bytes/);
  const png = encodePng(new Uint8Array(12), 2, 2);
  assert.throws(() => decodePng(png.subarray(0, 50)), /truncated/);
  assert.throws(() => encodePng(new Uint8Array(5), 2, 2), /Expected 12 RGB bytes/);
});
