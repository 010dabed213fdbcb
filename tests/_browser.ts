/// <reference lib="dom" />
/**
 * Opens an HTML page of the kit in real headless Chromium (network off) and
 * reports, per plotly figure: the elements drawn, a hover label read after a
 * real mouse move onto the figure's data, and how non-blank its screenshot is.
 */
import { openBrowser } from "../lib/report/_chromium.ts";
import { findChromium } from "../lib/report/_chromium.ts";
import { decodePng } from "../lib/core/png.ts";

/** What one figure drew. */
export interface FigureCheck {
  /** The figure's div id. */
  id: string;
  /** Traces plotly drew. */
  traces: number;
  /** Drawn elements: heatmap images, layout images, shapes, bars/markers, lines. */
  heatmaps: number;
  images: number;
  shapes: number;
  points: number;
  lines: number;
  /** Text of the hover label after moving the mouse onto the figure's first data element. */
  hover: string;
  /** Share of the figure's screenshot that is not (near) white, and its distinct colours. */
  inked: number;
  colors: number;
}

/** What a page showed. */
export interface PageCheck {
  figures: FigureCheck[];
  /** Requests that would have used the network (blocked). */
  blocked: string[];
  /** Uncaught errors and console errors of the page. */
  errors: string[];
  /** Text of the page's tables, row by row, by table id. */
  tables: Record<string, string[][]>;
}

/** Whether a browser test can run here: Chromium present (CI installs it, so there it must be). */
export async function hasChromium(): Promise<boolean> {
  return (await findChromium()) !== null;
}

/** Opens `path` and checks every `.halo-figure` in it. */
export async function checkPage(path: string): Promise<PageCheck> {
  const browser = await openBrowser();
  const errors: string[] = [];
  try {
    const page = await browser.newPage();
    // a loaded CI machine can be slow to lay out a 5 MB page: wait generously, fail clearly
    page.setDefaultTimeout(120_000);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(`file://${path}`, { timeout: 180_000 });
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll(".halo-figure")].every((d) => d.querySelector(".main-svg")),
      null,
      { timeout: 120_000 },
    );
    const ids = await page.$$eval(".halo-figure", (divs) => divs.map((d) => d.id));
    const figures: FigureCheck[] = [];
    for (const id of ids) {
      const div = page.locator(`#${id}`);
      await div.scrollIntoViewIfNeeded();
      const counts = await div.evaluate((d) => {
        const q = (s: string) => d.querySelectorAll(s).length;
        const gd = d as unknown as { _fullData?: unknown[] };
        return {
          traces: gd._fullData?.length ?? 0,
          heatmaps: q("g.hm image"),
          images: q("image") - q("g.hm image"),
          shapes: q(".shapelayer path"),
          points: q("path.point, g.point > path"),
          lines: q(".scatterlayer path.js-line"),
        };
      });
      // a point on the first data element, in page coordinates
      const target = await div.evaluate((d) => {
        const el = d.querySelector(
          "g.hm image, path.point, g.point > path, .scatterlayer path.js-line",
        ) as
          | SVGGraphicsElement
          | null;
        if (!el) return null;
        if (el instanceof SVGPathElement && el.classList.contains("js-line")) {
          // a vertex of the line is a data point: hover lands on it exactly
          const vertices =
            (el.getAttribute("d") ?? "").match(/[ML]\s*-?[\d.]+(e-?\d+)?,-?[\d.]+(e-?\d+)?/g) ??
              [];
          const [px, py] = (vertices[Math.floor(vertices.length / 2)] ?? "M0,0").slice(1).split(",")
            .map(Number);
          const m = el.getScreenCTM()!;
          let x = px * m.a + py * m.c + m.e, y = px * m.b + py * m.d + m.f;
          // a point on the plot's edge may sit outside its hover area: step 3 px inside it
          for (const drag of d.querySelectorAll(".draglayer .nsewdrag")) {
            const r = drag.getBoundingClientRect();
            if (x >= r.left - 4 && x <= r.right + 4 && y >= r.top - 4 && y <= r.bottom + 4) {
              x = Math.min(Math.max(x, r.left + 3), r.right - 3);
              y = Math.min(Math.max(y, r.top + 3), r.bottom - 3);
              break;
            }
          }
          return { x, y };
        }
        const r = el.getBoundingClientRect();
        // heatmap: the centre of its first cell (rows × cols unknown here: a quarter in is inside one)
        const f = el.tagName === "image" ? 0.12 : 0.5;
        return { x: r.left + r.width * f, y: r.top + r.height * f };
      });
      let hover = "";
      if (target) {
        await page.mouse.move(target.x, target.y);
        try {
          await page.waitForFunction(
            (fid) => document.querySelector(`#${fid} .hoverlayer .hovertext`) !== null,
            id,
            { timeout: 30_000 },
          );
          hover = (await div.locator(".hoverlayer .hovertext").first().textContent()) ?? "";
        } catch {
          hover = "";
        }
        await page.mouse.move(0, 0);
      }
      const shot = decodePng(new Uint8Array(await div.screenshot()));
      let inked = 0;
      const colors = new Set<number>();
      for (let i = 0; i < shot.rgb.length; i += 3) {
        const [r, g, b] = [shot.rgb[i], shot.rgb[i + 1], shot.rgb[i + 2]];
        if (r < 235 || g < 235 || b < 235) inked++;
        if (colors.size < 5000) colors.add((r << 16) | (g << 8) | b);
      }
      figures.push({
        id,
        ...counts,
        hover,
        inked: inked / (shot.rgb.length / 3),
        colors: colors.size,
      });
    }
    const tables = await page.$$eval("table[id]", (ts) =>
      Object.fromEntries(
        ts.map((t) => [
          t.id,
          [...t.querySelectorAll("tbody tr")].map((tr) =>
            [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")
          ),
        ]),
      ));
    return { figures, blocked: [...browser.blocked], errors, tables };
  } finally {
    await browser.close();
  }
}
