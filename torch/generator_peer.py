#!/usr/bin/python3
"""PyTorch peer of the HALO kit's video DiT generator (lib/generator/model.ts).

The generator of halo_torch.model (the one PyTorch copy of the kit's architecture), the kit's
training step — ε-MSE per clip weighted by min(1/ᾱ_t, maxWeight) normalised to mean 1 over the
batch (lib/generator/train_step.ts) — and the kit's own Adam (global-norm clipping, bias-corrected step
size, ε outside the square root) — written in PyTorch to measure the kit
against (`deno task bench`) and to check that both compute the same losses on
identical weights and inputs.

Input: a directory written by bench/_peer.ts (`exportForPeer`):
  config.json   generator config + promptLength + alphaBars (float64 list)
  params.json   [{name, shape, offset}] into params.f32 (raw little-endian float32)
  batch.json    {shape, t, keep, tokens, steps?} + x0.f32, noise.f32
  expected.json {loss, weightedLoss, lossAfterStep, weightedLossAfterStep,
                 learningRate, clipNorm, maxWeight} from the kit (the step is
                 the kit's own trainStep on the exported draws)

Output (stdout, one JSON object): the peer's plain and weighted ε-MSE before
and after one training step (gradient of the weighted loss, Adam) on the same
inputs, their relative differences to the kit's, and the timed training steps
(milliseconds) on the exported batch.

Usage: /usr/bin/python3 torch/generator_peer.py DIR [--seconds 4]
       [--warmup 2] [--min-runs 5] [--threads N] [--device cpu|cuda]
       python3 torch/generator_peer.py DIR --random-weights --batch B [--device cuda]
         (timing only, bench/gpu_bench.ts: DIR holds config.json and params.json, whose
         shapes get random weights; clips and prompt tokens are random too)
Needs Debian's python3-torch (1.13); the kit itself never depends on it.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch

# The model and the kit's Adam live in halo_torch (one copy for the peers and the trainer).
from halo_torch.adam import KitAdam
from halo_torch.model import Peer


def load_f32(path, count=None):
    t = torch.from_file(path, shared=False, size=os.path.getsize(path) // 4, dtype=torch.float32)
    return t if count is None else t[:count]


def load_params(d, entries, file="params.f32", trainable=True):
    """The weights in `file` of `d`, by the kit's names (params.json entries)."""
    flat = load_f32(os.path.join(d, file))
    params = {}
    for e in entries:
        size = math.prod(e["shape"])
        params[e["name"]] = flat[e["offset"]:e["offset"] + size].clone().reshape(e["shape"])
        params[e["name"]].requires_grad_(trainable)
    return params


def weights(model, t, max_weight):
    """trainStep's per-clip weights: min(1/ᾱ_t, max_weight) in float32, mean 1 over the batch
    (the kit takes 1/ᾱ of its float64 schedule and sums the float32 weights in float64); all 1
    for an x0 head, whose loss is the plain x0-MSE."""
    if model.c.get("prediction") == "x0":
        return torch.ones(t.shape[0], dtype=torch.float32, device=model.ab64.device)
    cap = torch.tensor(float(max_weight), dtype=torch.float64, device=model.ab64.device)
    w = torch.minimum(1 / model.ab64[t], cap)
    w = w.to(torch.float32).to(torch.float64)
    return (w * (t.shape[0] / w.sum())).to(torch.float32)


def losses(model, x0, t, noise, tokens, keep, w):
    """(plain MSE, weighted MSE): trainStep reports the first, differentiates the second; the MSE
    of ε̂ for an ε head, of x̂0 for an x0 head."""
    xt = model.add_noise(x0, t, noise)
    eps, clean = model.predict_noise_and_clean(xt, t, tokens, keep)
    err = clean - x0 if model.c.get("prediction") == "x0" else eps - noise
    per_clip = err.square().mean((1, 2, 3, 4))
    return per_clip.mean(), (per_clip * w).mean()


def peer_args(seconds=4, extra=None):
    """The peers' command line: DIR and the timing options (plus what `extra(parser)` adds);
    sets torch's threads."""
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seconds", type=float, default=seconds)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-runs", type=int, default=5)
    ap.add_argument("--max-runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return args


def time_steps(step, args):
    """Runs `step` args.warmup times untimed, then times it (wall and process CPU milliseconds)
    for at least args.min_runs runs and args.seconds, at most args.max_runs. On a CUDA device
    (args.device "cuda") every timed run starts and ends with torch.cuda.synchronize()."""
    cuda = getattr(args, "device", "cpu") == "cuda"
    for _ in range(args.warmup):
        step()
    times, cpu_times = [], []
    start = time.perf_counter()
    while len(times) < args.min_runs or (time.perf_counter() - start) < args.seconds:
        if cuda:
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
        cpu_times.append((time.process_time() - c0) * 1000)
        if len(times) >= args.max_runs:
            break
    return times, cpu_times


def rel(a, b):
    """|a − b| / |b|."""
    return abs(a - b) / max(abs(b), 1e-12)


def parity(loss, loss_after, kit, name="loss"):
    """The peer's value `name` before and after one step beside the kit's ({name, nameAfterStep}),
    with their relative differences (bench/_peer.ts LossParity for name "loss")."""
    after, kit_name = name + "AfterStep", "kit" + name[0].upper() + name[1:]
    return {
        name: loss,
        kit_name: kit[name],
        name + "RelDiff": rel(loss, kit[name]),
        after: loss_after,
        kit_name + "AfterStep": kit[after],
        after + "RelDiff": rel(loss_after, kit[after]),
    }


def load_clips(d, shape):
    """The exported batch's clean clips and noise, as tensors of `shape`."""
    size = math.prod(shape)
    return tuple(load_f32(os.path.join(d, name + ".f32"), size).clone().reshape(shape)
                 for name in ("x0", "noise"))


def generator_args(ap):
    """generator_peer.py's own options: the device, and the timing-only mode with random weights."""
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="where the timed steps run (default cpu; parity always runs there too)")
    ap.add_argument("--random-weights", action="store_true",
                    help="timing only: DIR holds config.json and params.json (shapes); weights, "
                         "clips and prompt tokens are random; no parity")
    ap.add_argument("--batch", type=int, default=8, help="clips per step with --random-weights")


