import assert from "node:assert/strict";
import { drawText, textWidth } from "../lib/core/_font.ts";

Deno.test("drawText writes glyph pixels inside its box only", () => {
  const width = 40, height = 12;
  const rgb = new Uint8Array(width * height * 3).fill(128);
  drawText(rgb, width, { x: 2, y: 2, scale: 1, color: [255, 255, 0] }, "r1c2");
  let lit = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3);
      if (r === 255 && g === 255 && b === 0) {
        lit++;
        assert.ok(x >= 2 && x < 2 + textWidth("r1c2", 1) && y >= 2 && y < 7, `pixel ${x},${y}`);
      }
    }
  }
  assert.ok(lit > 20, `${lit} glyph pixels`);
  assert.equal(textWidth("ab", 2), 14);
});
