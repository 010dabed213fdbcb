/**
 * Static pictures of figure specs: the same {@linkcode Figure} that notebooks
 * and the report draw interactively, rendered to PNG by plotly.js itself
 * (`Plotly.toImage`) inside headless Chromium, offline. This is how the
 * README's charts are made.
 * @module
 */

import { join } from "node:path";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { openBrowser } from "./_chromium.ts";
import type { Figure } from "./figure.ts";
import { fromBase64 } from "../labels/images.ts";
import { plotlyScript } from "./plotly.ts";

/** Options for {@linkcode figurePngs}. */
export interface FigurePngOptions {
  /** Picture width in CSS pixels. Default 900. */
  width?: number;
  /** Picture height in CSS pixels. Default: the figure's `layout.height`, else 450. */
  height?: number;
  /** Device pixel ratio (2 = sharp on high-DPI screens). Default 2. */
  scale?: number;
}

/**
 * Renders figures to PNG bytes in one headless Chromium session (Debian's
 * `chromium`; see `_chromium.ts`).
 *
 * @example
 * ```ts ignore
 * import { figurePngs } from "@halo/kit/report";
 * import { resultsFigure } from "@halo/kit";
 * const [png] = await figurePngs([resultsFigure([{ method: "Base", metric: "score", mean: 2, lo: 1.8, hi: 2.2 }])]);
 * await Deno.writeFile("results.png", png);
 * ```
 */
export async function figurePngs(
  figures: readonly Figure[],
  options: FigurePngOptions = {},
): Promise<Uint8Array[]> {
  const where = "figurePngs";
  if (!Array.isArray(figures) || figures.length === 0) {
    fail(where, "a non-empty array of figures", figures);
  }
  figures.forEach((f, i) => {
    if (!f || !Array.isArray(f.data) || typeof f.layout !== "object") {
      fail(`${where} figures[${i}]`, "a figure { data, layout }", f);
    }
  });
  const width = checkInt(where, "width", options.width ?? 900, 64, 8192);
  const scale = checkNumber(where, "scale", options.scale ?? 2, 0.25, 8);
  if (options.height !== undefined) checkInt(where, "height", options.height, 64, 8192);
  const dir = await Deno.makeTempDir({ prefix: "halo-figure-" });
  const browser = await openBrowser();
  try {
    const page = join(dir, "render.html");
    await Deno.writeTextFile(
      page,
      `<!doctype html><html><head><meta charset="utf-8">${await plotlyScript()}</head>` +
        `<body><div id="f"></div></body></html>`,
    );
    const tab = await browser.newPage();
    await tab.goto(`file://${page}`, { timeout: 180_000 });
    const out: Uint8Array[] = [];
    for (const fig of figures) {
      const height = options.height ??
        (typeof fig.layout.height === "number" ? fig.layout.height : 450);
      const url = await tab.evaluate(
        async ({ fig, width, height, scale }) => {
          const plotly = (globalThis as unknown as {
            Plotly: {
              newPlot(el: string, data: unknown, layout: unknown): Promise<unknown>;
              toImage(gd: unknown, o: Record<string, unknown>): Promise<string>;
            };
          }).Plotly;
          const gd = await plotly.newPlot("f", fig.data, { ...fig.layout, width, height });
          return await plotly.toImage(gd, { format: "png", width, height, scale });
        },
        { fig: { data: fig.data, layout: fig.layout }, width, height, scale },
      );
      const prefix = "data:image/png;base64,";
      if (!url.startsWith(prefix)) {
        fail(where, "a PNG data URL from Plotly.toImage", url.slice(0, 40));
      }
      out.push(fromBase64(url.slice(prefix.length)));
    }
    if (browser.blocked.length) {
      throw new Error(
        `${where}: Expected no network requests but found ${browser.blocked.join(", ")}`,
      );
    }
    return out;
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Renders one figure to PNG bytes; see {@linkcode figurePngs}. */
export async function figurePng(fig: Figure, options: FigurePngOptions = {}): Promise<Uint8Array> {
  return (await figurePngs([fig], options))[0];
}
