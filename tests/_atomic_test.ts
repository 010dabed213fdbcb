import assert from "node:assert/strict";
import { join } from "node:path";
import { appendJsonLines, readJsonLines, writeFileAtomic } from "../lib/_atomic.ts";
import { withTempDir } from "./_helpers.ts";

Deno.test("writeFileAtomic replaces the file whole and leaves no temporary files", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "sub", "a.json");
    await writeFileAtomic(path, "one");
    await writeFileAtomic(path, new TextEncoder().encode("two"));
    assert.equal(await Deno.readTextFile(path), "two");
    assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name), ["a.json"]);
  });
});

Deno.test("appendJsonLines recovers from a torn last line; readJsonLines skips one", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "log.jsonl");
    assert.deepEqual(await readJsonLines(path), []);
    await appendJsonLines(path, [{ a: 1 }, { a: 2 }]);
    await Deno.writeTextFile(path, '{"a": 3, "tor', { append: true }); // a writer killed mid-line
    assert.deepEqual(await readJsonLines(path), [{ a: 1 }, { a: 2 }]);
    await appendJsonLines(path, [{ a: 4 }]);
    assert.deepEqual(await readJsonLines(path), [{ a: 1 }, { a: 2 }, { a: 4 }]);
    assert.equal(await Deno.readTextFile(path), '{"a":1}\n{"a":2}\n{"a":4}\n');
  });
});

Deno.test("readJsonLines refuses a corrupt line in the middle, naming file and line", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bad.jsonl");
    await Deno.writeTextFile(path, '{"a":1}\nnot json\n{"a":2}\n');
    await assert.rejects(
      () => readJsonLines(path),
      /bad\.jsonl:2: Expected a JSON line but found invalid JSON/,
    );
  });
});
