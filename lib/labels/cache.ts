/**
 * The label cache: content-addressed, append-only JSONL on disk. A record's key
 * is a SHA-256 over the video's pixels (as 8-bit values, so a re-decode of the
 * same file hits), the prompt, the grid, the model and the protocol version.
 * Each label is appended (and fsynced) the moment it arrives, so a rerun makes
 * no API call for cached items and a killed run resumes without paying twice.
 * A torn last line from a crash mid-append is dropped on read and cut off on
 * the next append. One writer process per file.
 * @module
 */

import { appendJsonLines, readJsonLines } from "../core/_atomic.ts";
import { fail } from "../core/_errors.ts";
import { PROTOCOL_VERSION } from "./protocol.ts";
import type { VideoLabels } from "../videos/scores.ts";
import { formatGrid, type PatchGrid } from "../videos/patch.ts";
import type { Video } from "../videos/video.ts";

/** One cached label. Never holds credentials. */
export interface LabelRecord {
  /** Cache key (hex SHA-256). */
  key: string;
  /** Protocol version the label was made with. */
  protocol: string;
  /** Model that answered. */
  model: string;
  /** Grid as `"ROWSxCOLSxFRAMES"`. */
  grid: string;
  /** Prompt text. */
  prompt: string;
  /** Where the video came from (file path or description). */
  source: string;
  /** The validated labels. */
  labels: VideoLabels;
  /** Tokens billed for it. */
  usage: { promptTokens: number; completionTokens: number };
  /** Estimated cost in USD. */
  costUsd: number;
}

/** What goes into a cache key besides the pixels. */
export interface LabelKeyParts {
  /** Prompt text. */
  prompt: string;
  /** Patch grid. */
  grid: PatchGrid;
  /** Model name. */
  model: string;
  /** Anything else that changes the request (frame sampling, image size). Default "". */
  variant?: string;
}

/**
 * The content-addressed key of a labelling request.
 *
 * @example
 * ```ts
 * import { createVideo } from "@halo/kit";
 * import { labelCacheKey } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const video = createVideo({ frames: new Float32Array(4 * 8 * 8 * 3), numFrames: 4, height: 8, width: 8 });
 * const grid = { rows: 2, cols: 2, framesPerPatch: 2 };
 * const a = await labelCacheKey(video, { prompt: "p", grid, model: "gpt-4o" });
 * const b = await labelCacheKey(video, { prompt: "p", grid, model: "gpt-4o-mini" });
 * assert.equal(a.length, 64);
 * assert.notEqual(a, b);
 * ```
 */
export async function labelCacheKey(video: Video, parts: LabelKeyParts): Promise<string> {
  const bytes = new Uint8Array(video.frames.length);
  for (let i = 0; i < bytes.length; i++) {
    const v = video.frames[i];
    bytes[i] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
  }
  const header = JSON.stringify({
    protocol: PROTOCOL_VERSION,
    shape: [video.numFrames, video.height, video.width],
    prompt: parts.prompt,
    grid: formatGrid(parts.grid),
    model: parts.model,
    variant: parts.variant ?? "",
  });
  const head = new TextEncoder().encode(header + "\n");
  const all = new Uint8Array(head.length + bytes.length);
  all.set(head);
  all.set(bytes, head.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * An open label cache file. Appends are serialised within the process, so
 * concurrent labelling workers can share one cache.
 *
 * @example
 * ```ts
 * import { LabelCache } from "@halo/kit/labels";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const cache = await LabelCache.open(`${dir}/labels.jsonl`);
 * assert.equal(cache.size, 0);
 * assert.equal(cache.get("nope"), undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LabelCache {
  #path: string;
  #records = new Map<string, LabelRecord>();
  #queue: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.#path = path;
  }

  /** Opens (or starts) the cache at `path`, reading every complete record. */
  static async open(path: string): Promise<LabelCache> {
    if (typeof path !== "string" || path === "") fail("LabelCache.open", "a file path", path);
    const cache = new LabelCache(path);
    const rows = await readJsonLines<LabelRecord>(path);
    rows.forEach((row, i) => {
      if (!row || typeof row.key !== "string" || !row.labels) {
        fail(`${path}:${i + 1}`, "a label record with key and labels", row);
      }
      cache.#records.set(row.key, row);
    });
    return cache;
  }

  /** The file the cache lives in. */
  get path(): string {
    return this.#path;
  }

  /** Number of cached labels. */
  get size(): number {
    return this.#records.size;
  }

  /** The record for `key`, if cached. */
  get(key: string): LabelRecord | undefined {
    return this.#records.get(key);
  }

  /** Whether `key` is cached. */
  has(key: string): boolean {
    return this.#records.has(key);
  }

  /** Every record, in file order. */
  records(): LabelRecord[] {
    return [...this.#records.values()];
  }

  /** Appends `record` durably (fsync) and makes it visible to `get`. */
  put(record: LabelRecord): Promise<void> {
    return this.putMany([record]);
  }

  /**
   * Appends the records not cached yet with one write and one fsync (a batch's
   * answers merge at once), and makes them visible to `get`.
   */
  putMany(records: readonly LabelRecord[]): Promise<void> {
    const run = this.#queue.then(async () => {
      const fresh = new Map<string, LabelRecord>();
      for (const r of records) if (!this.#records.has(r.key)) fresh.set(r.key, r);
      await appendJsonLines(this.#path, [...fresh.values()]);
      for (const [key, r] of fresh) this.#records.set(key, r);
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
