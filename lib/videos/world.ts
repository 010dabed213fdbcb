/**
 * ShapesWorld: a procedural text-to-video world with a small prompt grammar
 * and a renderer with exact ground truth. It stands in for the web-scale
 * text-to-video data of the paper (DESIGN §3): prompts such as
 * `"two red circles moving left quickly on a gray background"` are rendered to
 * short anti-aliased clips together with per-object masks and centres.
 * @module
 */

import { checkInt, fail } from "../core/_errors.ts";
import { createRng, type Rng } from "../core/_rng.ts";
import type { Video } from "./video.ts";

/** Object colours of the fixed palette. */
export type ColorName =
  | "red"
  | "green"
  | "blue"
  | "yellow"
  | "magenta"
  | "cyan"
  | "white"
  | "orange";
/** Object shapes. */
export type ShapeName = "circle" | "square" | "triangle";
/** Motion directions. */
export type Direction = "left" | "right" | "up" | "down";
/** Motion speeds. */
export type Speed = "slowly" | "quickly";
/** Background colours. */
export type BackgroundName = "black" | "gray" | "navy";

/** The object palette, RGB in [0, 1]. Far apart so a colour can be judged from a few pixels. */
export const PALETTE: Readonly<Record<ColorName, readonly [number, number, number]>> = Object
  .freeze({
    red: [0.9, 0.1, 0.1],
    green: [0.1, 0.8, 0.2],
    blue: [0.15, 0.3, 1.0],
    yellow: [0.95, 0.9, 0.1],
    magenta: [0.9, 0.15, 0.85],
    cyan: [0.1, 0.85, 0.9],
    white: [0.95, 0.95, 0.95],
    orange: [1.0, 0.55, 0.05],
  });

/** The background colours, RGB in [0, 1]. */
export const BACKGROUNDS: Readonly<Record<BackgroundName, readonly [number, number, number]>> =
  Object.freeze({
    black: [0, 0, 0],
    gray: [0.45, 0.45, 0.45],
    navy: [0.05, 0.08, 0.3],
  });

/** Every colour name, in palette order. */
export const COLOR_NAMES: readonly ColorName[] = Object.freeze(
  Object.keys(PALETTE) as ColorName[],
);
/** Every shape name. */
export const SHAPE_NAMES: readonly ShapeName[] = Object.freeze(["circle", "square", "triangle"]);
/** Every direction. */
export const DIRECTIONS: readonly Direction[] = Object.freeze(["left", "right", "up", "down"]);
/** Every speed. */
export const SPEEDS: readonly Speed[] = Object.freeze(["slowly", "quickly"]);
/** Every background name. */
export const BACKGROUND_NAMES: readonly BackgroundName[] = Object.freeze(
  Object.keys(BACKGROUNDS) as BackgroundName[],
);

/** A parsed ShapesWorld prompt. All objects of a prompt share colour and shape. */
export interface ShapesPrompt {
  /** Number of objects. */
  count: 1 | 2 | 3;
  /** Colour of every object. */
  color: ColorName;
  /** Shape of every object. */
  shape: ShapeName;
  /** Direction every object moves in. */
  direction: Direction;
  /** How fast they move. */
  speed: Speed;
  /** Background colour. */
  background: BackgroundName;
  /** The canonical text, e.g. `"two red circles moving left quickly on a gray background"`. */
  text: string;
}

const COUNT_WORDS = ["one", "two", "three"] as const;

/**
 * Formats the canonical text of a prompt.
 *
 * @example
 * ```ts
 * import { formatPrompt } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const text = formatPrompt({
 *   count: 2, color: "red", shape: "circle", direction: "left", speed: "quickly", background: "gray",
 * });
 * assert.equal(text, "two red circles moving left quickly on a gray background");
 * ```
 */
export function formatPrompt(p: Omit<ShapesPrompt, "text">): string {
  validateFields("formatPrompt", p);
  const shape = p.count === 1 ? p.shape : `${p.shape}s`;
  return `${COUNT_WORDS[p.count - 1]} ${p.color} ${shape} moving ${p.direction} ${p.speed} ` +
    `on a ${p.background} background`;
}

