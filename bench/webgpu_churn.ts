/**
 * Why the kit creates no WebGPU adapter it does not need: runs `--runs` Deno processes, each of
 * which starts `--adapters` workers one after another, has each ask `navigator.gpu` for an adapter
 * and terminates it (Deno drops a runtime's adapters with it, starting and stopping Mesa's lavapipe
 * threads each time), and counts the processes that did not exit cleanly. `--no-adapter` runs the
 * same workers without asking, the control.
 *
 *   deno run --allow-read --allow-run --allow-env --allow-sys bench/webgpu_churn.ts --runs 10 --adapters 100
 *
 * On this machine (2 cores, lavapipe, Deno 2.9.6, 2026-12-05) 2 of 10 processes crashed with the
 * adapters (SIGSEGV) and none of 10 without; `deno task test` ran about 300 such runtimes in one
 * process before `initBackend` stopped asking on machines without a GPU device node.
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    adapters: { type: "string", default: "100" },
    "no-adapter": { type: "boolean", default: false },
    child: { type: "boolean", default: false },
  },
});
const count = (flag: "runs" | "adapters") => {
  const n = Number(values[flag]);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${flag}: Expected a positive integer but found "${values[flag]}"`);
  }
  return n;
};
const adapters = count("adapters");
const WORKER = new URL("./_webgpu_churn_worker.ts", import.meta.url).href;

if (values.child) {
  for (let i = 0; i < adapters; i++) {
    const worker = new Worker(WORKER, { type: "module" });
    await new Promise((resolve, reject) => {
      worker.onmessage = resolve;
      worker.onerror = reject;
      worker.postMessage({ ask: !values["no-adapter"] });
    });
    worker.terminate();
  }
} else {
  const runs = count("runs");
  const codes: string[] = [];
  for (let run = 0; run < runs; run++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        fileURLToPath(import.meta.url),
        "--child",
        `--adapters=${adapters}`,
        ...(values["no-adapter"] ? ["--no-adapter"] : []),
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    codes.push(out.signal ?? String(out.code));
    console.log(`run ${run + 1}/${runs}: ${out.success ? "ok" : `exit ${out.signal ?? out.code}`}`);
  }
  const failed = codes.filter((c) => c !== "0").length;
  console.log(
    `${failed} of ${runs} processes failed, ${adapters} workers each, ${
      values["no-adapter"] ? "without" : "with"
    } an adapter; load average ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`,
  );
}
