/**
 * A dependency-free progress bar for long work: step, rate, ETA and any extra
 * fields (loss, cost). Redraws in place on a terminal; on a pipe or in CI it
 * prints a line at most every few seconds so logs stay readable.
 * @module
 */

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Label printed before the bar. */
  label?: string;
  /** Unit name for the rate, e.g. "samples". Default "it". */
  unit?: string;
  /** Silence all output (tests, notebooks that draw their own). Default: false. */
  quiet?: boolean;
  /** Minimum seconds between non-TTY lines. Default 5. */
  interval?: number;
  /** Where to write. Default: stderr. */
  write?: (text: string) => void;
}

/** A progress bar over `total` steps. */
export class Progress {
  #total: number;
  #done = 0;
  #start = performance.now();
  #lastPrint = -Infinity;
  #options: Required<Omit<ProgressOptions, "write">> & { write: (text: string) => void };
  #tty: boolean;

  /** Creates a bar for `total` steps, starting at `initial` (for resumed runs). */
  constructor(total: number, options: ProgressOptions & { initial?: number } = {}) {
    this.#total = total;
    this.#done = options.initial ?? 0;
    const encoder = new TextEncoder();
    this.#options = {
      label: options.label ?? "",
      unit: options.unit ?? "it",
      quiet: options.quiet ?? false,
      interval: options.interval ?? 5,
      write: options.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text))),
    };
    this.#tty = options.write === undefined && Deno.stderr.isTerminal();
    this.#startAt = this.#done;
  }
  #startAt: number;

  /** Advances by `n` steps and redraws with the given extra fields. */
  tick(n = 1, fields: Record<string, string | number> = {}): void {
    this.#done += n;
    if (this.#options.quiet) return;
    const now = performance.now();
    const final = this.#done >= this.#total;
    if (!final && (now - this.#lastPrint) / 1000 < (this.#tty ? 0.1 : this.#options.interval)) {
      return;
    }
    this.#lastPrint = now;
    this.#options.write(
      (this.#tty ? "\r\x1b[2K" : "") + this.render(fields) + (this.#tty && !final ? "" : "\n"),
    );
  }

  /** Prints a line of text above the bar (unless quiet). */
  note(text: string): void {
    if (this.#options.quiet) return;
    this.#options.write((this.#tty ? "\r\x1b[2K" : "") + text + "\n");
    this.#lastPrint = -Infinity;
  }

  /** The current line of text, without control characters. */
  render(fields: Record<string, string | number> = {}): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const rate = (this.#done - this.#startAt) / Math.max(elapsed, 1e-9);
    const left = rate > 0 ? (this.#total - this.#done) / rate : NaN;
    const fraction = this.#total > 0 ? Math.min(1, this.#done / this.#total) : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === "number" ? formatNumber(v) : v}`)
      .join(" ");
    const label = this.#options.label ? this.#options.label + " " : "";
    return `${label}${bar} ${this.#done}/${this.#total} ${
      rate.toFixed(2)
    } ${this.#options.unit}/s ` +
      `elapsed ${formatSeconds(elapsed)} eta ${formatSeconds(left)}${extra ? " " + extra : ""}`;
  }
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5)
    ? v.toExponential(3)
    : v.toFixed(4).replace(/\.?0+$/, "");
}

/** Formats seconds as `1h02m03s` / `2m03s` / `3.4s`; NaN → `?`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(1)}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m${String(sec).padStart(2, "0")}s`
    : `${m}m${String(sec).padStart(2, "0")}s`;
}
