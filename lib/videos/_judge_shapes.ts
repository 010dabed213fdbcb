/**
 * The reference judge's ShapesWorld analysis (private; `judgeVideo` in `judge.ts` calls it
 * on a ShapesWorld prompt): objects found as per-frame connected components of on-palette
 * pixels, grouped into lanes and fitted with straight-line tracks; shape by template IoU;
 * per patch blur, off-palette colour, flicker, frozen motion, and missing or unexpected
 * object coverage against the tracks; per video count, colour, shape and direction checks.
 * @module
 */

import { fail } from "../core/_errors.ts";
import {
  type Aspect,
  ASPECTS,
  type AspectScores,
  type PatchLabel,
  SCORE_MAX,
  SCORE_MIN,
} from "./scores.ts";
import { numSegments, type PatchGrid, patchId } from "./patch.ts";
import type { Video } from "./video.ts";
import type { DefectKind } from "./defects.ts";
import { BACKGROUNDS, PALETTE, type ShapeName, type ShapesPrompt } from "./world.ts";
import {
  forPatchPixels,
  grade,
  type Judgement,
  type JudgeOptions,
  type Layout,
  layoutOf,
  median,
  type VideoChecks,
} from "./_judge_common.ts";

/** The reason the ShapesWorld judge gives for each kind of defect it finds in a patch. */
export const SHAPES_DEFECT_REASONS: Readonly<Record<DefectKind, string>> = Object.freeze({
  blur: "blurred edges",
  color_bleed: "off-palette colour",
  flicker: "flicker",
  frozen: "frozen while the scene moves",
  missing_object: "object missing",
  extra_object: "unexpected object",
});

const SHAPE_AREA: Record<ShapeName, number> = {
  circle: Math.PI,
  square: 2.56,
  triangle: 1.5 * Math.sqrt(3) / 2,
};

function shapeInside(shape: ShapeName, r: number): (dx: number, dy: number) => boolean {
  if (shape === "circle") return (dx, dy) => dx * dx + dy * dy <= r * r;
  if (shape === "square") {
    const a = 0.8 * r;
    return (dx, dy) => Math.abs(dx) <= a && Math.abs(dy) <= a;
  }
  const h = 1.5 * r;
  const halfBase = r * Math.sqrt(3) / 2;
  return (dx, dy) => dy >= -r && dy <= r / 2 && Math.abs(dx) <= halfBase * (dy + r) / h;
}

/** Adds the coverage of `shape` centred at (cx, cy) into `map` (one frame, H×W). */
function paintShape(
  map: Float32Array,
  offset: number,
  H: number,
  W: number,
  shape: ShapeName,
  r: number,
  cx: number,
  cy: number,
): void {
  const inside = shapeInside(shape, r);
  const sub = 4;
  const y0 = Math.max(0, Math.floor(cy - r - 1)), y1 = Math.min(H - 1, Math.ceil(cy + r + 1));
  const x0 = Math.max(0, Math.floor(cx - r - 1)), x1 = Math.min(W - 1, Math.ceil(cx + r + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let hits = 0;
      for (let sy = 0; sy < sub; sy++) {
        for (let sx = 0; sx < sub; sx++) {
          if (inside(x + (sx + 0.5) / sub - cx, y + (sy + 0.5) / sub - cy)) hits++;
        }
      }
      if (hits > 0) map[offset + y * W + x] += hits / (sub * sub);
    }
  }
}

interface Detection {
  t: number;
  x: number;
  y: number;
  area: number;
  pixels: number[];
}

interface Lane {
  detections: Detection[];
  across: number;
  a: number; // along position at time 0
  b: number; // along velocity per frame
}

