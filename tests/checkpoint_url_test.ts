/**
 * Checkpoints by URL: a `file:` URL reads the local folder, an `http:` URL is
 * fetched and checked like a local folder, and every remote failure (bad
 * hash, HTTP status, no server) is an error naming the URL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { initBackend } from "../lib/tensor/backend.ts";
import { addParam, createParams, disposeParams, readParams } from "../lib/tensor/nn.ts";
import { createAdam } from "../lib/tensor/adam.ts";
import {
  loadCheckpoint,
  readCheckpointManifest,
  saveCheckpoint,
} from "../lib/tensor/checkpoint.ts";
import { createGenerator, disposeGenerator, type Generator } from "../lib/generator/model.ts";
import { loadGenerator, saveGenerator } from "../lib/generator/io.ts";
import { disposeRewardModel } from "../lib/reward/model.ts";
import { loadRewardModel } from "../lib/reward/io.ts";
import { shipped } from "../lib/core/shipped.ts";
import { closedPort, serveFiles } from "./_serve.ts";
import { steppedGenerator, TINY_GENERATOR, withTempDir } from "./_helpers.ts";
import type * as tf from "@tensorflow/tfjs";

await initBackend();

/** Every parameter's values by name, read off the backend. */
async function weightsOf(params: Map<string, tf.Variable>): Promise<Map<string, Float32Array>> {
  return new Map((await readParams(params)).map((p) => [p.name, p.values]));
}

async function assertSameWeights(a: Generator, b: Generator): Promise<void> {
  const [wa, wb] = [await weightsOf(a.params), await weightsOf(b.params)];
  assert.deepEqual([...wb.keys()], [...wa.keys()]);
  for (const [name, values] of wa) assert.deepEqual(wb.get(name), values, name);
}

/** The origin as a regular expression (for error messages naming URLs). */
const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

Deno.test("a file: URL, as a string or a URL object, loads the local checkpoint", async () => {
  await withTempDir(async (dir) => {
    const gen = createGenerator(TINY_GENERATOR, { seed: 3 });
    await saveGenerator(join(dir, "g"), gen, { step: 4 });
    const url = pathToFileURL(join(dir, "g"));
    for (const ref of [url, url.href, `${url.href}/`]) {
      const { generator, step } = await loadGenerator(ref);
      assert.equal(step, 4);
      await assertSameWeights(gen, generator);
      disposeGenerator(generator);
    }
    // a file: URL is a local folder: errors name its path, as for a path
    await assert.rejects(
      () => readCheckpointManifest(pathToFileURL(join(dir, "missing"))),
      new RegExp(
        `^RangeError: ${quote(join(dir, "missing", "config.json"))}: ` +
          `Expected a checkpoint's config\\.json but found "no such file"$`,
      ),
    );
    disposeGenerator(gen);
  });
});

Deno.test("over http: the weights and optimiser state are bit-identical to the local load", async () => {
  await withTempDir(async (dir) => {
    const { gen, adam } = steppedGenerator(5);
    await saveGenerator(join(dir, "g"), gen, { step: 7, optimizer: adam });
    const server = serveFiles(dir);
    try {
      const local = await loadGenerator(join(dir, "g"));
      // no trailing slash, a trailing slash, a URL object: the same folder
      for (
        const ref of [`${server.origin}/g`, `${server.origin}/g/`, new URL("/g", server.origin)]
      ) {
        const remote = await loadGenerator(ref);
        assert.equal(remote.step, 7);
        assert.deepEqual(remote.manifest, local.manifest);
        await assertSameWeights(local.generator, remote.generator);
        disposeGenerator(remote.generator);
      }
      assert.ok(server.log.includes("/g/config.json"), server.log.join(" "));
      assert.ok(server.log.includes("/g/weights.bin"), server.log.join(" "));
      assert.ok(!server.log.includes("/g/optimizer.bin"), "optimizer.bin read unasked");
      const adam2 = createAdam(local.generator.params);
      await loadCheckpoint(`${server.origin}/g`, { kind: "generator", optimizer: adam2 });
      assert.ok(server.log.includes("/g/optimizer.bin"));
      assert.equal(adam2.step, 1);
      const [m1, m2] = [
        await weightsOf(adam.state().tensors),
        await weightsOf(adam2.state().tensors),
      ];
      for (const [name, values] of m1) assert.deepEqual(m2.get(name), values, name);
      [adam, adam2].forEach((a) => a.dispose());
      disposeGenerator(local.generator);
    } finally {
      await server.close();
      disposeGenerator(gen);
    }
  });
});

