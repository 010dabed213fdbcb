/**
 * Tensors: the TensorFlow.js backend choice (`backend.ts`: wasm, WebGPU,
 * cpu), the neural-network building blocks the generator and the reward models
 * are made of (`nn.ts`: parameters, linear, layer norm, attention, MLP,
 * transformer blocks), Adam with clipping (`adam.ts`), an EMA of weights
 * saved with the optimiser state (`ema.ts`) and checkpoints
 * (`checkpoint.ts`: `config.json` + `weights.bin`, SHA-256 checked, loaded
 * from a path, a `file:` URL or an `http(s):` URL).
 *
 * Paper step: none (infrastructure). Reads and writes: checkpoints.
 * Internal: `_kernels/` (the wasm and WebGPU kernels behind the backends) and
 * `_checkpoint_folder.ts` (where a checkpoint's files are: a folder or a URL).
 * @module
 */

export * from "./adam.ts";
export * from "./backend.ts";
export * from "./checkpoint.ts";
export * from "./ema.ts";
export * from "./nn.ts";
