"""The HALO kit's video DiT generator (lib/generator/model.ts) in PyTorch: one copy, shared by the
bench peers and the trainer.

The architecture is read from the generator config (config.json of a kit checkpoint): token grid,
width, depth, heads, MLP ratio, prompt layers, the per-pixel decoder and the output head
(`prediction`: absent/"eps" or "x0"). A config key this module does not know, or a weight the
config does not imply, is an error, so a change of the kit's architecture shows up here (and in
the parity tests) instead of training a different model silently.

Also here: the noise schedule ᾱ(t) (alphaBars), the tokenizer of ShapesWorld prompts (the
vocabulary in vocab.json, checked against the kit's VOCAB by tests/torch_parity_test.ts) and an
nn.Module wrapper for DistributedDataParallel.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

SIGMA_DATA = 0.5  # lib/generator/model.ts: data std assumed by the output preconditioning
PROMPT_LENGTH = 10  # lib/generator/prompt.ts: every grammar sentence has 10 words

with open(os.path.join(os.path.dirname(__file__), "vocab.json"), encoding="utf-8") as _f:
    VOCAB = json.load(_f)

CONFIG_KEYS = {
    "frames", "size", "tokenGrid", "dim", "depth", "heads", "mlpRatio", "promptLayers",
    "pixelContext", "pixelHidden", "timesteps", "schedule", "vocabSize", "prediction",
    "crossContext", "attention", "scheduleShift", "pixelWindow",
}
OPTIONAL_KEYS = {"prediction", "crossContext", "attention", "scheduleShift", "pixelWindow"}
# Keys the peers' exported configs add beside the generator's own (bench/_peer.ts, _dpo_peer.ts).
EXPORT_KEYS = {"alphaBars", "grid", "weighting", "gamma", "tMin", "tMax", "learningRate",
               "clipNorm", "losses"}


def check_config(config, where="generator config"):
    """Raises ValueError when `config` has a key this model does not implement or an option value
    it does not know (the kit's architecture moved on: update model.py)."""
    unknown = sorted(set(config) - CONFIG_KEYS - EXPORT_KEYS)
    if unknown:
        raise ValueError(f"{where}: Expected only the generator config keys halo_torch implements "
                         f"({', '.join(sorted(CONFIG_KEYS))}) but found {', '.join(unknown)}")
    missing = sorted(CONFIG_KEYS - OPTIONAL_KEYS - set(config))
    if missing:
        raise ValueError(f"{where}: Expected every generator config key but found "
                         f"{', '.join(missing)} missing")
    if config.get("prediction", "eps") not in ("eps", "x0"):
        raise ValueError(f'{where}: Expected prediction "eps" or "x0" but found '
                         f'{config["prediction"]!r}')
    cross = config.get("crossContext", 0)
    if not isinstance(cross, int) or cross < 0:
        raise ValueError(f"{where}: Expected crossContext an integer ≥ 0 but found {cross!r}")
    window = config.get("pixelWindow", 1)
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"{where}: Expected pixelWindow an odd integer ≥ 1 but found {window!r}")
    if config.get("attention", "factorised") not in ("factorised", "joint"):
        raise ValueError(f'{where}: Expected attention "factorised" or "joint" but found '
                         f'{config["attention"]!r}')
    if config["schedule"] not in ("cosine", "linear"):
        raise ValueError(f'{where}: Expected schedule "cosine" or "linear" but found '
                         f'{config["schedule"]!r}')
    if config["vocabSize"] != len(VOCAB):
        raise ValueError(f"{where}: Expected vocabSize {len(VOCAB)} (halo_torch/vocab.json) but "
                         f"found {config['vocabSize']}")


