import assert from "node:assert/strict";
import { ShardStore } from "../lib/labels/_batch_state.ts";
import { withTempDir } from "./_helpers.ts";

const shard = (name: string) => ({
  name,
  round: 0,
  model: "gpt-4o",
  grid: "2x2x4",
  protocol: "p",
  items: [{ key: "k", prompt: "p", source: "s", frames: 4 }],
  bytes: 3,
});

Deno.test("shards round-trip; request files without a state file are cleaned up; names go on", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/labels.jsonl.batches`;
    const { store, shards } = await ShardStore.open(path);
    assert.deepEqual(shards, []);
    assert.equal(store.nextName(), "s000001");
    await store.create(shard("s000001"), ["a", "b"]);
    await store.save({ ...shard("s000001"), batchId: "batch_1" });
    // A run killed between writing a request file and its state leaves an orphan.
    await Deno.writeTextFile(`${path}/s000002.jsonl`, "x\n");
    await Deno.writeTextFile(`${path}/s000003.json.123.tmp`, "{");
    const reopened = await ShardStore.open(path);
    assert.deepEqual(reopened.shards.map((s) => [s.name, s.batchId]), [["s000001", "batch_1"]]);
    assert.deepEqual(await reopened.store.lines("s000001"), ["a", "b"]);
    assert.deepEqual([...Deno.readDirSync(path)].map((e) => e.name).sort(), [
      "s000001.json",
      "s000001.jsonl",
    ]);
    assert.equal(reopened.store.nextName(), "s000002");
    await reopened.store.remove("s000001");
    await reopened.store.close();
    await assert.rejects(Deno.stat(path));
  });
});
