import assert from "node:assert/strict";
import {
  agreementScatterFigure,
  distributionFigure,
  escapeLabel,
  logSeries,
  subplotGrid,
  trainingCurvesFigure,
} from "../lib/report/figure.ts";

Deno.test("trainingCurvesFigure: one subplot per quantity, seeds thin, their mean thick, one legend entry per group", () => {
  const seed = (s: number, group: string) => ({
    name: `${group} seed ${s}`,
    group,
    points: [0, 10, 20, 30].map((step) => ({ step, value: step + s })),
  });
  const fig = trainingCurvesFigure([
    { title: "loss", series: [seed(0, "HALO"), seed(1, "HALO"), seed(0, "DPO")] },
    { title: "rewards/accuracies", series: [seed(0, "DPO")], yTitle: "share" },
  ]);
  // panel 1: 2 seeds + mean of HALO, 1 DPO; panel 2: 1 DPO
  assert.equal(fig.data.length, 5);
  const mean = fig.data[2];
  assert.equal(mean.name, "HALO");
  assert.deepEqual(mean.y, [0.5, 10.5, 20.5, 30.5]);
  assert.deepEqual((mean.line as { width: number }).width, 3);
  assert.equal(fig.data[0].opacity, 0.45);
  // each group appears once in the legend, in one colour everywhere
  const shown = fig.data.filter((t) => t.showlegend).map((t) => t.legendgroup);
  assert.deepEqual(shown, ["HALO", "DPO"]);
  assert.equal(
    (fig.data[3].line as { color: string }).color,
    (fig.data[4].line as { color: string }).color,
  );
  assert.equal(fig.data[4].xaxis, "x2");
  assert.deepEqual(
    (fig.layout.annotations as Array<{ text: string }>).map((a) => a.text),
    ["<b>loss</b>", "<b>rewards/accuracies</b>"],
  );
  assert.deepEqual((fig.layout.yaxis2 as { title: unknown }).title, { text: "share" });
});

Deno.test("trainingCurvesFigure: sqrt x axis keeps real steps on ticks and hover; NaN breaks the line", () => {
  const fig = trainingCurvesFigure(
    [{
      title: "rho",
      series: [{
        name: "a",
        points: [{ step: 0, value: 1 }, { step: 100, value: NaN }, { step: 400, value: 2 }],
      }],
    }],
    { xScale: "sqrt" },
  );
  assert.deepEqual(fig.data[0].x, [0, 10, 20]);
  assert.deepEqual(fig.data[0].customdata, [0, 100, 400]);
  assert.deepEqual(fig.data[0].y, [1, null, 2]);
  const axis = fig.layout.xaxis as { tickvals: number[]; ticktext: string[] };
  assert.deepEqual(axis.tickvals.map((v) => v * v).map(Math.round), axis.ticktext.map(Number));
  assert.ok(axis.ticktext.includes("100"));
});

Deno.test("trainingCurvesFigure refuses bad input, naming the series", () => {
  assert.throws(
    () => trainingCurvesFigure([]),
    /trainingCurvesFigure: Expected a non-empty array of panels/,
  );
  assert.throws(
    () =>
      trainingCurvesFigure([{
        title: "l",
        series: [{ name: "x", points: [{ step: NaN, value: 1 }] }],
      }]),
    /panels\[0\]\.series\[0\] \(x\)\.points\[0\]\.step: Expected a finite step/,
  );
  assert.throws(
    () =>
      trainingCurvesFigure([{
        title: "l",
        series: [{ name: "x", points: [{ step: -1, value: 1 }] }],
      }], { xScale: "sqrt" }),
    /≥ 0 on a sqrt axis/,
  );
});

Deno.test("logSeries reads TRL-style log rows and skips rows without the key", () => {
  const log = [
    { step: 10, loss: 0.69, "rewards/accuracies": 0.5 },
    { step: 20, "rewards/margins": 0.1 },
    { step: 30, loss: 0.5, "rewards/accuracies": 0.75 },
  ];
  assert.deepEqual(logSeries(log, "rewards/accuracies", { group: "HALO", name: "HALO seed 0" }), {
    name: "HALO seed 0",
    group: "HALO",
    points: [{ step: 10, value: 0.5 }, { step: 30, value: 0.75 }],
  });
  assert.throws(
    () => logSeries([{ loss: 1 }], "loss"),
    /logSeries rows\[0\]\.step: Expected a finite step number/,
  );
});