function validateFields(where: string, p: Omit<ShapesPrompt, "text">): void {
  if (p === null || typeof p !== "object") fail(where, "a prompt object", p);
  if (p.count !== 1 && p.count !== 2 && p.count !== 3) fail(where, "count 1, 2 or 3", p.count);
  if (!COLOR_NAMES.includes(p.color)) {
    fail(where, `color one of ${COLOR_NAMES.join(", ")}`, p.color);
  }
  if (!SHAPE_NAMES.includes(p.shape)) {
    fail(where, `shape one of ${SHAPE_NAMES.join(", ")}`, p.shape);
  }
  if (!DIRECTIONS.includes(p.direction)) {
    fail(where, `direction one of ${DIRECTIONS.join(", ")}`, p.direction);
  }
  if (!SPEEDS.includes(p.speed)) fail(where, `speed one of ${SPEEDS.join(", ")}`, p.speed);
  if (!BACKGROUND_NAMES.includes(p.background)) {
    fail(where, `background one of ${BACKGROUND_NAMES.join(", ")}`, p.background);
  }
}

/** Every word of the grammar, for error messages and the tokenizer. */
export const GRAMMAR_WORDS: readonly string[] = Object.freeze([
  ...COUNT_WORDS,
  ...COLOR_NAMES,
  ...SHAPE_NAMES,
  ...SHAPE_NAMES.map((s) => `${s}s`),
  "moving",
  ...DIRECTIONS,
  ...SPEEDS,
  "on",
  "a",
  ...BACKGROUND_NAMES,
  "background",
]);

/**
 * Parses prompt text of the grammar
 * `<one|two|three> <colour> <shape[s]> moving <direction> <speed> on a <background> background`.
 * Case and extra spaces are ignored; an unknown word or a word in the wrong
 * place throws an error that names it.
 *
 * @example
 * ```ts
 * import { parsePrompt } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const p = parsePrompt("Three cyan triangles moving up slowly on a navy background");
 * assert.equal(p.count, 3);
 * assert.equal(p.shape, "triangle");
 * assert.throws(() => parsePrompt("one purple circle moving up slowly on a navy background"), /purple/);
 * ```
 */
export function parsePrompt(text: string): ShapesPrompt {
  const where = "parsePrompt";
  if (typeof text !== "string") fail(where, "prompt text (a string)", text);
  const words = text.trim().toLowerCase().split(/\s+/).filter((w) => w !== "");
  for (const word of words) {
    if (!GRAMMAR_WORDS.includes(word)) {
      fail(where, `only words of the ShapesWorld grammar (${GRAMMAR_WORDS.join(" ")})`, word);
    }
  }
  if (words.length !== 10) {
    fail(
      where,
      'the 10-word form "<count> <colour> <shape> moving <direction> <speed> on a <background> background"',
      text,
    );
  }
  const at = (i: number, allowed: readonly string[], what: string): string => {
    if (!allowed.includes(words[i])) {
      fail(where, `word ${i + 1} to be ${what} (${allowed.join("/")})`, words[i]);
    }
    return words[i];
  };
  const count = (COUNT_WORDS as readonly string[]).indexOf(at(0, COUNT_WORDS, "a count")) + 1 as
    | 1
    | 2
    | 3;
  const color = at(1, COLOR_NAMES, "a colour") as ColorName;
  const shapeWords = count === 1 ? SHAPE_NAMES : SHAPE_NAMES.map((s) => `${s}s`);
  const shapeWord = at(2, shapeWords, count === 1 ? "a singular shape" : "a plural shape");
  const shape = (count === 1 ? shapeWord : shapeWord.slice(0, -1)) as ShapeName;
  at(3, ["moving"], "the word");
  const direction = at(4, DIRECTIONS, "a direction") as Direction;
  const speed = at(5, SPEEDS, "a speed") as Speed;
  at(6, ["on"], "the word");
  at(7, ["a"], "the word");
  const background = at(8, BACKGROUND_NAMES, "a background") as BackgroundName;
  at(9, ["background"], "the word");
  const fields = { count, color, shape, direction, speed, background };
  return { ...fields, text: formatPrompt(fields) };
}

