/**
 * Executes every notebook through the real Deno Jupyter kernel
 * (`jupyter nbconvert --execute`) and fails on any error output. A failing
 * Deno cell has been seen marked as successful, so outputs are scanned too. Every notebook
 * must show at least one plotly figure (MIME bundle with its HTML fallback),
 * and none may print the canary `OPENAI_API_KEY` it runs with.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "./_helpers.ts";

const NOTEBOOKS = new URL("../notebooks/", import.meta.url).pathname;
/** The OPENAI_API_KEY the notebooks run with; no output may contain it. */
const CANARY_KEY = "sk-canary-notebooks-3f9c2a7d51e04b8c";

async function hasJupyter(): Promise<boolean> {
  try {
    const out = await new Deno.Command("jupyter", {
      args: ["nbconvert", "--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const notebooks = [...Deno.readDirSync(NOTEBOOKS)].map((e) => e.name).filter((n) =>
  n.endsWith(".ipynb")
).sort();
const available = await hasJupyter();

interface Output {
  output_type: string;
  data?: Record<string, unknown>;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
}

for (const name of notebooks) {
  Deno.test({
    name: `notebook ${name} executes on the Deno kernel without errors`,
    // CI installs Jupyter, so there the test never skips.
    ignore: !available && !Deno.env.get("CI"),
    async fn() {
      await withTempDir(async (dir) => {
        const run = await new Deno.Command("jupyter", {
          args: [
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output-dir",
            dir,
            "--ExecutePreprocessor.timeout=1200",
            join(NOTEBOOKS, name),
          ],
          cwd: NOTEBOOKS,
          // a canary key the kernel sees (notebook 03's calls go to the loopback judge server)
          env: { OPENAI_API_KEY: CANARY_KEY },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(run.stderr);
        assert.ok(run.success, `nbconvert failed for ${name}:\n${stderr.slice(-3000)}`);
        const executed = JSON.parse(await Deno.readTextFile(join(dir, name)));
        const problems: string[] = [];
        for (const [i, cell] of executed.cells.entries()) {
          if (cell.cell_type !== "code") continue;
          if (cell.execution_count == null) problems.push(`cell ${i} did not run`);
          for (const output of cell.outputs as Output[]) {
            const text = Array.isArray(output.text) ? output.text.join("") : output.text ?? "";
            if (output.output_type === "error") {
              problems.push(`cell ${i}: ${output.ename}: ${output.evalue}`);
            } else if (output.name === "stderr" && /error|uncaught|exception/i.test(text)) {
              problems.push(`cell ${i} stderr: ${text.slice(0, 500)}`);
            }
          }
        }
        assert.deepEqual(problems, [], `${name} has error outputs`);
        const plotly = executed.cells.flatMap((c: { outputs?: Output[] }) => c.outputs ?? [])
          .filter((o: Output) => o.data?.["application/vnd.plotly.v1+json"]);
        assert.ok(plotly.length > 0, `${name} shows no plotly figure`);
        for (const o of plotly) {
          const spec = o.data!["application/vnd.plotly.v1+json"] as { data?: unknown[] };
          assert.ok(
            Array.isArray(spec.data) && spec.data.length > 0,
            `${name}: an empty plotly figure`,
          );
          // nbformat stores multi-line text as an array of lines
          const html = [o.data!["text/html"]].flat().join("");
          assert.ok(html.includes("Plotly.newPlot"), `${name}: no HTML fallback`);
        }
        const printed = new TextDecoder().decode(run.stdout) + stderr;
        for (
          const [what, text] of [["its outputs", JSON.stringify(executed)], [
            "nbconvert's log",
            printed,
          ]]
        ) {
          assert.ok(!text.includes(CANARY_KEY), `${name} leaks OPENAI_API_KEY into ${what}`);
        }
      });
    },
  });
}
