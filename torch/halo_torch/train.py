"""Gran-DPO post-training on PyTorch's distributed engine: the kit's `deno task post-train` for
torchrun, reading the kit's pairs file and writing a kit checkpoint.

    python3 -m torch.distributed.run --nproc_per_node=N torch/train.py \\
        --pairs out/pairs/pairs.jsonl --generator data/generator --out out/post-torch

(`python3 torch/train.py ...` runs one process without torchrun.) What it does, step by step:

- **Data.** The pairs file (halo_torch.pairs) is sharded by torch's DistributedSampler (shuffled
  with the seed, re-shuffled every epoch with set_epoch, drop_last so every epoch has whole global
  batches). Step s of epoch e takes the next `global_batch / world` pairs of each rank's shard; the
  union over ranks is the same set of pairs whatever the number of processes.
- **Draws.** Each pair's timestep t ~ U[tMin, tMax) and noise ε (shared by its chosen and rejected
  clip, as the kit) come from a generator seeded by (seed, step, pair index) alone, so they do not
  depend on the rank, the world size or the micro-batching.
- **Model.** The policy starts from `--generator` and is wrapped in DistributedDataParallel (gloo
  on CPU, nccl on CUDA); a frozen copy is the reference, run under no_grad. The null prompt is
  never used by DPO, so it gets no gradient (the kit's Adam then leaves it as it is).
- **Loss.** Diffusion-DPO, Gran-DPO or patch-only with the kit's conventions (halo_torch.losses),
  with `--anchor sft | kl | dpop` (and `--anchor-weight`) the kit's opt-in anchor on the winners.
  Micro-batches of `--micro-batch` pairs accumulate gradients (DDP's no_sync until the last); each
  part's loss is its share of the global batch's loss (normalised by the global pair count and the
  global count of used patches, one all_reduce per step), scaled by the world size because DDP
  averages gradients, so the update is the one of the whole global batch.
- **Update.** The kit's Adam (halo_torch.adam): global-norm clipping, lr warm-up over 10 steps.
- **Checkpoints.** Every `--checkpoint-every` steps rank 0 appends the log lines (`<out>.log.jsonl`,
  `{step, seconds, <the kit's metric names>, grad_norm}`, grad_norm as TRL logs it: the global
  gradient norm before clipping) and then writes a kit checkpoint of kind
  "generator" with the optimiser state, atomically (temporary folder + rename). A run started again
  with the same settings resumes from it (lines past it dropped from the log), so a killed run ends
  with the same weights as an uninterrupted one. The checkpoint is what `deno task evaluate
  --checkpoint NAME=DIR` and `loadGenerator` read.

At the end it prints one JSON line: out, step, resumed, world size, wall seconds, pairs per second
of this run's steps, and the mean of each metric over its last (up to) 50 steps.
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist

from .adam import KitAdam
from .checkpoint import load_generator, read_manifest, recover_interrupted_save, write_checkpoint
from .losses import (ANCHORS, LOSS_TYPES, METHODS, WEIGHTINGS, dpo_sums,
                     error_weights, method_loss_options, metrics_from_sums, patch_errors, used_patches)
from .model import Generator, GeneratorModule
from .pairs import PairsDataset


def parse_args(argv=None):
    """The trainer's command line; defaults are `deno task post-train`'s (POST_TRAIN_DEFAULTS)."""
    ap = argparse.ArgumentParser(prog="torch/train.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", required=True, help="pairs.jsonl written by `deno task pairs`")
    ap.add_argument("--generator", required=True,
                    help="kit generator checkpoint: the policy's start and the frozen reference")
    ap.add_argument("--out", required=True, help="checkpoint folder (resumed when it exists)")
    ap.add_argument("--method", choices=METHODS, default="grandpo")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--global-batch", type=int, default=8, help="pairs per optimiser step")
    ap.add_argument("--micro-batch", type=int, default=0,
                    help="pairs per forward pass and process (0: global batch / processes)")
    ap.add_argument("--lr", type=float, default=1e-4, help="Adam lr after a 10-step warm-up")
    ap.add_argument("--clip-norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t-min", type=int, default=50)
    ap.add_argument("--t-max", type=int, default=950)
    ap.add_argument("--weighting", choices=WEIGHTINGS, default="min-snr")
    ap.add_argument("--gamma", type=float, default=5.0)
    ap.add_argument("--beta", type=float, default=None)
    ap.add_argument("--beta-patch", type=float, default=None)
    ap.add_argument("--lambda", dest="lam", type=float, default=None)
    ap.add_argument("--tau", type=float, default=None)
    ap.add_argument("--anchor", choices=ANCHORS, default="none",
                    help="anchor toward the reference on the winners (lib/dpo/anchor.ts)")
    ap.add_argument("--anchor-weight", type=float, default=None,
                    help="weight of the anchor term (default: the kit's)")
    ap.add_argument("--loss-type", choices=LOSS_TYPES, default="sigmoid",
                    help="each term's loss: sigmoid (Diffusion-DPO's) | ipo ((h − ½)²; lib/dpo/loss.ts)")
    ap.add_argument("--patch-other-weight", type=float, default=1,
                    help="weight of the other patch in each patch term: 1 the paper's, 0 the "
                         "preferred patch alone (lib/dpo/loss.ts)")
    ap.add_argument("--checkpoint-every", type=int, default=50)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (0: default)")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def draw_seed(seed, step, index):
    """The 63-bit seed of pair `index`'s draws at optimiser step `step` (0-based)."""
    digest = hashlib.sha256(f"halo-dpo-draw:{seed}:{step}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def pair_draws(seed, step, index, shape, t_min, t_max):
    """(t, ε) of one pair at one step: t ~ U[t_min, t_max), ε ~ N(0, 1) of `shape`, on the CPU."""
    g = torch.Generator().manual_seed(draw_seed(seed, step, index))
    t = t_min + int(torch.randint(t_max - t_min, (1,), generator=g))
    return t, torch.randn(shape, generator=g)


def settings_of(args, world_free):
    """What a resumed run must share with the run that wrote the checkpoint."""
    return {
        "trainer": "halo_torch.train",
        "pairs": os.path.abspath(args.pairs),
        "generator": os.path.abspath(args.generator),
        **world_free,
        "method": args.method,
        "steps": args.steps,
        "globalBatch": args.global_batch,
        "learningRate": args.lr,
        "clipNorm": args.clip_norm,
        "seed": args.seed,
        "tMin": args.t_min,
        "tMax": args.t_max,
        "weighting": args.weighting,
        "gamma": args.gamma,
    }


def trim_log(path, last_step):
    """Drops the lines past `last_step` (steps a killed run logged but never checkpointed)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        keep = [line for line in f if line.strip() and json.loads(line)["step"] <= last_step]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(keep)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def append_log(path, lines):
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
        f.flush()
        os.fsync(f.fileno())


class Trainer:
    """One process of a post-training run (the module doc); `run()` trains and returns a summary."""

    def __init__(self, args):
        self.args = args
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        if use_cuda and not torch.cuda.is_available():
            raise SystemExit(f"train.py: Expected a CUDA device (--device cuda) but found none "
                             f"(torch {torch.__version__}, CUDA {torch.version.cuda})")
        self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        self.distributed = "RANK" in os.environ
        if self.distributed:
            dist.init_process_group("nccl" if use_cuda else "gloo")
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        self.check_sizes()

    def check_sizes(self):
        a = self.args
        if a.global_batch % self.world:
            raise SystemExit(f"train.py: Expected --global-batch divisible by the {self.world} "
                             f"processes but found {a.global_batch}")
        self.per_rank = a.global_batch // self.world
        self.micro = a.micro_batch or self.per_rank
        if self.per_rank % self.micro:
            raise SystemExit(f"train.py: Expected --micro-batch to divide the {self.per_rank} pairs "
                             f"per process and step but found {self.micro}")
        if not 0 <= a.t_min < a.t_max:
            raise SystemExit(f"train.py: Expected 0 ≤ --t-min < --t-max but found {a.t_min}, "
                             f"{a.t_max}")

    def log(self, text):
        if self.rank == 0 and not self.args.quiet:
            print(text, file=sys.stderr, flush=True)

    def all_sum(self, t):
        if self.distributed:
            dist.all_reduce(t)
        return t

    def run(self):
        a = self.args
        config, weights, base_manifest, _ = load_generator(a.generator, self.device)
        self.config = config
        if a.t_max > config["timesteps"]:
            raise SystemExit(f"train.py: Expected --t-max ≤ {config['timesteps']} (the schedule) "
                             f"but found {a.t_max}")
        reference = Generator(config, {n: w.detach().clone().requires_grad_(False)
                                       for n, w in weights.items()}, self.device)
        weights["prompt.null"].requires_grad_(False)  # DPO never drops the prompt
        policy = Generator(config, weights, self.device)
        module = GeneratorModule(policy, patch_errors)
        names = module.names
        adam = KitAdam(list(module.weights), lr=a.lr, clip_norm=a.clip_norm, names=names)
        loss_options = method_loss_options(a.method, {"beta": a.beta, "betaPatch": a.beta_patch,
                                                      "lambda": a.lam, "tau": a.tau,
                                                      "anchor": a.anchor,
                                                      "anchorWeight": a.anchor_weight,
                                                      "lossType": a.loss_type,
                                                      "patchOtherWeight": a.patch_other_weight})
        settings = {**settings_of(a, {"generatorSha256": base_manifest["weights"]["sha256"]}),
                    "loss": loss_options}
        start, prior_seconds, resumed = self.resume(names, module, adam, settings)
        ddp = module
        if self.distributed:
            ddp = torch.nn.parallel.DistributedDataParallel(
                module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

        data = PairsDataset(a.pairs, config)
        sampler = torch.utils.data.distributed.DistributedSampler(
            data, num_replicas=self.world, rank=self.rank, shuffle=True, seed=a.seed,
            drop_last=True)
        per_epoch = len(sampler) // self.per_rank
        if per_epoch == 0:
            raise SystemExit(f"train.py: Expected at least --global-batch {a.global_batch} pairs "
                             f"but found {len(data)} in {a.pairs}")
        ab64 = policy.ab64
        grid = data.grid
        patches = len(data.pairs[0]["patch_gaps"])
        log_file = f"{a.out}.log.jsonl"
        t0 = time.perf_counter()
        seconds = lambda: prior_seconds + time.perf_counter() - t0  # noqa: E731
        pending, recent, order, epoch = [], [], [], -1
        loop_start, steps_done = None, 0
        for step in range(start, a.steps):
            if loop_start is None:
                loop_start = time.perf_counter()
            if step // per_epoch != epoch:
                epoch = step // per_epoch
                sampler.set_epoch(epoch)
                order = list(sampler)
            k = step % per_epoch
            mine = order[k * self.per_rank:(k + 1) * self.per_rank]
            items = [data[i] for i in mine]
            gaps_all = torch.stack([it[3] for it in items])
            used = self.all_sum(used_patches(gaps_all, loss_options["tau"]).sum().reshape(1))
            norm = {"pairs": a.global_batch, "used": int(used.item()), "patches": patches}
            sums = None
            parts = range(0, self.per_rank, self.micro)
            for j, lo in enumerate(parts):
                chunk = list(range(lo, lo + self.micro))
                draws = [pair_draws(a.seed, step, mine[i], data.shape, a.t_min, a.t_max)
                         for i in chunk]
                t = torch.tensor([d[0] for d in draws] * 2, dtype=torch.int64)
                noise = torch.stack([d[1] for d in draws] * 2)
                x0 = torch.stack([items[i][0] for i in chunk] + [items[i][1] for i in chunk])
                tokens = torch.stack([items[i][2] for i in chunk] * 2)
                gaps = gaps_all[chunk[0]:chunk[-1] + 1]
                x0, t, noise, tokens, gaps = (v.to(self.device) for v in (x0, t, noise, tokens, gaps))
                w = error_weights(ab64, t, a.weighting, a.gamma)
                with torch.no_grad():
                    ref = patch_errors(reference, x0, t, noise, tokens, w, grid)
                last = j == len(parts) - 1
                sync = contextlib.nullcontext() if last or ddp is module else ddp.no_sync()
                with sync:
                    pol = ddp(x0, t, noise, tokens, w, grid)
                    loss, part = dpo_sums(pol, ref, gaps, loss_options, norm)
                    (loss * self.world).backward()
                sums = part if sums is None else {n: sums[n] + part[n] for n in sums}
            keys = sorted(sums)
            total = self.all_sum(torch.stack([sums[n].to(torch.float64) for n in keys]))
            metrics = metrics_from_sums(dict(zip(keys, total.cpu())), loss_options, norm)
            adam.lr = a.lr * min(1, (step + 1) / 10)
            metrics["grad_norm"] = adam.apply()  # TRL's name; before clipping
            if not math.isfinite(metrics["loss"]):
                raise SystemExit(f"train.py: Expected a finite loss but found {metrics['loss']} at "
                                 f"step {step + 1}")
            steps_done += 1
            recent = (recent + [metrics])[-50:]
            pending.append({"step": step + 1, "seconds": round(seconds(), 1), **metrics})
            if step + 1 == a.steps or (step + 1) % a.checkpoint_every == 0:
                self.save(config, names, module, adam, step + 1, settings, seconds(), data,
                          log_file, pending)
                pending = []
            if (step + 1) % max(1, a.steps // 10) == 0:
                self.log(f"step {step + 1}/{a.steps} loss {metrics['loss']:.4f} "
                         f"acc {metrics['rewards/accuracies']:.2f}")
        if start == a.steps and not resumed:
            self.save(config, names, module, adam, start, settings, seconds(), data, log_file, [])
        loop_seconds = time.perf_counter() - loop_start if loop_start else 0.0
        mean = {k: sum(m[k] for m in recent) / len(recent) for k in recent[0]} if recent else {}
        summary = {
            "out": a.out, "step": max(start, a.steps), "resumed": resumed, "world": self.world,
            "device": str(self.device), "wallSeconds": seconds(),
            "pairsPerSecond": steps_done * a.global_batch / loop_seconds if loop_seconds else None,
            "recent": mean,
        }
        if self.distributed:
            dist.barrier()
            dist.destroy_process_group()
        return summary

    def resume(self, names, module, adam, settings):
        """(start step, prior wall seconds, resumed) from the checkpoint in --out, if any."""
        a = self.args
        recover_interrupted_save(a.out)
        if not os.path.exists(os.path.join(a.out, "config.json")):
            if self.rank == 0:
                trim_log(f"{a.out}.log.jsonl", 0)
            return 0, 0.0, False
        manifest = read_manifest(a.out)
        found = manifest["meta"].get("settings", {})
        differ = sorted(k for k in set(found) | set(settings) if found.get(k) != settings.get(k))
        if differ:
            raise SystemExit(
                f"train.py: {a.out}/config.json: Expected a run with the same settings "
                f"({', '.join(f'{k}: {json.dumps(settings.get(k))}' for k in differ)}; use another "
                f"--out to start afresh) but found "
                f"{', '.join(f'{k}: {json.dumps(found.get(k))}' for k in differ)}")
        config, weights, manifest, opt = load_generator(a.out, self.device, trainable=False)
        if config != self.config:
            raise SystemExit(f"train.py: {a.out}/config.json: Expected the config of "
                             f"{a.generator} but found another one")
        if opt is None:
            raise SystemExit(f"train.py: {a.out}: Expected optimizer state (a checkpoint written "
                             f"by the trainer) but found none")
        with torch.no_grad():
            for name, p in zip(names, module.weights):
                p.copy_(weights[name])
        adam.load(manifest["optimizer"]["step"], opt)
        if self.rank == 0:
            trim_log(f"{a.out}.log.jsonl", manifest["step"])
        self.log(f"resuming {a.out} at step {manifest['step']}")
        return manifest["step"], float(manifest["meta"].get("wallSeconds", 0)), True

    def save(self, config, names, module, adam, step, settings, seconds, data, log_file, lines):
        """Rank 0: log lines first, then the checkpoint (atomic); every rank waits for it."""
        if self.rank == 0:
            append_log(log_file, lines)
            write_checkpoint(
                self.args.out, "generator", config,
                {n: p.detach() for n, p in zip(names, module.weights)}, step=step,
                meta={"settings": settings, "wallSeconds": seconds, "pairs": len(data),
                      "world": self.world},
                optimizer=(adam.step, adam.state()))
        if self.distributed:
            dist.barrier()


def main(argv=None):
    args = parse_args(argv)
    trainer = Trainer(args)
    summary = trainer.run()
    if trainer.rank == 0:
        print(json.dumps(summary), flush=True)
    return 0
