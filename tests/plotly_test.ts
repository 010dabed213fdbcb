import assert from "node:assert/strict";
import { resultsFigure } from "../lib/report/figure_results.ts";
import {
  display,
  escapeHtml,
  figureDiv,
  figureMimeBundle,
  htmlPage,
  PLOTLY_MIME,
  plotlyScript,
  plotlySource,
  scriptJson,
} from "../lib/report/plotly.ts";

const fig = resultsFigure([{ method: "Base </script><b>", metric: "m", mean: 1, lo: 0.5, hi: 2 }]);

Deno.test("plotlySource is the npm package's plotly.js, and the inline script hides AMD loaders", async () => {
  const src = await plotlySource();
  assert.match(src.slice(0, 200), /plotly\.js v\d+\.\d+\.\d+/);
  assert.ok(src.length > 1_000_000);
  const script = await plotlyScript();
  assert.ok(
    script.startsWith('<script type="text/javascript">(function (define, exports, module) {'),
  );
  assert.equal(script.match(/<\/script/gi)?.length, 1, "only the closing tag");
});

Deno.test("figureMimeBundle: plotly JSON, an HTML fallback with plotly.js inlined once, and text", async () => {
  const first = await figureMimeBundle(fig);
  const second = await figureMimeBundle(fig);
  assert.deepEqual((first[PLOTLY_MIME] as { data: unknown }).data, fig.data);
  assert.ok((first["text/html"] as string).length > 1_000_000, "first figure carries plotly.js");
  assert.ok((second["text/html"] as string).length < 20_000, "later figures do not");
  assert.ok(
    (await figureMimeBundle(fig, { includePlotlyJs: true }))["text/html"] !== second["text/html"],
  );
  assert.match(second["text/plain"] as string, /plotly figure: 1 traces/);
  // plotly.js comes inline, never from a CDN (the browser test checks no request leaves the page)
  assert.ok(!/<script[^>]+src=/i.test(first["text/html"] as string), "no external script");
});

Deno.test("figureDiv embeds the spec so that no string can close its script", () => {
  const html = figureDiv(fig, "fig-1");
  assert.equal(html.match(/<\/script>/g)?.length, 1);
  const json = /var spec = (.*);\n/.exec(html)![1];
  assert.deepEqual(JSON.parse(json).data, JSON.parse(JSON.stringify(fig.data)));
  assert.equal(scriptJson("\u2028</"), '"\\u2028\\u003c/"');
  assert.throws(() => figureDiv(fig, "1 bad"), /figureDiv: Expected an id/);
  assert.throws(() => figureDiv({} as never, "a"), /figureDiv: Expected a figure/);
});

Deno.test("htmlPage is self-contained and escapes its title", async () => {
  const page = await htmlPage({ title: "<report>", body: figureDiv(fig, "f") });
  assert.match(page, /<title>&lt;report&gt;<\/title>/);
  assert.ok(!/<script[^>]+src=/i.test(page), "no external scripts");
  assert.equal(escapeHtml(`"'&`), "&quot;&#39;&amp;");
});

Deno.test("display outside a Jupyter kernel says what to use instead", async () => {
  await assert.rejects(
    () => display(fig),
    /display: Expected to run inside the Deno Jupyter kernel/,
  );
});