def pixel_window(x, w):
    """[B, T, H, W, C] → the w×w window around each pixel [B, T, H, W, w²·C] (zeros outside the
    frame), ordered (row offset, column offset, channel), as lib/generator/model.ts pixelWindow."""
    if w == 1:
        return x
    r = (w - 1) // 2
    b, t, h, wd, _ = x.shape
    padded = torch.nn.functional.pad(x, (0, 0, r, r, r, r))
    return torch.cat([padded[:, :, dy:dy + h, dx:dx + wd] for dy in range(w) for dx in range(w)], 4)


def alpha_bars(timesteps, schedule, shift=1):
    """ᾱ(t) for t = 0..T−1 in float64, as lib/generator/diffusion.ts alphaBars: Nichol & Dhariwal's
    cosine (s = 0.008, clipped to [1e-4, 0.9999]) or DDPM's linear β from 1e-4 to 0.02; `shift`
    (scheduleShift) divides every SNR by shift²."""
    if schedule == "linear":
        out, prod = [], 1.0
        for i in range(timesteps):
            prod *= 1 - (1e-4 + (0.02 - 1e-4) * i / (timesteps - 1))
            out.append(prod)
    else:
        def f(u):
            return math.cos(((u + 0.008) / 1.008) * math.pi / 2) ** 2

        out = [min(0.9999, max(1e-4, f((i + 1) / timesteps) / f(0))) for i in range(timesteps)]
    if shift != 1:
        out = [a / (a + shift * shift * (1 - a)) for a in out]
    return out


def tokenize(prompt):
    """The kit's token ids of a ShapesWorld prompt (lib/generator/prompt.ts tokenizePrompt): the
    lower-cased words, each looked up in VOCAB. Raises ValueError naming an unknown word."""
    words = prompt.strip().lower().split()
    if len(words) != PROMPT_LENGTH:
        raise ValueError(f"Expected a {PROMPT_LENGTH}-word ShapesWorld prompt but found {prompt!r}")
    ids = []
    for word in words:
        if word not in VOCAB or word == "<pad>":
            raise ValueError(f"Expected only words of the ShapesWorld grammar but found {word!r} "
                             f"in {prompt!r}")
        ids.append(VOCAB.index(word))
    return ids


