import assert from "node:assert/strict";
import { createRng } from "../lib/core/_rng.ts";

Deno.test("createRng is deterministic per seed and roughly uniform/normal", () => {
  const a = createRng(42), b = createRng(42), c = createRng(43);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.next()));
  const rng = createRng(1);
  const n = 20000;
  const u = Array.from({ length: n }, () => rng.next());
  const mean = u.reduce((s, v) => s + v, 0) / n;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `uniform mean ${mean}`);
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const z = Array.from({ length: n }, () => rng.normal());
  const zm = z.reduce((s, v) => s + v, 0) / n;
  const zv = z.reduce((s, v) => s + (v - zm) ** 2, 0) / n;
  assert.ok(Math.abs(zm) < 0.03 && Math.abs(zv - 1) < 0.05, `normal mean ${zm} var ${zv}`);
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[rng.int(3)]++;
  assert.ok(counts.every((k) => k > 900), `int(3) counts ${counts}`);
  assert.ok(["x", "y"].includes(rng.pick(["x", "y"])));
});
