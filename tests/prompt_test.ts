import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { createParams, disposeParams } from "../lib/tensor/nn.ts";
import {
  detokenizePrompt,
  encodePrompt,
  initPromptEncoder,
  PROMPT_LENGTH,
  tokenizeBatch,
  tokenizePrompt,
  VOCAB,
} from "../lib/generator/prompt.ts";
import { GRAMMAR_WORDS, samplePrompt } from "../lib/videos/world.ts";

await initBackend();

Deno.test("vocabulary covers the grammar, ids round-trip", () => {
  assert.equal(VOCAB.length, GRAMMAR_WORDS.length + 1);
  assert.equal(new Set(VOCAB).size, VOCAB.length);
  for (let seed = 0; seed < 50; seed++) {
    const p = samplePrompt(seed);
    const ids = tokenizePrompt(p);
    assert.equal(ids.length, PROMPT_LENGTH);
    assert.ok(ids.every((id) => id > 0));
    assert.equal(detokenizePrompt(ids), p.text);
  }
  // normalises case and spacing to the canonical text
  assert.deepEqual(
    tokenizePrompt("ONE red   circle moving up slowly on a black background"),
    tokenizePrompt("one red circle moving up slowly on a black background"),
  );
});

Deno.test("unknown words are a clear error naming the word", () => {
  assert.throws(
    () => tokenizePrompt("two red dogs moving left quickly on a gray background"),
    /Expected only words of the ShapesWorld grammar .* but found "dogs"/,
  );
  assert.throws(
    () => tokenizeBatch(["one red circle moving up slowly on a black background", "a cat"]),
    /"cat"/,
  );
  assert.throws(() => tokenizeBatch([]), /non-empty array of prompts/);
  assert.throws(() => detokenizePrompt([999]), /token ids in \[0, /);
});

Deno.test("encoder: one vector per prompt, different prompts differ, keep=0 gives the null vector", () => {
  const params = createParams();
  initPromptEncoder(params, "enc", { dim: 16, layers: 1, heads: 2, seed: 4 });
  const tokens = tokenizeBatch([
    "one red circle moving up slowly on a black background",
    "one blue circle moving up slowly on a black background",
    "three green squares moving left quickly on a navy background",
  ]);
  const keep = tf.tensor1d([1, 1, 0]);
  const v = encodePrompt(params, "enc", tokens, { layers: 1, heads: 2, keep });
  assert.deepEqual(v.shape, [3, 16]);
  const rows = v.arraySync();
  assert.ok(rows[0].some((x, i) => Math.abs(x - rows[1][i]) > 1e-4), "colour changes the vector");
  const nullVec = params.get("enc.null")!.dataSync();
  rows[2].forEach((x, i) => assert.ok(Math.abs(x - nullVec[i]) < 1e-6));
  tf.dispose([tokens, keep, v]);
  disposeParams(params);
});
