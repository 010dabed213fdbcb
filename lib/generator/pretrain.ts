/**
 * Pretraining of the ShapesWorld generator (`deno task pretrain`), on one core or, with
 * `workers`, on several (`_data_parallel.ts`). Training is resumable: a
 * checkpoint with the optimiser state is written every N steps, and the batch
 * of step i depends only on (seed, i), so a run killed and restarted ends at
 * the same step count with the same data order.
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { checkInt, checkNumber, fail } from "../core/_errors.ts";
import { createRng } from "../core/_rng.ts";
import { createAdam } from "../tensor/adam.ts";
import { createEma, type Ema, withEma } from "../tensor/ema.ts";
import { appendJsonLines, trimJsonLines } from "../core/_atomic.ts";
import { Progress } from "../core/_progress.ts";
import {
  createGenerator,
  disposeGenerator,
  type Generator,
  type GeneratorConfig,
  resolveGeneratorConfig,
} from "./model.ts";
import { type DiffusionBatch, makeBatch } from "./diffusion.ts";
import { loadGenerator, saveGenerator } from "./io.ts";
import {
  drawStep,
  type StepDraw,
  trainStep,
  type TrainStepOptions,
  type X0Loss,
} from "./train_step.ts";
import { type GradientPool, startGradientPool } from "./_data_parallel.ts";
import { loadCheckpoint, readCheckpointManifest } from "../tensor/checkpoint.ts";
import { promptSplits, SHAPE_NAMES, type ShapeName, type ShapesPrompt } from "../videos/world.ts";
import { promptPicker } from "./_prompt_mix.ts";
import { withoutShapeWord } from "./_shape_word.ts";
import { evaluateGenerator } from "./quick_eval.ts";
import { modelName } from "../core/shipped.ts";

/** The defaults of {@linkcode PretrainOptions} (the `pretrain` task's flags show the same). */
export const PRETRAIN_DEFAULTS: Readonly<
  Required<Omit<PretrainOptions, "config" | "quiet" | "shapeWeights" | "holdOutCombinations">>
> = Object.freeze({
  out: "out/generator",
  steps: 2400,
  batchSize: 8,
  learningRate: 1e-3,
  lrSchedule: "cosine",
  cooldownSteps: 0,
  ema: 0.999,
  seed: 0,
  checkpointEvery: 100,
  promptDropout: 0.1,
  x0Weighting: "uniform",
  x0Loss: "mse",
  shapeWordDropout: 0,
  maxWeight: 10,
  stableTargets: 0,
  maxSeconds: 0,
  evalEvery: 0,
  evalPrompts: 32,
  workers: 1,
});

