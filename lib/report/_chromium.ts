/**
 * Headless Chromium for rendering figures to PNG and for the browser tests:
 * Debian's `chromium` driven by `playwright-core` (no browser download), a
 * fresh profile per session, and the network off — only `file:`, `data:` and
 * `blob:` URLs load; every other request is aborted and recorded.
 * @module
 */

import type { BrowserContext, Page } from "playwright-core";
import { pathExists } from "../core/_atomic.ts";

/** The command-line flags every headless Chromium of the kit starts with. */
export const CHROMIUM_FLAGS: readonly string[] = Object.freeze([
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
]);

const CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
];

/**
 * The Chromium binary: `HALO_CHROMIUM` when set, else the first of Debian's and
 * Google's usual paths that exists; null when there is none.
 */
export async function findChromium(): Promise<string | null> {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("HALO_CHROMIUM") || undefined;
  } catch {
    fromEnv = undefined;
  }
  if (fromEnv) {
    if (!(await pathExists(fromEnv))) {
      throw new Error(`HALO_CHROMIUM: Expected a Chromium binary but found no file ${fromEnv}`);
    }
    return fromEnv;
  }
  for (const path of CANDIDATES) if (await pathExists(path)) return path;
  return null;
}

/**
 * Imports playwright-core. At import time it probes for WSL by reading `/proc`, which Deno
 * allows only with `--allow-all`; the probe matters only for opening URLs in a desktop
 * browser, which the kit never does, so its own switch `__IS_WSL_TEST__` defers it.
 */
async function importPlaywright(): Promise<typeof import("playwright-core")> {
  const had = Deno.env.get("__IS_WSL_TEST__");
  if (had === undefined) Deno.env.set("__IS_WSL_TEST__", "1");
  try {
    return await import("playwright-core");
  } finally {
    if (had === undefined) Deno.env.delete("__IS_WSL_TEST__");
  }
}

/** An open headless browser. */
export interface BrowserSession {
  /** The browser context (fresh profile, offline). */
  context: BrowserContext;
  /** A new page. */
  newPage(): Promise<Page>;
  /** URLs that were blocked because they would have used the network. */
  blocked: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with {@linkcode CHROMIUM_FLAGS}, a fresh
 * `--user-data-dir` and the network off. Throws a clear error when no
 * Chromium is installed.
 */
export async function openBrowser(): Promise<BrowserSession> {
  const executablePath = await findChromium();
  if (!executablePath) {
    throw new Error(
      "headless Chromium: Expected Debian's chromium (apt-get install chromium) or HALO_CHROMIUM " +
        `but found none of ${CANDIDATES.join(", ")}`,
    );
  }
  const { chromium } = await importPlaywright();
  const profile = await Deno.makeTempDir({ prefix: "halo-chromium-" });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_FLAGS],
      offline: true,
      viewport: { width: 1200, height: 900 },
    });
  } catch (error) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw error;
  }
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (/^(file|data|blob|about):/.test(url)) return route.continue();
    blocked.push(url);
    return route.abort("internetdisconnected");
  });
  return {
    context,
    blocked,
    newPage: () => context.newPage(),
    async close() {
      try {
        await context.close();
      } finally {
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      }
    },
  };
}
