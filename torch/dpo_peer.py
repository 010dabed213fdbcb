#!/usr/bin/python3
"""PyTorch peer of the HALO kit's Diffusion-DPO and Gran-DPO steps (lib/dpo/step.ts dpoStep).

One step: the frozen reference's per-patch errors without gradient, the policy's under autograd,
the loss, backward, the kit's Adam — on the generator of halo_torch.model with the errors and
losses of halo_torch.losses (the kit's conventions are stated there) — to measure the kit against
(`deno task bench`) and to check that both compute the same losses on identical weights and
inputs, before and after one step.

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

Usage: /usr/bin/python3 torch/dpo_peer.py DIR [--seconds 3] [--warmup 2] [--min-runs 5]
       [--threads N]
"""

import json
import os
import resource
import sys

import torch

from generator_peer import load_clips, load_params, parity, peer_args, time_steps
from halo_torch.adam import KitAdam
from halo_torch.losses import dpo_loss as dpo_loss_and_metrics, error_weights, parse_grid
from halo_torch.losses import patch_errors
from halo_torch.model import Peer


def dpo_loss(pol, ref, gaps, o):
    """The loss of lib/dpo/loss.ts granDpoLoss (λ = 0: diffusionDpoLoss) on one whole batch."""
    return dpo_loss_and_metrics(pol, ref, gaps, o)[0]


def main():
    args = peer_args(seconds=3)
    d = args.dir
    config = json.load(open(os.path.join(d, "config.json")))
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
