/**
 * Why a clip fails the judge's colour check (issue 21: post-training loses colour). The check
 * passes a clip when at least 80% of its object-like pixels (0.25 or more from the background
 * colour) lie within 0.15 of the line from the background to the prompt's colour: a soft edge or a
 * dim copy of the colour passes, a pixel of another hue or a grey one fails. For each model this
 * samples again the very clips an evaluation measured (`evaluationClip`: same prompt, same noise)
 * and reports, per clip and by the prompt's shape: the colour share, object-like and off-line
 * pixels per frame, and how many of the off-line pixels are grey (channels within 0.15 of each
 * other) rather than another hue.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-env --allow-sys bench/colour_share.ts \
 *     base=data/generator:out/eval9-test-ds3default/base-….jsonl \
 *     halo=out/pt9/halo-ds3default:out/eval9-test-ds3default/grandpo-s0-….jsonl [--out out/colour_share.jsonl]
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { BACKGROUNDS, PALETTE, parsePrompt, SHAPE_NAMES } from "../lib/videos/world.ts";
import { type ResampledRecord, resampleEvaluations } from "./_resample.ts";

const { values, positionals } = parseArgs({
  options: { out: { type: "string", default: "out/colour_share.jsonl" } },
  allowPositionals: true,
});
await initBackend();
const TOL = 0.15, OBJECT = 0.25;

interface ColourRecord extends ResampledRecord {
  /** The evaluation's colour check, and the one of the clip sampled again (they must agree). */
  colourOk: number;
  colourOkAgain: number;
  colourShare: number;
  objectPerFrame: number;
  offPerFrame: number;
  greyOffPerFrame: number;
}

/** The colour check's pixel counts of one clip. */
function colourPixels(frames: Float32Array, prompt: string, numFrames: number) {
  const p = parsePrompt(prompt);
  const bg = BACKGROUNDS[p.background], fg = PALETTE[p.color];
  const d = [fg[0] - bg[0], fg[1] - bg[1], fg[2] - bg[2]];
  const dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  let object = 0, off = 0, grey = 0;
  for (let i = 0; i < frames.length; i += 3) {
    const r = frames[i], g = frames[i + 1], b = frames[i + 2];
    const r0 = r - bg[0], g0 = g - bg[1], b0 = b - bg[2];
    if (Math.sqrt(r0 * r0 + g0 * g0 + b0 * b0) < OBJECT) continue;
    object++;
    const a = Math.min(1, Math.max(0, (r0 * d[0] + g0 * d[1] + b0 * d[2]) / dd));
    const er = r0 - a * d[0], eg = g0 - a * d[1], eb = b0 - a * d[2];
    if (Math.sqrt(er * er + eg * eg + eb * eb) < TOL) continue;
    off++;
    if (Math.max(r, g, b) - Math.min(r, g, b) < TOL) grey++;
  }
  return {
    objectPerFrame: object / numFrames,
    offPerFrame: off / numFrames,
    greyOffPerFrame: grey / numFrames,
  };
}

const all = await resampleEvaluations<ColourRecord>(positionals, {
  out: values.out!,
  label: "colour",
  record: (c, video, checks) => ({
    colourOk: c.bench.color,
    colourOkAgain: checks.colorOk ? 1 : 0,
    colourShare: checks.colorShare,
    ...colourPixels(video.frames, c.prompt, video.numFrames),
  }),
});

// the summary: every record of the file, by model and by the prompt's shape
const mean = (rs: ColourRecord[], f: (r: ColourRecord) => number) =>
  rs.reduce((s, r) => s + f(r), 0) / Math.max(1, rs.length);
console.log(
  "| model | prompts' shape | clips | colour ok (again) | colour share | object-like px/frame | off-line px/frame | of which grey |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const model of [...new Set(all.map((r) => r.model))]) {
  for (const shape of ["all", ...SHAPE_NAMES]) {
    const rs = all.filter((r) =>
      r.model === model && (shape === "all" || parsePrompt(r.prompt).shape === shape)
    );
    const off = mean(rs, (r) => r.offPerFrame);
    console.log(
      `| ${model} | ${shape} | ${rs.length} | ${mean(rs, (r) => r.colourOk).toFixed(3)} (${
        mean(rs, (r) => r.colourOkAgain).toFixed(3)
      }) | ${mean(rs, (r) => r.colourShare).toFixed(3)} | ${
        mean(rs, (r) => r.objectPerFrame).toFixed(1)
      } | ${off.toFixed(1)} | ${(off ? mean(rs, (r) => r.greyOffPerFrame) / off : 0).toFixed(2)} |`,
    );
  }
}
