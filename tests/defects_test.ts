import assert from "node:assert/strict";
import { DEFECT_KINDS, injectDefect } from "../lib/videos/defects.ts";
import { parsePrompt, renderClip } from "../lib/videos/world.ts";
import { GRID, presence } from "./_label_fixtures.ts";

const TEXT = "two red circles moving left quickly on a gray background";

Deno.test("each defect changes only requested patches and reports those it changed", () => {
  const prompt = parsePrompt(TEXT);
  const { video, truth } = renderClip(prompt, { seed: 2 });
  const pres = presence(prompt, truth.masks);
  const onObject = [...pres.keys()].filter((p) => pres[p] >= 12).slice(0, 2);
  const empty = [...pres.keys()].filter((p) => pres[p] === 0).slice(0, 2);
  const before = new Float32Array(video.frames);
  for (const kind of DEFECT_KINDS) {
    const patches = kind === "extra_object" ? empty : onObject;
    const out = injectDefect(video, { kind, grid: GRID, patches });
    assert.deepEqual(out.affected, [...patches].sort((a, b) => a - b), kind);
    assert.equal(out.kind, kind);
    assert.match(out.video.source, new RegExp(`\\+${kind}$`));
  }
  assert.deepEqual(video.frames, before, "the input video is not modified");
});

Deno.test("defects that cannot show are not reported", () => {
  const prompt = parsePrompt(TEXT);
  const { video, truth } = renderClip(prompt, { seed: 2 });
  const pres = presence(prompt, truth.masks);
  const empty = [...pres.keys()].filter((p) => pres[p] === 0).slice(0, 3);
  for (const kind of ["blur", "missing_object", "frozen"] as const) {
    assert.deepEqual(injectDefect(video, { kind, grid: GRID, patches: empty }).affected, [], kind);
  }
  assert.deepEqual(
    injectDefect(video, { kind: "flicker", grid: GRID, patches: empty }).affected,
    empty,
  );
});

Deno.test("bad options name what was expected", () => {
  const { video } = renderClip(parsePrompt(TEXT), { seed: 2 });
  assert.throws(
    () => injectDefect(video, { kind: "smudge" as "blur", grid: GRID, patches: [] }),
    /Expected kind one of/,
  );
  assert.throws(
    () => injectDefect(video, { kind: "blur", grid: GRID, patches: [64] }),
    /Expected patch indices in \[0, 64\)/,
  );
  assert.throws(
    () => injectDefect(video, { kind: "blur", grid: GRID, patches: [1], strength: 0 }),
    /strength > 0/,
  );
});
