/**
 * A fault-injecting HTTP proxy on loopback, in front of an OpenAI-compatible
 * server (the judge server). It speaks HTTP/1.1 over raw TCP so it can break
 * answers the way networks and servers do: bodies cut short, connections reset
 * before or during the body, stalls, answers that are not JSON, completions of
 * the wrong shape, refusals, `finish_reason: "length"`, wrong patches, 429s and
 * 5xx — mixed with good answers on a schedule the test decides per request.
 *
 * It also keeps the books: which request (by its body's SHA-256, so one item
 * is one key) got a good answer, and every call made for a key after its good
 * answer was delivered (an item paid twice).
 */

/** What the proxy does with one chat completion request. */
export type ProxyFault =
  | "ok"
  | "cut_short"
  | "reset_mid_body"
  | "not_json"
  | "wrong_shape"
  | "not_object"
  | "wrong_patches"
  | "refusal"
  | "length"
  | "stall"
  | "stall_body"
  | "reset"
  | "429"
  | "500"
  | "503"
  | "echo_key";

/** Every fault class (not "ok"). */
export const PROXY_FAULTS: readonly ProxyFault[] = [
  "cut_short",
  "reset_mid_body",
  "not_json",
  "wrong_shape",
  "not_object",
  "wrong_patches",
  "refusal",
  "length",
  "stall",
  "stall_body",
  "reset",
  "429",
  "500",
  "503",
  "echo_key",
];

/** One chat request as the plan sees it. */
export interface PlannedRequest {
  /** SHA-256 of the body: one item, one key. */
  key: string;
  /** Requests with this key so far, this one included (1 = first). */
  attempt: number;
  /** Chat requests so far, this one included. */
  seq: number;
  /** The labelling request's prompt, when it has one. */
  prompt: string | null;
}

/** Which fault a request gets. */
export type FaultPlan = (request: PlannedRequest) => ProxyFault;

