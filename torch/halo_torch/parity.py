"""The PyTorch side of the parity check against the kit (tests/torch_parity_test.ts): the DPO
losses and metrics of one batch before and after one step, computed from the kit's own files.

Input: a folder written by the test with
  policy/, reference/   kit generator checkpoints (read with halo_torch.checkpoint)
  step.json             {pairs: the pairs.jsonl path, indices: the batch's pair indices,
                         t: one timestep per pair, weighting, gamma, learningRate, clipNorm,
                         methods: {name: {beta, betaPatch, lambda, tau, video}}}
  noise.f32             ε per pair [B, T, H, W, 3] (raw float32; shared by chosen and rejected)
The clips, prompt tokens and patch gaps come from the pairs file through halo_torch.pairs, so the
dataset's conversion and the tokenizer are checked too.

Output (stdout, one JSON line): {torch, cases: [per DIR: {methods: {name: {before: metrics, after: metrics, scales}}}, each
a fresh policy from policy/ and a fresh KitAdam, one step on the batch, and the metrics again;
`scales` holds the mean magnitude of the terms of the two signed means (see margin_scales).
One process checks several folders (`DIR...`), so torch is imported once.

Usage: /usr/bin/python3 -m halo_torch.parity DIR...   (from torch/, or with torch/ on PYTHONPATH)
"""

import json
import os
import sys

import numpy as np
import torch

from .adam import KitAdam
from .checkpoint import load_generator
from .losses import dpo_loss, error_weights, patch_errors, patch_insides, used_patches
from .model import Generator
from .pairs import PairsDataset


def margin_scales(pol, ref, gaps, o):
    """The mean magnitude of the terms of the two signed means, rewards/margins (per pair) and
    patch/margins (per used patch), at the weights before the step: in float32 such a mean is
    exact to about 1e-7 of this scale, not of its own value when its terms cancel."""
    pol = pol.detach()
    b = gaps.shape[0]
    d = (pol - ref).mean(1)
    inside = (d[:b] - d[b:]) * (-o["beta"] / 2)
    used = used_patches(gaps, o["tau"])
    inside_k = patch_insides(pol[:b], pol[b:], ref[:b], ref[b:], gaps, o).abs() * used
    return {"rewards/margins": inside.abs().mean().item(),
            "patch/margins": (inside_k.sum() / used.sum().clamp(min=1)).item()}


def main(argv=None):
    """Prints {torch, cases: [one result per DIR argument]}."""
    dirs = argv if argv is not None else sys.argv[1:]
    print(json.dumps({"torch": torch.__version__, "cases": [parity_case(d) for d in dirs]}))
    return 0


def parity_case(d):
    """{methods: {name: {before, after, scales}}} of one folder (the module doc)."""
    with open(os.path.join(d, "step.json"), encoding="utf-8") as f:
        spec = json.load(f)
    config, start, _, _ = load_generator(os.path.join(d, "policy"), trainable=False)
    _, ref_weights, _, _ = load_generator(os.path.join(d, "reference"), trainable=False)
    reference = Generator(config, ref_weights)
    data = PairsDataset(spec["pairs"], config)
    items = [data[i] for i in spec["indices"]]
    b = len(items)
    x0 = torch.stack([it[0] for it in items] + [it[1] for it in items])
    tokens = torch.stack([it[2] for it in items] * 2)
    gaps = torch.stack([it[3] for it in items])
    eps = torch.from_numpy(np.fromfile(os.path.join(d, "noise.f32"), dtype="<f4").copy())
    noise = eps.reshape(b, *data.shape).repeat(2, 1, 1, 1, 1)
    t = torch.tensor(spec["t"] * 2, dtype=torch.int64)
    w = error_weights(reference.ab64, t, spec["weighting"], spec["gamma"])
    with torch.no_grad():
        ref = patch_errors(reference, x0, t, noise, tokens, w, data.grid)
    out = {}
    for method, o in spec["methods"].items():
        params = {n: v.clone().requires_grad_(n != "prompt.null") for n, v in start.items()}
        policy = Generator(config, params)
        names = list(params)
        adam = KitAdam([params[n] for n in names], lr=spec["learningRate"],
                       clip_norm=spec["clipNorm"], names=names)
        pol_before = patch_errors(policy, x0, t, noise, tokens, w, data.grid)
        loss, before = dpo_loss(pol_before, ref, gaps, o)
        loss.backward()
        adam.apply()
        with torch.no_grad():
            _, after = dpo_loss(patch_errors(policy, x0, t, noise, tokens, w, data.grid), ref,
                                gaps, o)
        out[method] = {"before": before, "after": after,
                       "scales": margin_scales(pol_before, ref, gaps, o)}
    return {"methods": out}


if __name__ == "__main__":
    sys.exit(main())
