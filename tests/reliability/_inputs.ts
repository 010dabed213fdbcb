/**
 * Section 3, bad inputs at every public entry point, property-based with
 * fast-check (fixed seeds, so a failure replays): the video loader, the prompt
 * manifest, labels files, the checkpoint loader, CLI flags and config objects.
 * Each input must either give a valid result or an error that says what was
 * expected and names the input; never a hang, a shell or a partial write.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { COMMANDS } from "../../lib/cli/main.ts";
import { runCli } from "../../lib/cli/_flags.ts";
import { startJudgeServer } from "../../lib/labels/judge_server/server.ts";
import { judgeVideo } from "../../lib/videos/judge.ts";
import { labelVideos } from "../../lib/labels/label.ts";
import { readPromptManifest } from "../../lib/labels/folder.ts";
import { buildLabelRequest } from "../../lib/labels/protocol.ts";
import { parseGrid } from "../../lib/videos/patch.ts";
import { createRewardModel, disposeRewardModel } from "../../lib/reward/model.ts";
import { readLabelsFile } from "../../lib/reward/label_file.ts";
import { loadRewardModel, saveRewardModel } from "../../lib/reward/io.ts";
import { createGenerator, disposeGenerator } from "../../lib/generator/model.ts";
import { readParams } from "../../lib/tensor/nn.ts";
import { createVideo, loadVideo, saveVideo } from "../../lib/videos/video.ts";
import { parsePrompt } from "../../lib/videos/world.ts";
import { ledger, suiteDir } from "./_ledger.ts";
import { TINY_GRID, tinyItems } from "./_responses.ts";
import { ROOT } from "./_tasks.ts";

class Hang extends Error {}

/**
 * Runs an entry point on one input: it succeeds, or throws an Error that says
 * "Expected" and names one of `names`. Anything else fails the test.
 */
export async function tryInput<T>(
  names: readonly string[],
  run: () => T | Promise<T>,
  limitMs = 30_000,
): Promise<{ ok: true; value: T } | { ok: false; message: string }> {
  ledger.inputs++;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Hang(`no answer after ${limitMs} ms`)), limitMs);
    });
    return { ok: true, value: await Promise.race([Promise.resolve().then(run), hang]) };
  } catch (error) {
    if (error instanceof Hang) throw error;
    assert.ok(error instanceof Error, `threw a non-Error: ${String(error)}`);
    const message = error.message;
    assert.match(message, /Expected/, `the error says what was expected: ${message}`);
    assert.ok(
      names.some((n) => message.includes(n)),
      `the error names ${names.join(" or ")}: ${message}`,
    );
    return { ok: false, message };
  } finally {
    clearTimeout(timer);
  }
}

