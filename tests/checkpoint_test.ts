import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { addParam, createParams, disposeParams } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import {
  loadCheckpoint,
  readCheckpointManifest,
  saveCheckpoint,
} from "../lib/tensor/checkpoint.ts";
import { createGenerator, disposeGenerator, type GeneratorConfig } from "../lib/generator/model.ts";
import { loadGenerator, saveGenerator } from "../lib/generator/io.ts";
import { steppedGenerator, TINY_GENERATOR } from "./_helpers.ts";

await initBackend();

const TINY: Partial<GeneratorConfig> = TINY_GENERATOR;

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    const bytes = await Deno.readFile(`${dir}/${e.name}`);
    const hash = await crypto.subtle.digest("SHA-256", bytes);
    out[e.name] = Array.from(new Uint8Array(hash)).join(",");
  }
  return out;
}

Deno.test("a generator checkpoint round-trips bit-exactly, optimiser state included", async () => {
  const dir = await Deno.makeTempDir();
  const { gen, adam } = steppedGenerator(5);
  await saveGenerator(`${dir}/g`, gen, { step: 7, optimizer: adam, meta: { seed: 5 } });
  const { generator: back, step, manifest } = await loadGenerator(`${dir}/g`);
  assert.equal(step, 7);
  assert.equal(manifest.meta.seed, 5);
  assert.deepEqual(back.config, gen.config);
  for (const [name, v] of gen.params) {
    assert.deepEqual(back.params.get(name)!.dataSync(), v.dataSync(), name);
  }
  const adam2 = createAdam(back.params);
  await loadCheckpoint(`${dir}/g`, { kind: "generator", optimizer: adam2 });
  assert.equal(adam2.step, 1);
  for (const [name, v] of adam.state().tensors) {
    assert.deepEqual(adam2.state().tensors.get(name)!.dataSync(), v.dataSync(), name);
  }
  // saving again replaces the checkpoint and leaves no temporary siblings
  await saveGenerator(`${dir}/g`, back, { step: 8 });
  assert.equal((await readCheckpointManifest(`${dir}/g`)).step, 8);
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names, ["g"]);
  [adam, adam2].forEach((a) => a.dispose());
  disposeGenerator(gen);
  disposeGenerator(back);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a checkpoint of another config is a clear error and overwrites nothing", async () => {
  const dir = await Deno.makeTempDir();
  const gen = createGenerator(TINY, { seed: 1 });
  await saveGenerator(`${dir}/g`, gen);
  const before = await snapshot(`${dir}/g`);
  await assert.rejects(
    () => loadGenerator(`${dir}/g`, { config: { ...TINY, dim: 32, heads: 2 } }),
    /Expected a checkpoint of the same config but found .*dim: expected 32 but found 16/,
  );
  const other = createGenerator({ ...TINY, depth: 2 }, { seed: 9 });
  const values = other.params.get("embed.w")!.dataSync().slice();
  await assert.rejects(
    () =>
      loadCheckpoint(`${dir}/g`, { kind: "generator", config: other.config, params: other.params }),
    /depth: expected 2 but found 1/,
  );
  await assert.rejects(
    () => loadCheckpoint(`${dir}/g`, { kind: "reward" }),
    /a "reward" checkpoint/,
  );
  assert.deepEqual(other.params.get("embed.w")!.dataSync(), values);
  assert.deepEqual(await snapshot(`${dir}/g`), before);
  disposeGenerator(gen);
  disposeGenerator(other);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("corrupt or truncated weights are a clear error; the model keeps its weights", async () => {
  const dir = await Deno.makeTempDir();
  const params = createParams();
  addParam(params, "w", [4, 4], { seed: 2 });
  await saveCheckpoint(`${dir}/c`, { kind: "demo", config: { a: 1 }, params });
  const file = `${dir}/c/weights.bin`;
  const bytes = await Deno.readFile(file);
  bytes[5] ^= 0xff;
  await Deno.writeFile(file, bytes);
  const target = createParams();
  const w = addParam(target, "w", [4, 4], { init: "zeros" });
  await assert.rejects(
    () => loadCheckpoint(`${dir}/c`, { kind: "demo", params: target }),
    /weights\.bin: Expected weights with SHA-256 .*corrupt or truncated/,
  );
  await Deno.writeFile(file, bytes.slice(0, 10));
  await assert.rejects(
    () => loadCheckpoint(`${dir}/c`, { kind: "demo", params: target }),
    /corrupt or truncated/,
  );
  assert.ok(w.dataSync().every((v) => v === 0));
  await Deno.writeTextFile(`${dir}/c/config.json`, "{ not json");
  await assert.rejects(
    () => loadCheckpoint(`${dir}/c`, { kind: "demo" }),
    /config\.json: Expected valid JSON/,
  );
  await assert.rejects(
    () => loadCheckpoint(`${dir}/missing`, { kind: "demo" }),
    /config\.json: Expected a checkpoint's config\.json but found "no such file"/,
  );
  disposeParams(params);
  disposeParams(target);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a save that fails leaves the previous checkpoint intact", async () => {
  const dir = await Deno.makeTempDir();
  const params = createParams();
  addParam(params, "w", [3], { seed: 3 });
  await saveCheckpoint(`${dir}/c`, { kind: "demo", config: {}, params, step: 1 });
  const before = await snapshot(`${dir}/c`);
  // a config that cannot be serialised fails mid-save
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(() =>
    saveCheckpoint(`${dir}/c`, { kind: "demo", config: cyclic, params, step: 2 })
  );
  assert.deepEqual(await snapshot(`${dir}/c`), before);
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names, ["c"]);
  disposeParams(params);
  await Deno.remove(dir, { recursive: true });
});
