#!/usr/bin/python3
"""PyTorch peer of the HALO kit's Diffusion-DPO and Gran-DPO steps (lib/dpo/step.ts dpoStep).

One step: the frozen reference's per-patch errors without gradient, the policy's under autograd,
the loss, backward, the kit's Adam — written in PyTorch on the generator of generator_peer.py to
measure the kit against (`deno task bench`) and to check that both compute the same losses on
identical weights and inputs, before and after one step.

- Errors (lib/dpo/loss_maps.ts pixelErrors/patchErrors): x_t = √ᾱ·x0 + √(1−ᾱ)·ε, x̂0 from the x0 head,
  w(t)·‖x̂0 − x0‖² averaged over channels, then averaged over each patch of the score grid
  (rows × cols × frames per patch), flattened in patch-index order (segment, row, col).
  w(t) = 1 ("x0"), SNR = ᾱ/(1−ᾱ) ("eps") or min(SNR, γ) ("min-snr").
- Diffusion-DPO (lib/dpo/loss.ts): d(x) = mean over patches of (policy − reference) error,
  r(x) = −β/2·d(x), L = mean over pairs of −log σ(r(x_w) − r(x_l)) with −log σ(z) = softplus(−z).
- Gran-DPO: d_k the same per patch, y_k = sign(gap_k), patch k of a pair used when |gap_k| ≥ τ and
  gap_k ≠ 0, L_patch = Σ_used softplus(−(−β_p/2·y_k·(d_k(w) − d_k(l)))) / max(#used, 1),
  L = L_video + λ·L_patch (λ = 0: L_video; patch-only: λ·L_patch).

Input: a directory written by bench/_dpo_peer.ts (`exportDpoForPeer`):
  config.json    generator config + alphaBars + grid, weighting, gamma, tMin, tMax, learningRate,
                 clipNorm, losses {dpo, grandpo: {beta, betaPatch, lambda, tau, video}}
  params.json    [{name, shape, offset}] into policy.f32 and reference.f32 (raw float32)
  batch.json     {shape [2B, T, H, W, 3], pairs B, t (2B), tokens [2B, L], patchGaps [B, P]}
                 + x0.f32, noise.f32 (rows 0..B−1 the chosen clips, B..2B−1 the rejected ones)
  expected.json  {dpo, grandpo: {loss, lossAfterStep}} from the kit

Output (stdout, one JSON object): per method the peer's loss before and after one step from the
exported policy weights (fresh Adam), their relative differences to the kit's, and the timed steps
(milliseconds) on the exported pairs with fresh t and ε (shared within a pair) each step.

Usage: /usr/bin/python3 bench/peer/dpo_peer.py DIR [--seconds 3] [--warmup 2] [--min-runs 5]
       [--threads N]
"""

import json
import os
import resource
import sys

import torch
import torch.nn.functional as F

from generator_peer import KitAdam, Peer, load_clips, load_params, parity, peer_args, time_steps


def error_weights(ab64, t, weighting, gamma):
    """w(t) of lib/dpo/loss_maps.ts errorWeights: computed in float64, used in float32."""
    snr = ab64[t] / (1 - ab64[t])
    if weighting == "x0":
        w = torch.ones_like(snr)
    elif weighting == "eps":
        w = snr
    elif weighting == "min-snr":
        w = torch.clamp(snr, max=gamma)
    else:
        raise ValueError(f"Expected weighting x0, eps or min-snr but found {weighting}")
    return w.to(torch.float32)


def parse_grid(spec):
    rows, cols, frames = (int(v) for v in spec.split("x"))
    return rows, cols, frames


