import assert from "node:assert/strict";
import { judgeGeneric, judgeVideo } from "../lib/videos/judge.ts";
import { createVideo } from "../lib/videos/video.ts";
import { parsePrompt, renderClip, samplePrompt } from "../lib/videos/world.ts";
import { createRng } from "../lib/core/_rng.ts";
import { defectCases, GRID, topKHit } from "./_label_fixtures.ts";
import { SHARED_VIDEOS } from "./_helpers.ts";
import { loadVideo } from "../lib/videos/video.ts";

Deno.test("clean renders score high everywhere (40 random prompts, 32 and 64 px)", () => {
  const rng = createRng(21);
  for (let i = 0; i < 40; i++) {
    const prompt = samplePrompt(rng);
    const size = i % 4 === 0 ? 64 : 32;
    const { video } = renderClip(prompt, { seed: 100 + i, size });
    const j = judgeVideo(video, prompt.text, GRID);
    assert.equal(j.kind, "shapesworld");
    assert.deepEqual(
      j.video,
      { visual_quality: 4, temporal_consistency: 4, text_alignment: 4 },
      prompt.text,
    );
    const low = j.patches.filter((p) => Math.min(...Object.values(p.scores)) < 3);
    assert.deepEqual(low.map((p) => `${p.id} ${p.reason}`), [], `${prompt.text} (${size}px)`);
    assert.ok(j.checks!.countOk && j.checks!.colorOk && j.checks!.shapeOk && j.checks!.directionOk);
  }
});

Deno.test("injected defects are localised and explained", () => {
  const cases = defectCases(6, { seed: 31 });
  const hits = new Map<string, number[]>();
  const reasons: Record<string, RegExp> = {
    blur: /blurred/,
    color_bleed: /off-palette/,
    flicker: /flicker|off-palette/,
    missing_object: /missing/,
    extra_object: /unexpected object/,
    frozen: /frozen/,
  };
  for (const c of cases) {
    const j = judgeVideo(c.video, c.prompt, GRID);
    hits.set(c.kind, [...(hits.get(c.kind) ?? []), topKHit(j.patches, c.affected)]);
    const reasonHits = c.affected.filter((p) => reasons[c.kind].test(j.patches[p].reason)).length;
    assert.ok(
      reasonHits >= 1,
      `${c.kind}: ${c.affected.map((p) => j.patches[p].reason).join(" | ")}`,
    );
  }
  const summary = [...hits].map(([k, v]) =>
    `${k}=${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(2)}`
  );
  console.log(`reference judge top-k hit rate: ${summary.join(", ")}`);
  for (const [kind, v] of hits) assert.ok(v.reduce((a, b) => a + b, 0) / v.length >= 0.8, kind);
});

Deno.test("wrong colour, shape, count and direction lower text alignment", () => {
  const grid = GRID;
  const render = (text: string) => renderClip(parsePrompt(text), { seed: 5 }).video;
  const video = render("two red circles moving left quickly on a gray background");
  for (
    const [claim, check] of [
      ["two blue circles moving left quickly on a gray background", "colorOk"],
      ["two red squares moving left quickly on a gray background", "shapeOk"],
      ["three red circles moving left quickly on a gray background", "countOk"],
      ["two red circles moving right quickly on a gray background", "directionOk"],
    ] as const
  ) {
    const j = judgeVideo(video, claim, grid);
    assert.equal(j.checks![check], false, claim);
    assert.ok(j.video.text_alignment <= 3, claim);
  }
});

Deno.test("non-ShapesWorld prompts get generic statistics on real footage", async () => {
  const video = await loadVideo(`${SHARED_VIDEOS}rabbit.gif`);
  const j = judgeVideo(video, "A rabbit, low-poly game art style", GRID);
  assert.equal(j.kind, "generic");
  assert.equal(j.patches.length, 64);
  assert.ok(j.patches.every((p) => p.scores.text_alignment === 3));
  // A patch smoothed flat is the softest.
  const frames = new Float32Array(video.frames);
  const { width: W, height: H } = video;
  for (let t = 0; t < 4; t++) {
    for (let y = 0; y < H / 4; y++) {
      for (let x = 0; x < W / 4; x++) {
        frames.fill(0.5, ((t * H + y) * W + x) * 3, ((t * H + y) * W + x) * 3 + 3);
      }
    }
  }
  const flat = judgeGeneric(createVideo({ ...video, frames }), GRID);
  assert.equal(flat.patches[0].scores.visual_quality, 1);
});

Deno.test("bad input names what was expected", () => {
  const video = createVideo({
    frames: new Float32Array(4 * 8 * 8 * 3),
    numFrames: 4,
    height: 8,
    width: 8,
  });
  assert.throws(
    () => judgeVideo(video, "x", { rows: 16, cols: 1, framesPerPatch: 1 }),
    /Expected a grid no finer/,
  );
  assert.throws(
    () =>
      judgeVideo(video, "one red circle moving left slowly on a black background", GRID, {
        frameTimes: [0],
      }),
    /Expected 4 frameTimes/,
  );
});