Deno.test("the shipped PRM over http equals the shipped PRM read from disk", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const server = serveFiles(root, (path) => path.startsWith("data/"));
  try {
    const local = await loadRewardModel(shipped.prm);
    const remote = await loadRewardModel(`${server.origin}/data/reward/prm`);
    assert.deepEqual(remote.model.config, local.model.config);
    const [a, b] = [await weightsOf(local.model.params), await weightsOf(remote.model.params)];
    for (const [name, values] of a) assert.deepEqual(b.get(name), values, name);
    assert.ok(server.log.includes("/data/reward/prm/weights.bin"));
    disposeRewardModel(local.model);
    disposeRewardModel(remote.model);
  } finally {
    await server.close();
  }
});

Deno.test("corrupt weights over http: a SHA-256 error naming the URL, the model untouched", async () => {
  await withTempDir(async (dir) => {
    const params = createParams();
    addParam(params, "w", [4, 4], { seed: 2 });
    await saveCheckpoint(join(dir, "c"), { kind: "demo", config: { a: 1 }, params });
    const file = join(dir, "c", "weights.bin");
    const bytes = await Deno.readFile(file);
    bytes[5] ^= 0xff;
    await Deno.writeFile(file, bytes);
    const target = createParams();
    const w = addParam(target, "w", [4, 4], { init: "zeros" });
    const server = serveFiles(dir);
    try {
      await assert.rejects(
        () => loadCheckpoint(`${server.origin}/c`, { kind: "demo", params: target }),
        new RegExp(
          `^RangeError: ${quote(server.origin)}/c/weights\\.bin: ` +
            `Expected weights with SHA-256 [0-9a-f]{12}… \\(file corrupt or truncated\\) ` +
            `but found "[0-9a-f]{12}… over 64 bytes"$`,
        ),
      );
      assert.ok(w.dataSync().every((v) => v === 0));
    } finally {
      await server.close();
      disposeParams(params);
      disposeParams(target);
    }
  });
});

Deno.test("an HTTP status other than 200 is an error naming the URL and the status", async () => {
  await withTempDir(async (dir) => {
    const params = createParams();
    addParam(params, "w", [3], { seed: 1 });
    await saveCheckpoint(join(dir, "c"), { kind: "demo", config: {}, params });
    await Deno.remove(join(dir, "c", "weights.bin"));
    const server = serveFiles(dir);
    try {
      await assert.rejects(
        () => readCheckpointManifest(`${server.origin}/nowhere`),
        new RegExp(
          `^RangeError: ${quote(server.origin)}/nowhere/config\\.json: Expected a checkpoint's ` +
            `config\\.json \\(HTTP status 200\\) but found "HTTP status 404 Not Found"$`,
        ),
      );
      // the manifest is there, the weights are not
      await assert.rejects(
        () => loadCheckpoint(new URL("/c/", server.origin), { kind: "demo", params }),
        new RegExp(
          `^RangeError: ${quote(server.origin)}/c/weights\\.bin: Expected a weights file ` +
            `\\(HTTP status 200\\) but found "HTTP status 404 Not Found"$`,
        ),
      );
    } finally {
      await server.close();
      disposeParams(params);
    }
  });
});

Deno.test("an unreachable server is an error naming the URL and saying what to do", async () => {
  const url = `http://127.0.0.1:${closedPort()}/data/generator`;
  const error = await loadGenerator(url).then(() => undefined, (e: Error) => e);
  assert.ok(error instanceof RangeError, String(error));
  assert.match(
    error.message,
    new RegExp(
      `^${quote(url)}/config\\.json: Expected a reachable URL \\(offline\\? copy the checkpoint ` +
        `to a local folder and pass its path\\) but found "the kit could not reach it \\(.+\\)"$`,
    ),
  );
  assert.ok(error.cause instanceof Error, "the fetch error is kept as the cause");
});

Deno.test("a reference that is neither a path nor a file: or http(s): URL is refused up front", async () => {
  await assert.rejects(
    () => loadCheckpoint(42 as unknown as string, { kind: "demo" }),
    /^RangeError: loadCheckpoint: Expected a checkpoint path, or a file: or http\(s\): URL \(string or URL\) but found 42$/,
  );
  await assert.rejects(
    () => readCheckpointManifest("ftp://example.com/ckpt"),
    /^RangeError: readCheckpointManifest: Expected a checkpoint path, or a file: or http\(s\): URL but found "ftp:\/\/example\.com\/ckpt"$/,
  );
  await assert.rejects(
    () => loadGenerator(new URL("data:text/plain,hi")),
    /readCheckpointManifest: Expected a checkpoint path, or a file: or http\(s\): URL but found "data:text\/plain,hi"$/,
  );
});
