import assert from "node:assert/strict";
import { checkInt, checkNumber, describe, fail } from "../lib/core/_errors.ts";

Deno.test("errors read 'where: Expected X but found Y' with short renderings", () => {
  assert.throws(() => fail("f", "a number", "x"), {
    name: "RangeError",
    message: 'f: Expected a number but found "x"',
  });
  assert.equal(describe("a".repeat(100)).length, 82);
  assert.equal(describe([1, 2]), "an array of length 2");
  assert.equal(describe(new Float32Array(3)), "a Float32Array of length 3");
  assert.equal(checkInt("g", "n", 3, 1, 5), 3);
  assert.throws(() => checkInt("g", "n", 2.5), /g: Expected n to be an integer in \[1, /);
  assert.throws(() => checkNumber("h", "x", NaN), /h: Expected x to be a finite number/);
});
