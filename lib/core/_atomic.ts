/**
 * Crash-safe file writes: a file is either the old version or the new one,
 * never half-written. Appends to JSONL files recover from a torn last line.
 * @module
 */

import { dirname } from "node:path";

/** Writes `data` to `path` through a temporary file in the same directory and a rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/**
 * Appends JSON lines to `path`. If the file ends in a torn line (a crash
 * mid-append), the torn bytes are cut off first so the file stays valid JSONL.
 */
export async function appendJsonLines(path: string, records: readonly unknown[]): Promise<void> {
  if (records.length === 0) return;
  await Deno.mkdir(dirname(path), { recursive: true });
  await truncateTornLine(path);
  const text = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
  const file = await Deno.open(path, { append: true, create: true });
  try {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Reads a JSONL file, skipping a torn (unterminated, unparsable) last line. Missing file → []. */
export async function readJsonLines<T = unknown>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const lines = text.split("\n");
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (error) {
      const isLast = i === lines.length - 1;
      if (isLast) break; // torn final line from a killed writer
      throw new SyntaxError(
        `${path}:${i + 1}: Expected a JSON line but found invalid JSON (${
          (error as Error).message
        })`,
      );
    }
  }
  return out;
}

async function truncateTornLine(path: string): Promise<void> {
  // Reads the last byte only: reading the whole log on every append made a long labelling run
  // quadratic (a 9,000-label cache slowed from 25 to 4 labels a second).
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  let torn: boolean;
  try {
    const size = (await file.stat()).size;
    if (size === 0) return;
    await file.seek(size - 1, Deno.SeekMode.Start);
    const last = new Uint8Array(1);
    torn = (await file.read(last)) === 1 && last[0] !== 0x0a;
  } finally {
    file.close();
  }
  if (!torn) return;
  const bytes = await Deno.readFile(path);
  await Deno.truncate(path, bytes.lastIndexOf(0x0a) + 1);
}

/**
 * Keeps only the records of a JSONL log that `keep` accepts, rewriting the file
 * atomically when any is dropped, and returns the kept ones. Training loops log
 * before they checkpoint, so a resume calls this to drop what a kill left past
 * the checkpoint (those steps run again and are logged again).
 */
export async function trimJsonLines<T>(path: string, keep: (record: T) => boolean): Promise<T[]> {
  const records = await readJsonLines<T>(path);
  const kept = records.filter(keep);
  if (kept.length < records.length) {
    await writeFileAtomic(path, kept.map((r) => JSON.stringify(r) + "\n").join(""));
  }
  return kept;
}

/** Whether `path` exists; errors other than "not found" (permissions, say) are thrown. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
