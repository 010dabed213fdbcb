import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { probeWebGpu } from "../lib/tensor/backend.ts";
import { createGenerator, disposeGenerator, generatorParamCount } from "../lib/generator/model.ts";
import {
  PEER_PYTHON,
  PEER_SCRIPT,
  peerAvailable,
  timePeer,
  writePeerShapes,
} from "../bench/_peer.ts";
import {
  formatGpuTable,
  GPU_BENCH_CONFIGS,
  type GpuBenchRow,
  parseGpuSizes,
} from "../bench/gpu_bench.ts";
import { withTempDir } from "./_helpers.ts";

const SCRIPT = new URL("../bench/gpu_bench.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const PERMISSIONS = ["--allow-read", "--allow-write", "--allow-run", "--allow-env", "--allow-sys"];
/** Fast: one warm-up and two timed steps per size. */
const QUICK = ["--seconds", "0", "--warmup", "1", "--min-runs", "2"];

const webgpu = await probeWebGpu();
const noAdapter = webgpu.available ? "" : `no WebGPU adapter: ${webgpu.description}`;
if (noAdapter) console.warn(`gpu_bench_test: bench runs skipped — ${noAdapter}`);
const peer = await peerAvailable();
// .ci/run installs python3-torch, so in CI a missing peer is a failure, not a skip.
const noPeer = peer.ok || Deno.env.get("CI") ? "" : `no PyTorch peer: ${peer.reason}`;
if (noPeer) console.warn(`gpu_bench_test: peer checks skipped — ${noPeer}`);

async function run(
  args: string[],
  options: { script?: string; cwd?: string; env?: Record<string, string>; deno?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...options.deno ?? [], ...PERMISSIONS, options.script ?? SCRIPT, ...args],
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("parseGpuSizes: NAME:B,B,… runs; a bad spec names what it expected", () => {
  assert.deepEqual(parseGpuSizes("default:8,64,large:8", ["default", "large"]), [
    { config: "default", batch: 8 },
    { config: "default", batch: 64 },
    { config: "large", batch: 8 },
  ]);
  assert.throws(() => parseGpuSizes("8,64", ["default"]), /config name before the first batch/);
  assert.throws(() => parseGpuSizes("default:0", ["default"]), /integer batches ≥ 1.*"default:0"/);
  assert.throws(() => parseGpuSizes("huge:8", ["default"]), /among default but found "huge"/);
});

Deno.test("GPU_BENCH_CONFIGS.large: 64 px, 256 tokens at 16 frames, d = 256, depth 4, ≈ 9 M weights", () => {
  const gen = createGenerator(GPU_BENCH_CONFIGS.large, { seed: 0 });
  try {
    const { frames, size, tokenGrid: g, dim, depth } = gen.config;
    assert.deepEqual([frames, size, dim, depth], [16, 64, 256, 4]);
    assert.equal((frames / g.framesPerPatch) * g.rows * g.cols, 256);
    const params = generatorParamCount(gen);
    assert.ok(params > 8e6 && params < 10e6, `${params} weights`);
  } finally {
    disposeGenerator(gen);
  }
});

Deno.test("formatGpuTable: ratio = kit clips/s ÷ peer clips/s; failures listed under the table", () => {
  const kit = {
    name: "x",
    backend: "webgpu",
    runs: 5,
    medianMs: 100,
    minMs: 90,
    maxMs: 120,
    iqrFraction: 0.1,
    itemsPerSecond: 80,
    unit: "clips",
    gflops: 0,
    tensorsBefore: 0,
    tensorsAfter: 0,
    rssMiB: 1,
  };
  const rows: GpuBenchRow[] = [
    {
      config: "default",
      batch: 8,
      params: 1,
      kit: { ...kit, launches: { kernels: 3600, dispatches: 700 } },
      peer: { runs: 5, medianMs: 25, minMs: 24, maxMs: 26, clipsPerSecond: 320, device: "cuda" },
      ratio: 0.25,
    },
    {
      config: "default",
      batch: 64,
      params: 1,
      kit: { ...kit, error: "Dispatch size exceeds WebGPU limits in Y or Z dimension" },
      peer: { ...kit, clipsPerSecond: NaN, device: "cuda", error: "no CUDA" },
    },
  ];
  const table = formatGpuTable(rows);
  assert.match(
    table,
    /default\s+8\s+100\.0 \(90\.0–120\.0\)\s+80\.0\s+700\s+25\.0 \(24\.0–26\.0\)\s+320\.0\s+0\.250×/,
  );
  assert.match(table, /default\s+64\s+failed\s+-\s+-\s+failed\s+-\s+-/);
  assert.match(table, /failed: kit default B=64: Dispatch size exceeds WebGPU limits/);
  assert.match(table, /failed: peer default B=64: no CUDA/);
});

Deno.test({
  name: "gpu_bench refuses a CPU fallback adapter (exit 2) without --allow-fallback" +
    (webgpu.available && !webgpu.fallback ? " [skipped: this machine has a real GPU adapter]" : ""),
  ignore: webgpu.available && !webgpu.fallback,
  fn: async () => {
    await withTempDir(async (dir) => {
      const r = await run(["--sizes", "tiny:1", "--no-peer", "--out", dir]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        webgpu.available
          ? /Expected a GPU WebGPU adapter but found the CPU fallback ".+".*pass --allow-fallback/s
          : /Expected a WebGPU adapter but found none/,
      );
      await assert.rejects(Deno.stat(join(dir, "gpu.json")));
      const bad = await run(["--sizes", "tiny:0", "--allow-fallback"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--sizes: Expected .* but found "tiny:0"/);
    });
  },
});

Deno.test({
  name: "gpu_bench on lavapipe (--allow-fallback): table, gpu.json, a failing size reported and " +
    `the next one run, the peer on cpu${noAdapter ? ` [skipped: ${noAdapter}]` : ""}`,
  ignore: Boolean(noAdapter),
  fn: async () => {
    await withTempDir(async (dir) => {
      const r = await run([
        "--allow-fallback",
        "--sizes",
        "tiny:2,bad:1,tiny:1",
        "--config",
        'bad={"dim":10,"heads":3}',
        ...QUICK,
        "--python",
        PEER_PYTHON,
        "--peer-device",
        "cpu",
        "--out",
        dir,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(await Deno.readTextFile(join(dir, "gpu.json")));
      assert.equal(report.adapter, webgpu.description);
      assert.equal(report.versions.deno, Deno.version.deno);
      assert.equal(report.versions.tfjs["tfjs-core"], "4.22.0");
      assert.ok("nvidiaSmi" in report);
      assert.equal(report.table, r.stdout.trim());
      assert.deepEqual(
        report.rows.map((row: GpuBenchRow) => [row.config, row.batch]),
        [["tiny", 2], ["bad", 1], ["tiny", 1]],
      );
      const [first, bad, last] = report.rows as GpuBenchRow[];
      assert.equal(
        bad.kit.error,
        "generator config: Expected dim divisible by heads 3 but found 10",
      );
      assert.equal(bad.peer?.error, bad.kit.error);
      assert.match(r.stdout, /failed: kit bad B=1: generator config: Expected dim divisible/);
      for (const [row, b] of [[first, 2], [last, 1]] as const) {
        assert.equal(row.kit.error, undefined, row.kit.error);
        assert.ok(row.kit.runs >= 2 && row.kit.minMs <= row.kit.medianMs, JSON.stringify(row.kit));
        assert.ok(Math.abs(row.kit.itemsPerSecond - b / (row.kit.medianMs / 1000)) < 1e-9);
        assert.ok(row.params > 0);
        assert.ok(row.kit.launches!.dispatches! > 0, JSON.stringify(row.kit.launches));
        if (noPeer) {
          assert.match(row.peer?.error ?? "", /torch|cannot run/);
          continue;
        }
        assert.equal(row.peer?.error, undefined, row.peer?.error);
        assert.equal(row.peer?.device, "cpu");
        assert.ok(row.peer!.runs >= 2 && row.peer!.clipsPerSecond > 0);
        assert.ok(Math.abs(row.ratio! - row.kit.itemsPerSecond / row.peer!.clipsPerSecond) < 1e-9);
        assert.match(r.stdout, new RegExp(`tiny\\s+${b}\\s+[\\d.]+ \\(.*×`));
      }
    });
  },
});

Deno.test({
  name: "generator_peer.py --random-weights: times a given config and batch on --device cpu" +
    (noPeer ? ` [skipped: ${noPeer}]` : ""),
  ignore: Boolean(noPeer),
  fn: async () => {
    await withTempDir(async (dir) => {
      const gen = createGenerator(GPU_BENCH_CONFIGS.tiny, { seed: 0 });
      const params = generatorParamCount(gen);
      try {
        await writePeerShapes(gen, dir);
      } finally {
        disposeGenerator(gen);
      }
      const t = await timePeer(dir, 3, { seconds: 0, minRuns: 2, warmup: 1, threads: 1 });
      assert.equal(t.device, "cpu");
      assert.equal(t.batch, 3);
      assert.equal(t.params, params);
      assert.equal(t.timesMs.length, 2);
      assert.ok(Number.isFinite(t.loss) && t.loss > 0, `loss ${t.loss}`);
      // no CUDA here: --device cuda says so (exit 2) instead of silently timing the CPU
      const cuda = await new Deno.Command(PEER_PYTHON, {
        args: ["-c", "import torch; print(torch.cuda.is_available())"],
        stdout: "piped",
      }).output();
      if (new TextDecoder().decode(cuda.stdout).trim() === "False") {
        await assert.rejects(
          timePeer(dir, 1, { device: "cuda", seconds: 0, minRuns: 1, warmup: 0 }),
          /exit 2: generator_peer\.py: Expected a CUDA device \(--device cuda\) but found none/,
        );
      }
    });
  },
});

Deno.test({
  name: "deno bundle of gpu_bench.ts runs alone: no deno.json, no npm, no network, empty DENO_DIR" +
    (noAdapter ? ` [skipped: ${noAdapter}]` : ""),
  ignore: Boolean(noAdapter),
  fn: async () => {
    await withTempDir(async (dir) => {
      const bundle = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "--platform", "deno", "-o", join(dir, "gpu_bench.js"), SCRIPT],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["gpu_bench.js"]);
      await Deno.mkdir(join(dir, "peer"));
      await Deno.copyFile(PEER_SCRIPT, join(dir, "peer", "generator_peer.py"));
      const pkg = join(dirname(PEER_SCRIPT), "halo_torch");
      await Deno.mkdir(join(dir, "peer", "halo_torch"));
      for await (const e of Deno.readDir(pkg)) {
        if (e.isFile) {
          await Deno.copyFile(join(pkg, e.name), join(dir, "peer", "halo_torch", e.name));
        }
      }
      // the peer script is found beside the bundle (peer/generator_peer.py and the halo_torch
      // package it imports), as in the pack
      const peerArgs = noPeer ? ["--no-peer"] : ["--python", PEER_PYTHON, "--peer-device", "cpu"];
      const r = await run(["--allow-fallback", "--sizes", "tiny:1", ...QUICK, ...peerArgs], {
        script: "gpu_bench.js",
        cwd: dir,
        env: { DENO_DIR: join(dir, "deno-dir") },
        deno: ["--no-config", "--no-npm", "--no-remote", "--cached-only"],
      });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(
        await Deno.readTextFile(join(dir, "out", "bench", "gpu.json")),
      );
      assert.equal(report.rows[0].kit.error, undefined, report.rows[0].kit.error);
      assert.equal(report.rows[0].kit.runs, 2);
      if (!noPeer) assert.equal(report.rows[0].peer.error, undefined, report.rows[0].peer.error);
    });
  },
});
