import assert from "node:assert/strict";
import { join } from "node:path";
import {
  appendJsonLines,
  pathExists,
  readJsonLines,
  trimJsonLines,
  writeFileAtomic,
} from "../lib/core/_atomic.ts";
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
    // a log torn inside its only line starts again from empty
    const only = join(dir, "only.jsonl");
    await Deno.writeTextFile(only, '{"a": 1, "t');
    await appendJsonLines(only, [{ a: 5 }]);
    assert.equal(await Deno.readTextFile(only), '{"a":5}\n');
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

Deno.test("trimJsonLines drops what the predicate rejects, rewriting only when needed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/log.jsonl`;
    assert.deepEqual(await trimJsonLines(path, () => true), [], "missing file");
    await appendJsonLines(path, [{ step: 1 }, { step: 2 }, { step: 3 }]);
    const before = (await Deno.stat(path)).mtime;
    assert.deepEqual(await trimJsonLines<{ step: number }>(path, (r) => r.step <= 3), [
      { step: 1 },
      { step: 2 },
      { step: 3 },
    ]);
    assert.deepEqual((await Deno.stat(path)).mtime, before, "nothing dropped: not rewritten");
    await trimJsonLines<{ step: number }>(path, (r) => r.step <= 2);
    assert.deepEqual(await readJsonLines(path), [{ step: 1 }, { step: 2 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pathExists: true, false for a missing path, thrown for anything else", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await pathExists(dir), true);
    assert.equal(await pathExists(`${dir}/missing`), false);
    await Deno.writeTextFile(`${dir}/file`, "x");
    await assert.rejects(
      () => pathExists(`${dir}/file/below`),
      (e) => !(e instanceof Deno.errors.NotFound),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