/** Judges a ShapesWorld video against its parsed prompt (see the module doc). */
export function judgeShapes(
  video: Video,
  prompt: ShapesPrompt,
  grid: PatchGrid,
  options: JudgeOptions,
): Judgement {
  const L = layoutOf(video, grid);
  const { T, H, W } = L;
  const tol = options.paletteTolerance ?? 0.15;
  const times = options.frameTimes ?? Array.from({ length: T }, (_, i) => i);
  if (times.length !== T) fail("judgeVideo", `${T} frameTimes`, times.length);
  const bg = BACKGROUNDS[prompt.background];
  const fg = PALETTE[prompt.color];
  const d = [fg[0] - bg[0], fg[1] - bg[1], fg[2] - bg[2]];
  const dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  const N = T * H * W;
  const alpha = new Float32Array(N); // position on the bg→fg line, clamped to [0, 1]
  const res = new Float32Array(N); // distance from the line segment
  const px = video.frames;
  for (let i = 0; i < N; i++) {
    const r0 = px[3 * i] - bg[0], g0 = px[3 * i + 1] - bg[1], b0 = px[3 * i + 2] - bg[2];
    const a = Math.min(1, Math.max(0, (r0 * d[0] + g0 * d[1] + b0 * d[2]) / dd));
    const er = r0 - a * d[0], eg = g0 - a * d[1], eb = b0 - a * d[2];
    alpha[i] = a;
    res[i] = Math.sqrt(er * er + eg * eg + eb * eb);
  }
  // Object coverage as seen: on-palette pixels only.
  const seen = new Float32Array(N);
  for (let i = 0; i < N; i++) seen[i] = res[i] < tol ? alpha[i] : 0;

  // Soft pixels: partial coverage with low local contrast, i.e. a smeared edge or a
  // faint wash. Anti-aliased edges of a clean render sit next to full and empty pixels.
  const soft = new Uint8Array(N);
  for (let t = 0; t < T; t++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = (t * H + y) * W + x;
        const a = seen[i];
        if (a < 0.12 || a > 0.88) continue;
        let lo = a, hi = a;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= W) continue;
            const v = seen[(t * H + yy) * W + xx];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
        }
        if (hi - lo < 0.6) soft[i] = 1;
      }
    }
  }

  // Detections: connected components of solid object pixels per frame.
  const detections: Detection[][] = [];
  const label = new Int32Array(H * W);
  for (let t = 0; t < T; t++) {
    label.fill(-1);
    const list: Detection[] = [];
    for (let start = 0; start < H * W; start++) {
      if (label[start] !== -1 || seen[t * H * W + start] <= 0.5) continue;
      const stack = [start];
      label[start] = list.length;
      const pixels: number[] = [];
      while (stack.length) {
        const p = stack.pop()!;
        pixels.push(p);
        const y = Math.floor(p / W), x = p % W;
        for (const [yy, xx] of [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]]) {
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const q = yy * W + xx;
          if (label[q] === -1 && seen[t * H * W + q] > 0.5) {
            label[q] = list.length;
            stack.push(q);
          }
        }
      }
      // Area and centroid over the component grown by one pixel, so edges count.
      const grown = new Set<number>(pixels);
      for (const p of pixels) {
        const y = Math.floor(p / W), x = p % W;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy, xx = x + dx;
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) grown.add(yy * W + xx);
          }
        }
      }
      let area = 0, sx = 0, sy = 0;
      for (const p of grown) {
        const a = seen[t * H * W + p];
        area += a;
        sx += a * ((p % W) + 0.5);
        sy += a * (Math.floor(p / W) + 0.5);
      }
      list.push({ t, x: sx / area, y: sy / area, area, pixels: [...grown] });
    }
    detections.push(list);
  }
  const all = detections.flat();
  const horizontal = prompt.direction === "left" || prompt.direction === "right";
  const alongOf = (p: { x: number; y: number }): number => horizontal ? p.x : p.y;
  const acrossOf = (p: { x: number; y: number }): number => horizontal ? p.y : p.x;
  const nominalR = Math.min(H, W) / 8;
  const minArea = 0.25 * nominalR * nominalR;
  const real = all.filter((dt) => dt.area >= minArea);

  // Lanes: objects keep their across-motion coordinate, and ShapesWorld keeps them
  // apart across the motion, so 1-D clustering of that coordinate separates them.
  const sorted = [...real].sort((p, q) => acrossOf(p) - acrossOf(q));
  const lanes: Lane[] = [];
  for (const dt of sorted) {
    const last = lanes[lanes.length - 1];
    if (last && acrossOf(dt) - last.across <= nominalR) {
      last.detections.push(dt);
      last.across = median(last.detections.map(acrossOf));
    } else lanes.push({ detections: [dt], across: acrossOf(dt), a: 0, b: 0 });
  }
  for (const lane of lanes) fitLane(lane, times, alongOf);
  // Keep the prompt's number of best-supported lanes; the rest are extra objects.
  const frameCount = (lane: Lane): number => new Set(lane.detections.map((q) => q.t)).size;
  const ranked = [...lanes].sort((p, q) => frameCount(q) - frameCount(p));
  const kept = ranked.slice(0, prompt.count).filter((lane) =>
    frameCount(lane) >= Math.max(2, T / 2)
  );
  const count = ranked.filter((lane) => frameCount(lane) >= Math.max(2, T / 2)).length;

  // Radius and shape from the kept lanes' typical detection.
  const areas = kept.flatMap((lane) => lane.detections.map((q) => q.area));
  const typicalArea = areas.length ? median(areas) : SHAPE_AREA[prompt.shape] * nominalR ** 2;
  const r = Math.sqrt(typicalArea / SHAPE_AREA[prompt.shape]);
  const shapeFit = bestShape(kept, seen, H, W, typicalArea);

  // Expected coverage from the lanes' straight-line tracks.
  const expected = new Float32Array(N);
  for (const lane of kept) {
    for (let t = 0; t < T; t++) {
      const along = lane.a + lane.b * times[t];
      const cx = horizontal ? along : lane.across;
      const cy = horizontal ? lane.across : along;
      paintShape(expected, t * H * W, H, W, prompt.shape, r, cx, cy);
    }
  }

  // Per-patch accumulators.
  const P = numSegments(grid, T) * grid.rows * grid.cols;
  const off = new Float64Array(P);
  const softCount = new Float64Array(P);
  const deficit = new Float64Array(P);
  const excess = new Float64Array(P);
  const changes = new Float64Array(P);
  const expectedChanges = new Float64Array(P);
  const mass = new Float64Array(P);
  const pixelsPer = new Float64Array(P);
  forPatchPixels(L, (patch, f, y, x) => {
    const i = (f * H + y) * W + x;
    pixelsPer[patch]++;
    mass[patch] += seen[i];
    if (res[i] >= tol) off[patch]++;
    if (soft[i]) softCount[patch]++;
    const e = Math.min(1, expected[i]);
    const o = seen[i] + (res[i] >= tol ? 1 : 0) * Math.min(1, alpha[i] + res[i]);
    if (e > o) deficit[patch] += e - o;
    else excess[patch] += Math.min(1, o) - e;
    const segStart = Math.floor(f / grid.framesPerPatch) * grid.framesPerPatch;
    if (f > segStart) {
      const j = ((f - 1) * H + y) * W + x;
      const diff = Math.abs(px[3 * i] - px[3 * j]) + Math.abs(px[3 * i + 1] - px[3 * j + 1]) +
        Math.abs(px[3 * i + 2] - px[3 * j + 2]);
      changes[patch] += diff;
      expectedChanges[patch] += Math.abs(Math.min(1, expected[i]) - Math.min(1, expected[j]));
    }
  });
  const flicker = patchFlicker(L, px);
  const objectArea = SHAPE_AREA[prompt.shape] * r * r;
  const moving = kept.length > 0 && Math.abs(median(kept.map((l) => l.b))) > 0.1;
  const reasonBelow = options.reasonBelow ?? 2;
  const why = SHAPES_DEFECT_REASONS;

  const patches: PatchLabel[] = [];
  for (let p = 0; p < P; p++) {
    const frames = grid.framesPerPatch;
    const area = pixelsPer[p] / frames; // pixels per frame of this cell
    const offFrac = off[p] / frames / area;
    const softFrac = softCount[p] / frames / area;
    const def = deficit[p] / frames / objectArea;
    const exc = excess[p] / frames / objectArea;
    // Frozen: the tracks say this cell should change, yet its pixels stand still.
    const frozen = moving && frames > 1 && expectedChanges[p] / (frames - 1) >= 1 &&
      mass[p] / frames >= 2 &&
      changes[p] / ((frames - 1) * area) < 0.004;
    const findings: Array<[Aspect, number, string]> = [
      ["visual_quality", grade(softFrac, [0.04, 0.1, 0.18]), why.blur],
      ["visual_quality", grade(offFrac, [0.03, 0.1, 0.25]), why.color_bleed],
      ["temporal_consistency", grade(flicker[p], [0.06, 0.15, 0.3]), why.flicker],
      ["temporal_consistency", frozen ? 2 : 4, why.frozen],
      ["text_alignment", grade(def - 0.5 * exc, [0.08, 0.18, 0.4]), why.missing_object],
      ["text_alignment", grade(exc - 0.5 * def, [0.08, 0.18, 0.4]), why.extra_object],
    ];
    const scores = {
      visual_quality: 4,
      temporal_consistency: 4,
      text_alignment: 4,
    } as AspectScores;
    const reasons: Array<[number, string]> = [];
    for (const [aspect, score, reason] of findings) {
      scores[aspect] = Math.min(scores[aspect], score);
      if (score <= reasonBelow) reasons.push([score, reason]);
    }
    reasons.sort((u, v) => u[0] - v[0]);
    patches.push({
      id: patchId(grid, p),
      index: p,
      scores,
      reason: reasons.map((q) => q[1]).join("; "),
    });
  }

  // Whole-video checks.
  let objectLike = 0, onPalette = 0;
  for (let i = 0; i < N; i++) {
    const dist = Math.sqrt(
      (px[3 * i] - bg[0]) ** 2 + (px[3 * i + 1] - bg[1]) ** 2 + (px[3 * i + 2] - bg[2]) ** 2,
    );
    if (dist < 0.25) continue;
    objectLike++;
    if (res[i] < tol) onPalette++;
  }
  const colorShare = objectLike ? onPalette / objectLike : 0;
  let backgroundPixels = 0, backgroundKept = 0;
  for (let i = 0; i < N; i++) {
    if (expected[i] > 0.05) continue;
    backgroundPixels++;
    const dist = Math.sqrt(
      (px[3 * i] - bg[0]) ** 2 + (px[3 * i + 1] - bg[1]) ** 2 + (px[3 * i + 2] - bg[2]) ** 2,
    );
    if (dist < 0.25) backgroundKept++;
  }
  let steady = 0;
  for (let p = 0; p < P; p++) if (grade(flicker[p], [0.06, 0.15, 0.3]) >= 3) steady++;
  const velocity = kept.length ? median(kept.map((l) => l.b)) : 0;
  const sign = prompt.direction === "right" || prompt.direction === "down" ? 1 : -1;
  const checks: VideoChecks = {
    count,
    countOk: count === prompt.count,
    colorShare,
    colorOk: colorShare >= 0.8,
    shape: shapeFit,
    shapeOk: shapeFit === prompt.shape,
    velocity,
    directionOk: velocity * sign > 0.15,
    steadyShare: steady / P,
    backgroundShare: backgroundPixels ? backgroundKept / backgroundPixels : 1,
  };
  const globalFails = [checks.countOk, checks.colorOk, checks.shapeOk, checks.directionOk]
    .filter((ok) => !ok).length;
  const videoScores = {} as AspectScores;
  for (const a of ASPECTS) {
    const mean = patches.reduce((s, q) => s + q.scores[a], 0) / P;
    videoScores[a] = Math.max(SCORE_MIN, Math.min(SCORE_MAX, Math.round(mean)));
  }
  videoScores.text_alignment = Math.max(
    SCORE_MIN,
    Math.min(videoScores.text_alignment, 4 - globalFails),
  );
  if (!checks.colorOk) videoScores.visual_quality = Math.min(videoScores.visual_quality, 2);
  return { video: videoScores, patches, kind: "shapesworld", checks };
}

