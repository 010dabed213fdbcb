/**
 * The layout's rule: one folder per paper stage under `lib/`, and a stage imports only from
 * itself and the stages before it in the order the data flows. Read from `deno info --json`
 * over every file in `lib/`; an upward import or a cycle between files fails, naming the files.
 */
import { deepEqual as assertEquals } from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../", import.meta.url));

/** The stages in the order the data flows; each may import only itself and those before it. */
export const STAGE_ORDER: readonly string[] = [
  "core",
  "tensor",
  "videos",
  "generator",
  "labels",
  "reward",
  "pairs",
  "dpo",
  "eval",
  "report",
  "reproduce",
  "cli",
];

async function libFiles(dir = join(ROOT, "lib")): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await libFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The import graph of `lib/` as `deno info --json` reports it: file → files it imports. */
export async function libGraph(): Promise<Map<string, string[]>> {
  const files = await libFiles();
  const tmp = await Deno.makeTempDir();
  try {
    const entry = join(tmp, "all.ts");
    await Deno.writeTextFile(
      entry,
      files.map((f) => `import ${JSON.stringify(`file://${f}`)};`).join("\n") + "\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", join(ROOT, "deno.json"), entry],
      stdout: "piped",
      stderr: "piped",
      cwd: ROOT,
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: Array<
        {
          specifier: string;
          dependencies?: Array<{ code?: { specifier?: string }; type?: { specifier?: string } }>;
        }
      >;
    };
    const graph = new Map<string, string[]>();
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file://") || !m.specifier.includes("/lib/")) continue;
      const from = relative(ROOT, fromFileUrl(m.specifier));
      const deps = (m.dependencies ?? [])
        .flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => !!s && s.startsWith("file://"))
        .map((s) => relative(ROOT, fromFileUrl(s)));
      graph.set(from, deps);
    }
    return graph;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

function stageOf(file: string): string {
  const parts = file.split("/");
  return parts.length > 2 ? parts[1] : "(lib root)";
}

Deno.test("lib/: every file lives in a stage folder, and stages import only downward", async () => {
  const graph = await libGraph();
  const files = [...graph.keys()];
  assertEquals(
    files.filter((f) => !STAGE_ORDER.includes(stageOf(f))),
    [],
    "files outside a stage folder",
  );
  const upward: string[] = [];
  for (const [from, deps] of graph) {
    for (const to of deps) {
      if (!to.startsWith("lib/")) {
        upward.push(`${from} → ${to} (outside lib/)`);
        continue;
      }
      const a = STAGE_ORDER.indexOf(stageOf(from));
      const b = STAGE_ORDER.indexOf(stageOf(to));
      if (b > a) upward.push(`${from} → ${to}`);
    }
  }
  assertEquals(upward, [], `imports from a later stage:\n${upward.join("\n")}`);
});

Deno.test("lib/: no import cycle between files", async () => {
  const graph = await libGraph();
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" → "));
      return;
    }
    state.set(file, "open");
    for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) visit(file, []);
  assertEquals(cycles, []);
});

Deno.test("lib/: library code never imports a command file", async () => {
  const graph = await libGraph();
  const bad = [...graph].flatMap(([from, deps]) =>
    stageOf(from) === "cli"
      ? []
      : deps.filter((d) => stageOf(d) === "cli").map((d) => `${from} → ${d}`)
  );
  assertEquals(bad, []);
});