/** Options for {@linkcode pretrain}; defaults in {@linkcode PRETRAIN_DEFAULTS}. */
export interface PretrainOptions {
  /** Checkpoint directory (resumed from when it exists). Default `out/generator`. */
  out?: string;
  /** Total training steps. Default 2400. */
  steps?: number;
  /** Clips per step. Default 8. */
  batchSize?: number;
  /** Peak learning rate (linear warm-up over 100 steps, then `lrSchedule`). Default 1e-3. */
  learningRate?: number;
  /**
   * After the warm-up: "cosine" decays to 10% of the peak at `steps`;
   * "constant" keeps the peak, so a run's first N steps do not depend on
   * `steps` and a finished run can be extended (the EMA does the averaging a
   * decay would). Default "cosine".
   */
  lrSchedule?: "cosine" | "constant";
  /**
   * With `lrSchedule` "constant": the last this many steps decay the learning
   * rate (cosine, to 10% of the peak), so a constant-rate run resumed with
   * `steps` = its step + K and `cooldownSteps` = K ends with a decay, and every
   * step before the decay equals the constant run's (warmup-stable-decay). Default 0.
   */
  cooldownSteps?: number;
  /**
   * Decay of the EMA of the weights (0 = none). The EMA is saved with the
   * optimiser state and, as a plain generator checkpoint, to `<out>-ema`: that
   * is the model to sample and ship. Default 0.999.
   */
  ema?: number;
  /** Seed of the initial weights and of the data order. Default 0. */
  seed?: number;
  /** Steps between checkpoints. Default 100. */
  checkpointEvery?: number;
  /** Generator config (defaults: {@linkcode DEFAULT_GENERATOR_CONFIG}). */
  config?: Partial<GeneratorConfig>;
  /** Probability of dropping the prompt (CFG). Default 0.1. */
  promptDropout?: number;
  /**
   * With the x0 head: the loss weighting over noise levels, "uniform" (the plain x0-MSE) or
   * "snr+1" (min(1 + SNR, `maxWeight`)); see `TrainStepOptions.x0Weighting`.
   * Default "uniform".
   */
  x0Weighting?: "uniform" | "snr+1";
  /**
   * With the x0 head: the per-pixel error, "mse" or "l1" (sharper edges); see
   * `TrainStepOptions.x0Loss`. Default "mse".
   */
  x0Loss?: X0Loss;
  /**
   * Probability that a clip's prompt loses its shape word (padding in its place) while the
   * rest of the prompt stays, so the model also learns "one green … moving left" with the shape
   * left open: what the sampler's `shapeGuidance` pushes away from. Drawn from a stream of its
   * own, so 0 leaves every other draw of the run as it was. Default 0. Reconstruction: not in
   * the paper; a per-attribute form of prompt dropout aimed at the test split's unseen
   * (colour, shape) combinations.
   */
  shapeWordDropout?: number;
  /** Cap of the loss weight (the ε head's min(1/ᾱ, cap), or x0Weighting "snr+1"). Default 10. */
  maxWeight?: number;
  /**
   * With the x0 head: K other clips of each row's prompt rendered every step as the reference
   * set of the stable target field (Xu, Tong & Jaakkola, 2023): the head learns toward the
   * posterior-weighted mean of the row's clip and its K references rather than the clip
   * alone. At high noise, where a sample's layout and direction are decided and one clip
   * says almost nothing about the prompt's mean, that target has K + 1 times less variance;
   * at low noise it is the row's own clip. 0 = off (the plain x0-MSE). Costs K renders per row
   * and step (about 2.6 ms each). Default 0. Our reconstruction: the paper's base models are
   * pretrained by their authors; this only serves the small world's generator.
   */
  stableTargets?: number;
  /** Stop (after a checkpoint) once this many seconds have passed; 0 = no limit. Default 0. */
  maxSeconds?: number;
  /**
   * Every this many steps (a multiple of `checkpointEvery`), sample
   * `evalPrompts` validation prompts with the EMA weights (or the weights,
   * without an EMA) and append {@linkcode evaluateGenerator}'s metrics with the
   * step and wall seconds to `<out>.eval.jsonl`: the quality-versus-training-time
   * curve. 0 = never. Default 0.
   */
  evalEvery?: number;
  /** Validation prompts per evaluation (the sampler's defaults, one seed). Default 32. */
  evalPrompts?: number;
  /**
   * Processes that share each step's batch: this one and `workers − 1` Deno workers, each on
   * its own core (data parallelism on one machine). Each computes the gradients of its share
   * of the clips with the same weights; they are summed and one Adam update is taken, so the
   * step is the single-process step up to the order of summation (bit for bit the step with
   * the batch in `workers` passes). On the wasm and cpu backends, not with `stableTargets`.
   * Default 1.
   */
  workers?: number;
  /**
   * Share of each step's clips given to each asked shape, relative (e.g. `{ square: 2 }`: squares
   * twice as often as circles or triangles, weights absent being 1); within a shape the
   * training prompts are drawn uniformly. Default: absent, every training prompt equally
   * likely, so each shape in proportion to its prompts (the held-out test combinations are two
   * squares, a circle and a triangle, which leaves squares 30% of the training prompts). Why:
   * squares differ from circles of their area only at the corners and are the shape the
   * generator learns last (data/generator/README.md). Our reconstruction: a data-mixture
   * choice of the small world's pretraining, not in the paper.
   */
  shapeWeights?: Partial<Record<ShapeName, number>>;
  /**
   * Training (colour, shape) combinations left out of pretraining, as `"colour/shape"`, so
   * their prompts can stand in for the test's unseen combinations at validation (issue 21's
   * measure of what post-training does on combinations the generator never saw). Each must be a
   * combination of the train split. Default: absent, every training prompt used.
   */
  holdOutCombinations?: readonly string[];
  /** Silence the progress bar. Default false. */
  quiet?: boolean;
}

