/**
 * The command line recorded in shipped reward checkpoints (internal).
 * @module
 */

/** An argument as a POSIX shell reads it back: quoted when it holds anything but safe characters. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** `deno task train-rm …` as this process was started (copy-pasteable), or `fallback` outside the CLI. */
export function trainRmCommandLine(fallback: string): string {
  try {
    return ["deno task train-rm", ...Deno.args.slice(1).map(shellQuote)].join(" ");
  } catch {
    return fallback;
  }
}