/** No `*.tmp` leftovers (partial writes) under `dir`, and no file named PWNED anywhere we look. */
async function assertClean(dir: string): Promise<void> {
  for await (const e of walk(dir)) {
    assert.doesNotMatch(e, /\.tmp$|\.tmp\//, `partial write left behind: ${e}`);
    assert.doesNotMatch(e, /(^|\/)PWNED$/, `a shell ran: ${e}`);
  }
  for (const where of [ROOT, Deno.cwd()]) {
    for await (const e of Deno.readDir(where)) assert.notEqual(e.name, "PWNED", where);
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    yield path;
    if (e.isDirectory) yield* walk(path);
  }
}

/** File names a user may have, shell metacharacters and all. */
const NAMES = [
  "clip.gif",
  "two words.gif",
  "$(touch PWNED).gif",
  "`touch PWNED`.mp4",
  "a;touch PWNED;.webm",
  "-y.gif",
  "file:x.gif",
  "|cat.gif",
  "ünï 🎬.mov",
  "'q\".gif",
  "%d.gif",
  "nested/../up.gif",
];

/** Values that are wrong for a config field of any type. */
export const BAD_VALUES: unknown[] = [
  NaN,
  Infinity,
  -Infinity,
  -1,
  0.5,
  1e9,
  "16",
  "",
  null,
  true,
  [],
  {},
  "../../etc/passwd",
];

/** The seed of every property of the suite, so a failure replays. */
export const SEED = 20250212;

Deno.test("inputs: the video loader refuses truncated, empty, foreign and odd-named files by name", async () => {
  ledger.sections.add("inputs");
  const dir = await suiteDir("inputs-video");
  await Deno.mkdir(join(dir, "nested"));
  const source = join(dir, "source.gif");
  await saveVideo(tinyItems(1, 31)[0].video, source);
  const gif = await Deno.readFile(source);
  const hugeGif = Uint8Array.from([
    ...new TextEncoder().encode("GIF89a"),
    0xff,
    0xff,
    0xff,
    0xff,
    0xf7,
    0,
    0,
  ]);
  const bytes = fc.oneof(
    fc.constant(new Uint8Array(0)),
    fc.uint8Array({ minLength: 1, maxLength: 512 }),
    fc.integer({ min: 1, max: gif.length - 1 }).map((n) => gif.slice(0, n)),
    fc.uint8Array({ minLength: 6, maxLength: 6 }).map((head) => {
      const out = gif.slice();
      out.set(head);
      return out;
    }),
    fc.uint8Array({ maxLength: 64 }).map((tail) => Uint8Array.from([...hugeGif, ...tail])),
    fc.constant(gif),
  );
  await fc.assert(
    fc.asyncProperty(bytes, fc.constantFrom(...NAMES), async (data, name) => {
      const path = join(dir, name);
      await Deno.writeFile(path, data);
      const outcome = await tryInput([JSON.stringify(path)], () => loadVideo(path));
      if (outcome.ok) {
        assert.ok(outcome.value.numFrames >= 1 && outcome.value.width >= 1);
      }
      await Deno.remove(path);
    }),
    { numRuns: 36, seed: SEED },
  );
  // Not a file at all, and a cap.
  await tryInput([JSON.stringify(dir)], () => loadVideo(dir)).then((o) =>
    assert.equal(o.ok, false)
  );
  const capped = await tryInput(["maxFrames"], () => loadVideo(source, { maxFrames: 2 }));
  assert.equal(capped.ok, false);
  await assertClean(dir);
});

Deno.test("inputs: prompt manifests with wrong types, unknown fields, `..` paths and cut-off JSON are named errors", async () => {
  const dir = await suiteDir("inputs-manifest");
  const path = join(dir, "prompts.json");
  const entry = fc.record(
    {
      file: fc.oneof(
        fc.constantFrom(
          "a.gif",
          "../a.gif",
          "/etc/passwd",
          "sub/../../x.gif",
          "",
          " ",
          "ok dir/b.mp4",
          "$(touch PWNED).gif",
        ),
        fc.string(),
        fc.integer(),
        fc.constant(null),
      ),
      prompt: fc.oneof(fc.constant("a cat"), fc.string(), fc.integer(), fc.constant(null)),
      promt: fc.string(),
    },
    { requiredKeys: [] },
  );
  const manifest = fc.record(
    {
      videos: fc.oneof(fc.array(entry, { maxLength: 4 }), fc.jsonValue()),
      source: fc.string(),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  const text = fc.oneof(
    manifest.map((m) => JSON.stringify(m)),
    manifest.chain((m) => {
      const t = JSON.stringify(m);
      return fc.integer({ min: 0, max: Math.max(0, t.length - 1) }).map((k) => t.slice(0, k));
    }),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string(),
  );
  await fc.assert(
    fc.asyncProperty(text, async (content) => {
      await Deno.writeTextFile(path, content);
      const outcome = await tryInput([path], () => readPromptManifest(dir));
      if (outcome.ok) {
        for (const e of outcome.value) {
          assert.ok(!e.file.startsWith("/") && !e.file.split(/[\\/]/).includes(".."), e.file);
          assert.ok(e.prompt.trim() !== "");
        }
      }
    }),
    { numRuns: 70, seed: SEED },
  );
  await assertClean(dir);
});

Deno.test("inputs: labels files with NaN, wrong types, missing patches and cut lines are named errors", async () => {
  const dir = await suiteDir("inputs-labels");
  const path = join(dir, "labels.jsonl");
  const [item] = tinyItems(1, 41);
  const labels = judgeVideo(item.video, item.prompt, TINY_GRID);
  const record = {
    key: "0".repeat(64),
    protocol: "halo-patch-label-v1",
    model: "gpt-4o",
    grid: "2x2x4",
    prompt: item.prompt,
    source: "clip",
    labels: { video: labels.video, patches: labels.patches },
    usage: { promptTokens: 1, completionTokens: 1 },
    costUsd: 0,
  };
  const paths: Array<Array<string | number>> = [
    ["labels", "video", "visual_quality"],
    ["labels", "patches", 3, "scores", "text_alignment"],
    ["labels", "patches", 0, "id"],
    ["labels", "patches", 5, "index"],
    ["labels", "patches"],
    ["labels", "video"],
    ["labels"],
    ["grid"],
  ];
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("set" as const),
      at: fc.constantFrom(...paths),
      value: fc.constantFrom(...BAD_VALUES, 0, 5, 2.5, "4", "NaN-literal", "Infinity-literal"),
    }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.constantFrom(...paths) }),
    fc.record({ kind: fc.constant("drop-patch" as const), at: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("dup-patch" as const), at: fc.integer({ min: 0, max: 7 }) }),
    fc.record({
      kind: fc.constant("cut" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  );
  await fc.assert(
    fc.asyncProperty(mutation, fc.boolean(), async (m, first) => {
      const bad = structuredClone(record) as Record<string, unknown>;
      let literal: string | undefined;
      if (m.kind === "set" || m.kind === "delete") {
        let parent = bad as Record<string | number, unknown>;
        for (const k of m.at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
        const last = m.at[m.at.length - 1];
        if (m.kind === "delete") delete parent[last];
        else if (typeof m.value === "string" && m.value.endsWith("-literal")) {
          parent[last] = "__LITERAL__";
          literal = m.value.replace("-literal", "");
        } else parent[last] = m.value;
      }
      const patches = (bad.labels as { patches: unknown[] } | undefined)?.patches;
      if (m.kind === "drop-patch") patches!.splice(m.at, 1);
      if (m.kind === "dup-patch") patches!.push(patches![m.at]);
      let line = JSON.stringify(bad);
      if (literal) line = line.replace('"__LITERAL__"', literal);
      const good = JSON.stringify(record);
      let content = first ? `${line}\n${good}\n` : `${good}\n${line}\n`;
      if (m.kind === "cut") content = content.slice(0, Math.floor(m.at * content.length));
      await Deno.writeTextFile(path, content);
      const outcome = await tryInput([path], () => readLabelsFile(path, { numFrames: 8 }));
      if (outcome.ok) {
        assert.ok(
          m.kind === "cut" || (m.kind === "set" && m.at[0] === "grid" && m.value === "2x2x4"),
          `accepted a bad record: ${JSON.stringify(m)}`,
        );
      }
    }),
    { numRuns: 60, seed: SEED },
  );
  await assertClean(dir);
});

Deno.test("inputs: checkpoints with a bad config.json, cut, padded or NaN weights are named errors", async () => {
  const dir = await suiteDir("inputs-checkpoint");
  const base = join(dir, "base");
  const model = createRewardModel({ dim: 8, depth: 1, heads: 2, promptLayers: 0 }, { seed: 3 });
  await saveRewardModel(base, model, { step: 4 });
  disposeRewardModel(model);
  const config = JSON.parse(await Deno.readTextFile(join(base, "config.json")));
  const weights = await Deno.readFile(join(base, "weights.bin"));
  const fields: Array<Array<string | number>> = [
    ["version"],
    ["kind"],
    ["step"],
    ["meta"],
    ["config"],
    ["config", "dim"],
    ["config", "heads"],
    ["config", "grid"],
    ["config", "features"],
    ["weights"],
    ["weights", "file"],
    ["weights", "sha256"],
    ["weights", "tensors", 0, "shape"],
    ["weights", "tensors", 0, "offset"],
    ["weights", "tensors", 1, "name"],
  ];
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("field" as const),
      at: fc.constantFrom(...fields),
      value: fc.constantFrom(...BAD_VALUES),
    }),
    fc.record({
      kind: fc.constant("json" as const),
      text: fc.jsonValue().map((v) => JSON.stringify(v)),
    }),
    fc.record({
      kind: fc.constant("cut-config" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    fc.record({
      kind: fc.constant("cut-weights" as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
    fc.record({
      kind: fc.constant("pad-weights" as const),
      extra: fc.integer({ min: 1, max: 64 }),
    }),
    fc.record({
      kind: fc.constant("nan-weights" as const),
      at: fc.integer({ min: 0, max: weights.length / 4 - 1 }),
      value: fc.constantFrom(NaN, Infinity, -Infinity),
    }),
    fc.constant({ kind: "no-weights" as const }),
  );
  let n = 0;
  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      const ckpt = join(dir, `c${n++}`);
      await Deno.mkdir(ckpt);
      let manifest = structuredClone(config);
      let bin = weights.slice();
      let text: string | undefined;
      if (m.kind === "field") {
        let parent = manifest;
        for (const k of m.at.slice(0, -1)) parent = parent[k];
        parent[m.at[m.at.length - 1]] = m.value;
      }
      if (m.kind === "json") text = m.text;
      if (m.kind === "cut-config") {
        const t = JSON.stringify(manifest);
        text = t.slice(0, Math.floor(m.at * t.length));
      }
      if (m.kind === "cut-weights") bin = bin.slice(0, Math.floor(m.at * bin.length));
      if (m.kind === "pad-weights") bin = Uint8Array.from([...bin, ...new Uint8Array(m.extra)]);
      if (m.kind === "nan-weights") {
        new Float32Array(bin.buffer)[m.at] = m.value;
        // A matching hash, so only the value check can catch it.
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bin));
        manifest = {
          ...manifest,
          weights: {
            ...manifest.weights,
            sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
          },
        };
      }
      await Deno.writeTextFile(join(ckpt, "config.json"), text ?? JSON.stringify(manifest));
      if (m.kind !== "no-weights") await Deno.writeFile(join(ckpt, "weights.bin"), bin);
      const outcome = await tryInput(
        [join(ckpt, "config.json"), join(ckpt, "weights.bin")],
        () => loadRewardModel(ckpt),
      );
      if (outcome.ok) {
        const values = await readParams(outcome.value.model.params);
        disposeRewardModel(outcome.value.model);
        assert.ok(
          values.every((t) => t.values.every(Number.isFinite)),
          "loaded weights are finite",
        );
      }
      await Deno.remove(ckpt, { recursive: true });
    }),
    { numRuns: 50, seed: SEED },
  );
  await assertClean(dir);
});

Deno.test("inputs: CLI flags that are not numbers, unknown or missing are named; nothing runs or is written", async () => {
  const dir = await suiteDir("inputs-cli");
  const out = join(dir, "never.jsonl");
  const badNumbers = [
    "abc",
    "",
    " ",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "0x1G",
    "5 apples",
    "١٢",
    "{}",
    "true",
  ];
  const cases: Array<{ command: string; flag: string }> = [];
  for (const [command, spec] of Object.entries(COMMANDS)) {
    for (const [flag, option] of Object.entries(spec.spec)) {
      const numeric = option.type === "string" &&
        (Number.isFinite(Number(option.default ?? "x")) && option.default !== "" ||
          ["frames", "max-cost", "size", "dim", "depth", "heads", "seeds"].includes(flag));
      if (numeric) cases.push({ command, flag });
    }
  }
  assert.ok(cases.length >= 25, `${cases.length} numeric flags`);
  // What each command needs besides the bad flag so that only the bad flag can be wrong.
  const required: Record<string, string[]> = {
    label: ["--videos", join(dir, "no-such-folder"), "--out", out],
    evaluate: ["--checkpoint", `grandpo=${join(dir, "no-such-checkpoint")}`],
    inspect: ["--videos", join(dir, "no-such-folder")],
  };
  const errors: string[] = [];
  const original = console.error;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...cases),
      fc.constantFrom(...badNumbers),
      async ({ command, flag }, value) => {
        const args = [command, ...(required[command] ?? []), `--${flag}`, value];
        errors.length = 0;
        console.error = (...parts: unknown[]) => void errors.push(parts.join(" "));
        let code: number;
        try {
          const outcome = await tryInput([`--${flag}`], async () => {
            code = await runCli(args, COMMANDS);
            if (code !== 0) throw new Error(errors.join("\n"));
            return code;
          });
          assert.equal(outcome.ok, false, `${args.join(" ")} was accepted`);
        } finally {
          console.error = original;
        }
      },
    ),
    { numRuns: 60, seed: SEED },
  );
  // Unknown options, missing values, stray arguments.
  for (
    const args of [["label", "--nope"], ["train-rm", "--seed"], ["judge", "stray"], [
      "label",
      "--quiet=yes",
    ]]
  ) {
    console.error = (...parts: unknown[]) => void errors.push(parts.join(" "));
    errors.length = 0;
    try {
      const outcome = await tryInput([args[1].split("=")[0], `"${args[1]}"`], async () => {
        const code = await runCli(args, COMMANDS);
        if (code !== 0) throw new Error(errors.join("\n"));
      });
      assert.equal(outcome.ok, false);
    } finally {
      console.error = original;
    }
  }
  await assertClean(dir);
  for await (const e of Deno.readDir(dir)) assert.fail(`the CLI wrote ${e.name}`);
});

