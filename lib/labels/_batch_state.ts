/**
 * The saved state of a batch labelling run: one folder next to the label cache
 * (`<cache>.batches/`) with, per input file ("shard"), its request lines
 * (`<name>.jsonl`) and a small state file (`<name>.json`: the items, and once
 * known the uploaded file's id and the batch's id). Every state change is
 * written atomically before the next API call, so a killed run resumes every
 * batch it had started and never creates one twice.
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../core/_atomic.ts";

/** One request of a shard: what is needed to merge its answer without the video. */
export interface ShardItem {
  /** Cache key (also the request's `custom_id`). */
  key: string;
  /** Prompt text. */
  prompt: string;
  /** Where the video came from. */
  source: string;
  /** Frames of the video as sent (to validate the answer's patch ids). */
  frames: number;
}

/** The saved state of one shard. */
export interface ShardState {
  /** Name: `s000001`, or `s000001-r1` for the first re-submission of its missing items. */
  name: string;
  /** Re-submission round (0 for a first submission). */
  round: number;
  /** Model of every request. */
  model: string;
  /** Grid as `ROWSxCOLSxFRAMES`. */
  grid: string;
  /** Protocol version of the requests. */
  protocol: string;
  /** Its requests, in file order. */
  items: ShardItem[];
  /** Size of the input file in bytes. */
  bytes: number;
  /** Id of the uploaded input file, once uploaded. */
  inputFileId?: string;
  /** Upload time (Unix seconds, the server's clock), once uploaded. */
  uploadedAt?: number;
  /** Id of the batch, once created. */
  batchId?: string;
}

/** The state folder of one label cache. */
export class ShardStore {
  #dir: string;
  #names = new Set<string>();
  #counter = 0;

  private constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * Opens the folder and reads every complete shard. Request files without a
   * state file (a run killed while writing them) are removed.
   */
  static async open(dir: string): Promise<{ store: ShardStore; shards: ShardState[] }> {
    const store = new ShardStore(dir);
    const shards: ShardState[] = [];
    const spools: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile) continue;
        if (entry.name.endsWith(".tmp")) {
          await Deno.remove(join(dir, entry.name)).catch(() => {});
        } else if (entry.name.endsWith(".jsonl")) spools.push(entry.name.slice(0, -6));
        else if (entry.name.endsWith(".json")) {
          const state = await readState(join(dir, entry.name));
          if (state) shards.push(state);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    for (const s of shards) store.#remember(s.name);
    for (const name of spools) {
      if (!store.#names.has(name)) await Deno.remove(join(dir, `${name}.jsonl`)).catch(() => {});
    }
    shards.sort((a, b) => a.name.localeCompare(b.name));
    return { store, shards };
  }

  /** The folder. */
  get dir(): string {
    return this.#dir;
  }

  /** A fresh first-round shard name. */
  nextName(): string {
    return `s${String(++this.#counter).padStart(6, "0")}`;
  }

  /** Whether a shard of that name is saved. */
  has(name: string): boolean {
    return this.#names.has(name);
  }

  /** Saves a new shard: its request lines first, then its state. */
  async create(state: ShardState, lines: readonly string[]): Promise<void> {
    await writeFileAtomic(this.#spool(state.name), lines.join("\n") + "\n");
    await this.save(state);
    this.#remember(state.name);
  }

  /** Saves a shard's state. */
  async save(state: ShardState): Promise<void> {
    await writeFileAtomic(join(this.#dir, `${state.name}.json`), JSON.stringify(state));
  }

  /** The request lines of a shard. */
  async lines(name: string): Promise<string[]> {
    const text = await Deno.readTextFile(this.#spool(name));
    return text.split("\n").filter((l) => l !== "");
  }

  /** The request file of a shard, as bytes. */
  async bytes(name: string): Promise<Uint8Array<ArrayBuffer>> {
    return await Deno.readFile(this.#spool(name));
  }

  /** Forgets a finished shard: its state first, then its request lines. */
  async remove(name: string): Promise<void> {
    await Deno.remove(join(this.#dir, `${name}.json`)).catch(() => {});
    await Deno.remove(this.#spool(name)).catch(() => {});
    this.#names.delete(name);
  }

  /** Removes the folder when no shard is left in it. */
  async close(): Promise<void> {
    if (this.#names.size === 0) await Deno.remove(this.#dir).catch(() => {});
  }

  #spool(name: string): string {
    return join(this.#dir, `${name}.jsonl`);
  }

  #remember(name: string): void {
    this.#names.add(name);
    const n = Number(/^s(\d+)/.exec(name)?.[1] ?? 0);
    if (n > this.#counter) this.#counter = n;
  }
}

async function readState(path: string): Promise<ShardState | null> {
  try {
    const s = JSON.parse(await Deno.readTextFile(path)) as ShardState;
    return typeof s.name === "string" && Array.isArray(s.items) && typeof s.grid === "string"
      ? s
      : null;
  } catch {
    return null;
  }
}
