/**
 * A 3×5 pixel font for labelling images without a canvas: digits, lower-case
 * letters and a little punctuation. Characters it lacks are drawn as blanks.
 * @module
 */

// Each glyph: five rows of three bits, most significant bit on the left.
const GLYPHS: Record<string, number[]> = {
  "0": [7, 5, 5, 5, 7],
  "1": [2, 6, 2, 2, 7],
  "2": [7, 1, 7, 4, 7],
  "3": [7, 1, 7, 1, 7],
  "4": [5, 5, 7, 1, 1],
  "5": [7, 4, 7, 1, 7],
  "6": [7, 4, 7, 5, 7],
  "7": [7, 1, 2, 2, 2],
  "8": [7, 5, 7, 5, 7],
  "9": [7, 5, 7, 1, 7],
  a: [0, 7, 1, 7, 7],
  b: [4, 4, 7, 5, 7],
  c: [0, 7, 4, 4, 7],
  d: [1, 1, 7, 5, 7],
  e: [7, 5, 7, 4, 7],
  f: [3, 4, 6, 4, 4],
  g: [7, 5, 7, 1, 7],
  h: [4, 4, 7, 5, 5],
  i: [2, 0, 2, 2, 2],
  j: [1, 0, 1, 5, 7],
  k: [4, 5, 6, 5, 5],
  l: [6, 2, 2, 2, 7],
  m: [0, 7, 7, 5, 5],
  n: [0, 6, 5, 5, 5],
  o: [0, 7, 5, 5, 7],
  p: [0, 7, 5, 7, 4],
  q: [0, 7, 5, 7, 1],
  r: [0, 7, 4, 4, 4],
  s: [0, 7, 6, 1, 7],
  t: [2, 7, 2, 2, 3],
  u: [0, 5, 5, 5, 7],
  v: [0, 5, 5, 5, 2],
  w: [0, 5, 7, 7, 7],
  x: [0, 5, 2, 5, 5],
  y: [5, 5, 7, 1, 7],
  z: [0, 7, 1, 4, 7],
  " ": [0, 0, 0, 0, 0],
  "-": [0, 0, 7, 0, 0],
  ".": [0, 0, 0, 0, 2],
  ":": [0, 2, 0, 2, 0],
  "=": [0, 7, 0, 7, 0],
  "/": [1, 1, 2, 4, 4],
  "%": [5, 1, 2, 4, 5],
  "×": [0, 5, 2, 5, 0],
  "(": [1, 2, 2, 2, 1],
  ")": [4, 2, 2, 2, 4],
  ",": [0, 0, 0, 2, 4],
  "+": [0, 2, 7, 2, 0],
};

/** Width in pixels of `text` drawn at `scale`. */
export function textWidth(text: string, scale: number): number {
  return text.length * 4 * scale - scale;
}

/**
 * Draws `text` into an RGB8 buffer, on a box of `background` (default black, so
 * it reads on any picture; `null` draws no box).
 */
export function drawText(
  rgb: Uint8Array,
  width: number,
  at: {
    x: number;
    y: number;
    scale: number;
    color: readonly [number, number, number];
    background?: readonly [number, number, number] | null;
  },
  text: string,
): void {
  const height = rgb.length / (width * 3);
  const { x: x0, y: y0, scale, color } = at;
  const put = (x: number, y: number, c: readonly [number, number, number]) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    rgb.set(c, (y * width + x) * 3);
  };
  const background = at.background === undefined ? [0, 0, 0] as const : at.background;
  if (background) {
    for (let y = y0 - scale; y < y0 + 6 * scale; y++) {
      for (let x = x0 - scale; x < x0 + textWidth(text, scale) + scale; x++) put(x, y, background);
    }
  }
  [...text.toLowerCase()].forEach((ch, i) => {
    const glyph = GLYPHS[ch] ?? GLYPHS[" "];
    for (let gy = 0; gy < 5; gy++) {
      for (let gx = 0; gx < 3; gx++) {
        if (!(glyph[gy] & (4 >> gx))) continue;
        for (let sy = 0; sy < scale; sy++) {
          for (let sx = 0; sx < scale; sx++) {
            put(x0 + (i * 4 + gx) * scale + sx, y0 + gy * scale + sy, color);
          }
        }
      }
    }
  });
}