def patch_errors(model, x0, t, noise, tokens, w, grid):
    """[N, P]: per-patch means of the weighted squared x0-error (pixelErrors + reducePatches)."""
    xt = model.add_noise(x0, t, noise)
    _, clean = model.predict_noise_and_clean(xt, t, tokens)
    err = (clean - x0).square().mean(-1) * w.reshape(-1, 1, 1, 1)  # [N, T, H, W]
    n, frames, h, wd = err.shape
    rows, cols, fpp = grid
    s = frames // fpp
    return err.reshape(n * s, fpp, rows, h // rows, cols, wd // cols).mean((1, 3, 5)) \
        .reshape(n, s * rows * cols)


def dpo_loss(pol, ref, gaps, o):
    """lib/dpo/loss.ts granDpoLoss (λ = 0: exactly diffusionDpoLoss). pol, ref: [2B, P]; gaps: [B, P]."""
    b = gaps.shape[0]
    pc, pr, rc, rr = pol[:b], pol[b:], ref[:b], ref[b:]
    chosen = (pc - rc).mean(1) * (-o["beta"] / 2)
    rejected = (pr - rr).mean(1) * (-o["beta"] / 2)
    video = F.softplus(-(chosen - rejected)).mean()
    if o["lambda"] == 0:
        return video
    dk = (pc - rc) - (pr - rr)
    used = ((gaps.abs() >= o["tau"]) & (gaps != 0)).to(torch.float32)
    inside = dk * gaps.sign() * (-o["betaPatch"] / 2)
    patch = (F.softplus(-inside) * used).sum() / used.sum().clamp(min=1)
    return video + patch * o["lambda"] if o["video"] else patch * o["lambda"]


def main():
    args = peer_args(seconds=3)
    d = args.dir
    config = json.load(open(os.path.join(d, "config.json")))
    if config.get("prediction") != "x0":
        raise ValueError(f'Expected a generator with prediction "x0" but found {config.get("prediction")}')
    entries = json.load(open(os.path.join(d, "params.json")))
    names = [e["name"] for e in entries]
    start = load_params(d, entries, "policy.f32", trainable=False)
    params = {n: v.clone().requires_grad_(True) for n, v in start.items()}
    policy = Peer(config, params)
    reference = Peer(config, load_params(d, entries, "reference.f32", trainable=False))
    batch = json.load(open(os.path.join(d, "batch.json")))
    shape, b = batch["shape"], batch["pairs"]
    x0, noise = load_clips(d, shape)
    t = torch.tensor(batch["t"], dtype=torch.int64)
    tokens = torch.tensor(batch["tokens"], dtype=torch.int64)
    gaps = torch.tensor(batch["patchGaps"], dtype=torch.float32)
    if shape[0] != 2 * b or not torch.equal(t[:b], t[b:]) or not torch.equal(noise[:b], noise[b:]):
        raise ValueError("Expected 2B clips with t and ε shared within each pair but found otherwise")
    expected = json.load(open(os.path.join(d, "expected.json")))
    grid = parse_grid(config["grid"])
    ab64 = torch.tensor(config["alphaBars"], dtype=torch.float64)
    weighting, gamma = config["weighting"], config["gamma"]
    plist = [params[n] for n in names]

    def step(adam, o, tt, nn):
        """One DPO step: reference errors without gradient, policy errors + loss, backward, Adam."""
        w = error_weights(ab64, tt, weighting, gamma)
        with torch.no_grad():
            ref = patch_errors(reference, x0, tt, nn, tokens, w, grid)
        loss = dpo_loss(patch_errors(policy, x0, tt, nn, tokens, w, grid), ref, gaps, o)
        loss.backward()
        adam.apply()
        return loss.item()

    @torch.no_grad()
    def loss_now(o):
        w = error_weights(ab64, t, weighting, gamma)
        pol = patch_errors(policy, x0, t, noise, tokens, w, grid)
        return dpo_loss(pol, patch_errors(reference, x0, t, noise, tokens, w, grid), gaps, o).item()

    gen = torch.Generator().manual_seed(1)
    half = [b] + shape[1:]

    def timed_step(adam, o):
        tt = torch.randint(config["tMin"], config["tMax"], (b,), generator=gen).repeat(2)
        nn = torch.randn(half, generator=gen).repeat(2, 1, 1, 1, 1)
        return step(adam, o, tt, nn)

    methods = {}
    for method, o in config["losses"].items():
        with torch.no_grad():
            for n in names:
                params[n].copy_(start[n])
        adam = KitAdam(plist, lr=config["learningRate"], clip_norm=config["clipNorm"])
        loss = step(adam, o, t, noise)
        loss_after = loss_now(o)
        times, cpu_times = time_steps(lambda: timed_step(adam, o), args)
        methods[method] = {**parity(loss, loss_after, expected[method]), "timesMs": times,
                           "cpuTimesMs": cpu_times}
    tau = config["losses"]["grandpo"]["tau"]
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in plist),
        "patchesUsed": ((gaps.abs() >= tau) & (gaps != 0)).float().mean().item(),
        "methods": methods,
        "rssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    sys.exit(main())
