/**
 * Command-line parsing for the kit's tasks. Wraps `node:util`'s `parseArgs`
 * (JSR's `@std/cli` cannot be installed on our machines); switching to
 * `@std/cli` later is a change to this one file.
 * @module
 */

import { parseArgs as nodeParseArgs } from "node:util";

/** One option of a command. */
export interface CliOption {
  /** `string` takes a value, `boolean` is a flag. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Default value. */
  default?: string | boolean;
  /** Help text. */
  description: string;
}

/** A command's options, by long name. */
export type CliSpec = Record<string, CliOption>;

/** Parsed option values, by long name. */
export type CliValues = Record<string, string | boolean | undefined>;

/**
 * Parses `args` against `spec`. Unknown options and missing values throw an
 * error that names the option; `--help` is always accepted.
 *
 * @example
 * ```ts
 * import { parseCli } from "./_flags.ts";
 * import assert from "node:assert/strict";
 * const values = parseCli(["--port", "8080"], { port: { type: "string", default: "0", description: "port" } });
 * assert.equal(values.port, "8080");
 * ```
 */
export function parseCli(args: readonly string[], spec: CliSpec): CliValues {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; default?: string | boolean }
  > = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, option] of Object.entries(spec)) {
    options[name] = { type: option.type, ...(option.short ? { short: option.short } : {}) };
    if (option.default !== undefined) options[name].default = option.default;
  }
  try {
    const { values } = nodeParseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: false,
    });
    return { ...values } as CliValues;
  } catch (error) {
    throw new TypeError(`${usageError(error as Error, spec)}\n\n${cliHelp(spec)}`);
  }
}

/** Rewords `parseArgs`' errors as "Expected … but found …", naming the option. */
function usageError(error: Error & { code?: string }, spec: CliSpec): string {
  const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? "";
  const option = quoted.split(/\s/)[0];
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `Expected one of the options ${
        Object.keys(spec).map((n) => `--${n}`).join(", ")
      } (or --help) but found ${JSON.stringify(option)}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /does not take an argument/.test(error.message)
        ? `${option}: Expected no value (it is a flag) but found one`
        : `${option}: Expected a value after it but found none`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `Expected only --options but found the argument ${JSON.stringify(quoted)}`;
    default:
      return error.message;
  }
}

/** Formats help text for a spec. */
export function cliHelp(spec: CliSpec, usage = ""): string {
  const lines = usage ? [usage, ""] : [];
  lines.push("Options:");
  for (const [name, option] of Object.entries(spec)) {
    const flag = `${option.short ? `-${option.short}, ` : ""}--${name}${
      option.type === "string" ? " VALUE" : ""
    }`;
    const def = option.default !== undefined && option.default !== ""
      ? ` (default: ${option.default})`
      : "";
    lines.push(`  ${flag.padEnd(28)} ${option.description}${def}`);
  }
  lines.push(`  ${"-h, --help".padEnd(28)} show this help`);
  return lines.join("\n");
}

/** Reads a string option as an integer, with an error naming the option. */
export function intOption(values: CliValues, name: string): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isInteger(n)) {
    throw new TypeError(`--${name}: Expected an integer but found ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * Reads a comma-separated list of integers (`--seeds 0,1,2`).
 *
 * @example
 * ```ts
 * import { intListOption } from "./_flags.ts";
 * console.log(intListOption({ seeds: "0, 1,2" }, "seeds")); // [ 0, 1, 2 ]
 * ```
 */
export function intListOption(values: CliValues, name: string): number[] {
  const raw = values[name];
  const items = typeof raw === "string" ? raw.split(",").map((s) => s.trim()) : [];
  if (!items.length || items.some((s) => s === "" || !Number.isInteger(Number(s)))) {
    throw new TypeError(
      `--${name}: Expected comma-separated integers but found ${JSON.stringify(raw)}`,
    );
  }
  return items.map(Number);
}

/** Reads a string option as a number, with an error naming the option. */
export function numberOption(values: CliValues, name: string): number {
  const raw = values[name];
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n)) {
    throw new TypeError(`--${name}: Expected a number but found ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * Reads a string option as a JSON object (`--config '{"depth":4}'`), or `{}` when absent,
 * with an error naming the option.
 *
 * @example
 * ```ts
 * import { jsonObjectOption } from "./_flags.ts";
 * console.log(jsonObjectOption({ config: '{"depth":4}' }, "config")); // { depth: 4 }
 * ```
 */
export function jsonObjectOption(values: CliValues, name: string): Record<string, unknown> {
  const raw = values[name];
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(raw));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TypeError(`--${name}: Expected a JSON object but found ${JSON.stringify(raw)}`);
  }
  return parsed as Record<string, unknown>;
}

/** One sub-command of `lib/cli/main.ts`. */
export interface CliCommand {
  /** One-line summary for the command list. */
  summary: string;
  /** The options it takes. */
  spec: CliSpec;
  /** Runs it with parsed values. */
  run(values: CliValues): Promise<void>;
}

/**
 * Runs `argv[0]` as a command of `commands`; prints help for `--help`, and a
 * clean message (no stack) with exit code 2 for bad usage or 1 for failures.
 */
export async function runCli(
  argv: readonly string[],
  commands: Record<string, CliCommand>,
): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    const list = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`).join(
      "\n",
    );
    console.error(`${name ? `Unknown command ${JSON.stringify(name)}.\n` : ""}Commands:\n${list}`);
    return name ? 2 : 0;
  }
  let values: CliValues;
  try {
    values = parseCli(rest, command.spec);
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(`${name}: ${command.summary}\n\n${cliHelp(command.spec)}`);
    return 0;
  }
  try {
    await command.run(values);
    return 0;
  } catch (error) {
    console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    if (Deno.env.get("HALO_DEBUG")) console.error(error);
    return 1;
  }
}
