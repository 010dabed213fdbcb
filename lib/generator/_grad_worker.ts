/**
 * A gradient worker of the data-parallel pretraining (`_data_parallel.ts`), internal: it
 * holds a generator of the run's config, takes the weights and its clips of each step, and
 * answers with the gradients of its share of the batch's loss ({@linkcode partGrads}).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../tensor/backend.ts";
import { createGenerator, type Generator, type GeneratorConfig } from "./model.ts";
import { addNoise } from "./diffusion.ts";
import { partGrads } from "./train_step.ts";
import type { WorkerGrads, WorkerStep } from "./_data_parallel.ts";

interface Scope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as Scope;
let gen: Generator | undefined;

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data as WorkerStep | {
    kind: "init";
    config: GeneratorConfig;
    params: Record<string, Float32Array>;
    backend: BackendName;
  };
  try {
    if (msg.kind === "init") {
      await initBackend({ backend: msg.backend });
      gen = createGenerator(msg.config);
      setWeights(gen, msg.params);
      scope.postMessage({ kind: "ready" });
      return;
    }
    const g = gen!;
    const c = g.config;
    setWeights(g, msg.params);
    const n = msg.t.length;
    const shape = [n, c.frames, c.size, c.size, 3];
    const out = tf.tidy(() => {
      const x0 = tf.tensor(msg.x0, shape);
      const t = tf.tensor1d(msg.t, "int32");
      const noise = tf.tensor(msg.noise, shape);
      const inputs = {
        xt: addNoise(c, x0, t, noise),
        noise,
        t,
        tokens: tf.tensor2d(msg.tokens, [n, msg.tokenLength], "int32"),
        keep: tf.tensor1d(msg.keep),
        target: x0,
        x0,
        w: tf.tensor1d(msg.w),
      };
      return partGrads(g, inputs, { batch: msg.batch, x0Loss: msg.x0Loss });
    });
    const grads: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(out.grads)) {
      grads[name] = new Float32Array(t.dataSync());
    }
    const answer: WorkerGrads = { kind: "grads", grads, plain: out.plain.dataSync()[0] };
    tf.dispose([...Object.values(out.grads), out.plain]);
    scope.postMessage(answer, Object.values(grads).map((a) => a.buffer as ArrayBuffer));
  } catch (error) {
    scope.postMessage({ kind: "error", message: (error as Error).message });
  }
};
scope.postMessage({ kind: "loaded" });

/** Overwrites the weights named in `values` (each in its parameter's shape). */
function setWeights(g: Generator, values: Record<string, Float32Array>): void {
  for (const [name, v] of g.params) {
    const value = values[name];
    if (value) tf.tidy(() => v.assign(tf.tensor(value, v.shape)));
  }
}
