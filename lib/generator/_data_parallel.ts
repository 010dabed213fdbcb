/**
 * Data-parallel pretraining on one machine (`pretrain --workers N`), internal: the
 * training step's batch is split between this process and N − 1 Deno workers (each its own
 * wasm instance, so its own core), which compute the gradients of their clips with the
 * current weights; {@linkcode trainStep} sums them after its own, in pass order, and takes
 * the one Adam update. With one worker and the batch split in halves, a step equals the
 * single-process step with `microBatch` b/2 bit for bit (`tests/data_parallel_test.ts`).
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { fail } from "../core/_errors.ts";
import type { Generator } from "./model.ts";
import type { DiffusionBatch } from "./diffusion.ts";
import type { ParallelPart, StepDraw, X0Loss } from "./train_step.ts";

/** What the main process sends a worker for one step (arrays are transferred). */
export interface WorkerStep {
  kind: "step";
  /** The trainable weights by name, as they are before this step's update. */
  params: Record<string, Float32Array>;
  /** Clips in the whole batch (the loss is a mean over all of them). */
  batch: number;
  /** The x0 head's per-pixel error (`TrainStepOptions.x0Loss`). */
  x0Loss: X0Loss;
  /** This worker's clips: clean clips `[n, T, H, W, 3]`, tokens `[n, L]`, and their draws. */
  x0: Float32Array;
  tokens: Int32Array;
  tokenLength: number;
  t: Int32Array;
  keep: Float32Array;
  noise: Float32Array;
  w: Float32Array;
}

/** A worker's answer to a step: its gradients by name and its share of the plain loss. */
export interface WorkerGrads {
  kind: "grads";
  grads: Record<string, Float32Array>;
  plain: number;
}

type WorkerMessage =
  | WorkerGrads
  | { kind: "loaded" | "ready" }
  | { kind: "error"; message: string };

/** A pool of gradient workers for {@linkcode trainStep}'s `parallel` option. Close it when done. */
export interface GradientPool extends ParallelPart {
  /** Stops the workers. */
  close(): void;
}

/**
 * Starts `workers` gradient workers for generators of `gen`'s config on the active backend and
 * resolves once they are ready (a worker that fails to start rejects, and the others stop). The batch of each step is split into `workers + 1`
 * contiguous shares, this process taking the first (and any remainder).
 */
export async function startGradientPool(
  gen: Generator,
  options: { workers: number; batch: number; x0Loss?: X0Loss },
): Promise<GradientPool> {
  const { workers, batch } = options;
  const x0Loss = options.x0Loss ?? "mse";
  if (!Number.isInteger(workers) || workers < 1) {
    fail("startGradientPool", "workers an integer ≥ 1", workers);
  }
  if (batch < workers + 1) {
    fail("startGradientPool", `a batch of ≥ ${workers + 1} clips (one per process)`, batch);
  }
  const backend = tf.getBackend();
  if (backend !== "wasm" && backend !== "cpu") {
    // the workers split CPU cores; a GPU backend already runs the whole batch at once
    fail("startGradientPool", 'the "wasm" or "cpu" backend', backend);
  }
  const share = Math.floor(batch / (workers + 1));
  const local = batch - share * workers;
  const started = Array.from({ length: workers }, (_, i) => spawn(gen, i));
  const settled = await Promise.allSettled(started);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) {
    for (const r of settled) if (r.status === "fulfilled") r.value.worker.terminate();
    throw failed.reason;
  }
  const handles = settled.map((r) => (r as PromiseFulfilledResult<Handle>).value);
  const names = [...gen.params].filter(([, v]) => v.trainable).map(([n]) => n);
  const shapes = Object.fromEntries(names.map((n) => [n, gen.params.get(n)!.shape]));
  let closed = false;
  return {
    local,
    grads(b: DiffusionBatch, draw: StepDraw) {
      if (closed) fail("GradientPool.grads", "an open pool", "a closed one");
      const n = b.x0.shape[0];
      if (n !== batch) fail("GradientPool.grads", `a batch of ${batch} clips`, n);
      const per = b.x0.size / n;
      const tokenLength = b.tokens.shape[1];
      const x0 = b.x0.dataSync() as Float32Array;
      const tokens = b.tokens.dataSync() as Int32Array;
      const answers = handles.map((h, i) => {
        const from = local + i * share;
        const to = from + share;
        // a fresh copy per worker: the arrays are transferred
        const params = Object.fromEntries(
          names.map((name) => [name, new Float32Array(gen.params.get(name)!.dataSync())]),
        );
        const step: WorkerStep = {
          kind: "step",
          params,
          batch,
          x0Loss,
          x0: x0.slice(from * per, to * per),
          tokens: Int32Array.from(tokens.subarray(from * tokenLength, to * tokenLength)),
          tokenLength,
          t: draw.t.slice(from, to),
          keep: draw.keep.slice(from, to),
          noise: draw.noise.slice(from * per, to * per),
          w: draw.w.slice(from, to),
        };
        const transfer = [
          ...Object.values(params).map((a) => a.buffer),
          ...[step.x0, step.tokens, step.t, step.keep, step.noise, step.w].map((a) => a.buffer),
        ];
        return h.ask(step, transfer as ArrayBuffer[]);
      });
      return Promise.all(answers).then((all) => {
        // summed in worker order, as a loop over passes would
        const grads: Record<string, tf.Tensor> = {};
        let plain = 0;
        for (const a of all) {
          plain = Math.fround(plain + a.plain);
          for (const name of names) {
            const g = tf.tensor(a.grads[name], shapes[name]);
            if (grads[name]) {
              const sum = grads[name].add(g);
              tf.dispose([grads[name], g]);
              grads[name] = sum;
            } else grads[name] = g;
          }
        }
        return { grads, plain: tf.scalar(plain) };
      });
    },
    close() {
      closed = true;
      for (const h of handles) h.worker.terminate();
    },
  };
}

interface Handle {
  worker: Worker;
  ask(step: WorkerStep, transfer: ArrayBuffer[]): Promise<WorkerGrads>;
}

function spawn(gen: Generator, index: number): Promise<Handle> {
  const worker = new Worker(new URL("./_grad_worker.ts", import.meta.url).href, {
    type: "module",
  });
  let pending: { resolve: (g: WorkerGrads) => void; reject: (e: Error) => void } | undefined;
  const failWith = (message: string) => {
    const error = new Error(`Gradient worker ${index}: ${message}`);
    pending?.reject(error);
    pending = undefined;
    return error;
  };
  return new Promise((resolve, reject) => {
    worker.onerror = (e) => {
      e.preventDefault();
      reject(failWith(e.message));
    };
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const msg = e.data;
      // a message sent before the worker's imports (and their top-level awaits) finish is lost
      if (msg.kind === "loaded") {
        // every weight once (untrainable ones never change), the trainable ones again each step
        const params = Object.fromEntries(
          [...gen.params].map(([name, v]) => [name, new Float32Array(v.dataSync())]),
        );
        worker.postMessage({ kind: "init", config: gen.config, params, backend: tf.getBackend() });
      } else if (msg.kind === "ready") {
        resolve({
          worker,
          ask(step, transfer) {
            if (pending) fail(`gradient worker ${index}`, "one step at a time", "two");
            return new Promise<WorkerGrads>((res, rej) => {
              pending = { resolve: res, reject: rej };
              worker.postMessage(step, transfer);
            });
          },
        });
      } else if (msg.kind === "error") {
        reject(failWith(msg.message));
        worker.terminate();
      } else if (msg.kind === "grads") {
        const p = pending;
        pending = undefined;
        p?.resolve(msg);
      }
    };
  });
}
