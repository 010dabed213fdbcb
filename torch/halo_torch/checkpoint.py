"""The kit's checkpoint format (lib/tensor/checkpoint.ts, version 1), read and written in Python.

A checkpoint is a folder: `config.json` (the manifest: version, kind, config, step, meta, and for
`weights.bin` and the optional `optimizer.bin` their SHA-256 and tensor table {name, shape,
offset in float32 values}) and the binary files (little-endian float32, tensors in table order).
Reading checks the version, the hashes, the sizes and that every value is finite. Writing packs
tensors sorted by name (as the kit does), so kit → torch → kit gives byte-identical files, and
is atomic: a temporary sibling folder renamed into place, the old checkpoint moved aside first and
removed last; a save killed between the two renames leaves only the `.old` sibling, which
`read_checkpoint` (and the kit) puts back.
"""

import hashlib
import json
import os
import shutil
import uuid

import numpy as np
import torch

CHECKPOINT_VERSION = 1


def _fail(where, expected, found):
    raise ValueError(f"{where}: Expected {expected} but found {found}")


def recover_interrupted_save(folder):
    """A save killed between its two renames leaves only `.NAME.*.old`: rename it back."""
    if os.path.exists(folder):
        return
    parent, base = os.path.split(os.path.abspath(folder))
    if not os.path.isdir(parent):
        return
    for entry in sorted(os.listdir(parent)):
        if entry.startswith(f".{base}.") and entry.endswith(".old"):
            os.rename(os.path.join(parent, entry), folder)
            return


def read_manifest(folder):
    """The checked manifest (config.json) of a checkpoint folder."""
    recover_interrupted_save(folder)
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        _fail(path, "a checkpoint's config.json", "no such file")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("version") != CHECKPOINT_VERSION:
        _fail(path, f"checkpoint version {CHECKPOINT_VERSION}", manifest.get("version"))
    for key in ("weights",) + (("optimizer",) if "optimizer" in manifest else ()):
        entry = manifest[key]
        if not isinstance(entry, dict) or not isinstance(entry.get("tensors"), list):
            _fail(f"{path}: {key}", "{file, sha256, tensors}", entry)
        name = entry.get("file")
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            _fail(f"{path}: {key}.file", "a file name inside the checkpoint", name)
    return manifest


def _read_binary(folder, entry):
    path = os.path.join(folder, entry["file"])
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        _fail(path, f"weights with SHA-256 {entry['sha256'][:12]}… (file corrupt or truncated)",
              f"{digest[:12]}… over {len(data)} bytes")
    if len(data) % 4:
        _fail(path, "a whole number of float32 values", f"{len(data)} bytes")
    flat = np.frombuffer(data, dtype="<f4")
    out = {}
    for t in entry["tensors"]:
        size = int(np.prod(t["shape"], dtype=np.int64))
        if t["offset"] + size > flat.size:
            _fail(path, f"{t['offset'] + size} values for {t['name']!r}", flat.size)
        values = flat[t["offset"]:t["offset"] + size]
        if not np.isfinite(values).all():
            _fail(path, f"finite values in {t['name']!r}", "NaN or infinity")
        out[t["name"]] = torch.from_numpy(values.astype(np.float32)).reshape(t["shape"])
    return out


def read_checkpoint(folder, kind=None, optimizer=True):
    """(manifest, weights {name: tensor}, optimizer {name: tensor} or None) of a checkpoint."""
    manifest = read_manifest(folder)
    if kind is not None and manifest.get("kind") != kind:
        _fail(os.path.join(folder, "config.json"), f'a "{kind}" checkpoint', manifest.get("kind"))
    weights = _read_binary(folder, manifest["weights"])
    opt = None
    if optimizer and "optimizer" in manifest:
        opt = _read_binary(folder, manifest["optimizer"])
    return manifest, weights, opt


def _pack(tensors):
    """(bytes, table) of {name: tensor}, sorted by name as the kit's readParams."""
    names = sorted(tensors)
    table, chunks, offset = [], [], 0
    for name in names:
        a = tensors[name].detach().to("cpu", torch.float32).contiguous().numpy()
        table.append({"name": name, "shape": list(a.shape), "offset": offset})
        chunks.append(a.astype("<f4").tobytes())
        offset += a.size
    return b"".join(chunks), table


def _write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_checkpoint(folder, kind, config, weights, step=0, meta=None, optimizer=None):
    """Writes a kit checkpoint atomically. `weights`: {name: tensor}; `optimizer`: None or
    (step, {`<name>/m`|`<name>/v`: tensor})."""
    data, table = _pack(weights)
    manifest = {
        "version": CHECKPOINT_VERSION,
        "kind": kind,
        "config": config,
        "step": step,
        "meta": meta or {},
        "weights": {"file": "weights.bin", "sha256": hashlib.sha256(data).hexdigest(),
                    "tensors": table},
    }
    opt_data = None
    if optimizer is not None:
        opt_step, state = optimizer
        opt_data, opt_table = _pack(state)
        manifest["optimizer"] = {"file": "optimizer.bin",
                                 "sha256": hashlib.sha256(opt_data).hexdigest(),
                                 "step": opt_step, "tensors": opt_table}
    folder = os.path.abspath(folder)
    parent, base = os.path.split(folder)
    os.makedirs(parent, exist_ok=True)
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp = os.path.join(parent, f".{base}.{tag}.tmp")
    old = os.path.join(parent, f".{base}.{tag}.old")
    try:
        os.mkdir(tmp)
        _write_file(os.path.join(tmp, "weights.bin"), data)
        if opt_data is not None:
            _write_file(os.path.join(tmp, "optimizer.bin"), opt_data)
        _write_file(os.path.join(tmp, "config.json"),
                    (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        had_old = False
        if os.path.exists(folder):
            os.rename(folder, old)
            had_old = True
        try:
            os.rename(tmp, folder)
        except OSError:
            if had_old:
                os.rename(old, folder)
            raise
        if had_old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_generator(folder, device="cpu", trainable=True):
    """(config, weights {name: tensor}, manifest, optimizer state or None) of a kit generator
    checkpoint, the weights checked against the config's architecture (halo_torch.model)."""
    from .model import check_config, check_params

    manifest, weights, opt = read_checkpoint(folder, kind="generator")
    where = os.path.join(folder, "config.json")
    check_config(manifest["config"], where)
    check_params(manifest["config"], weights, os.path.join(folder, "weights.bin"))
    weights = {n: w.to(device).requires_grad_(trainable) for n, w in weights.items()}
    return manifest["config"], weights, manifest, opt


def main(argv=None):
    """`python3 -m halo_torch.checkpoint SRC DST`: reads the kit checkpoint SRC (checked) and writes
    it again to DST with this module: weights.bin and optimizer.bin come out byte-identical."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python3 -m halo_torch.checkpoint SRC DST", file=sys.stderr)
        return 2
    src, dst = args
    manifest, weights, opt = read_checkpoint(src)
    optimizer = (manifest["optimizer"]["step"], opt) if opt is not None else None
    write_checkpoint(dst, manifest["kind"], manifest["config"], weights, step=manifest["step"],
                     meta=manifest["meta"], optimizer=optimizer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
