/**
 * `deno task judge`: serves the GPT-4o-compatible judge server on 127.0.0.1
 * until Ctrl-C ({@linkcode startJudgeServer}).
 * @module
 */

import {
  JUDGE_SERVER_DEFAULTS as J,
  parseFaultRates,
  startJudgeServer,
} from "../labels/judge_server/server.ts";
import { type CliCommand, type CliValues, intOption, numberOption } from "./_flags.ts";
import { BATCH_LIMIT_FLAGS } from "./label.ts";

/** Options of `deno task judge`. */
export const judgeCommand: CliCommand = {
  summary: "serve the GPT-4o-compatible judge server on 127.0.0.1 (Ctrl-C stops it)",
  spec: {
    port: { type: "string", default: `${J.port}`, description: "port (0 picks a free one)" },
    noise: {
      type: "string",
      default: `${J.noise}`,
      description: "std of Gaussian noise on scores",
    },
    bias: { type: "string", default: `${J.bias}`, description: "constant added to scores" },
    "latency-ms": {
      type: "string",
      default: `${J.latencyMs}`,
      description: "simulated latency per request",
    },
    seed: { type: "string", default: `${J.seed}`, description: "seed of noise and faults" },
    faults: {
      type: "string",
      default: "",
      description: "fault rates, e.g. 429:0.1,500:0.05,slow:0.01,malformed:0.02,missing_patch:0.02",
    },
    ...BATCH_LIMIT_FLAGS,
    "max-enqueued-tokens": {
      type: "string",
      description: "Batch API: enqueued-token limit (default: none)",
    },
    "batch-step-ms": { type: "string", default: "50", description: "Batch API: status step" },
  },
  run: async (values: CliValues): Promise<void> => {
    const server = startJudgeServer({
      port: intOption(values, "port"),
      noise: numberOption(values, "noise"),
      bias: numberOption(values, "bias"),
      latencyMs: numberOption(values, "latency-ms"),
      seed: intOption(values, "seed"),
      faults: { rates: parseFaultRates(String(values.faults ?? "")) },
      batchStepMs: intOption(values, "batch-step-ms"),
      batchLimits: {
        maxRequestsPerFile: intOption(values, "max-requests-per-file"),
        maxBytesPerFile: intOption(values, "max-bytes-per-file"),
        maxEnqueuedTokens: values["max-enqueued-tokens"] === undefined
          ? undefined
          : intOption(values, "max-enqueued-tokens"),
      },
    });
    console.log(`judge server listening: ${server.url}`);
    console.log(`label with: deno task label --videos DIR --out FILE --base-url ${server.url}`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        Deno.removeSignalListener("SIGINT", stop);
        resolve();
      };
      Deno.addSignalListener("SIGINT", stop);
    });
    await server.close();
  },
};