/** What {@linkcode pretrain} returns. */
export interface PretrainResult {
  /** Steps done in total (including earlier runs of a resumed checkpoint). */
  step: number;
  /** Mean loss of the last (up to) 50 steps of this run, NaN if no step ran. */
  loss: number;
  /** Wall seconds of all runs that built this checkpoint. */
  wallSeconds: number;
  /** Whether it continued from an existing checkpoint. */
  resumed: boolean;
  /** Checkpoint directory. */
  out: string;
}

/**
 * The training prompts: the train split of {@linkcode promptSplits} (seed 0), without the
 * prompts of `holdOut`'s `"colour/shape"` combinations.
 *
 * @example
 * ```ts
 * import { pretrainPrompts } from "@halo/kit/generator";
 * import assert from "node:assert/strict";
 * const all = pretrainPrompts();
 * const some = pretrainPrompts(["red/square"]);
 * assert.ok(some.length < all.length && some.every((p) => `${p.color}/${p.shape}` !== "red/square"));
 * ```
 */
export function pretrainPrompts(holdOut: readonly string[] = []): ShapesPrompt[] {
  const train = promptSplits({ seed: 0 }).train;
  const combos = new Set(train.map((p) => `${p.color}/${p.shape}`));
  for (const c of holdOut) {
    if (!combos.has(c)) {
      fail(
        "pretrainPrompts",
        `holdOutCombinations among the training combinations (${[...combos].sort().join(", ")})`,
        c,
      );
    }
  }
  const held = new Set(holdOut);
  return train.filter((p) => !held.has(`${p.color}/${p.shape}`));
}

