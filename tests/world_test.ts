import assert from "node:assert/strict";
import {
  BACKGROUNDS,
  COLOR_NAMES,
  formatPrompt,
  GRAMMAR_WORDS,
  PALETTE,
  parsePrompt,
  promptSplits,
  renderClip,
  samplePrompt,
  SHAPE_NAMES,
} from "../lib/videos/world.ts";
import { createRng } from "../lib/core/_rng.ts";

Deno.test("parsePrompt round-trips every sampled prompt and normalises case", () => {
  const rng = createRng(5);
  for (let i = 0; i < 200; i++) {
    const p = samplePrompt(rng);
    assert.deepEqual(parsePrompt(p.text), p);
    assert.deepEqual(parsePrompt(`  ${p.text.toUpperCase()} `), p);
  }
  assert.equal(
    formatPrompt({
      count: 1,
      color: "orange",
      shape: "triangle",
      direction: "down",
      speed: "slowly",
      background: "black",
    }),
    "one orange triangle moving down slowly on a black background",
  );
});

Deno.test("parsePrompt names the unknown or misplaced word", () => {
  assert.throws(
    () => parsePrompt("two purple circles moving left quickly on a gray background"),
    /Expected only words of the ShapesWorld grammar.*but found "purple"/,
  );
  assert.throws(
    () => parsePrompt("one red circles moving left quickly on a gray background"),
    /word 3 to be a singular shape.*"circles"/,
  );
  assert.throws(
    () => parsePrompt("red one circle moving left quickly on a gray background"),
    /word 1 to be a count.*"red"/,
  );
  assert.throws(() => parsePrompt("one red circle"), /10-word form/);
  assert.ok(GRAMMAR_WORDS.includes("background"));
});

Deno.test("promptSplits holds out whole colour/shape combinations and is deterministic", () => {
  const a = promptSplits({ seed: 0 });
  const b = promptSplits({ seed: 0 });
  assert.deepEqual(a, b);
  const combo = (p: { color: string; shape: string }) => `${p.color}/${p.shape}`;
  const trainCombos = new Set(a.train.map(combo));
  const testCombos = new Set(a.test.map(combo));
  assert.equal(testCombos.size, 4);
  for (const c of testCombos) assert.ok(!trainCombos.has(c));
  for (const p of a.validation) assert.ok(trainCombos.has(combo(p)));
  // every colour and shape is still trained on
  for (const c of COLOR_NAMES) assert.ok(a.train.some((p) => p.color === c), c);
  for (const s of SHAPE_NAMES) assert.ok(a.train.some((p) => p.shape === s), s);
  assert.notDeepEqual(new Set(promptSplits({ seed: 1 }).test.map(combo)), testCombos);
});

Deno.test("renderClip: deterministic, in frame, right speed, anti-aliased, masks match pixels", () => {
  const prompt = parsePrompt("three green squares moving right quickly on a navy background");
  const a = renderClip(prompt, { seed: 11 });
  const b = renderClip(prompt, { seed: 11 });
  assert.deepEqual(a.video.frames, b.video.frames);
  assert.notDeepEqual(renderClip(prompt, { seed: 12 }).video.frames, a.video.frames);
  const { video, truth } = a;
  const S = 32, T = 16;
  assert.equal(video.numFrames, T);
  assert.equal(truth.masks.length, T * 3 * S * S);
  for (const o of truth.objects) {
    assert.equal(o.radius, 4);
    for (const c of o.centers) {
      assert.ok(c.x - o.radius >= 0 && c.x + o.radius <= S, `x ${c.x}`);
      assert.ok(c.y - o.radius >= 0 && c.y + o.radius <= S, `y ${c.y}`);
    }
    const dx = o.centers[1].x - o.centers[0].x;
    assert.ok(Math.abs(dx - 1.25) < 1e-9, `speed ${dx}`);
    assert.equal(o.centers[1].y, o.centers[0].y);
  }
  // partial coverage exists (anti-aliasing), and coverage-weighted colour is exact
  let partial = 0;
  const bg = BACKGROUNDS.navy, fg = PALETTE.green;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < S * S; i++) {
      let cov = 0;
      for (let k = 0; k < 3; k++) cov += truth.masks[(t * 3 + k) * S * S + i];
      if (cov > 0 && cov < 1) partial++;
      const expected = bg[1] * (1 - cov) + fg[1] * cov;
      assert.ok(Math.abs(video.frames[(t * S * S + i) * 3 + 1] - expected) < 1e-5);
    }
  }
  assert.ok(partial > 0);
});

Deno.test("renderClip works at 64x64 and scales speed with size", () => {
  const prompt = parsePrompt("one white circle moving up slowly on a black background");
  const { video, truth } = renderClip(prompt, { size: 64, frames: 8, seed: 2 });
  assert.equal(video.frames.length, 8 * 64 * 64 * 3);
  const c = truth.objects[0].centers;
  assert.ok(Math.abs(c[0].y - c[1].y - 1.0) < 1e-9);
  let covered = 0;
  for (let i = 0; i < 64 * 64; i++) covered += truth.masks[i];
  assert.ok(Math.abs(covered - Math.PI * 8 * 8) < 4, `area ${covered}`);
});

Deno.test("renderClip rejects bad options", () => {
  const prompt = samplePrompt(createRng(0));
  assert.throws(() => renderClip(prompt, { size: 3 }), /Expected size to be an integer/);
  assert.throws(() => renderClip({ ...prompt, color: "purple" as "red" }), /color one of/);
});