def check_device(device):
    """Exits 2 with a clear message when `device` is "cuda" and torch has no CUDA device."""
    if device == "cuda" and not torch.cuda.is_available():
        print(f"generator_peer.py: Expected a CUDA device (--device cuda) but found none: torch "
              f"{torch.__version__}, built with CUDA {torch.version.cuda}", file=sys.stderr)
        sys.exit(2)


def make_train_step(model, adam, x0, tokens, max_weight, device, seed=1):
    """One training step on `x0` and `tokens` with fresh t / ε / prompt dropout (10%) each call:
    the weighted ε-MSE's gradient and one Adam update; returns the plain loss (a host sync)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    timesteps = model.c["timesteps"]
    shape = tuple(x0.shape)
    b = shape[0]

    def train_step():
        tt = torch.randint(0, timesteps, (b,), generator=gen, device=device)
        kk = (torch.rand(b, generator=gen, device=device) >= 0.1).to(torch.float32)
        nn = torch.randn(shape, generator=gen, device=device)
        value, weighted_value = losses(model, x0, tt, nn, tokens, kk, weights(model, tt, max_weight))
        weighted_value.backward()
        adam.apply()
        return value.item()

    return train_step


def device_report(device):
    """The device's name and, on CUDA, the peak memory torch allocated (MiB)."""
    if device != "cuda":
        return {"device": device}
    return {
        "device": device,
        "deviceName": torch.cuda.get_device_name(),
        "cuda": torch.version.cuda,
        "gpuPeakMiB": torch.cuda.max_memory_allocated() / 2 ** 20,
    }


def main_random(args):
    """Timing only: random weights of the exported shapes, random clips and tokens, on args.device."""
    d, device = args.dir, args.device
    if args.batch < 1:
        print(f"generator_peer.py: Expected --batch ≥ 1 but found {args.batch}", file=sys.stderr)
        return 2
    config = json.load(open(os.path.join(d, "config.json")))
    entries = json.load(open(os.path.join(d, "params.json")))
    gen = torch.Generator().manual_seed(0)
    params = {
        e["name"]: (torch.randn(e["shape"], generator=gen) * 0.02).to(device).requires_grad_(True)
        for e in entries
    }
    model = Peer(config, params, device)
    b, size = args.batch, config["size"]
    x0 = (torch.rand((b, config["frames"], size, size, 3), generator=gen) * 2 - 1).to(device)
    length = params["prompt.pos"].shape[0]
    tokens = torch.randint(0, config["vocabSize"], (b, length), generator=gen).to(device)
    plist = [params[e["name"]] for e in entries]
    adam = KitAdam(plist)
    step = make_train_step(model, adam, x0, tokens, 10, device)
    times, cpu_times = time_steps(step, args)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **device_report(device),
        "params": sum(p.numel() for p in plist),
        "batch": b,
        "loss": step(),
        "timesMs": times,
        "cpuTimesMs": cpu_times,
        "rssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    return 0


def main():
    args = peer_args(extra=generator_args)
    check_device(args.device)
    if args.random_weights:
        return main_random(args)
    d = args.dir
    config = json.load(open(os.path.join(d, "config.json")))
    entries = json.load(open(os.path.join(d, "params.json")))
    params = load_params(d, entries)
    batch = json.load(open(os.path.join(d, "batch.json")))
    shape = batch["shape"]
    x0, noise = load_clips(d, shape)
    t = torch.tensor(batch["t"], dtype=torch.int64)
    keep = torch.tensor(batch["keep"], dtype=torch.float32)
    tokens = torch.tensor(batch["tokens"], dtype=torch.int64)
    expected = json.load(open(os.path.join(d, "expected.json")))

    model = Peer(config, params)
    names = [e["name"] for e in entries]
    plist = [params[n] for n in names]
    adam = KitAdam(plist, lr=expected["learningRate"], clip_norm=expected["clipNorm"])

    # parity: losses, one training step (weighted loss, Adam), losses again — on the kit's inputs
    max_weight = expected.get("maxWeight", 10)
    w = weights(model, t, max_weight)
    loss, weighted = losses(model, x0, t, noise, tokens, keep, w)
    weighted.backward()
    adam.apply()
    with torch.no_grad():
        loss_after, weighted_after = (v.item() for v in losses(model, x0, t, noise, tokens, keep, w))
    loss, weighted = loss.item(), weighted.item()

    # timing: training steps on the same clips, fresh t / ε / prompt dropout each step, on
    # args.device (the parity step above ran on the CPU)
    device = args.device
    if device != "cpu":
        for p in plist:
            p.data = p.data.to(device)
        model = Peer(config, params, device)
        adam = KitAdam(plist, lr=expected["learningRate"], clip_norm=expected["clipNorm"])
        x0, tokens = x0.to(device), tokens.to(device)
    times, cpu_times = time_steps(make_train_step(model, adam, x0, tokens, max_weight, device), args)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **device_report(device),
        **parity(loss, loss_after, expected),
        **parity(weighted, weighted_after, expected, "weightedLoss"),
        "params": sum(p.numel() for p in plist),
        "timesMs": times,
        "cpuTimesMs": cpu_times,
        "rssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    sys.exit(main())