/**
 * Pretrains a generator from scratch on ShapesWorld, or resumes the checkpoint
 * in `out`. Writes a checkpoint (weights + Adam state) every `checkpointEvery`
 * steps and at the end, and appends `{step, loss, seconds}` lines to
 * `<out>.log.jsonl`.
 *
 * @example
 * ```ts
 * import { pretrain } from "@halo/kit";
 * const dir = await Deno.makeTempDir();
 * const tiny = { frames: 4, size: 16, dim: 16, depth: 1, heads: 2, tokenGrid: { rows: 2, cols: 2, framesPerPatch: 2 } };
 * const result = await pretrain({ out: `${dir}/gen`, steps: 2, batchSize: 2, config: tiny, quiet: true });
 * console.log(result.step); // 2
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function pretrain(options: PretrainOptions = {}): Promise<PretrainResult> {
  const where = "pretrain";
  const d = PRETRAIN_DEFAULTS;
  const out = options.out ?? d.out;
  const steps = checkInt(where, "steps", options.steps ?? d.steps, 1);
  const batchSize = checkInt(where, "batchSize", options.batchSize ?? d.batchSize, 1, 4096);
  const peak = checkNumber(where, "learningRate", options.learningRate ?? d.learningRate, 0, 1);
  const seed = checkInt(where, "seed", options.seed ?? d.seed, 0, 0xffffffff);
  const every = checkInt(where, "checkpointEvery", options.checkpointEvery ?? d.checkpointEvery, 1);
  const dropout = checkNumber(
    where,
    "promptDropout",
    options.promptDropout ?? d.promptDropout,
    0,
    1,
  );
  const x0Weighting = options.x0Weighting ?? d.x0Weighting;
  if (x0Weighting !== "uniform" && x0Weighting !== "snr+1") {
    fail(where, 'x0Weighting "uniform" or "snr+1"', x0Weighting);
  }
  const x0Loss = options.x0Loss ?? d.x0Loss;
  if (x0Loss !== "mse" && x0Loss !== "l1") fail(where, 'x0Loss "mse" or "l1"', x0Loss);
  const maxWeight = checkNumber(where, "maxWeight", options.maxWeight ?? d.maxWeight, 1);
  const shapeWordDropout = checkNumber(
    where,
    "shapeWordDropout",
    options.shapeWordDropout ?? d.shapeWordDropout,
    0,
    1,
  );
  const stableTargets = checkInt(
    where,
    "stableTargets",
    options.stableTargets ?? d.stableTargets,
    0,
    1024,
  );
  const maxSeconds = checkNumber(where, "maxSeconds", options.maxSeconds ?? d.maxSeconds, 0);
  const lrSchedule = options.lrSchedule ?? d.lrSchedule;
  if (lrSchedule !== "cosine" && lrSchedule !== "constant") {
    fail(where, 'lrSchedule "cosine" or "constant"', lrSchedule);
  }
  const cooldown = checkInt(where, "cooldownSteps", options.cooldownSteps ?? d.cooldownSteps, 0);
  if (cooldown > 0 && lrSchedule !== "constant") {
    fail(where, 'cooldownSteps with lrSchedule "constant"', `lrSchedule "${lrSchedule}"`);
  }
  const emaDecay = checkNumber(where, "ema", options.ema ?? d.ema, 0, 0.999999);
  const evalEvery = checkInt(where, "evalEvery", options.evalEvery ?? d.evalEvery, 0);
  if (evalEvery % every !== 0) {
    fail(where, `evalEvery a multiple of checkpointEvery (${every})`, evalEvery);
  }
  const evalPrompts = checkInt(where, "evalPrompts", options.evalPrompts ?? d.evalPrompts, 1);
  const config = resolveGeneratorConfig(options.config ?? {});
  if (stableTargets > 0 && config.prediction !== "x0") {
    fail(where, 'stableTargets 0 unless config.prediction is "x0"', stableTargets);
  }
  const workers = checkInt(where, "workers", options.workers ?? d.workers, 1, batchSize);
  const shapeWeights = options.shapeWeights;
  if (shapeWeights !== undefined) {
    if (typeof shapeWeights !== "object" || shapeWeights === null) {
      fail(where, "shapeWeights an object of shape names to weights", shapeWeights);
    }
    for (const [shape, w] of Object.entries(shapeWeights)) {
      if (!SHAPE_NAMES.includes(shape as ShapeName)) {
        fail(where, `shapeWeights keys among ${SHAPE_NAMES.join(", ")}`, JSON.stringify(shape));
      }
      checkNumber(where, `shapeWeights.${shape}`, w, 0, 1000);
    }
    if (SHAPE_NAMES.every((k) => (shapeWeights[k] ?? 1) === 0)) {
      fail(where, "shapeWeights with a weight above 0", JSON.stringify(shapeWeights));
    }
  }
  const holdOut = options.holdOutCombinations ? [...options.holdOutCombinations].sort() : [];
  const prompts = pretrainPrompts(holdOut);
  if (workers > 1 && stableTargets > 0) {
    fail(where, "stableTargets 0 with workers > 1", stableTargets);
  }

  let gen: Generator;
  let start = 0;
  let priorSeconds = 0;
  let resumed = false;
  const adamOptions = { learningRate: peak };
  let exists = false;
  try {
    await readCheckpointManifest(out);
    exists = true;
  } catch (error) {
    if (!(error instanceof RangeError && /no such file/.test(error.message))) throw error;
  }
  let adam;
  let ema: Ema | undefined;
  if (exists) {
    // Resume: the stored config must be the requested one (a clear error otherwise).
    const loaded = await loadGenerator(out, { config });
    gen = loaded.generator;
    adam = createAdam(gen.params, adamOptions);
    if (emaDecay > 0) ema = createEma(gen.params, { decay: emaDecay });
    try {
      const optimizer = ema ? withEma(adam, ema) : adam;
      const state = await loadCheckpoint(out, { kind: "generator", config, optimizer });
      start = state.step;
      priorSeconds = Number(loaded.manifest.meta.wallSeconds ?? 0);
    } catch (error) {
      adam.dispose();
      ema?.dispose();
      disposeGenerator(gen);
      throw error;
    }
    const stored = loaded.manifest.meta;
    const storedHeld = ((stored.holdOutCombinations ?? []) as string[]).join(",");
    const mismatch = stored.seed !== undefined && stored.seed !== seed
      ? [`a run with seed ${seed}`, `seed ${stored.seed}`]
      : storedHeld !== holdOut.join(",")
      ? [`a run holding out [${holdOut.join(",")}]`, `[${storedHeld}]`]
      : undefined;
    if (mismatch) {
      adam.dispose();
      ema?.dispose();
      disposeGenerator(gen);
      fail(`${out}/config.json`, mismatch[0], mismatch[1]);
    }
    resumed = true;
  } else {
    gen = createGenerator(config, { seed });
    adam = createAdam(gen.params, adamOptions);
    if (emaDecay > 0) ema = createEma(gen.params, { decay: emaDecay });
  }
  const optimizer = ema ? withEma(adam, ema) : adam;
  let pool: GradientPool | undefined;
  if (workers > 1) {
    try {
      pool = await startGradientPool(gen, { workers: workers - 1, batch: batchSize, x0Loss });
    } catch (error) {
      adam.dispose();
      ema?.dispose();
      disposeGenerator(gen);
      throw error;
    }
  }

  const pickPrompt = promptPicker(prompts, shapeWeights);
  const t0 = performance.now();
  const seconds = () => priorSeconds + (performance.now() - t0) / 1000;
  const recent: number[] = [];
  const logFile = `${out}.log.jsonl`;
  let pendingLog: Array<{ step: number; loss: number; seconds: number }> = [];
  const progress = new Progress(steps, {
    label: "pretrain",
    unit: "step",
    initial: start,
    quiet: options.quiet,
  });
  // A kill between the log append and the checkpoint rename leaves log lines past the
  // checkpoint (past step 0 when the first checkpoint never landed); those steps are
  // trained again, so their lines go.
  await trimJsonLines<{ step: number }>(logFile, (r) => r.step <= start);
  const evalFile = `${out}.eval.jsonl`;
  const evaluated = new Set<number>();
  await trimJsonLines<{ step: number }>(evalFile, (r) => {
    evaluated.add(r.step);
    return r.step <= start;
  });
  const meta = {
    seed,
    batchSize,
    learningRate: peak,
    lrSchedule,
    cooldownSteps: cooldown,
    ema: emaDecay,
    promptDropout: dropout,
    x0Weighting,
    maxWeight,
    // absent for "mse", so older runs' meta (and their resume check) stay as they were
    ...(x0Loss !== "mse" ? { x0Loss } : {}),
    ...(shapeWordDropout ? { shapeWordDropout } : {}),
    ...(stableTargets ? { stableTargets } : {}),
    ...(shapeWeights ? { shapeWeights } : {}),
    ...(holdOut.length > 0 ? { holdOutCombinations: holdOut } : {}),
    steps,
  };
  const save = async (step: number) => {
    // Log first, then the checkpoint: a kill in between leaves extra lines (dropped on resume),
    // never a checkpoint whose steps are missing from the log.
    await appendJsonLines(logFile, pendingLog);
    pendingLog = [];
    await saveGenerator(out, gen, { step, optimizer, meta: { ...meta, wallSeconds: seconds() } });
    // The model to sample: the EMA as a plain checkpoint (rewritten at every checkpoint).
    if (ema) {
      await saveGenerator(`${out}-ema`, { config: gen.config, params: ema.params }, {
        step,
        meta: { ...meta, wallSeconds: seconds(), emaOf: modelName(out) },
      });
    }
  };
  const evaluate = async (step: number) => {
    if (evalEvery === 0 || step % evalEvery !== 0 || (step <= start && evaluated.has(step))) return;
    const model = ema ? { config: gen.config, params: ema.params } : gen;
    const t = performance.now();
    const metrics = await evaluateGenerator(model, {
      split: "validation",
      count: evalPrompts,
    });
    const record = {
      step,
      seconds: Math.round(seconds() * 10) / 10,
      evalSeconds: Math.round((performance.now() - t) / 100) / 10,
      ...metrics,
    };
    await appendJsonLines(evalFile, [record]);
    const pct = (v: number) => v.toFixed(2);
    progress.note(
      `validation @ step ${step}: colour ${pct(metrics.judgeColorAccuracy)} shape ${
        pct(metrics.judgeShapeAccuracy)
      } count ${pct(metrics.judgeCountAccuracy)} direction ${
        pct(metrics.judgeDirectionAccuracy)
      } blobs/frame ${pct(metrics.blobsPerFrame)} (asked ${pct(metrics.promptCount)}) ` +
        `defective clips ${pct(metrics.defectiveClips)} (${record.evalSeconds} s)`,
    );
  };
  // the batch and draws of step i depend only on (seed, i); with workers the next one is
  // prepared while this process waits for the workers' gradients
  const prepare = (i: number) => {
    const stepSeed = (seed * 0x9e3779b1 + i * 0x85ebca6b) >>> 0;
    const stepRng = createRng(stepSeed);
    const batchPrompts = Array.from({ length: batchSize }, () => pickPrompt(stepRng));
    const seeds = batchPrompts.map(() => stepRng.seed());
    const batch = makeBatch(config, batchPrompts, { seeds, refs: stableTargets });
    if (shapeWordDropout > 0) {
      const wordRng = createRng((stepSeed ^ 0x5bd1e995) >>> 0);
      const drop = batchPrompts.map(() => wordRng.next() < shapeWordDropout);
      const all = batch.tokens;
      batch.tokens = withoutShapeWord(all, drop);
      all.dispose();
    }
    const stepOptions = { rng: stepRng, promptDropout: dropout, x0Weighting, x0Loss, maxWeight };
    return { batch, stepOptions, draw: drawStep(config, batch.x0.size, batchSize, stepOptions) };
  };
  let step = start;
  let next: PreparedStep | undefined;
  try {
    if (resumed) await evaluate(start);
    while (step < steps) {
      const current = next ?? prepare(step);
      next = undefined;
      adam.setLearningRate(learningRateAt(step, steps, peak, lrSchedule, cooldown));
      const { batch } = current;
      const stepStart = performance.now();
      let loss: number;
      try {
        loss = await trainStep(gen, adam, batch, {
          ...current.stepOptions,
          draw: current.draw,
          parallel: pool,
          whileWaiting: step + 1 < steps ? () => (next = prepare(step + 1)) : undefined,
        });
        ema?.update(gen.params, step + 1);
      } finally {
        disposeBatch(batch);
      }
      if (!Number.isFinite(loss)) fail(where, "a finite loss", `${loss} at step ${step + 1}`);
      step++;
      recent.push(loss);
      if (recent.length > 50) recent.shift();
      pendingLog.push({ step, loss, seconds: Math.round(seconds() * 10) / 10 });
      const dt = (performance.now() - stepStart) / 1000;
      progress.tick(1, {
        loss: mean(recent),
        "samples/s": batchSize / dt,
      });
      const outOfTime = maxSeconds > 0 && (performance.now() - t0) / 1000 >= maxSeconds;
      if (step % every === 0 || step === steps || outOfTime) await save(step);
      await evaluate(step);
      if (outOfTime) break;
    }
    if (step === start && !resumed) await save(step);
  } finally {
    if (next) disposeBatch(next.batch);
    pool?.close();
    adam.dispose();
    ema?.dispose();
    disposeGenerator(gen);
  }
  return { step, loss: recent.length ? mean(recent) : NaN, wallSeconds: seconds(), resumed, out };
}

/** One step's batch, the options of its draw, and the draw (all from the step's seed). */
interface PreparedStep {
  batch: DiffusionBatch;
  stepOptions: TrainStepOptions;
  draw: StepDraw;
}

function disposeBatch(batch: DiffusionBatch): void {
  tf.dispose([batch.x0, batch.tokens, ...(batch.refs ? [batch.refs] : [])]);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Linear warm-up over the first 100 steps (or 5%), then cosine decay to 10% of
 * the peak; with `schedule` "constant" the peak itself, except over the last
 * `cooldown` steps, which decay the same way (cosine to 10%).
 */
export function learningRateAt(
  step: number,
  total: number,
  peak: number,
  schedule: "cosine" | "constant" = "cosine",
  cooldown = 0,
): number {
  const warm = Math.max(1, Math.min(100, Math.floor(total * 0.05)));
  if (step < warm) return peak * (step + 1) / warm;
  const decay = (progress: number) =>
    peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
  if (schedule === "constant") {
    const start = total - cooldown;
    return cooldown > 0 && step >= start ? decay((step - start) / cooldown) : peak;
  }
  return decay((step - warm) / Math.max(1, total - warm));
}
