/**
 * "Imported from JSR", on loopback: the repository's published files (mod.ts,
 * lib/, data/) are served over HTTP, and a script in a folder of its own
 * imports the kit by URL, with only the kit's npm mappings in its deno.json
 * (as JSR resolves the kit's bare specifiers). It must load the shipped
 * generator and PRM over HTTP (`shipped` points next to the imported module),
 * sample a clip and score it. A module of lib/ that read a file next to
 * itself, or a loader that took `shipped` for a local path, fails here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveFiles } from "./_serve.ts";
import { withTempDir } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** What JSR would serve: the module, the library and the shipped data. */
const published = (path: string) =>
  path === "mod.ts" || path.startsWith("lib/") || path.startsWith("data/");

/** The script a user of the published kit would write. Names it uses from mod.ts: see the test. */
function userScript(origin: string): string {
  return `import * as kit from "${origin}/mod.ts";
await kit.initBackend();
const { generator } = await kit.loadGenerator(kit.shipped.generator);
const { model } = await kit.loadRewardModel(kit.shipped.prm);
const prompt = "one red circle moving up slowly on a black background";
const [clip] = await kit.sampleClips(generator, [prompt], { steps: 2, seed: 1 });
const [scores] = await kit.scoreVideo(model, [{ video: clip, prompt }]);
console.log(JSON.stringify({
  generator: kit.shipped.generator.href,
  prm: kit.shipped.prm.href,
  shape: [clip.numFrames, clip.height, clip.width, 3],
  pixels: clip.frames.length,
  score: scores,
}));
`;
}

/** Deno's caches of remote modules and their emit, to drop what the child cached from this one-off origin. */
async function remoteCaches(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return [];
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return [info.modulesCache, info.typescriptCache].filter((d) => typeof d === "string");
}

Deno.test("imported by URL like from JSR: the shipped models load over HTTP, sample and score", async () => {
  const server = serveFiles(ROOT, published);
  const caches = await remoteCaches();
  try {
    await withTempDir(async (tmp) => {
      const { imports } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
      assert.ok(Object.values(imports).every((s) => String(s).startsWith("npm:")));
      await Deno.writeTextFile(join(tmp, "deno.json"), JSON.stringify({ imports }, null, 2));
      await Deno.writeTextFile(join(tmp, "main.ts"), userScript(server.origin));
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--config",
          join(tmp, "deno.json"),
          `--allow-import=127.0.0.1:${server.port}`,
          "--allow-net=127.0.0.1",
          "--allow-read",
          "--allow-env",
          "main.ts",
        ],
        cwd: tmp,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `the script failed (exit ${out.code}):\n${stderr}\n${stdout}`);
      const result = JSON.parse(stdout.trim().split("\n").pop()!);
      // the shipped checkpoints are next to the imported module, so on the server
      assert.equal(result.generator, `${server.origin}/data/generator/`);
      assert.equal(result.prm, `${server.origin}/data/reward/prm/`);
      assert.deepEqual(result.shape, [16, 32, 32, 3]);
      assert.equal(result.pixels, 16 * 32 * 32 * 3);
      const scores = Object.values(result.score) as number[];
      assert.equal(scores.length, 3);
      assert.ok(scores.every((s) => Number.isFinite(s) && s >= 1 && s <= 4), stdout);
      // and they really came over HTTP, as did the module
      for (
        const path of ["/mod.ts", "/data/generator/weights.bin", "/data/reward/prm/weights.bin"]
      ) {
        assert.ok(server.log.includes(path), `${path} not requested: ${server.log.join(" ")}`);
      }
    });
  } finally {
    await server.close();
    for (const cache of caches) {
      await Deno.remove(join(cache, "http", `127.0.0.1_PORT${server.port}`), { recursive: true })
        .catch(() => {});
    }
  }
});
