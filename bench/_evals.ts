/**
 * What the bench scripts that compare evaluated models share: reading `NAME=clips.jsonl[,more
 * seeds]` arguments (the per-clip files `deno task evaluate` writes), keeping a subset of the
 * prompts, and printing a paired difference with its interval.
 * @module
 */

import { readJsonLines } from "../lib/core/_atomic.ts";
import type { ClipEvaluation } from "../lib/eval/evaluate.ts";
import type { Interval } from "../lib/core/agreement.ts";
import type { MethodEvaluation } from "../lib/eval/summary.ts";

/** Reads `NAME=a.jsonl[,b.jsonl…]` arguments, one run per file (training seeds). */
export async function readEvaluations(
  script: string,
  args: readonly string[],
  options: { min: number; max?: number },
): Promise<MethodEvaluation[]> {
  const { min, max = Infinity } = options;
  if (args.length < min || args.length > max || !args.every((a) => a.includes("="))) {
    throw new Error(
      `${script}: Expected ${min === max ? min : `${min} or more`} NAME=clips.jsonl[,more seeds] ` +
        `but found ${JSON.stringify(args)}`,
    );
  }
  return await Promise.all(args.map(async (arg) => {
    const at = arg.indexOf("=");
    const files = arg.slice(at + 1).split(",");
    return {
      method: arg.slice(0, at),
      runs: await Promise.all(files.map((f) => readJsonLines<ClipEvaluation>(f))),
    };
  }));
}

/**
 * Every method's clips that `keep` keeps, their prompts numbered 0, 1, … in order (the summary
 * indexes prompts densely). Throws when no clip is kept.
 */
export function keepClips(
  methods: readonly MethodEvaluation[],
  keep: (c: ClipEvaluation) => boolean,
): MethodEvaluation[] {
  const kept = [...new Set(methods[0].runs[0].filter(keep).map((c) => c.promptIndex))]
    .sort((a, b) => a - b);
  if (kept.length === 0) {
    throw new Error(`${methods[0].method}: Expected clips to keep but found none`);
  }
  const index = new Map(kept.map((p, i) => [p, i]));
  return methods.map((m) => ({
    method: m.method,
    runs: m.runs.map((r) =>
      r.filter(keep).map((c) => ({ ...c, promptIndex: index.get(c.promptIndex)! }))
    ),
  }));
}

/** `+0.012` / `−0.012`. */
export function signed(v: number): string {
  return (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(3);
}

/** `+0.012 [−0.003, +0.027]`. */
export function intervalCell(d: Interval): string {
  return `${signed(d.estimate)} [${signed(d.lo)}, ${signed(d.hi)}]`;
}