Deno.test("distributionFigure bins exactly and counts what it dropped", () => {
  const fig = distributionFigure(
    [{ name: "before", values: [0, 0.1, 0.5, 0.9, 1, NaN] }, { name: "after", values: [0, 0] }],
    { bins: 2, range: [0, 1] },
  );
  assert.deepEqual(fig.data[0].y, [0.4, 0.6]);
  assert.equal(fig.data[0].name, "before (n = 5, 1 not finite)");
  assert.deepEqual(fig.data[1].y, [1, 0]);
  assert.deepEqual(fig.data[0].x, [0.25, 0.75]);
  assert.deepEqual((fig.data[0].customdata as unknown[][])[1], ["0.5", "1", 3]);
  assert.throws(
    () => distributionFigure([{ name: "a", values: [NaN] }]),
    /at least one finite value/,
  );
  assert.throws(
    () => distributionFigure([{ name: "a", values: [1] }], { range: [1, 1] }),
    /min < max/,
  );
});

Deno.test("agreementScatterFigure names each series with its Spearman rho and subsamples evenly", () => {
  const x = Array.from({ length: 10 }, (_, i) => i), y = x.map((v) => -v);
  const fig = agreementScatterFigure([{ name: "VRM", x, y, labels: x.map((i) => `p${i}`) }], {
    maxPoints: 5,
  });
  assert.equal(fig.data[0].name, "VRM (ρ = -1, n = 10, 5 of 10 drawn)");
  assert.deepEqual(fig.data[0].y, [-0, -2, -4, -6, -8]);
  assert.deepEqual((fig.data[0].customdata as unknown[][])[1], [2, "p2"]);
  const diagonal = (fig.layout.shapes as Array<Record<string, number>>)[0];
  assert.deepEqual([diagonal.x0, diagonal.x1], [-8, 8]);
  assert.throws(
    () => agreementScatterFigure([{ name: "a", x: [1, 2], y: [1] }]),
    /series\[0\] \(a\): Expected as many y as x values \(2\)/,
  );
});

Deno.test("subplotGrid tiles the plot area without overlaps", () => {
  const g = subplotGrid(5, 2);
  assert.equal(g.rows, 3);
  const boxes = g.refs.map((_, i) => {
    const k = i === 0 ? "" : String(i + 1);
    return { x: g.axes[`xaxis${k}`].domain as number[], y: g.axes[`yaxis${k}`].domain as number[] };
  });
  for (const b of boxes) {
    for (const d of [b.x, b.y]) assert.ok(d[0] >= 0 && d[1] <= 1 + 1e-9 && d[0] < d[1]);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const overlapX = boxes[i].x[0] < boxes[j].x[1] && boxes[j].x[0] < boxes[i].x[1];
      const overlapY = boxes[i].y[0] < boxes[j].y[1] && boxes[j].y[0] < boxes[i].y[1];
      assert.ok(!(overlapX && overlapY), `subplots ${i} and ${j} overlap`);
    }
  }
});

Deno.test("escapeLabel keeps untrusted text from becoming markup", () => {
  assert.equal(escapeLabel('<img src=x onerror="1">&'), '&lt;img src=x onerror="1"&gt;&amp;');
});

Deno.test("pretrainCurveFigure: one subplot per metric, minutes on x, blobs relative to the objects asked", async () => {
  const { pretrainCurveFigure, readPretrainRuns } = await import(
    "../lib/report/figure_pretrain.ts"
  );
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/g.eval.jsonl`;
    await Deno.writeTextFile(
      file,
      [
        { step: 1000, seconds: 600, judgeShapeAccuracy: 0.25, blobsPerFrame: 4, promptCount: 2 },
        { step: 2000, seconds: 1200, judgeShapeAccuracy: 0.5, blobsPerFrame: 2, promptCount: 2 },
      ].map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const runs = await readPretrainRuns([`depth 4=${file}`]);
    assert.equal(runs[0].name, "depth 4");
    const fig = pretrainCurveFigure(runs);
    assert.equal(fig.data.length, 6);
    const byTitle = (i: number) => fig.data[i] as unknown as { x: number[]; y: number[] };
    assert.deepEqual(byTitle(1).x, [10, 20]); // minutes
    assert.deepEqual(byTitle(1).y, [0.25, 0.5]); // shape
    assert.deepEqual(byTitle(4).y, [2, 1]); // blobs ÷ asked
    await Deno.writeTextFile(`${dir}/empty.eval.jsonl`, "");
    await assert.rejects(
      () => readPretrainRuns([`${dir}/empty.eval.jsonl`]),
      /Expected validation records/,
    );
    assert.throws(() => pretrainCurveFigure([]), /Expected a non-empty array of runs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
