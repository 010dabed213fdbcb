"""Diffusion-DPO, Gran-DPO and patch-only in PyTorch with the kit's conventions (lib/dpo/loss.ts,
lib/dpo/loss_maps.ts) and its TRL-style metric names.

- Errors (loss_maps.ts pixelErrors/patchErrors): x_t = √ᾱ·x0 + √(1−ᾱ)·ε, x̂0 from the model (the
  x0 head, or the estimate implied by ε̂), w(t)·‖x̂0 − x0‖² averaged over channels, then over each
  patch of the score grid (rows × cols × frames per patch), patch-index order
  (segment, row, col). w(t) = 1 ("x0"), SNR = ᾱ/(1−ᾱ) ("eps") or min(SNR, γ) ("min-snr"),
  computed in float64 and used in float32.
- Diffusion-DPO: d(x) = mean over patches of (policy − reference) error, r(x) = −β/2·d(x),
  L_video = mean over pairs of softplus(−(r(x_w) − r(x_l))).
- Gran-DPO: d_k per patch, y_k = sign(gap_k), patch k of a pair used when |gap_k| ≥ τ and
  gap_k ≠ 0, L_patch = Σ_used softplus(−(−β_p/2·y_k·(d_k(w) − d_k(l)))) / max(#used, 1),
  L = L_video + λ·L_patch (λ = 0: Diffusion-DPO; patch-only: λ·L_patch).
- The other patch's side (lib/dpo/loss.ts patchOtherWeight w in [0, 1]): the inside is
  −β_p/2·(d_k(preferred) − w·d_k(other)), y_k choosing the preferred clip; w = 1 (the default) is
  the term above, w = 0 the preferred patch alone.
- Loss variant (lib/dpo/loss.ts lossType): "sigmoid" (the default) is the softplus above; "ipo"
  replaces each term's softplus(−h) by (h − ½)², video and patch terms alike.
- Anchor (lib/dpo/anchor.ts, opt-in, every method): "sft" adds w·mean over (pair, patch) of the
  policy's error on the chosen clip, "kl" w·mean of (√(e_θ + 1e-12) − √(e_ref + 1e-12))² on the
  chosen clip, "dpop" w·mean of max(0, e_θ − e_ref) on the chosen clip; its value is the metric
  "loss/anchor". "none" (the default) adds nothing.

The losses are computed from sums over the pairs at hand divided by normalisers of the whole
(global) batch — its pair count and its count of used patches — so that micro-batches and
processes add up to the loss of the global batch exactly (halo_torch.train), and one call on a
whole batch is the kit's loss.
"""

import torch
import torch.nn.functional as F

WEIGHTINGS = ("x0", "eps", "min-snr")
METHODS = ("dpo", "grandpo", "patch-only")
ANCHORS = ("none", "sft", "kl", "dpop")
LOSS_TYPES = ("sigmoid", "ipo")
DEFAULT_LOSS = {"beta": 5000, "betaPatch": 5000, "lambda": 1, "tau": 0.25, "anchor": "none",
                "anchorWeight": 1000, "lossType": "sigmoid", "patchOtherWeight": 1}


def method_loss_options(method, options=None):
    """lib/dpo/post_train.ts methodLossOptions: {beta, betaPatch, lambda, tau, video}, and
    {anchor, anchorWeight} only when there is an anchor, lossType only when not "sigmoid" and
    patchOtherWeight only when not 1 (so settings stored before they existed still match)."""
    if method not in METHODS:
        raise ValueError(f"Expected method among {', '.join(METHODS)} but found {method!r}")
    o = {**DEFAULT_LOSS, **{k: v for k, v in (options or {}).items() if v is not None}}
    if o["anchor"] not in ANCHORS:
        raise ValueError(f"Expected anchor among {', '.join(ANCHORS)} but found {o['anchor']!r}")
    if not o["anchorWeight"] >= 0:
        raise ValueError(f"Expected anchorWeight ≥ 0 but found {o['anchorWeight']!r}")
    if o["lossType"] not in LOSS_TYPES:
        raise ValueError(f"Expected lossType among {', '.join(LOSS_TYPES)} but found {o['lossType']!r}")
    if not 0 <= o["patchOtherWeight"] <= 1:
        raise ValueError(
            f"Expected patchOtherWeight a number in [0, 1] but found {o['patchOtherWeight']!r}")
    out = {"beta": o["beta"], "betaPatch": o["betaPatch"],
           "lambda": 0 if method == "dpo" else o["lambda"], "tau": o["tau"],
           "video": method != "patch-only"}
    if o["anchor"] != "none":
        out.update(anchor=o["anchor"], anchorWeight=o["anchorWeight"])
    if o["lossType"] != "sigmoid":
        out["lossType"] = o["lossType"]
    if o["patchOtherWeight"] != 1:
        out["patchOtherWeight"] = o["patchOtherWeight"]
    return out