/**
 * Draws a uniformly random prompt of the grammar from a seeded generator (or a
 * seed, for a one-off draw).
 *
 * @example
 * ```ts
 * import { samplePrompt, parsePrompt } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const p = samplePrompt(1);
 * assert.deepEqual(parsePrompt(p.text), p);
 * ```
 */
export function samplePrompt(rng: Rng | number): ShapesPrompt {
  if (typeof rng === "number") {
    rng = createRng(checkInt("samplePrompt", "seed", rng, 0, 0xffffffff));
  }
  if (!rng || typeof rng.next !== "function") fail("samplePrompt", "an Rng (createRng)", rng);
  const fields = {
    count: (rng.int(3) + 1) as 1 | 2 | 3,
    color: rng.pick(COLOR_NAMES),
    shape: rng.pick(SHAPE_NAMES),
    direction: rng.pick(DIRECTIONS),
    speed: rng.pick(SPEEDS),
    background: rng.pick(BACKGROUND_NAMES),
  };
  return { ...fields, text: formatPrompt(fields) };
}

/** Every prompt of the grammar (1728), in a fixed order. */
export function allPrompts(): ShapesPrompt[] {
  const out: ShapesPrompt[] = [];
  for (const count of [1, 2, 3] as const) {
    for (const color of COLOR_NAMES) {
      for (const shape of SHAPE_NAMES) {
        for (const direction of DIRECTIONS) {
          for (const speed of SPEEDS) {
            for (const background of BACKGROUND_NAMES) {
              const fields = { count, color, shape, direction, speed, background };
              out.push({ ...fields, text: formatPrompt(fields) });
            }
          }
        }
      }
    }
  }
  return out;
}

/** Train/validation/test prompt splits. */
export interface PromptSplits {
  /** Prompts for training. */
  train: ShapesPrompt[];
  /** Prompts of the training combinations, held out for validation. */
  validation: ShapesPrompt[];
  /** Every prompt of the held-out (colour, shape) combinations, never seen in training. */
  test: ShapesPrompt[];
}

/** Options for {@linkcode promptSplits}. */
export interface PromptSplitOptions {
  /** Seed of the split. Default 0. */
  seed?: number;
  /** Number of (colour, shape) combinations held out for test. Default 4 (of 24). */
  heldOutCombinations?: number;
  /** Share of the remaining prompts kept for validation. Default 0.1. */
  validationFraction?: number;
}

/**
 * Splits every prompt of the grammar into train, validation and test. Test
 * holds out whole (colour, shape) combinations, each with a distinct colour and
 * never all colours of a shape, so every colour and every shape still occurs in
 * training: a test prompt asks the generator for a combination it never saw.
 *
 * @example
 * ```ts
 * import { promptSplits } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const { train, validation, test } = promptSplits({ seed: 0 });
 * const seen = new Set(train.map((p) => `${p.color}/${p.shape}`));
 * assert.ok(test.every((p) => !seen.has(`${p.color}/${p.shape}`)));
 * assert.equal(train.length + validation.length + test.length, 1728);
 * ```
 */
export function promptSplits(options: PromptSplitOptions = {}): PromptSplits {
  const where = "promptSplits";
  const seed = checkInt(where, "seed", options.seed ?? 0, 0, 0xffffffff);
  const held = checkInt(where, "heldOutCombinations", options.heldOutCombinations ?? 4, 1, 8);
  const fraction = options.validationFraction ?? 0.1;
  if (typeof fraction !== "number" || !(fraction >= 0 && fraction < 1)) {
    fail(where, "validationFraction in [0, 1)", fraction);
  }
  const rng = createRng(seed);
  const colors = shuffle([...COLOR_NAMES], rng).slice(0, held);
  const heldOut = new Set<string>();
  const offset = rng.int(3);
  colors.forEach((color, i) => {
    // Rotate through the shapes so no shape loses more than ceil(held/3) colours.
    heldOut.add(`${color}/${SHAPE_NAMES[(i + offset) % 3]}`);
  });
  const train: ShapesPrompt[] = [];
  const validation: ShapesPrompt[] = [];
  const test: ShapesPrompt[] = [];
  const rest: ShapesPrompt[] = [];
  for (const p of allPrompts()) {
    (heldOut.has(`${p.color}/${p.shape}`) ? test : rest).push(p);
  }
  const order = shuffle(rest.map((_, i) => i), rng);
  const nValidation = Math.round(rest.length * fraction);
  const validationIds = new Set(order.slice(0, nValidation));
  rest.forEach((p, i) => (validationIds.has(i) ? validation : train).push(p));
  return { train, validation, test };
}

