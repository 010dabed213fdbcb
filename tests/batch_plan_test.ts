import assert from "node:assert/strict";
import { createRng } from "../lib/core/_rng.ts";
import {
  BATCH_LIMITS,
  FilePacker,
  planBatchFiles,
  resolveBatchLimits,
  utf8Bytes,
} from "../lib/labels/batch_plan.ts";

Deno.test("the defaults are the Batch API's limits; bad limits are named", () => {
  assert.deepEqual(resolveBatchLimits(), { maxRequestsPerFile: 50_000, maxBytesPerFile: 2e8 });
  assert.equal(BATCH_LIMITS.maxRequestsPerFile, 50_000);
  assert.throws(() => resolveBatchLimits({ maxRequestsPerFile: 0 }), /maxRequestsPerFile/);
  assert.throws(() => new FilePacker().add(0), /Expected a byte count/);
});

Deno.test("every planned file is under both limits, in order, and nothing is lost", () => {
  const rng = createRng(7);
  for (let trial = 0; trial < 300; trial++) {
    const sizes = Array.from({ length: rng.int(200) }, () => 1 + rng.int(300));
    const maxRequestsPerFile = 1 + rng.int(20);
    const maxBytesPerFile = 50 + rng.int(950);
    {
      const { files, tooLarge } = planBatchFiles(sizes, { maxRequestsPerFile, maxBytesPerFile });
      const placed = files.flatMap((f) => f.items);
      assert.deepEqual(
        [...placed, ...tooLarge].sort((a, b) => a - b),
        sizes.map((_, i) => i),
      );
      assert.deepEqual(placed, [...placed].sort((a, b) => a - b));
      for (const f of files) {
        assert.ok(f.items.length >= 1 && f.items.length <= maxRequestsPerFile);
        assert.equal(f.bytes, f.items.reduce((a, i) => a + sizes[i], 0));
        assert.ok(f.bytes <= maxBytesPerFile);
      }
      for (const i of tooLarge) assert.ok(sizes[i] > maxBytesPerFile);
      // Greedy: no file could have taken the first line of the next one.
      for (let k = 0; k + 1 < files.length; k++) {
        const next = sizes[files[k + 1].items[0]];
        assert.ok(
          files[k].items.length === maxRequestsPerFile || files[k].bytes + next > maxBytesPerFile,
        );
      }
    }
  }
});

Deno.test("utf8Bytes counts what TextEncoder writes", () => {
  for (const text of ["", "abc", "é", "→ 🎥 ok", "a\u0000b"]) {
    assert.equal(utf8Bytes(text), new TextEncoder().encode(text).length, text);
  }
});
