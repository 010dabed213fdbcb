import assert from "node:assert/strict";
import {
  compareRequestSettings,
  formatSettingsTable,
  REQUEST_SETTINGS,
} from "../lib/labels/settings.ts";

Deno.test("settings: low detail on strips within one tile keeps the labels and cuts tokens", async () => {
  const rows = await compareRequestSettings({
    perKind: 1,
    settings: [
      REQUEST_SETTINGS[0],
      { name: "96 px, low", options: { frameSide: 96, detail: "low" } },
      { name: "2 frames", options: { framesPerSegment: 2 } },
    ],
  });
  const [base, low, two] = rows;
  assert.ok(base.exact > 0.99 && base.topK === 1);
  assert.equal(low.exact, base.exact);
  assert.ok(low.tokens < 0.5 * base.tokens, `${low.tokens} vs ${base.tokens}`);
  assert.ok(two.tokens < base.tokens);
  assert.ok(two.bytes < base.bytes);
  const table = formatSettingsTable(rows);
  assert.equal(table.split("\n").length, 5);
  assert.match(table, /\| 96 px, low \| [\d.]+ kB \| \d+ \|/);
});
