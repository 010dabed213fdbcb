import assert from "node:assert/strict";
import { resultsFigure } from "../lib/report/figure_results.ts";

Deno.test("resultsFigure: one subplot per metric, one colour per method, asymmetric 95% bars", () => {
  const rows = ["Base", "Diffusion-DPO", "patch-only", "HALO"].flatMap((method, k) =>
    ["ShapesBench", "defect share"].map((metric) => ({
      method,
      metric,
      mean: k,
      lo: k - 0.5,
      hi: k + 1,
      n: 64,
    }))
  );
  const fig = resultsFigure(rows, { lowerIsBetter: ["defect share"] });
  assert.equal(fig.data.length, 8);
  assert.deepEqual(fig.data.filter((t) => t.showlegend).map((t) => t.name), [
    "Base",
    "Diffusion-DPO",
    "patch-only",
    "HALO",
  ]);
  const halo = fig.data.find((t) => t.name === "HALO" && t.xaxis === "x2")!;
  assert.deepEqual(halo.y, [3]);
  assert.deepEqual((halo.error_y as { array: number[]; arrayminus: number[] }).array, [1]);
  assert.deepEqual((halo.error_y as { array: number[]; arrayminus: number[] }).arrayminus, [0.5]);
  assert.match(
    String(halo.hovertemplate),
    /defect share: %\{y:\.4g\} \[%\{customdata\[0\]\}, %\{customdata\[1\]\}\]<br>n = /,
  );
  assert.deepEqual(
    (fig.layout.annotations as Array<{ text: string }>).map((a) => a.text),
    ["<b>ShapesBench ↑</b>", "<b>defect share ↓</b>"],
  );
  // a long subplot title wraps at spaces instead of running into its neighbour's
  // (four panels in a row: about 26 characters each); alone in its row it stays on one line
  const metrics = ["a", "b", "c", "Defective patches of clips ≥ Base median"];
  const titles = (n: number) =>
    (resultsFigure(
      metrics.slice(-n).map((metric) => ({ method: "HALO", metric, mean: 1, lo: 0, hi: 2 })),
      { lowerIsBetter: [metrics[3]], columns: 4 },
    ).layout.annotations as Array<{ text: string }>).map((a) => a.text).at(-1);
  assert.equal(titles(4), "<b>Defective patches of clips<br>≥ Base median ↓</b>");
  assert.equal(titles(1), "<b>Defective patches of clips ≥ Base median ↓</b>");
  assert.throws(
    () => resultsFigure([{ method: "HALO", metric: "m", mean: 2, lo: 2.5, hi: 3 }]),
    /rows\[0\] \(HALO, m\): Expected lo ≤ mean ≤ hi/,
  );
});