function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Options for {@linkcode renderClip}. */
export interface RenderOptions {
  /** Number of frames. Default 16. */
  frames?: number;
  /** Frame height and width in pixels. Default 32 (64 works too). */
  size?: number;
  /** Seed of the object positions. Default 0. */
  seed?: number;
  /** Frames per second written into the video. Default 8. */
  fps?: number;
}

/** Ground-truth track of one object. */
export interface ObjectTrack {
  /** Centre per frame, in pixels (x to the right, y down; pixel i covers [i, i+1)). */
  centers: Array<{ x: number; y: number }>;
  /** Radius of the shape's circumscribed circle, in pixels. */
  radius: number;
}

/** Exact ground truth of a rendered clip. */
export interface RenderTruth {
  /** One track per object. */
  objects: ObjectTrack[];
  /** Coverage of each object per pixel, `[T, count, H, W]`, in [0, 1]. */
  masks: Float32Array;
}

/** Pixels per frame of each speed at 32×32; scaled with the frame size. */
export const SPEED_PIXELS: Readonly<Record<Speed, number>> = Object.freeze({
  slowly: 0.5,
  quickly: 1.25,
});

const SUPERSAMPLE = 4;

/**
 * Renders a prompt to a clip with exact ground truth. Objects have radius
 * `size/8`, move in a straight line at `SPEED_PIXELS[speed] · size/32` pixels per
 * frame and stay fully in frame (when the whole path cannot fit, e.g. for very
 * long clips, the speed is reduced until it does). Edges are anti-aliased by
 * 4×4 coverage supersampling; later objects are painted over earlier ones, but
 * start positions keep objects apart across the motion so they never overlap.
 *
 * @example
 * ```ts
 * import { parsePrompt, renderClip } from "@halo/kit";
 * import assert from "node:assert/strict";
 * const prompt = parsePrompt("two red circles moving left quickly on a gray background");
 * const { video, truth } = renderClip(prompt, { seed: 7 });
 * assert.equal(video.frames.length, 16 * 32 * 32 * 3);
 * assert.equal(truth.objects.length, 2);
 * ```
 */