/** Fits `along = a + b·t` by least squares, twice, dropping detections far off the line. */
function fitLane(lane: Lane, times: readonly number[], alongOf: (p: Detection) => number): void {
  let use = lane.detections;
  for (let pass = 0; pass < 3; pass++) {
    const ts = use.map((q) => times[q.t]);
    const vs = use.map(alongOf);
    const n = ts.length;
    const mt = ts.reduce((s, v) => s + v, 0) / n;
    const mv = vs.reduce((s, v) => s + v, 0) / n;
    let sxy = 0, sxx = 0;
    for (let i = 0; i < n; i++) {
      sxy += (ts[i] - mt) * (vs[i] - mv);
      sxx += (ts[i] - mt) ** 2;
    }
    lane.b = sxx > 0 ? sxy / sxx : 0;
    lane.a = mv - lane.b * mt;
    const residuals = use.map((q) => Math.abs(alongOf(q) - (lane.a + lane.b * times[q.t])));
    const cut = Math.max(1, 2 * median(residuals));
    const next = use.filter((_, i) => residuals[i] <= cut);
    if (next.length === use.length || next.length < 2) break;
    use = next;
  }
}

/** The shape whose template best matches the lanes' detections (IoU), or null with none. */
function bestShape(
  lanes: Lane[],
  seen: Float32Array,
  H: number,
  W: number,
  area: number,
): ShapeName | null {
  const samples = lanes.flatMap((lane) =>
    lane.detections.filter((q) => Math.abs(q.area - area) < 0.25 * area)
  ).slice(0, 12);
  if (samples.length === 0) return null;
  let best: ShapeName | null = null;
  let bestScore = -1;
  for (const shape of ["circle", "square", "triangle"] as ShapeName[]) {
    const r = Math.sqrt(area / SHAPE_AREA[shape]);
    let score = 0;
    for (const q of samples) {
      const template = new Float32Array(H * W);
      // The triangle's centroid is its circumcentre, so every template centres on q.
      paintShape(template, 0, H, W, shape, r, q.x, q.y);
      let inter = 0, union = 0;
      const y0 = Math.max(0, Math.floor(q.y - 2 * r)), y1 = Math.min(H, Math.ceil(q.y + 2 * r));
      const x0 = Math.max(0, Math.floor(q.x - 2 * r)), x1 = Math.min(W, Math.ceil(q.x + 2 * r));
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const a = Math.min(1, template[y * W + x]);
          const b = seen[q.t * H * W + y * W + x];
          inter += Math.min(a, b);
          union += Math.max(a, b);
        }
      }
      score += union > 0 ? inter / union : 0;
    }
    if (score > bestScore) {
      bestScore = score;
      best = shape;
    }
  }
  return best;
}

