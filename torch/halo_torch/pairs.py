"""The kit's preference-pairs file (`deno task pairs`: pairs.jsonl + clips/, lib/pairs/file.ts) as
a PyTorch Dataset, with the kit's checks: every field of a line, finite scores, the patch count
of the grid, clip paths inside the pairs folder, one grid and one clip shape for the file, and the
SHA-256 and size of a clip when it is first read. Schema: torch/README.md.
"""

import hashlib
import json
import os

import numpy as np
import torch

from .losses import parse_grid
from .model import tokenize


def _fail(where, expected, found):
    raise ValueError(f"{where}: Expected {expected} but found {found!r}")


def _check_pair(where, q, folder):
    if not isinstance(q, dict):
        _fail(where, "a JSON object", q)
    for key in ("id", "prompt", "grid"):
        if not isinstance(q.get(key), str):
            _fail(where, f"a string {key}", q.get(key))
    rows, cols, fpp = parse_grid(q["grid"])
    shape = q.get("shape")
    if not (isinstance(shape, list) and len(shape) == 4 and shape[3] == 3
            and all(isinstance(n, int) and n > 0 for n in shape)):
        _fail(where, "shape [frames, height, width, 3]", shape)
    if shape[0] % fpp or shape[1] % rows or shape[2] % cols:
        _fail(where, f"a clip shape the grid {q['grid']} divides", shape)
    patches = shape[0] // fpp * rows * cols

    def scores(name, xs):
        if not isinstance(xs, list) or len(xs) != patches:
            _fail(where, f"{name} with {patches} numbers (grid {q['grid']})", xs)
        if not all(isinstance(x, (int, float)) and np.isfinite(x) for x in xs):
            _fail(where, f"finite {name}", xs)

    for side in ("chosen", "rejected"):
        s = q.get(side)
        if not isinstance(s, dict):
            _fail(where, f"a {side} object", s)
        clip = s.get("clip")
        if not isinstance(clip, str) or ".." in clip or clip.startswith("/"):
            _fail(where, f"{side}.clip to be a path inside the pairs folder", clip)
        if not os.path.exists(os.path.join(folder, clip)):
            _fail(where, f"its clip file {clip}", "no file at that path")
        sha = s.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            _fail(where, f"{side}.sha256 of 64 hex digits", sha)
        score = s.get("video_score")
        if not isinstance(score, (int, float)) or not np.isfinite(score):
            _fail(where, f"a finite {side}.video_score", score)
        scores(f"{side}.patch_scores", s.get("patch_scores"))
    scores("patch_gaps", q.get("patch_gaps"))
    gap = q.get("video_gap")
    if not isinstance(gap, (int, float)) or not np.isfinite(gap):
        _fail(where, "a finite video_gap", gap)


def read_pairs(file):
    """The checked lines of a pairs.jsonl file (a list of dicts), in file order."""
    if not os.path.exists(file):
        _fail(file, "a pairs file (run `deno task pairs` first)", "no file at that path")
    folder = os.path.dirname(os.path.abspath(file))
    pairs = []
    with open(file, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError:
                _fail(f"{file}:{i + 1}", "a JSON object", line.strip())
            where = f"{file}:{i + 1} (pair {q.get('id', '?') if isinstance(q, dict) else '?'!r})"
            _check_pair(where, q, folder)
            pairs.append(q)
    return pairs


class PairsDataset(torch.utils.data.Dataset):
    """Preference pairs for a generator config: item i is (chosen, rejected, tokens, patch_gaps)
    with the clips in model space [-1, 1] as float32 [T, H, W, 3] (byte / 127.5 − 1, as
    lib/dpo/step.ts dpoStepInputs), the prompt's token ids [10] (int64) and the PRM's per-patch
    gaps [P] (float32). All pairs share one grid (`self.grid`: rows, cols, frames per patch)."""

    def __init__(self, file, config=None):
        self.file = file
        self.folder = os.path.dirname(os.path.abspath(file))
        self.pairs = read_pairs(file)
        if not self.pairs:
            _fail(file, "at least one preference pair", "an empty file")
        first = self.pairs[0]
        for q in self.pairs:
            if q["grid"] != first["grid"]:
                _fail(file, f"every pair on grid {first['grid']}", f"pair {q['id']} on {q['grid']}")
            if q["shape"] != first["shape"]:
                _fail(file, f"every clip of shape {first['shape']}", f"pair {q['id']}: {q['shape']}")
        self.shape = first["shape"]
        if config is not None:
            want = [config["frames"], config["size"], config["size"], 3]
            if self.shape != want:
                _fail(file, f"clips of shape {want} (the generator's)", self.shape)
        self.grid = parse_grid(first["grid"])
        self.tokens = [tokenize(q["prompt"]) for q in self.pairs]
        self._verified = set()

    def __len__(self):
        return len(self.pairs)

    def clip(self, side):
        """One clip's bytes as float32 in model space, its size and hash checked on first read."""
        path = os.path.join(self.folder, side["clip"])
        with open(path, "rb") as f:
            data = f.read()
        size = int(np.prod(self.shape))
        if len(data) != size:
            _fail(path, f"{size} bytes ({'×'.join(map(str, self.shape[:3]))}×3)", f"{len(data)} bytes")
        if path not in self._verified:
            digest = hashlib.sha256(data).hexdigest()
            if digest != side["sha256"]:
                _fail(path, f"bytes with SHA-256 {side['sha256'][:12]}…", f"{digest[:12]}…")
            self._verified.add(path)
        # in float64, then rounded once to float32, as the kit's Float32Array store
        raw = np.frombuffer(data, dtype=np.uint8).astype(np.float64)
        return torch.from_numpy((raw / 127.5 - 1).astype(np.float32)).reshape(self.shape)

    def __getitem__(self, i):
        q = self.pairs[i]
        return (self.clip(q["chosen"]), self.clip(q["rejected"]),
                torch.tensor(self.tokens[i], dtype=torch.int64),
                torch.tensor(q["patch_gaps"], dtype=torch.float32))
