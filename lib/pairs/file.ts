/**
 * The preference-pairs interchange format (`pairs.jsonl` and its clips), as
 * `lib/pairs/pairs.ts` writes it and any trainer can read it: the types of a line,
 * its validating reader, and the reader of the stored clips. The schema is
 * documented in `lib/pairs/pairs.ts`.
 * @module
 */

import { dirname, join } from "node:path";
import { fail } from "../core/_errors.ts";
import { pathExists } from "../core/_atomic.ts";
import { sha256Hex } from "../core/_hash.ts";
import { numPatches, parseGrid } from "../videos/patch.ts";
import { createVideo, type Video } from "../videos/video.ts";
import { parsePrompt } from "../videos/world.ts";

/** One side of a pair. */
export interface PairSide {
  /** Clip file, relative to the pairs file's folder. */
  clip: string;
  /** SHA-256 of the clip's bytes. */
  sha256: string;
  /** Noise seed the clip was sampled with. */
  seed: number;
  /** Video score (mean over aspects). */
  video_score: number;
  /** Patch scores (mean over aspects), patch-index order. */
  patch_scores: number[];
}

/** One line of `pairs.jsonl` (the schema in the module doc). */
export interface PreferencePair {
  /** `p<prompt>-c<chosen>-c<rejected>`. */
  id: string;
  /** The prompt both clips were sampled for. */
  prompt: string;
  /** Patch grid of the scores, e.g. "4x4x4". */
  grid: string;
  /** `[frames, height, width, 3]`. */
  shape: [number, number, number, number];
  /** The preferred clip. */
  chosen: PairSide;
  /** The other clip. */
  rejected: PairSide;
  /** chosen.video_score − rejected.video_score. */
  video_gap: number;
  /** chosen − rejected patch scores. */
  patch_gaps: number[];
}

/** Reads a stored clip's bytes (0–255, `[T, H, W, 3]`); checks the size and, given one, the hash. */
export async function readClipBytes(
  path: string,
  shape: readonly number[],
  sha256?: string,
): Promise<Uint8Array> {
  const [frames, height, width] = shape;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) fail(path, "a clip file", "no file at that path");
    throw error;
  }
  const expected = frames * height * width * 3;
  if (bytes.length !== expected) {
    fail(path, `${expected} bytes (${frames}×${height}×${width}×3)`, `${bytes.length} bytes`);
  }
  if (sha256 !== undefined) {
    const hash = await sha256Hex(bytes);
    if (hash !== sha256) {
      fail(path, `bytes with SHA-256 ${sha256.slice(0, 12)}…`, `${hash.slice(0, 12)}…`);
    }
  }
  return bytes;
}

/**
 * Reads a stored clip back as a {@linkcode Video} (values byte/255); checks size and hash.
 *
 * @example
 * ```ts
 * import { readClip } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/c.rgb`, new Uint8Array(2 * 4 * 4 * 3).fill(255));
 * const v = await readClip(`${dir}/c.rgb`, [2, 4, 4, 3]);
 * console.log(v.numFrames, v.frames[0]); // 2 1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readClip(
  path: string,
  shape: readonly number[],
  sha256?: string,
): Promise<Video> {
  const bytes = await readClipBytes(path, shape, sha256);
  const [frames, height, width] = shape;
  const values = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) values[i] = bytes[i] / 255;
  return createVideo({ frames: values, numFrames: frames, height, width, fps: 8, source: path });
}

/** Options for {@linkcode readPairs}. */
export interface ReadPairsOptions {
  /** Expected `[frames, height, width, 3]` of the clips (a generator's). */
  shape?: readonly number[];
  /** Expected number of patches per clip. */
  patches?: number;
}

/**
 * Reads and validates a `pairs.jsonl` file: every field of the schema, finite
 * scores, the patch count of the grid, and that every clip file exists. An
 * error names the line, the pair id and what was expected.
 *
 * @example
 * ```ts
 * import { readPairs } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/pairs.jsonl`, "");
 * console.log((await readPairs(`${dir}/pairs.jsonl`)).length); // 0
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readPairs(
  file: string,
  options: ReadPairsOptions = {},
): Promise<PreferencePair[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      fail(file, "a pairs file (run `deno task pairs` first)", "no file at that path");
    }
    throw error;
  }
  const folder = dirname(file);
  const pairs: PreferencePair[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    let q: PreferencePair;
    try {
      q = JSON.parse(lines[i]);
    } catch {
      fail(`${file}:${i + 1}`, "a JSON object", lines[i]);
    }
    const where = `${file}:${i + 1} (pair ${JSON.stringify(q?.id ?? "?")})`;
    checkPair(where, q, options);
    for (const s of [q.chosen, q.rejected]) {
      if (!(await pathExists(join(folder, s.clip)))) {
        fail(where, `its clip file ${s.clip}`, "no file at that path");
      }
    }
    pairs.push(q);
  }
  return pairs;
}

function checkPair(where: string, q: PreferencePair, options: ReadPairsOptions): void {
  if (!q || typeof q !== "object" || Array.isArray(q)) fail(where, "a JSON object", q);
  if (typeof q.id !== "string") fail(where, "a string id", q.id);
  if (typeof q.prompt !== "string") fail(where, "a string prompt", q.prompt);
  try {
    parsePrompt(q.prompt);
  } catch (error) {
    fail(where, "a ShapesWorld prompt", (error as Error).message);
  }
  const grid = parseGrid(String(q.grid));
  if (
    !Array.isArray(q.shape) || q.shape.length !== 4 || q.shape[3] !== 3 ||
    !q.shape.every((n) => Number.isInteger(n) && n > 0)
  ) fail(where, "shape [frames, height, width, 3]", q.shape);
  if (options.shape && q.shape.join() !== options.shape.join()) {
    fail(where, `clips of shape [${options.shape.join(", ")}]`, `[${q.shape.join(", ")}]`);
  }
  const P = numPatches(grid, q.shape[0]);
  if (options.patches !== undefined && P !== options.patches) {
    fail(where, `${options.patches} patches per clip`, `${P} (grid ${q.grid})`);
  }
  const checkScores = (name: string, xs: unknown) => {
    if (!Array.isArray(xs) || xs.length !== P) {
      fail(where, `${name} with ${P} numbers (grid ${q.grid})`, xs);
    }
    const bad = xs.findIndex((x) => typeof x !== "number" || !Number.isFinite(x));
    if (bad >= 0) fail(where, `finite ${name}`, `${xs[bad]} at patch ${bad}`);
  };
  for (const name of ["chosen", "rejected"] as const) {
    const s = q[name];
    if (!s || typeof s !== "object") fail(where, `a ${name} object`, s);
    if (typeof s.clip !== "string" || s.clip.includes("..") || s.clip.startsWith("/")) {
      fail(where, `${name}.clip to be a path inside the pairs folder`, s.clip);
    }
    if (typeof s.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.sha256)) {
      fail(where, `${name}.sha256 of 64 hex digits`, s.sha256);
    }
    if (typeof s.video_score !== "number" || !Number.isFinite(s.video_score)) {
      fail(where, `a finite ${name}.video_score`, s.video_score);
    }
    checkScores(`${name}.patch_scores`, s.patch_scores);
  }
  checkScores("patch_gaps", q.patch_gaps);
  if (typeof q.video_gap !== "number" || !Number.isFinite(q.video_gap)) {
    fail(where, "a finite video_gap", q.video_gap);
  }
}
