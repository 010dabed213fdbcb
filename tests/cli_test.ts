import assert from "node:assert/strict";
import {
  cliHelp,
  intListOption,
  intOption,
  numberOption,
  parseCli,
  runCli,
} from "../lib/cli/_flags.ts";

const SPEC = {
  port: { type: "string" as const, default: "0", description: "port" },
  batch: { type: "boolean" as const, description: "use the Batch API" },
};

Deno.test("parseCli parses values and names unknown options", () => {
  assert.deepEqual(parseCli(["--port", "80", "--batch"], SPEC), { port: "80", batch: true });
  assert.equal(parseCli([], SPEC).port, "0");
  assert.throws(() => parseCli(["--nope"], SPEC), /--nope/);
  assert.equal(intOption({ n: "12" }, "n"), 12);
  assert.throws(() => intOption({ n: "1.5" }, "n"), /--n: Expected an integer but found "1.5"/);
  assert.equal(numberOption({ x: "0.25" }, "x"), 0.25);
  assert.throws(() => numberOption({ x: "abc" }, "x"), /--x: Expected a number/);
  assert.match(cliHelp(SPEC), /--port VALUE\s+port \(default: 0\)/);
  assert.deepEqual(intListOption({ s: "3, 1,2" }, "s"), [3, 1, 2]);
  for (const bad of ["", "1,,2", "1,x", undefined]) {
    assert.throws(
      () => intListOption({ s: bad }, "s"),
      /--s: Expected comma-separated integers but found/,
      String(bad),
    );
  }
});

Deno.test("runCli dispatches, prints help, and maps failures to exit codes", async () => {
  const seen: unknown[] = [];
  const commands = {
    go: {
      summary: "go somewhere",
      spec: SPEC,
      run: (v: Record<string, unknown>) => Promise.resolve(void seen.push(v)),
    },
    boom: { summary: "fails", spec: {}, run: () => Promise.reject(new Error("it broke")) },
  };
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    assert.equal(await runCli(["go", "--port", "9"], commands), 0);
    assert.equal((seen[0] as { port: string }).port, "9");
    assert.equal(await runCli(["nope"], commands), 2);
    assert.equal(await runCli(["go", "--bad"], commands), 2);
    assert.equal(await runCli(["boom"], commands), 1);
    assert.ok(errors.some((e) => e.includes("boom: it broke")));
    assert.ok(errors.some((e) => e.includes('Unknown command "nope"')));
  } finally {
    console.error = original;
  }
});

Deno.test("usage errors say what was expected and name the option", () => {
  assert.throws(
    () => parseCli(["--nope"], SPEC),
    /Expected one of the options --port, --batch .* but found "--nope"/,
  );
  assert.throws(
    () => parseCli(["--port"], SPEC),
    /--port: Expected a value after it but found none/,
  );
  assert.throws(
    () => parseCli(["--batch=yes"], SPEC),
    /--batch: Expected no value \(it is a flag\)/,
  );
  assert.throws(
    () => parseCli(["stray"], SPEC),
    /Expected only --options but found the argument "stray"/,
  );
  assert.throws(() => intOption({ n: "" }, "n"), /--n: Expected an integer but found ""/);
  assert.throws(() => intOption({ n: " " }, "n"), /--n: Expected an integer/);
});
