/**
 * An exponential moving average of a model's weights (the EMA that diffusion
 * models are sampled with), saved with the optimiser state so a resumed run
 * continues it exactly.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkNumber, fail } from "../core/_errors.ts";
import { cloneParams, disposeParams, type Params, writeParams } from "./nn.ts";
import type { Adam, OptimizerState } from "./adam.ts";

/** Options for {@linkcode createEma}. */
export interface EmaOptions {
  /** Decay per update, in [0, 1). Default 0.999 (an average over about the last 1000 steps). */
  decay?: number;
}

/** The averaged weights of a model and how to advance them. */
export interface Ema {
  /** The averaged weights (same names and shapes as the model's). */
  readonly params: Params;
  /** The decay in use. */
  readonly decay: number;
  /**
   * Moves the average toward `params` after update number `step` (1-based):
   * ema ← d·ema + (1 − d)·params with d = min(decay, (1 + step)/(10 + step)),
   * so the first updates are not dominated by the initial weights.
   */
  update(params: Params, step: number): void;
  /** Frees the averaged weights. */
  dispose(): void;
}

/**
 * Starts an EMA of `params` at their current values.
 *
 * @example
 * ```ts
 * import { addParam, createEma, createParams, disposeParams } from "@halo/kit/tensor";
 * const params = createParams();
 * addParam(params, "w", [2], { init: "ones" });
 * const ema = createEma(params, { decay: 0.9 });
 * params.get("w")!.assign(params.get("w")!.mul(3));
 * ema.update(params, 1000);
 * console.log(ema.params.get("w")!.dataSync()[0].toFixed(2)); // 1.20
 * ema.dispose();
 * disposeParams(params);
 * ```
 */
export function createEma(params: Params, options: EmaOptions = {}): Ema {
  const decay = checkNumber("createEma", "decay", options.decay ?? 0.999, 0, 0.999999);
  const avg = cloneParams(params);
  return {
    params: avg,
    decay,
    update(model, step) {
      const d = Math.min(decay, (1 + step) / (10 + step));
      tf.tidy(() => {
        for (const [name, v] of avg) {
          const p = model.get(name);
          if (!p) fail("Ema.update", `a parameter "${name}" in the model`, "none");
          v.assign(v.mul(d).add(p.mul(1 - d)));
        }
      });
    },
    dispose() {
      disposeParams(avg);
    },
  };
}

/**
 * The optimiser state of a run that keeps an EMA: the Adam moments plus the
 * averaged weights under `ema/<name>`, for {@linkcode saveCheckpoint} and
 * {@linkcode loadCheckpoint}'s `optimizer`.
 *
 * @example
 * ```ts
 * import { addParam, createAdam, createEma, createParams, disposeParams, withEma } from "@halo/kit/tensor";
 * const params = createParams();
 * addParam(params, "w", [2], { init: "ones" });
 * const adam = createAdam(params);
 * const ema = createEma(params);
 * console.log([...withEma(adam, ema).state().tensors.keys()].sort()); // [ "ema/w", "w/m", "w/v" ]
 * adam.dispose();
 * ema.dispose();
 * disposeParams(params);
 * ```
 */
export function withEma(adam: Adam, ema: Ema): OptimizerState {
  return {
    state() {
      const { step, tensors } = adam.state();
      const all: Params = new Map(tensors);
      for (const [name, v] of ema.params) all.set(`ema/${name}`, v);
      return { step, tensors: all };
    },
    load(step, saved) {
      adam.load(step, saved.filter((s) => !s.name.startsWith("ema/")));
      writeParams(
        ema.params,
        saved.filter((s) => s.name.startsWith("ema/")).map((s) => ({
          ...s,
          name: s.name.slice(4),
        })),
        "withEma.load",
      );
    },
  };
}