Deno.test("inputs: config objects with NaN, wrong types and out-of-range values name the field", async () => {
  const video = tinyItems(1, 51)[0].video;
  const fields = {
    reward: [
      "frames",
      "size",
      "dim",
      "depth",
      "heads",
      "promptLayers",
      "mlpRatio",
      "features",
      "grid",
    ],
    generator: ["frames", "size", "dim", "depth", "heads"],
    judge: ["port", "noise", "bias", "latencyMs"],
    labeller: ["concurrency", "maxCostUsd"],
    retry: ["maxAttempts", "baseDelayMs", "timeoutMs"],
    request: ["framesPerSegment", "frameSide", "maxPatches"],
  };
  const target = fc.oneof(
    ...Object.entries(fields).map(([kind, names]) =>
      fc.record({ kind: fc.constant(kind), field: fc.constantFrom(...names) })
    ),
  );
  // Values that a field legitimately takes are not bad inputs there.
  const valid = (kind: string, field: string, value: unknown): boolean =>
    (value === null && kind !== "reward" && kind !== "generator") || // null: the default
    (value === 0.5 && ["mlpRatio", "noise", "bias", "latencyMs", "baseDelayMs", "maxCostUsd"]
      .includes(field)) ||
    (value === 1e9 && ["noise", "bias", "latencyMs", "baseDelayMs", "timeoutMs", "maxCostUsd"]
      .includes(field)) ||
    (value === -1 && field === "bias") ||
    (value === 1e9 && field === "concurrency");
  await fc.assert(
    fc.asyncProperty(target, fc.constantFrom(...BAD_VALUES), async ({ kind, field }, value) => {
      if (valid(kind, field, value)) return;
      const bad = { [field]: value };
      const outcome = await tryInput([field], async () => {
        if (kind === "reward") disposeRewardModel(createRewardModel(bad));
        if (kind === "generator") disposeGenerator(createGenerator(bad));
        if (kind === "judge") await startJudgeServer({ port: 0, ...bad }).close();
        if (kind === "labeller" || kind === "retry") {
          await labelVideos([{ video, prompt: "p" }], {
            baseURL: "http://127.0.0.1:9/v1",
            apiKey: "sk-x",
            quiet: true,
            ...(kind === "retry" ? { retry: bad } : bad),
          });
        }
        if (kind === "request") buildLabelRequest(video, "p", TINY_GRID, bad);
      });
      assert.equal(outcome.ok, false, `${kind}.${field} = ${String(value)} was accepted`);
    }),
    { numRuns: 80, seed: SEED },
  );
  // Strings to parsers: valid or named.
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.string(), fc.constantFrom("4x4x4", "0x1x1", "9999x1x1", "4x4")),
      async (s) => {
        await tryInput(["parseGrid"], () => parseGrid(s));
        await tryInput(["parsePrompt"], () => parsePrompt(s));
      },
    ),
    { numRuns: 20, seed: SEED },
  );
  // Pixel data with NaN, Infinity or out of [0, 1], and sizes that do not match.
  for (const v of [NaN, Infinity, -0.5, 2]) {
    const frames = new Float32Array(2 * 4 * 4 * 3).fill(0.5);
    frames[7] = v;
    const outcome = await tryInput(
      ["createVideo"],
      () => createVideo({ frames, numFrames: 2, height: 4, width: 4 }),
    );
    assert.equal(outcome.ok, false);
  }
  const outcome = await tryInput(
    ["createVideo"],
    () => createVideo({ frames: new Float32Array(10), numFrames: 2, height: 4, width: 4 }),
  );
  assert.equal(outcome.ok, false);
});
