/**
 * Sections 3 and 4 for post-training: bad pairs files (property-based) at
 * `readPairs` and `deno task post-train`, and `deno task pairs` and
 * `deno task post-train` killed at random points and resumed to the
 * uninterrupted result, byte for byte.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { readJsonLines } from "../../lib/core/_atomic.ts";
import { createRng } from "../../lib/core/_rng.ts";
import { readCheckpointManifest } from "../../lib/tensor/checkpoint.ts";
import { readPairs } from "../../lib/pairs/file.ts";
import { tinyPairsSetup } from "../_dpo_fixtures.ts";
import { countCycles, ledger, suiteDir } from "./_ledger.ts";
import { killAndResume, startupMs } from "./_kills.ts";
import { runTask, spawnTask } from "./_tasks.ts";
import { BAD_VALUES, SEED, tryInput } from "./_inputs.ts";

let made: Promise<{ dir: string; pairs: string }> | undefined;

/** A tiny generator, PRM and pairs folder, made once for the section. */
function setup(): Promise<{ dir: string; pairs: string }> {
  return made ??= (async () => {
    const dir = await suiteDir("post");
    const pairs = await tinyPairsSetup(dir, { prompts: 3, candidates: 3 });
    return { dir, pairs: pairs.file };
  })();
}

const ENV = { HALO_BACKEND: "wasm" };

Deno.test("inputs: pairs files with a missing clip, a wrong patch count, NaN scores or `..` paths are named", async () => {
  const { dir, pairs } = await setup();
  const good = (await Deno.readTextFile(pairs)).split("\n").filter(Boolean);
  const pair = JSON.parse(good[0]);
  const file = join(dir, "pairs", "fuzz.jsonl");
  const fields: Array<Array<string | number>> = [
    ["id"],
    ["prompt"],
    ["grid"],
    ["shape"],
    ["shape", 0],
    ["video_gap"],
    ["patch_gaps"],
    ["patch_gaps", 3],
    ["chosen"],
    ["chosen", "clip"],
    ["chosen", "sha256"],
    ["chosen", "video_score"],
    ["rejected", "patch_scores"],
    ["rejected", "patch_scores", 0],
  ];
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("set" as const),
      at: fc.constantFrom(...fields),
      value: fc.constantFrom(...BAD_VALUES, "NaN-literal", "clips/gone.rgb", "../../x.rgb"),
    }),
    fc.record({ kind: fc.constant("drop-score" as const), at: fc.integer({ min: 0, max: 7 }) }),
    fc.record({
      kind: fc.constant("cut" as const),
      at: fc.double({ min: 0.05, max: 0.99, noNaN: true }),
    }),
    fc.record({ kind: fc.constant("patches" as const), n: fc.constantFrom(4, 16, 64) }),
  );
  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      // Values a field legitimately takes are not bad: any string id, any finite score or gap.
      if (m.kind === "set") {
        const leaf = m.at[m.at.length - 1];
        const scoreValue = m.at.some((k) => typeof k === "string" && /gap|score/.test(k)) &&
          (typeof leaf === "number" || leaf === "video_gap" || leaf === "video_score");
        if (m.at[0] === "id" && typeof m.value === "string") return;
        if (scoreValue && typeof m.value === "number" && Number.isFinite(m.value)) return;
      }
      const bad = structuredClone(pair);
      let text: string;
      if (m.kind === "set") {
        let parent = bad;
        for (const k of m.at.slice(0, -1)) parent = parent[k];
        parent[m.at[m.at.length - 1]] = m.value === "NaN-literal" ? "__NAN__" : m.value;
      }
      if (m.kind === "drop-score") bad.chosen.patch_scores.splice(m.at, 1);
      text = JSON.stringify(bad).replace('"__NAN__"', "NaN");
      if (m.kind === "cut") text = text.slice(0, Math.floor(m.at * text.length));
      await Deno.writeTextFile(file, `${good[1]}\n${text}\n`);
      const options = m.kind === "patches" ? { patches: m.n } : {};
      const outcome = await tryInput([file], () => readPairs(file, options));
      assert.equal(outcome.ok, false, `accepted ${JSON.stringify(m)}`);
    }),
    { numRuns: 40, seed: SEED },
  );
  // Post-training refuses a pairs file whose clip is gone, naming it, and writes nothing.
  const missing = join(dir, "pairs", "missing.jsonl");
  await Deno.writeTextFile(
    missing,
    JSON.stringify({ ...pair, chosen: { ...pair.chosen, clip: "clips/gone.rgb" } }) + "\n",
  );
  ledger.inputs++;
  // The tasks write under out/ of their working directory (deno.json: --allow-write=out,data).
  const out = join(dir, "out", "never");
  const run = await runTask("post-train", [
    "--out",
    "out/never",
    "--pairs",
    missing,
    "--generator",
    join(dir, "gen"),
    "--steps",
    "2",
    "--quiet",
  ], { env: ENV, cwd: dir });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /missing\.jsonl:1 \(pair .*\): Expected its clip file clips\/gone\.rgb/);
  await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
});