/**
 * Flicker per patch: the mean absolute second difference over time of the patch's
 * mean colour. Straight motion changes a patch's mean smoothly; brightness that
 * flips from frame to frame does not.
 */
function patchFlicker(L: Layout, px: Float32Array): Float64Array {
  const { grid, H, W } = L;
  const out = new Float64Array(L.segments * grid.rows * grid.cols);
  const F = grid.framesPerPatch;
  if (F < 3) return out;
  for (let s = 0; s < L.segments; s++) {
    for (let r = 0; r < grid.rows; r++) {
      for (let c = 0; c < grid.cols; c++) {
        const means: number[][] = [];
        for (let f = s * F; f < (s + 1) * F; f++) {
          const m = [0, 0, 0];
          let n = 0;
          for (let y = L.ys[r]; y < L.ys[r + 1]; y++) {
            for (let x = L.xs[c]; x < L.xs[c + 1]; x++) {
              const i = ((f * H + y) * W + x) * 3;
              m[0] += px[i];
              m[1] += px[i + 1];
              m[2] += px[i + 2];
              n++;
            }
          }
          means.push(m.map((v) => v / n));
        }
        let total = 0;
        for (let k = 1; k < F - 1; k++) {
          for (let ch = 0; ch < 3; ch++) {
            total += Math.abs(means[k + 1][ch] - 2 * means[k][ch] + means[k - 1][ch]);
          }
        }
        out[(s * grid.rows + r) * grid.cols + c] = total / ((F - 2) * 3);
      }
    }
  }
  return out;
}