export function renderClip(
  prompt: ShapesPrompt,
  options: RenderOptions = {},
): { video: Video; truth: RenderTruth } {
  const where = "renderClip";
  validateFields(where, prompt);
  const T = checkInt(where, "frames", options.frames ?? 16, 1, 1024);
  const S = checkInt(where, "size", options.size ?? 32, 16, 1024);
  const seed = checkInt(where, "seed", options.seed ?? 0, 0, 0xffffffff);
  const fps = options.fps ?? 8;
  if (typeof fps !== "number" || !(fps > 0)) fail(where, "fps > 0", fps);
  const rng = createRng(seed ^ 0x5a17);
  const r = S / 8;
  const count = prompt.count;
  const horizontal = prompt.direction === "left" || prompt.direction === "right";
  const sign = prompt.direction === "right" || prompt.direction === "down" ? 1 : -1;
  // Keep a half-pixel margin so anti-aliased edges stay inside the frame too.
  const lo = r + 0.5;
  const hi = S - r - 0.5;
  const span = hi - lo;
  let step = SPEED_PIXELS[prompt.speed] * S / 32;
  if (T > 1) step = Math.min(step, span / (T - 1));
  const travel = step * (T - 1);

  // Positions across the motion: non-overlapping lanes (gap ≥ 2r + 1).
  const across = placeApart(count, lo, hi, 2 * r + 1, rng);
  const objects: ObjectTrack[] = [];
  for (let k = 0; k < count; k++) {
    const start = lo + rng.next() * (span - travel);
    const a0 = sign > 0 ? start : start + travel;
    const centers: Array<{ x: number; y: number }> = [];
    for (let t = 0; t < T; t++) {
      const along = a0 + sign * step * t;
      centers.push(horizontal ? { x: along, y: across[k] } : { x: across[k], y: along });
    }
    objects.push({ centers, radius: r });
  }

  const frames = new Float32Array(T * S * S * 3);
  const masks = new Float32Array(T * count * S * S);
  const bg = BACKGROUNDS[prompt.background];
  const fg = PALETTE[prompt.color];
  for (let i = 0; i < T * S * S; i++) {
    frames[3 * i] = bg[0];
    frames[3 * i + 1] = bg[1];
    frames[3 * i + 2] = bg[2];
  }
  const inside = shapeTest(prompt.shape, r);
  const sub = SUPERSAMPLE;
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < count; k++) {
      const { x: cx, y: cy } = objects[k].centers[t];
      const x0 = Math.max(0, Math.floor(cx - r - 1));
      const x1 = Math.min(S - 1, Math.ceil(cx + r + 1));
      const y0 = Math.max(0, Math.floor(cy - r - 1));
      const y1 = Math.min(S - 1, Math.ceil(cy + r + 1));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          let hits = 0;
          for (let sy = 0; sy < sub; sy++) {
            const py = y + (sy + 0.5) / sub - cy;
            for (let sx = 0; sx < sub; sx++) {
              if (inside(x + (sx + 0.5) / sub - cx, py)) hits++;
            }
          }
          if (hits === 0) continue;
          const cov = hits / (sub * sub);
          masks[((t * count + k) * S + y) * S + x] = cov;
          const p = ((t * S + y) * S + x) * 3;
          for (let c = 0; c < 3; c++) frames[p + c] = frames[p + c] * (1 - cov) + fg[c] * cov;
        }
      }
    }
  }
  const video: Video = {
    frames,
    numFrames: T,
    height: S,
    width: S,
    fps,
    source: `shapesworld:${prompt.text}:seed=${seed}`,
  };
  return { video, truth: { objects, masks } };
}

/** Point-in-shape test relative to the centre; y grows downwards. */
function shapeTest(shape: ShapeName, r: number): (dx: number, dy: number) => boolean {
  if (shape === "circle") return (dx, dy) => dx * dx + dy * dy <= r * r;
  if (shape === "square") {
    // Half-side 0.8 r: the square's area (2.56 r²) is close to the circle's (3.14 r²).
    const a = 0.8 * r;
    return (dx, dy) => Math.abs(dx) <= a && Math.abs(dy) <= a;
  }
  // Upright triangle inscribed in the circle of radius r: apex at the top.
  const h = 1.5 * r; // apex at dy = -r, base at dy = r/2
  const halfBase = r * Math.sqrt(3) / 2;
  return (dx, dy) => {
    if (dy < -r || dy > r / 2) return false;
    return Math.abs(dx) <= halfBase * (dy + r) / h;
  };
}

/**
 * `n` positions in [lo, hi] at least `gap` apart, uniform over such layouts:
 * sorted uniform draws in the slack, then the gaps added back. When even the
 * tightest layout does not fit, the gap shrinks to what does.
 */
function placeApart(n: number, lo: number, hi: number, gap: number, rng: Rng): number[] {
  const g = n > 1 ? Math.min(gap, (hi - lo) / (n - 1)) : 0;
  const slack = Math.max(0, hi - lo - (n - 1) * g);
  const draws = Array.from({ length: n }, () => rng.next() * slack).sort((a, b) => a - b);
  const xs = draws.map((d, i) => lo + d + i * g);
  return shuffle(xs, rng);
}