Deno.test("kills: `deno task pairs` killed at random points resumes to the uninterrupted pairs, byte for byte", async () => {
  const { dir } = await setup();
  const args = (out: string) => [
    "--out",
    out,
    "--generator",
    join(dir, "gen"),
    "--prm",
    join(dir, "prm"),
    "--prompts",
    "8",
    "--candidates",
    "3",
    "--steps",
    "2",
    "--margin",
    "0",
    "--quiet",
  ];
  const clean = "out/pairs-clean", killed = "out/pairs-killed";
  const t0 = performance.now();
  const whole = await runTask("pairs", args(clean), { env: ENV, cwd: dir });
  const total = performance.now() - t0;
  assert.equal(whole.code, 0, whole.stderr);
  const boot = await startupMs("pairs");
  const check = async () => {
    assert.deepEqual(
      await Deno.readFile(join(dir, killed, "pairs.jsonl")),
      await Deno.readFile(join(dir, clean, "pairs.jsonl")),
    );
    const pairs = await readPairs(join(dir, killed, "pairs.jsonl"));
    for (const q of pairs) {
      for (const side of [q.chosen, q.rejected]) {
        assert.deepEqual(
          await Deno.readFile(join(dir, killed, side.clip)),
          await Deno.readFile(join(dir, clean, side.clip)),
        );
      }
    }
    return pairs.length;
  };
  const { kills, final, rounds } = await killAndResume({
    start: () => spawnTask("pairs", args(killed), { env: ENV, cwd: dir }),
    kills: 4,
    delayMs: [boot * 0.7, boot + 0.25 * Math.max(0, total - boot)],
    rng: createRng(81),
    nextRound: async () => {
      await check();
      await Deno.remove(join(dir, killed), { recursive: true });
    },
  });
  countCycles("pairs", kills);
  assert.equal(final.code, 0, final.stderr);
  const count = await check();
  assert.ok(kills >= 2, `${kills} kills landed`);
  console.log(
    `pairs: ${kills} kills in ${rounds} round(s); ${count} pairs and their clips equal`,
  );
});

Deno.test("kills: `deno task post-train` killed at random points resumes to the uninterrupted checkpoint, byte for byte", async () => {
  const { dir, pairs } = await setup();
  const args = (out: string) => [
    "--out",
    out,
    "--pairs",
    pairs,
    "--generator",
    join(dir, "gen"),
    "--steps",
    "16",
    "--batch-size",
    "2",
    "--lr",
    "1e-3",
    "--checkpoint-every",
    "2",
    "--quiet",
  ];
  const clean = join(dir, "out/post-clean"), killed = join(dir, "out/post-killed");
  const t0 = performance.now();
  const whole = await runTask("post-train", args("out/post-clean"), { env: ENV, cwd: dir });
  const total = performance.now() - t0;
  assert.equal(whole.code, 0, whole.stderr);
  const boot = await startupMs("post-train");
  const check = async () => {
    for (const file of ["weights.bin", "optimizer.bin"]) {
      assert.deepEqual(
        await Deno.readFile(join(killed, file)),
        await Deno.readFile(join(clean, file)),
        `${file} differs after kills`,
      );
    }
    const a = await readCheckpointManifest(killed), b = await readCheckpointManifest(clean);
    assert.equal(a.step, 16);
    delete a.meta.wallSeconds;
    delete b.meta.wallSeconds;
    assert.deepEqual(a, b);
    const strip = (rows: Array<Record<string, unknown>>) =>
      rows.map(({ seconds: _, ...rest }) => rest);
    assert.deepEqual(
      strip(await readJsonLines(`${killed}.log.jsonl`)),
      strip(await readJsonLines(`${clean}.log.jsonl`)),
    );
  };
  const { kills, final, rounds } = await killAndResume({
    start: () => spawnTask("post-train", args("out/post-killed"), { env: ENV, cwd: dir }),
    kills: 5,
    delayMs: [boot * 0.7, boot + 0.15 * Math.max(0, total - boot)],
    rng: createRng(91),
    nextRound: async () => {
      await check();
      await Deno.remove(killed, { recursive: true });
      await Deno.remove(`${killed}.log.jsonl`);
    },
  });
  countCycles("post-train", kills);
  assert.equal(final.code, 0, final.stderr);
  await check();
  assert.ok(kills >= 3, `${kills} kills landed`);
  console.log(
    `post-train: ${kills} kills in ${rounds} round(s); weights, optimiser state and log equal`,
  );
});
