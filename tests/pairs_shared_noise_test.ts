/**
 * Candidates drawn from the same noise (`sharedNoise`, `eta`): a prompt's candidates share one
 * x_T and differ through DDIM's η step noise; the clip key carries the new settings only when
 * used (older folders keep their keys and are not reused wrongly); child processes sample the
 * same clips; η = 0 with shared noise is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { readJsonLines } from "../lib/core/_atomic.ts";
import { sha256Hex } from "../lib/core/_hash.ts";
import { loadGenerator } from "../lib/generator/io.ts";
import { disposeGenerator } from "../lib/generator/model.ts";
import { sampleClips } from "../lib/generator/sampler.ts";
import { quantizePixels } from "../lib/core/_hash.ts";
import { buildPairs } from "../lib/pairs/pairs.ts";
import type { CandidateRecord } from "../lib/pairs/candidates.ts";
import { parseCli } from "../lib/cli/_flags.ts";
import { pairsCommand } from "../lib/cli/pairs.ts";
import { withTempDir } from "./_helpers.ts";
import { tinyPairsOptions, tinyPairsSetup } from "./_dpo_fixtures.ts";

await initBackend();

function tinyOptions(dir: string) {
  return { ...tinyPairsOptions(dir), judgeDiagnostics: false };
}

Deno.test("default candidates keep the clip key they had before shared noise existed", async () => {
  await withTempDir(async (dir) => {
    const r = await tinyPairsSetup(dir);
    const records = await readJsonLines<CandidateRecord>(join(dir, "pairs/candidates.jsonl"));
    assert.equal(records.length, 9);
    for (const c of records) {
      assert.equal("noiseSeed" in c, false);
      const key = await sha256Hex(JSON.stringify({
        v: 1,
        generator: r.manifest.settings.generatorSha256,
        prompt: c.prompt,
        seed: c.seed,
        steps: 2,
        guidance: 2,
      }));
      assert.equal(c.key, key);
    }
    assert.equal("sharedNoise" in r.manifest.settings || "eta" in r.manifest.settings, false);
  });
});

Deno.test("sharedNoise: a prompt's candidates share x_T, sample anew beside old clips, and are what the sampler gives", async () => {
  await withTempDir(async (dir) => {
    await tinyPairsSetup(dir);
    const out = `${dir}/pairs`;
    const shared = await buildPairs({
      ...tinyOptions(dir),
      out,
      sharedNoise: true,
      name: "shared",
    });
    assert.equal(shared.sampled, 9, "old clips (independent noise, η = 0) are not reused");
    assert.deepEqual(
      [shared.manifest.settings.sharedNoise, shared.manifest.settings.eta],
      [true, 0.5],
    );
    const records = (await readJsonLines<CandidateRecord>(join(out, "candidates.jsonl")))
      .filter((c) => c.noiseSeed !== undefined);
    assert.equal(records.length, 9);
    const byPrompt = Map.groupBy(records, (c) => c.prompt);
    assert.equal(byPrompt.size, 3);
    const noiseSeeds = new Set<number>();
    for (const group of byPrompt.values()) {
      assert.equal(new Set(group.map((c) => c.noiseSeed)).size, 1, "one x_T per prompt");
      assert.equal(new Set(group.map((c) => c.seed)).size, 3, "own step noise per candidate");
      noiseSeeds.add(group[0].noiseSeed!);
    }
    assert.equal(noiseSeeds.size, 3, "another x_T for another prompt");
    // each clip is the sampler's clip from (noiseSeed, seed, η = 0.5)
    const { generator } = await loadGenerator(`${dir}/gen`);
    try {
      for (const c of records.slice(0, 3)) {
        const [clip] = await sampleClips(generator, [c.prompt], {
          steps: 2,
          guidance: 2,
          seeds: [c.seed],
          noiseSeeds: [c.noiseSeed!],
          eta: 0.5,
        });
        assert.deepEqual(await Deno.readFile(join(out, c.clip)), quantizePixels(clip.frames));
      }
    } finally {
      disposeGenerator(generator);
    }
    // η alone is part of the key too: independent noise at η = 0.5 samples anew
    const eta = await buildPairs({ ...tinyOptions(dir), out, eta: 0.5, name: "eta" });
    assert.equal(eta.sampled, 9);
    assert.equal(eta.manifest.settings.eta, 0.5);
    // and each setting's rerun samples nothing
    for (const o of [{ sharedNoise: true }, { eta: 0.5 }, {}]) {
      assert.equal(
        (await buildPairs({ ...tinyOptions(dir), out, ...o, name: "again" })).sampled,
        0,
      );
    }
    // another η with shared noise is another clip
    const other = await buildPairs({
      ...tinyOptions(dir),
      out,
      sharedNoise: true,
      eta: 1,
      name: "e1",
    });
    assert.equal(other.sampled, 9);
  });
});

Deno.test("sharedNoise in two child processes samples the clips sampled in-process", async () => {
  await withTempDir(async (dir) => {
    await tinyPairsSetup(dir);
    const options = { ...tinyOptions(dir), sharedNoise: true, eta: 0.3 };
    const serial = await buildPairs({ ...options, out: `${dir}/serial`, jobs: 1 });
    const parallel = await buildPairs({
      ...options,
      out: `${dir}/parallel`,
      jobs: 2,
      batchSize: 2,
    });
    assert.equal(parallel.sampled, 9);
    assert.equal(await Deno.readTextFile(parallel.file), await Deno.readTextFile(serial.file));
    const shard = await readJsonLines<CandidateRecord>(`${dir}/parallel/candidates.0.jsonl`);
    assert.ok(shard.every((c) => typeof c.noiseSeed === "number"));
  });
});

Deno.test("sharedNoise with η = 0 is refused, in buildPairs and at once on the command line", async () => {
  await assert.rejects(
    () => buildPairs({ out: "x", sharedNoise: true, eta: 0 }),
    /buildPairs: Expected eta > 0 with sharedNoise \(with η = 0 DDIM is deterministic, so candidates from the same noise would be the same clip\) but found 0/,
  );
  await assert.rejects(
    () => buildPairs({ out: "x", eta: 1.5 }),
    /Expected eta to be a finite number in \[0, 1\]/,
  );
  await assert.rejects(
    () => buildPairs({ out: "x", sharedNoise: "yes" as never }),
    /sharedNoise true or false/,
  );
  const run = (args: string[]) => pairsCommand.run(parseCli(args, pairsCommand.spec));
  const missing = ["--generator", "/nonexistent", "--prm", "/nonexistent"];
  const t0 = performance.now();
  await assert.rejects(
    () => run([...missing, "--shared-noise", "--eta", "0"]),
    /--eta: Expected η > 0 with --shared-noise .* but found 0/,
  );
  await assert.rejects(
    () => run([...missing, "--eta", "2"]),
    /--eta: Expected a number in \[0, 1\]/,
  );
  await assert.rejects(() => run([...missing, "--eta", "lots"]), /--eta: Expected a number/);
  assert.ok(performance.now() - t0 < 1000, "refused at once");
});
