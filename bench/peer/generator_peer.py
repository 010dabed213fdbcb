#!/usr/bin/python3
"""PyTorch peer of the HALO kit's video DiT generator (lib/generator/model.ts).

The same architecture, the same training step — ε-MSE per clip weighted by
min(1/ᾱ_t, maxWeight) normalised to mean 1 over the batch (lib/generator/model.ts
trainStep), and the kit's own Adam (global-norm clipping, bias-corrected step
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

Usage: /usr/bin/python3 bench/peer/generator_peer.py DIR [--seconds 4]
       [--warmup 2] [--min-runs 5] [--threads N] [--device cpu|cuda]
       python3 bench/peer/generator_peer.py DIR --random-weights --batch B [--device cuda]
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
import torch.nn.functional as F

SIGMA_DATA = 0.5  # lib/generator/model.ts: data std assumed by the output preconditioning


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


class Peer:
    """The generator, with weights by the kit's parameter names."""

    def __init__(self, config, params, device="cpu"):
        self.c = config
        self.p = params
        g = config["tokenGrid"]
        self.fpp, self.rows, self.cols = g["framesPerPatch"], g["rows"], g["cols"]
        self.s = config["frames"] // self.fpp
        self.n = self.rows * self.cols
        self.d = config["dim"]
        self.token_values = self.fpp * (config["size"] // self.rows) * (config["size"] // self.cols) * 3
        self.heads = config["heads"]
        self.ab64 = torch.tensor(config["alphaBars"], dtype=torch.float64, device=device)
        self.ab = self.ab64.to(torch.float32)
        half = self.d // 2
        self.freqs = torch.tensor(
            [math.exp(-math.log(10000) * i / half) for i in range(half)], dtype=torch.float32,
            device=device,
        )

    def lin(self, name, x):
        w = self.p[name + ".w"]
        b = self.p.get(name + ".b")
        flat = x.reshape(-1, w.shape[0])
        y = torch.addmm(b, flat, w) if b is not None else flat @ w
        return y.reshape(*x.shape[:-1], w.shape[1])

    @staticmethod
    def ln(x, g=None, b=None):
        mean = x.mean(-1, keepdim=True)
        c = x - mean
        y = c * torch.rsqrt(c.square().mean(-1, keepdim=True) + 1e-5)
        return y if g is None else y * g + b

    def attention(self, name, x):
        b, n, d = x.shape
        h, dh = self.heads, d // self.heads
        qkv = self.lin(name + ".qkv", x).reshape(b, n, 3, h, dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh))
        mixed = scores.softmax(-1) @ v  # [b, h, n, dh]
        return self.lin(name + ".out", mixed.transpose(1, 2).reshape(b, n, d))

    def mlp(self, name, x):
        return self.lin(name + ".fc2", F.gelu(self.lin(name + ".fc1", x), approximate="tanh"))

    def plain_block(self, name, x):
        p = self.p
        h = x + self.attention(name + ".attn", self.ln(x, p[name + ".ln1.g"], p[name + ".ln1.b"]))
        return h + self.mlp(name + ".mlp", self.ln(h, p[name + ".ln2.g"], p[name + ".ln2.b"]))

    def ada_block(self, name, x, cond):
        """x [B·G, N, d]; cond [B, d]; row r of x uses cond[r // G]."""
        rows, n, d = x.shape
        bsz = cond.shape[0]
        groups = rows // bsz
        mod = self.lin(name + ".ada", F.silu(cond)).reshape(bsz, 1, 6, 1, d)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.unbind(2)  # [B, 1, 1, d]

        def grouped(t):
            return t.reshape(bsz, groups, n, d)

        a = (grouped(self.ln(x)) * (scale1 + 1) + shift1).reshape(rows, n, d)
        h = grouped(x) + grouped(self.attention(name + ".attn", a)) * gate1
        m = (self.ln(h) * (scale2 + 1) + shift2).reshape(rows, n, d)
        return (h + grouped(self.mlp(name + ".mlp", m)) * gate2).reshape(rows, n, d)

    def encode_prompt(self, tokens, keep):
        p = self.p
        b, length = tokens.shape
        x = p["prompt.embed"][tokens] + p["prompt.pos"][:length]
        for i in range(self.c["promptLayers"]):
            x = self.plain_block(f"prompt.block{i}", x)
        v = self.lin("prompt.proj", self.ln(x, p["prompt.ln.g"], p["prompt.ln.b"]).mean(1))
        if keep is not None:
            k = keep.reshape(b, 1)
            v = v * k + p["prompt.null"].reshape(1, -1) * (1 - k)
        return v

    def patchify(self, x):
        b, t, hh, ww, ch = x.shape
        ph, pw = hh // self.rows, ww // self.cols
        return x.reshape(b * self.s, self.fpp, self.rows, ph, self.cols, pw * ch) \
            .permute(0, 2, 4, 1, 3, 5).reshape(b, self.s * self.n, self.fpp * ph * pw * ch)

    def unpatchify(self, tok, shape):
        b, t, hh, ww, ch = shape
        ph, pw = hh // self.rows, ww // self.cols
        return tok.reshape(b * self.s, self.rows, self.cols, self.fpp, ph, pw * ch) \
            .permute(0, 3, 1, 4, 2, 5).reshape(b, t, hh, ww, ch)

    def predict_noise(self, xt, t, tokens, keep=None):
        return self.predict_noise_and_clean(xt, t, tokens, keep)[0]

    def predict_noise_and_clean(self, xt, t, tokens, keep=None):
        """(ε̂, X) as lib/generator/model.ts predictNoiseAndClean: X is the pixel MLP's clean value,
        x̂0 itself for prediction "x0", the ungated branch for the default (ε) head."""
        p, s, n, d = self.p, self.s, self.n, self.d
        b = xt.shape[0]
        args = (t.to(torch.float32) * (1000 / self.c["timesteps"])).reshape(-1, 1) \
            * self.freqs.reshape(1, -1)
        feats = torch.cat([args.sin(), args.cos()], 1)
        if feats.shape[1] < d:
            feats = F.pad(feats, (0, d - feats.shape[1]))
        temb = self.lin("time.fc2", F.silu(self.lin("time.fc1", feats)))
        cond = temb + self.encode_prompt(tokens, keep)
        h = self.lin("embed", self.patchify(xt)).reshape(b, s, n, d) \
            + p["pos.time"].reshape(1, s, 1, d) + p["pos.space"].reshape(1, 1, n, d)
        for i in range(self.c["depth"]):
            h = self.ada_block(f"layer{i}.space", h.reshape(b * s, n, d), cond).reshape(b, s, n, d)
            ht = h.transpose(1, 2).reshape(b * n, s, d)
            h = self.ada_block(f"layer{i}.time", ht, cond).reshape(b, n, s, d).transpose(1, 2)
        mod = self.lin("final.ada", F.silu(cond)).reshape(b, 1, 2, d)
        shift, scale = mod[:, :, 0], mod[:, :, 1]
        out = self.ln(h.reshape(b, s * n, d)) * (scale + 1) + shift
        # per-pixel decoder + gated skip, as in lib/generator/model.ts predictNoiseAndClean: each token
        # hands pixelContext values to each of its pixels; a pixel MLP reads them with the pixel's
        # Wiener estimate of its clean value over σd, σd·√ᾱ·x_t / (1 − ᾱ + ᾱσd²), and predicts a
        # clean value X and a raw gate r; the gate only closes, G = −softplus(r) ≤ 0, and
        # ε̂ = σ(−(logit ᾱ + G)) ⊙ (x_t − √ᾱ·X) / √(1−ᾱ)
        pc = self.c["pixelContext"]
        bt, tt, hh, ww, _ = xt.shape
        ctx = self.unpatchify(self.lin("final.out", out), (bt, tt, hh, ww, pc))
        a = self.ab[t].reshape(b, 1, 1, 1, 1)
        scaled = xt * (a.sqrt() * SIGMA_DATA) / ((1 - a) + a * SIGMA_DATA ** 2)
        hidden = torch.relu(self.lin("pixel.ctx", ctx) + self.lin("pixel.x", scaled))
        clean = self.lin("pixel.clean", hidden)
        if self.c.get("prediction") == "x0":
            # x0-parameterisation: X is x̂0 and ε̂ follows from it (no gate)
            return (xt - clean * a.sqrt()) / (1 - a).sqrt(), clean
        gate = self.lin("pixel.gate", hidden)
        logit = (a / (1 - a)).log()
        keep_noise = torch.sigmoid(-(logit - F.softplus(gate)))
        return keep_noise * (xt - clean * a.sqrt()) / (1 - a).sqrt(), clean

    def add_noise(self, x0, t, noise):
        a = self.ab[t].reshape(-1, 1, 1, 1, 1)
        return x0 * a.sqrt() + noise * (1 - a).sqrt()

    def weights(self, t, max_weight):
        """trainStep's per-clip weights: min(1/ᾱ_t, max_weight) in float32, mean 1 over the batch
        (the kit takes 1/ᾱ of its float64 schedule and sums the float32 weights in float64)."""
        cap = torch.tensor(float(max_weight), dtype=torch.float64, device=self.ab64.device)
        w = torch.minimum(1 / self.ab64[t], cap)
        w = w.to(torch.float32).to(torch.float64)
        return (w * (t.shape[0] / w.sum())).to(torch.float32)

    def losses(self, x0, t, noise, tokens, keep, weights):
        """(plain ε-MSE, weighted ε-MSE): trainStep reports the first, differentiates the second."""
        xt = self.add_noise(x0, t, noise)
        per_clip = (self.predict_noise(xt, t, tokens, keep) - noise).square().mean((1, 2, 3, 4))
        return per_clip.mean(), (per_clip * weights).mean()


class KitAdam:
    """The kit's Adam (lib/tensor/nn.ts createAdam), with PyTorch's multi-tensor ops."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=1.0):
        self.params = params
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.lr, self.b1, self.b2, self.eps, self.clip = lr, beta1, beta2, eps, clip_norm
        self.step = 0

    @torch.no_grad()
    def apply(self):
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        self.step += 1
        norm = torch.stack([g.square().sum() for g in grads]).sum().sqrt().item()
        if self.clip > 0 and norm > self.clip:
            torch._foreach_mul_(grads, self.clip / norm)
        lr = self.lr * math.sqrt(1 - self.b2 ** self.step) / (1 - self.b1 ** self.step)
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, grads, alpha=1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, value=-lr)
        for p in self.params:
            p.grad = None
        return norm


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
        value, weighted_value = model.losses(x0, tt, nn, tokens, kk, model.weights(tt, max_weight))
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
    w = model.weights(t, max_weight)
    loss, weighted = model.losses(x0, t, noise, tokens, keep, w)
    weighted.backward()
    adam.apply()
    with torch.no_grad():
        loss_after, weighted_after = (v.item() for v in model.losses(x0, t, noise, tokens, keep, w))
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