def patch_insides(pc, pr, rc, rr, gaps, o):
    """[b, P]: the inside of each patch term, −β_p/2·y_k·(d_k(w) − d_k(l)), or with an
    other-patch weight w < 1 −β_p/2·(d_k(preferred) − w·d_k(other)) (lib/dpo/loss.ts patchTerms)."""
    y = gaps.sign()
    w = o.get("patchOtherWeight", 1)
    if w == 1:
        compared = ((pc - rc) - (pr - rr)) * y
    else:
        prefer_chosen = y > 0
        compared = (torch.where(prefer_chosen, pc - rc, pr - rr)
                    - torch.where(prefer_chosen, pr - rr, pc - rc) * w)
    return compared * (-o["betaPatch"] / 2)


def term_loss(inside, o):
    """Each term's loss of its inside h: softplus(−h) = −log σ(h), or (h − ½)² with lossType "ipo"."""
    return (inside - 0.5).square() if o.get("lossType", "sigmoid") == "ipo" else F.softplus(-inside)


def anchor_of(o):
    """(anchor, weight) of loss options; ("none", 0) without one."""
    anchor = o.get("anchor", "none")
    return anchor, (o.get("anchorWeight", DEFAULT_LOSS["anchorWeight"]) if anchor != "none" else 0)


def anchor_sum(pc, rc, anchor):
    """Σ over (pair, patch) of the anchoring term's cells on the chosen clips (lib/dpo/anchor.ts)."""
    if anchor == "sft":
        return pc.sum()
    if anchor == "kl":
        return ((pc + 1e-12).sqrt() - (rc + 1e-12).sqrt()).square().sum()
    if anchor == "dpop":
        return (pc - rc).clamp(min=0).sum()
    raise ValueError(f"Expected anchor among {', '.join(ANCHORS)} but found {anchor!r}")


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
        raise ValueError(f"Expected weighting among {', '.join(WEIGHTINGS)} but found {weighting!r}")
    return w.to(torch.float32)


def parse_grid(spec):
    """(rows, cols, framesPerPatch) of a grid spec "RxCxF" (lib/videos/patch.ts parseGrid)."""
    try:
        rows, cols, frames = (int(v) for v in spec.split("x"))
    except ValueError:
        raise ValueError(f'Expected a grid "ROWSxCOLSxFRAMES" but found {spec!r}') from None
    return rows, cols, frames


