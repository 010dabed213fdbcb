/** A read-only loopback file server for tests that load checkpoints and modules over HTTP. */
import { extname, join } from "node:path";

/** A running {@linkcode serveFiles} server. */
export interface FileServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  origin: string;
  /** The port it listens on. */
  port: number;
  /** Every request's decoded path, in order (served or not). */
  log: string[];
  /** Stops the server. */
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".ts": "application/typescript",
  ".js": "application/javascript",
  ".mjs": "application/javascript",
  ".json": "application/json",
  ".md": "text/markdown",
  ".png": "image/png",
};

/**
 * Serves the files under `root` on 127.0.0.1 (a free port), GET only: URL path
 * `/a/b` is file `root/a/b` when `allowed("a/b")`; anything else, a folder or a
 * path with a `..` segment is a 404.
 */
export function serveFiles(
  root: string,
  allowed: (path: string) => boolean = () => true,
): FileServer {
  const log: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname);
    } catch {
      return new Response("bad path", { status: 400 });
    }
    log.push(path);
    if (req.method !== "GET") return new Response("read-only", { status: 405 });
    const rel = path.replace(/^\/+/, "");
    const parts = rel.split(/[\\/]/);
    if (!rel || parts.includes("..") || rel.includes("\0") || !allowed(rel)) {
      return new Response("not found", { status: 404 });
    }
    try {
      const bytes = await Deno.readFile(join(root, ...parts));
      const type = TYPES[extname(rel)] ?? "application/octet-stream";
      return new Response(bytes, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const port = server.addr.port;
  return { origin: `http://127.0.0.1:${port}`, port, log, close: () => server.shutdown() };
}

/** A loopback port nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
