import assert from "node:assert/strict";
import { CHROMIUM_FLAGS, findChromium, openBrowser } from "../lib/report/_chromium.ts";
import { hasChromium } from "./_browser.ts";

const ignore = !(await hasChromium()) && !Deno.env.get("CI");

Deno.test(
  "Chromium starts with the kit's flags and blocks every request that would use the network",
  { ignore },
  async () => {
    assert.deepEqual(
      [...CHROMIUM_FLAGS],
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    );
    const browser = await openBrowser();
    try {
      const page = await browser.newPage();
      await page.setContent(`<img src="http://127.0.0.1:9/x.png"><p id="p">drawn</p>`);
      assert.equal(await page.textContent("#p"), "drawn");
      const failed = await page.evaluate(() =>
        fetch("https://example.com/").then(() => "reached", (e) => `blocked: ${e}`)
      );
      assert.match(failed, /^blocked/);
      assert.ok(browser.blocked.some((u) => u.startsWith("http://127.0.0.1:9/")));
      assert.ok(browser.blocked.some((u) => u.startsWith("https://example.com")));
    } finally {
      await browser.close();
    }
  },
);

Deno.test("HALO_CHROMIUM naming a missing file is refused with the path", async () => {
  const before = Deno.env.get("HALO_CHROMIUM");
  Deno.env.set("HALO_CHROMIUM", "/nonexistent/chromium");
  try {
    await assert.rejects(
      () => findChromium(),
      /HALO_CHROMIUM: Expected a Chromium binary but found no file \/nonexistent\/chromium/,
    );
  } finally {
    if (before === undefined) Deno.env.delete("HALO_CHROMIUM");
    else Deno.env.set("HALO_CHROMIUM", before);
  }
});