def patch_errors(model, x0, t, noise, tokens, w, grid):
    """[N, P]: per-patch means of w(t)·‖x̂0 − x0‖² (channel mean) of `model` (a Generator)."""
    xt = model.add_noise(x0, t, noise)
    x0_hat = model.predict_clean(xt, t, tokens)
    err = (x0_hat - x0).square().mean(-1) * w.reshape(-1, 1, 1, 1)  # [N, T, H, W]
    n, frames, h, wd = err.shape
    rows, cols, fpp = grid
    s = frames // fpp
    return err.reshape(n * s, fpp, rows, h // rows, cols, wd // cols).mean((1, 3, 5)) \
        .reshape(n, s * rows * cols)


def used_patches(gaps, tau):
    """Gran-DPO's mask: |gap| ≥ τ and gap ≠ 0, as float32."""
    return ((gaps.abs() >= tau) & (gaps != 0)).to(torch.float32)


def granular(o):
    """Whether the kit computes this loss with granDpoLoss (patch metrics) rather than
    diffusionDpoLoss (lib/dpo/step.ts dpoStep)."""
    return not (o["lambda"] == 0 and o["video"])


def dpo_sums(pol, ref, gaps, o, norm):
    """The loss to differentiate and the metric numerators of a DPO loss over the pairs at hand.

    pol, ref: [2b, P] (b chosen rows, then b rejected); gaps: [b, P]; `norm`: {"pairs": pairs of
    the global batch, "used": used patches of the global batch, "patches": P}. Returns (loss,
    sums): `loss` is this part's share of the global loss (the parts of a global batch add up to
    it), `sums` {name: 0-dim tensor, detached} add up over parts to the numerators that
    `metrics_from_sums` turns into the kit's metrics."""
    b = gaps.shape[0]
    pc, pr, rc, rr = pol[:b], pol[b:], ref[:b], ref[b:]
    chosen = (pc - rc).mean(1) * (-o["beta"] / 2)
    rejected = (pr - rr).mean(1) * (-o["beta"] / 2)
    inside = chosen - rejected
    video = term_loss(inside, o).sum() / norm["pairs"]
    sums = {
        "loss/video": video,
        "rewards/chosen": chosen.sum(),
        "rewards/rejected": rejected.sum(),
        "rewards/margins": inside.sum(),
        "rewards/accuracies": (inside > 0).to(torch.float32).sum(),
        "mse/policy_chosen": pc.sum(),
        "mse/policy_rejected": pr.sum(),
        "mse/ref_chosen": rc.sum(),
        "mse/ref_rejected": rr.sum(),
    }
    loss = video
    if granular(o):
        used = used_patches(gaps, o["tau"])
        y = gaps.sign()
        inside_k = patch_insides(pc, pr, rc, rr, gaps, o)
        safe = max(norm["used"], 1)
        patch = (term_loss(inside_k, o) * used).sum() / safe
        sums.update({
            "loss/patch": patch,
            "patch/accuracies": ((inside_k > 0).to(torch.float32) * used).sum(),
            "patch/margins": (inside_k * used).sum(),
            "patch/used": used.sum(),
            "patch/disagree": ((y < 0).to(torch.float32) * used).sum(),
        })
        if o["lambda"] != 0:
            loss = video + patch * o["lambda"] if o["video"] else patch * o["lambda"]
    anchor, weight = anchor_of(o)
    if anchor != "none":
        term = anchor_sum(pc, rc, anchor) / (norm["pairs"] * norm["patches"])
        sums["loss/anchor"] = term
        loss = loss + term * weight
    return loss, {k: v.detach() for k, v in sums.items()}


def metrics_from_sums(sums, o, norm):
    """The kit's metrics (lib/dpo/loss.ts, TRL names) from the summed numerators of `dpo_sums`."""
    s = {k: float(v) for k, v in sums.items()}
    pairs, cells = norm["pairs"], norm["pairs"] * norm["patches"]
    video = s["loss/video"]
    m = {
        "rewards/chosen": s["rewards/chosen"] / pairs,
        "rewards/rejected": s["rewards/rejected"] / pairs,
        "rewards/margins": s["rewards/margins"] / pairs,
        "rewards/accuracies": s["rewards/accuracies"] / pairs,
        "mse/policy_chosen": s["mse/policy_chosen"] / cells,
        "mse/policy_rejected": s["mse/policy_rejected"] / cells,
        "mse/ref_chosen": s["mse/ref_chosen"] / cells,
        "mse/ref_rejected": s["mse/ref_rejected"] / cells,
    }
    anchor, weight = anchor_of(o)
    extra = {"loss/anchor": s["loss/anchor"]} if anchor != "none" else {}
    if not granular(o):
        return {"loss": video + weight * s["loss/anchor"] if extra else video, **m, **extra}
    safe = max(norm["used"], 1)
    patch = s["loss/patch"]
    loss = video if o["lambda"] == 0 else \
        (video + o["lambda"] * patch if o["video"] else o["lambda"] * patch)
    if extra:
        loss = loss + weight * s["loss/anchor"]
    return {
        "loss": loss, "loss/video": video, "loss/patch": patch, **m,
        "patch/accuracies": s["patch/accuracies"] / safe,
        "patch/margins": s["patch/margins"] / safe,
        "patch/used": s["patch/used"] / cells,
        "patch/disagree": s["patch/disagree"] / safe,
        **extra,
    }


def dpo_loss(pol, ref, gaps, o):
    """(loss, metrics) of one whole batch: the kit's granDpoLoss / diffusionDpoLoss."""
    norm = {"pairs": gaps.shape[0], "used": int(used_patches(gaps, o["tau"]).sum().item()),
            "patches": gaps.shape[1]}
    loss, sums = dpo_sums(pol, ref, gaps, o, norm)
    return loss, metrics_from_sums(sums, o, norm)
