/**
 * Which way a model's clips fail the judge's count check (issue 21: post-training on some pairs
 * loses count): for each model this samples again the very clips an evaluation measured (same
 * prompt, same noise), counts the objects as the judge does (per-frame connected components of
 * object pixels, the judge's `checks.count`) and reports the share of clips with no object, with
 * fewer objects than the prompt asks for, with the right count and with more. A patch term that pays
 * by erasing shows as clips with fewer objects or none; fragments left behind show as more.
 *
 *   HALO_BACKEND=wasm deno run --allow-read --allow-write=out --allow-env --allow-sys bench/count_errors.ts \
 *     base=data/generator:out/evalG30-val/base-….jsonl \
 *     halo=out/ptG30/halo-shared:out/evalG30-val/grandpo-s0-….jsonl [--out out/count_errors.jsonl]
 *
 * Diagnostics only: nothing here picks a setting.
 * @module
 */

import { parseArgs } from "node:util";
import { initBackend } from "../lib/tensor/backend.ts";
import { parsePrompt } from "../lib/videos/world.ts";
import { bootstrapInterval } from "../lib/core/agreement.ts";
import { type ResampledRecord, resampleEvaluations } from "./_resample.ts";

const { values, positionals } = parseArgs({
  options: { out: { type: "string", default: "out/count_errors.jsonl" } },
  allowPositionals: true,
});
await initBackend();

interface CountRecord extends ResampledRecord {
  /** The evaluation's count check, and the one of the clip sampled again (they must agree). */
  countOk: number;
  countOkAgain: number;
  /** Objects the prompt asks for, and objects the judge finds. */
  asked: number;
  found: number;
}

const all = await resampleEvaluations<CountRecord>(positionals, {
  out: values.out!,
  label: "count",
  record: (c, _video, checks) => ({
    countOk: c.bench.count,
    countOkAgain: checks.countOk ? 1 : 0,
    asked: parsePrompt(c.prompt).count,
    found: checks.count,
  }),
});

/** The share of clips where `f` holds, with a 95% bootstrap interval over prompts. */
const share = (rs: CountRecord[], f: (r: CountRecord) => boolean) => {
  const prompts = [...new Set(rs.map((r) => r.promptIndex))];
  const byPrompt = prompts.map((p) =>
    rs.filter((r) => r.promptIndex === p).map((r) => f(r) ? 1 : 0)
  );
  const ci = bootstrapInterval(prompts.length, (idx) => {
    const xs = Array.from(idx, (i) => byPrompt[i]).flat();
    return xs.reduce((s: number, x) => s + x, 0) / xs.length;
  });
  return `${ci.estimate.toFixed(3)} [${ci.lo.toFixed(3)}, ${ci.hi.toFixed(3)}]`;
};
console.log(
  "| model | clips | count ok (again) | no object | fewer than asked (any) | right count | more than asked |",
);
console.log("|---|---|---|---|---|---|---|");
for (const model of [...new Set(all.map((r) => r.model))]) {
  const rs = all.filter((r) => r.model === model);
  const ok = rs.reduce((s, r) => s + r.countOk, 0) / rs.length;
  const again = rs.reduce((s, r) => s + r.countOkAgain, 0) / rs.length;
  console.log(
    `| ${model} | ${rs.length} | ${ok.toFixed(3)} (${again.toFixed(3)}) | ${
      share(rs, (r) => r.found === 0)
    } | ${share(rs, (r) => r.found < r.asked)} | ${share(rs, (r) => r.found === r.asked)} | ${
      share(rs, (r) => r.found > r.asked)
    } |`,
  );
}
