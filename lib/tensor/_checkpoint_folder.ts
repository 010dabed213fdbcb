/**
 * Where a checkpoint's files are read from, behind one interface: a local
 * folder (a path relative to the working directory, or a `file:` URL) or a
 * remote one (an `http:` or `https:` URL, read with `fetch`, the URL taken as
 * a folder). Errors name the file as the caller gave it: a path for a local
 * checkpoint, the URL for a remote one. Internal to the checkpoint loader.
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, fail } from "../core/_errors.ts";
import type { ModelRef } from "../core/shipped.ts";

/** A checkpoint folder the loader reads files from. */
export interface CheckpointFolder {
  /** The local directory; undefined for a remote folder. */
  readonly local?: string;
  /** Where file `name` of the checkpoint is, for messages: a path, or a URL when remote. */
  at(name: string): string;
  /**
   * The bytes of file `name`. A missing local file, or an HTTP status other
   * than 200, fails with `expected` (what the file should have been); an
   * unreachable server fails saying so.
   */
  read(name: string, expected: string): Promise<Uint8Array>;
}

/** A string that is a URL rather than a path: `file:` or any `scheme://`. */
const URL_LIKE = /^(file:|[a-z][a-z\d+.-]*:\/\/)/i;

/**
 * Resolves a {@linkcode ModelRef} to the folder its files are read from;
 * `where` names the caller in the error for a value that is no reference.
 */
export function checkpointFolder(ref: ModelRef, where: string): CheckpointFolder {
  if (ref instanceof URL) return urlFolder(ref, where);
  if (typeof ref !== "string") {
    fail(where, "a checkpoint path, or a file: or http(s): URL (string or URL)", ref);
  }
  if (!URL_LIKE.test(ref)) return localFolder(ref);
  let url: URL;
  try {
    url = new URL(ref);
  } catch {
    fail(where, "a valid checkpoint URL", ref);
  }
  return urlFolder(url, where);
}

/**
 * Where file `name` of checkpoint `ref` is, as messages show it: the local
 * path (a `file:` URL as its path), or the URL of a remote checkpoint.
 */
export function checkpointFile(ref: ModelRef, name: string): string {
  return checkpointFolder(ref, "checkpointFile").at(name);
}

function urlFolder(url: URL, where: string): CheckpointFolder {
  if (url.protocol === "file:") return localFolder(fileURLToPath(url));
  if (url.protocol === "http:" || url.protocol === "https:") return remoteFolder(url);
  fail(where, "a checkpoint path, or a file: or http(s): URL", url.href);
}

function localFolder(dir: string): CheckpointFolder {
  return {
    local: dir,
    at: (name) => join(dir, name),
    async read(name, expected) {
      const path = join(dir, name);
      try {
        return await Deno.readFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) fail(path, expected, "no such file");
        throw error;
      }
    },
  };
}

function remoteFolder(url: URL): CheckpointFolder {
  const base = new URL(url.href);
  base.search = "";
  base.hash = "";
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const at = (name: string) => new URL(name, base).href;
  return {
    at,
    async read(name, expected) {
      const href = at(name);
      let response: Response;
      try {
        response = await fetch(href);
      } catch (error) {
        unreachable(href, error);
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
        fail(href, `${expected} (HTTP status 200)`, `HTTP status ${status}`);
      }
      try {
        return new Uint8Array(await response.arrayBuffer());
      } catch (error) {
        unreachable(href, error);
      }
    },
  };
}

/** A fetch that got no answer (offline, refused, DNS, cut mid-body): say so, and what to do. */
function unreachable(href: string, error: unknown): never {
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    throw error; // Deno's own message names the missing --allow-net
  }
  const reason = error instanceof Error ? error.message.split(": ").at(-1) : String(error);
  throw new RangeError(
    `${href}: Expected a reachable URL (offline? copy the checkpoint to a local folder and ` +
      `pass its path) but found ${describe(`the kit could not reach it (${reason})`)}`,
    { cause: error },
  );
}