/** A running proxy. */
export interface FaultProxy {
  /** Base URL for the `openai` client, ending in `/v1`. */
  url: string;
  /** Chat requests received. */
  requests: number;
  /** Responses per fault class ("ok" included). */
  counts: Record<ProxyFault, number>;
  /** Faults injected (every response but "ok"). */
  readonly faults: number;
  /** Good answers delivered within the client's time-out, by request key. */
  delivered: Map<string, number>;
  /** Good answers finished after the client's time-out (the client gave up on them). */
  late: number;
  /** Calls made for a key after its good answer was delivered. */
  paidTwice: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

import { parsePromptLine } from "../../lib/labels/protocol.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Options of {@linkcode startFaultProxy}. */
export interface FaultProxyOptions {
  /**
   * The client's time-out per call, ms: a good answer written later than this (less
   * 100 ms for the request's way in) was given up on, so it does not count as delivered.
   * Default: never late.
   */
  clientTimeoutMs?: number;
}

/** Starts the proxy on 127.0.0.1 in front of `upstream` (a `…/v1` base URL). */
export function startFaultProxy(
  upstream: string,
  plan: FaultPlan,
  options: FaultProxyOptions = {},
): FaultProxy {
  const lateAfter = (options.clientTimeoutMs ?? Infinity) - 100;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = new Set<Promise<void>>();
  const attempts = new Map<string, number>();
  const counts = Object.fromEntries(["ok", ...PROXY_FAULTS].map((k) => [k, 0])) as Record<
    ProxyFault,
    number
  >;
  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/v1`,
    requests: 0,
    counts,
    get faults() {
      return Object.entries(counts).reduce((n, [k, v]) => (k === "ok" ? n : n + v), 0);
    },
    delivered: new Map(),
    late: 0,
    paidTwice: 0,
    close: async () => {
      listener.close();
      for (const c of conns) closeQuietly(c);
      await accepting;
      await Promise.all(serving);
    },
  };
  const base = upstream.replace(/\/v1\/?$/, "");

  const serve = async (conn: Deno.Conn): Promise<void> => {
    conns.add(conn);
    const reader = new Reader(conn);
    try {
      while (true) {
        const request = await reader.request();
        if (!request) return;
        const keepOpen = await handle(conn, reader, request);
        if (!keepOpen) return;
      }
    } catch {
      // the client went away
    } finally {
      conns.delete(conn);
      closeQuietly(conn);
    }
  };

  const handle = async (conn: Deno.Conn, reader: Reader, req: RawRequest): Promise<boolean> => {
    const isChat = req.method === "POST" && req.path.replace(/\/+$/, "") === "/v1/chat/completions";
    if (!isChat) {
      const up = await forward(base, req);
      await write(conn, response(up.status, up.type, up.body));
      return true;
    }
    proxy.requests++;
    const arrived = performance.now();
    const key = await sha256(req.body);
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    if ((proxy.delivered.get(key) ?? 0) > 0) proxy.paidTwice++;
    const fault = plan({ key, attempt, seq: proxy.requests, prompt: promptOf(req.body) });
    counts[fault]++;
    switch (fault) {
      case "reset":
        return false;
      case "stall":
        await reader.untilClosed(30_000);
        return false;
      case "429":
        await write(
          conn,
          response(429, "application/json", errorBody("Rate limit (proxy)"), {
            "retry-after-ms": "5",
          }),
        );
        return true;
      case "500":
      case "503":
        await write(conn, response(Number(fault), "application/json", errorBody("proxy fault")));
        return true;
      case "echo_key":
        // A badly behaved server that echoes the request's credentials in its error.
        await write(
          conn,
          response(
            500,
            "application/json",
            errorBody(`upstream failed for ${req.headers.get("authorization") ?? "?"}`),
          ),
        );
        return true;
    }
    const up = await forward(base, req);
    if (up.status !== 200) {
      await write(conn, response(up.status, up.type, up.body));
      return true;
    }
    const good = up.body;
    const broken = (f: ProxyFault): string => {
      const completion = JSON.parse(good);
      const choice = completion.choices[0];
      const content = choice.message.content as string;
      if (f === "wrong_shape") return JSON.stringify({ id: completion.id, object: "error" });
      if (f === "not_object") choice.message.content = `Sure! Here are the labels: ${content}`;
      if (f === "refusal") {
        choice.message.content = null;
        choice.message.refusal = "I'm sorry, but I can't help with that.";
      }
      if (f === "length") {
        choice.message.content = content.slice(0, Math.floor(content.length * 0.7));
        choice.finish_reason = "length";
      }
      if (f === "wrong_patches") {
        const answer = JSON.parse(content);
        answer.patches = answer.patches.slice(0, -1);
        choice.message.content = JSON.stringify(answer);
      }
      return JSON.stringify(completion);
    };
    switch (fault) {
      case "ok":
        await write(conn, response(200, "application/json", good));
        if (performance.now() - arrived > lateAfter) proxy.late++;
        else proxy.delivered.set(key, (proxy.delivered.get(key) ?? 0) + 1);
        return true;
      case "cut_short": {
        // The body that arrived in the original bug report: cut, with a matching length.
        await write(conn, response(200, "application/json", good.slice(0, good.length >> 1)));
        return true;
      }
      case "reset_mid_body": {
        const full = response(200, "application/json", good);
        await write(conn, full.subarray(0, full.length - (good.length >> 1)));
        return false;
      }
      case "stall_body": {
        const full = response(200, "application/json", good);
        await write(conn, full.subarray(0, full.length - good.length + 16));
        await reader.untilClosed(30_000);
        return false;
      }
      case "not_json":
        await write(
          conn,
          response(200, "text/html", "<html><body>502 Bad Gateway (proxy)</body></html>"),
        );
        return true;
      default:
        await write(conn, response(200, "application/json", broken(fault)));
        return true;
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const done: Promise<void> = serve(conn).finally(() => serving.delete(done));
        serving.add(done);
      }
    } catch {
      // closed
    }
  })();
  return proxy;
}

interface RawRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Uint8Array;
}

/** Reads HTTP/1.1 requests (Content-Length bodies) off a connection. */
class Reader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) {
      this.#closed = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  async request(): Promise<RawRequest | null> {
    let end: number;
    while ((end = indexOf(this.#buf, HEADER_END)) < 0) {
      if (!(await this.#fill())) return null;
    }
    const head = dec.decode(this.#buf.subarray(0, end)).split("\r\n");
    const [method, path] = head[0].split(" ");
    const headers = new Headers();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length") ?? 0);
    const start = end + 4;
    while (this.#buf.length < start + length) {
      if (!(await this.#fill())) return null;
    }
    const body = this.#buf.slice(start, start + length);
    this.#buf = this.#buf.slice(start + length);
    return { method, path, headers, body };
  }

  /** Waits until the peer closes the connection (or `ms` pass). */
  async untilClosed(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
    try {
      while (!this.#closed) {
        const more = await Promise.race([this.#fill().catch(() => false), timeout]);
        if (more !== true) return;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

const HEADER_END = enc.encode("\r\n\r\n");

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function forward(
  base: string,
  req: RawRequest,
): Promise<{ status: number; type: string; body: string }> {
  const headers = new Headers();
  for (const name of ["authorization", "content-type"]) {
    const v = req.headers.get(name);
    if (v) headers.set(name, v);
  }
  const res = await fetch(base + req.path, {
    method: req.method,
    headers,
    body: req.method === "GET" ? undefined : req.body as Uint8Array<ArrayBuffer>,
  });
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "application/json",
    body: await res.text(),
  };
}

function response(
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): Uint8Array {
  const bytes = enc.encode(body);
  const lines = [
    `HTTP/1.1 ${status} ${status === 200 ? "OK" : "Error"}`,
    `content-type: ${type}`,
    `content-length: ${bytes.length}`,
    "connection: keep-alive",
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  const head = enc.encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

function errorBody(message: string): string {
  return JSON.stringify({ error: { message, type: "server_error", param: null, code: null } });
}

async function write(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function promptOf(body: Uint8Array): string | null {
  try {
    const request = JSON.parse(dec.decode(body));
    for (const message of request.messages ?? []) {
      for (const part of Array.isArray(message.content) ? message.content : []) {
        const prompt = part.type === "text" ? parsePromptLine(part.text) : null;
        if (prompt !== null) return prompt;
      }
    }
  } catch {
    // not a labelling request
  }
  return null;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