def param_shapes(config):
    """{name: shape} of every weight a generator of `config` has (lib/generator/model.ts
    createGenerator), in the kit's names."""
    g = config["tokenGrid"]
    d = config["dim"]
    segments = config["frames"] // g["framesPerPatch"]
    positions = g["rows"] * g["cols"]
    token_values = g["framesPerPatch"] * (config["size"] // g["rows"]) \
        * (config["size"] // g["cols"]) * 3
    hidden = max(1, math.floor(config["mlpRatio"] * d + 0.5))  # JS Math.round
    shapes = {}

    def linear(name, n_in, n_out, bias=True):
        shapes[name + ".w"] = [n_in, n_out]
        if bias:
            shapes[name + ".b"] = [n_out]

    def block(name, mlp_hidden, ada):
        if ada:
            linear(name + ".ada", d, 6 * d)
        else:
            for ln in ("ln1", "ln2"):
                shapes[f"{name}.{ln}.g"] = [d]
                shapes[f"{name}.{ln}.b"] = [d]
        linear(name + ".attn.qkv", d, 3 * d)
        linear(name + ".attn.out", d, d)
        linear(name + ".mlp.fc1", d, mlp_hidden)
        linear(name + ".mlp.fc2", mlp_hidden, d)

    linear("embed", token_values, d)
    shapes["pos.space"] = [positions, d]
    shapes["pos.time"] = [segments, d]
    linear("time.fc1", d, d)
    linear("time.fc2", d, d)
    shapes["prompt.embed"] = [config["vocabSize"], d]
    shapes["prompt.pos"] = [PROMPT_LENGTH, d]
    for i in range(config["promptLayers"]):
        block(f"prompt.block{i}", 2 * d, ada=False)
    shapes["prompt.ln.g"] = [d]
    shapes["prompt.ln.b"] = [d]
    linear("prompt.proj", d, d)
    shapes["prompt.null"] = [d]
    for i in range(config["depth"]):
        block(f"layer{i}.space", hidden, ada=True)
        block(f"layer{i}.time", hidden, ada=True)
    linear("final.ada", d, 2 * d)
    linear("final.out", d, token_values // 3 * config["pixelContext"])
    linear("pixel.ctx", config["pixelContext"], config["pixelHidden"])
    linear("pixel.x", 3 * config.get("pixelWindow", 1) ** 2, config["pixelHidden"], bias=False)
    if config.get("crossContext", 0):
        linear("final.cross", d, config["crossContext"])
        linear("pixel.cross", config["crossContext"], config["pixelHidden"])
    linear("pixel.clean", config["pixelHidden"], 3)
    if config.get("prediction") != "x0":
        linear("pixel.gate", config["pixelHidden"], 3)
    return shapes


def check_params(config, params, where="weights"):
    """Raises ValueError unless `params` holds exactly the weights `config` implies, in shape."""
    expected = param_shapes(config)
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise ValueError(f"{where}: Expected the weights of the config's architecture but found "
                         f"missing {missing[:5]}, unexpected {extra[:5]}")
    for name, shape in expected.items():
        if list(params[name].shape) != shape:
            raise ValueError(f"{where}: Expected {name} of shape {shape} but found "
                             f"{list(params[name].shape)}")


def _lerp_weights(cells, length):
    """[cells, length] linear interpolation weights from cell centres to pixel centres, edges
    clamped (lib/generator/_interpolate.ts lerpWeights)."""
    w = [[0.0] * length for _ in range(cells)]
    per = length / cells
    for i in range(length):
        u = min(cells - 1, max(0.0, (i + 0.5) / per - 0.5))
        lo = math.floor(u)
        hi = min(cells - 1, lo + 1)
        w[lo][i] += 1 - (u - lo)
        w[hi][i] += u - lo
    return w


def _space_weights(rows, cols, size):
    """[rows·cols, size·size]: the outer product of the row and column weights."""
    r, c = _lerp_weights(rows, size), _lerp_weights(cols, size)
    return [[r[i][y] * c[j][x] for y in range(size) for x in range(size)]
            for i in range(rows) for j in range(cols)]


class Generator:
    """The generator, with weights by the kit's parameter names (a dict of tensors)."""

    def __init__(self, config, params, device="cpu"):
        check_config(config)
        self.c = config
        self.p = params
        g = config["tokenGrid"]
        self.fpp, self.rows, self.cols = g["framesPerPatch"], g["rows"], g["cols"]
        self.s = config["frames"] // self.fpp
        self.n = self.rows * self.cols
        self.d = config["dim"]
        self.heads = config["heads"]
        ab = config.get("alphaBars") or alpha_bars(config["timesteps"], config["schedule"],
                                                   config.get("scheduleShift", 1))
        self.ab64 = torch.tensor(ab, dtype=torch.float64, device=device)
        self.ab = self.ab64.to(torch.float32)
        if config.get("crossContext", 0):
            self.space_interp = torch.tensor(_space_weights(self.rows, self.cols, config["size"]),
                                             device=device)
            self.time_interp = torch.tensor(_lerp_weights(self.s, config["frames"]), device=device)
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
        joint = self.c.get("attention") == "joint"
        for i in range(self.c["depth"] if joint else 0):
            # joint attention: both blocks among all S·P tokens
            for block in ("space", "time"):
                h = self.ada_block(f"layer{i}.{block}", h.reshape(b, s * n, d), cond)
            h = h.reshape(b, s, n, d)
        for i in range(0 if joint else self.c["depth"]):
            h = self.ada_block(f"layer{i}.space", h.reshape(b * s, n, d), cond).reshape(b, s, n, d)
            ht = h.transpose(1, 2).reshape(b * n, s, d)
            h = self.ada_block(f"layer{i}.time", ht, cond).reshape(b, n, s, d).transpose(1, 2)
        mod = self.lin("final.ada", F.silu(cond)).reshape(b, 1, 2, d)
        shift, scale = mod[:, :, 0], mod[:, :, 1]
        out = self.ln(h.reshape(b, s * n, d)) * (scale + 1) + shift
        # per-pixel decoder + gated skip, as in lib/generator/model.ts predictNoiseAndClean: each
        # token hands pixelContext values to each of its pixels; a pixel MLP reads them with the
        # pixel's Wiener estimate of its clean value over σd, σd·√ᾱ·x_t / (1 − ᾱ + ᾱσd²), and
        # predicts a clean value X and a raw gate r; the gate only closes, G = −softplus(r) ≤ 0,
        # and ε̂ = σ(−(logit ᾱ + G)) ⊙ (x_t − √ᾱ·X) / √(1−ᾱ)
        pc = self.c["pixelContext"]
        bt, tt, hh, ww, _ = xt.shape
        ctx = self.unpatchify(self.lin("final.out", out), (bt, tt, hh, ww, pc))
        a = self.ab[t].reshape(b, 1, 1, 1, 1)
        scaled = xt * (a.sqrt() * SIGMA_DATA) / ((1 - a) + a * SIGMA_DATA ** 2)
        pre = self.lin("pixel.ctx", ctx) + self.lin("pixel.x", pixel_window(scaled, self.c.get("pixelWindow", 1)))
        cc = self.c.get("crossContext", 0)
        if cc:
            # cross-token context (lib/generator/_interpolate.ts): per-token values interpolated
            # linearly between token centres, across token edges, in space and then in time
            x = self.lin("final.cross", out).reshape(b, s, n, cc).transpose(2, 3)
            x = x.reshape(b * s * cc, n) @ self.space_interp  # [B·S·C, H·W]
            x = x.reshape(b, s, cc * hh * ww).transpose(1, 2).reshape(b * cc * hh * ww, s) \
                @ self.time_interp  # [B·C·H·W, T]
            cross = x.reshape(b, cc, hh, ww, tt).permute(0, 4, 2, 3, 1)
            pre = pre + self.lin("pixel.cross", cross)
        hidden = torch.relu(pre)
        clean = self.lin("pixel.clean", hidden)
        if self.c.get("prediction") == "x0":
            # x0-parameterisation: X is x̂0 and ε̂ follows from it (no gate)
            return (xt - clean * a.sqrt()) / (1 - a).sqrt(), clean
        gate = self.lin("pixel.gate", hidden)
        logit = (a / (1 - a)).log()
        keep_noise = torch.sigmoid(-(logit - F.softplus(gate)))
        return keep_noise * (xt - clean * a.sqrt()) / (1 - a).sqrt(), clean

    def predict_clean(self, xt, t, tokens):
        """x̂0: the x0 head's output, or the estimate implied by ε̂ for an ε head
        (lib/dpo/loss_maps.ts pixelErrors)."""
        eps, clean = self.predict_noise_and_clean(xt, t, tokens)
        if self.c.get("prediction") == "x0":
            return clean
        a = self.ab[t].reshape(-1, 1, 1, 1, 1)
        return (xt - eps * (1 - a).sqrt()) / a.sqrt()

    def add_noise(self, x0, t, noise):
        a = self.ab[t].reshape(-1, 1, 1, 1, 1)
        return x0 * a.sqrt() + noise * (1 - a).sqrt()


# The bench peers' name for the same model.
Peer = Generator


class GeneratorModule(torch.nn.Module):
    """A Generator as an nn.Module (for DistributedDataParallel): the weights are registered
    parameters in the kit's name order, `forward` is `fn(generator, *args)`."""

    def __init__(self, generator, fn):
        super().__init__()
        self.names = list(generator.p)
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(generator.p[n].detach(), requires_grad=generator.p[n].requires_grad)
             for n in self.names])
        generator.p = dict(zip(self.names, self.weights))
        self.generator = generator
        self.fn = fn

    def forward(self, *args):
        return self.fn(self.generator, *args)
