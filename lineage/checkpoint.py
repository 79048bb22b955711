"""Checkpoints: written atomically, verified before use, and read back without unpickling anything.

A checkpoint is a folder ``step_NNNNNNN/`` (the layout is in :mod:`lineage.run`): the tensors in
safetensors files, and ``state.json`` with the optimizers' skeleton, the SHA-256 of every file and a
digest of itself. It is filled under a private temporary name and renamed into place whole, then the
file ``latest`` is pointed at it (also atomically). Reading starts from the one ``latest`` names; one
that does not verify - flipped bytes, a deleted EMA file, an edited step count, a missing folder - is
skipped for the newest older one that does, and a warning says which and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file

from lineage.files import sha256, write_atomic


def complete(folder: Path) -> list[Path]:
    """The complete checkpoint folders in ``folder``, oldest first."""
    return sorted(p for p in folder.glob("step_*") if p.is_dir())


def newest_whole(folder: Path) -> Path | None:
    """The checkpoint ``latest`` names if it verifies, else the newest older one that does, or ``None``."""
    pointer = folder / "latest"
    named = pointer.read_text().strip() if pointer.is_file() else None
    if named is None and not complete(folder):
        return None
    candidates = [c for c in reversed(complete(folder)) if named is None or c.name <= named]
    skipped = [] if named is None or (folder / named).is_dir() else [f"{named} (missing)"]
    for ckpt in candidates:
        problem = verify(ckpt)
        if problem is None:
            if skipped:
                warnings.warn(f"{folder.parent}: skipped checkpoint {'; '.join(skipped)}; using {ckpt.name}",
                              stacklevel=3)
            return ckpt
        skipped.append(f"{ckpt.name} ({problem})")
    if skipped:
        warnings.warn(f"{folder.parent}: no usable checkpoint: {'; '.join(skipped)}", stacklevel=3)
    return None


def write(folder: Path, step: int, weights: dict, ema: dict | None, optimizers: dict, rng: dict,
          keep: int) -> Path:
    """``folder/step_NNNNNNN/`` written whole or not at all, ``latest`` pointed at it, the newest ``keep``
    kept. A failed write (a full disk, a read-only folder) is one line; the last good checkpoint stays."""
    final = folder / f"step_{step:07d}"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".tmp_step_*"):  # left by a killed or failed write (or planted)
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    # make room first: of the checkpoints older than the last good one, keep only those the new one leaves
    # room for (keep - 2), so a disk that filled up can still take the next one; the last good one stays
    if len(complete(folder)) >= keep:  # (otherwise the new one pushes none out, and nothing is verified)
        good = newest_whole(folder)
        older = [c for c in complete(folder) if c.name < good.name] if good else []
        for old in older[: max(len(older) - max(keep - 2, 0), 0)]:
            shutil.rmtree(old)
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".tmp_step_{step:07d}_"))  # private, unique name
        save_file(_contiguous(weights), tmp / "model.safetensors")
        if ema is not None:
            save_file(_contiguous(ema), tmp / "ema.safetensors")
        opt_tensors, opt_tree = flatten(optimizers, "optimizers")
        save_file(_contiguous({**opt_tensors, **rng}), tmp / "state.safetensors")
        meta = {"step": step, "optimizers": opt_tree,
                "files": {p.name: sha256(p) for p in sorted(tmp.glob("*.safetensors"))}}
        (tmp / "state.json").write_text(json.dumps({**meta, "digest": _digest(meta)}))
        os.chmod(tmp, 0o755)  # mkdtemp's folder is private; a checkpoint has the usual permissions
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # the checkpoint appears complete or not at all
    except (OSError, SafetensorError) as err:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        kept = newest_whole(folder)
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise OSError(f"{final}: could not write the checkpoint ({reason}); "
                      f"{'the last good one is ' + kept.name if kept else 'no checkpoint was written'}") from None
    write_atomic(folder / "latest", final.name)
    for old in complete(folder)[:-keep]:
        shutil.rmtree(old)
    return final


def read(ckpt: Path, device: str = "cpu") -> dict:
    """``{"step", "weights", "ema" (or None), "optimizers", "rng", "path"}`` of the checkpoint ``ckpt``."""
    tensors = _load(ckpt / "state.safetensors")
    meta = json.loads((ckpt / "state.json").read_text())
    ema = ckpt / "ema.safetensors"
    return {"path": ckpt, "step": meta["step"], "weights": _load(ckpt / "model.safetensors", device),
            "ema": _load(ema, device) if ema.is_file() else None,
            "optimizers": unflatten(meta["optimizers"], tensors),
            "rng": {k: v for k, v in tensors.items() if k.startswith("rng.")}}


def verify(ckpt: Path) -> str | None:
    """``None`` if the checkpoint folder ``ckpt`` is whole - ``state.json`` matches its digest and names
    the folder's step, and every file it lists is there with its SHA-256 - else what is wrong, in words.
    (A checkpoint written before checksums existed lists no files and is only checked for its step.)"""
    try:
        meta = json.loads((ckpt / "state.json").read_text())
        step = meta["step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "state.json missing or unreadable"
    if not isinstance(step, int) or ckpt.name != f"step_{step:07d}":
        return f"state.json says step {step!r}"
    if "files" in meta or "digest" in meta:
        digest = meta.pop("digest", None)
        if digest != _digest(meta):
            return "state.json was changed after it was written"
        for name, expected in meta.get("files", {}).items():
            if not (ckpt / name).is_file():
                return f"{name} missing"
            if sha256(ckpt / name) != expected:
                return f"{name} does not match its checksum"
    if not (ckpt / "model.safetensors").is_file():
        return "model.safetensors missing"
    return None


def _digest(meta: dict) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


# -- state dicts <-> safetensors + JSON ---------------------------------------------------------------

def flatten(tree, prefix: str) -> tuple[dict[str, torch.Tensor], object]:
    """Split a nested state (dicts, lists, tensors, numbers) into named tensors and a JSON skeleton in
    which each tensor is replaced by ``{"tensor": name}``."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node, path):
        if isinstance(node, torch.Tensor):
            tensors[path] = node.detach().cpu()
            return {"tensor": path}
        if isinstance(node, dict):
            return {"dict": [[{"int": k} if isinstance(k, int) else {"str": k}, walk(v, f"{path}.{k}")]
                             for k, v in node.items()]}
        if isinstance(node, (list, tuple)):
            return {"list": [walk(v, f"{path}.{i}") for i, v in enumerate(node)]}
        return {"value": node}

    return tensors, walk(tree, prefix)


def unflatten(skeleton, tensors: dict[str, torch.Tensor]):
    """Inverse of :func:`flatten`."""
    if "tensor" in skeleton:
        return tensors[skeleton["tensor"]]
    if "dict" in skeleton:
        return {(k.get("int") if "int" in k else k["str"]): unflatten(v, tensors) for k, v in skeleton["dict"]}
    if "list" in skeleton:
        return [unflatten(v, tensors) for v in skeleton["list"]]
    return skeleton["value"]


def _load(path: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """A safetensors file read into memory of its own - not mapped, so that pruning the checkpoint later
    frees its disk space at once (a mapped file keeps its blocks while the resumed run lives)."""
    return {k: v.to(device) for k, v in load(path.read_bytes()).items()}


def _contiguous(tensors: dict) -> dict:
    """Each tensor contiguous on the CPU. A weight that two modules share (a library may apply one layer
    twice) appears under two names with one storage, which safetensors refuses: the second name gets its own
    copy, and loading copies the same values into the one shared weight again."""
    out, seen = {}, set()
    for k, v in tensors.items():
        t = torch.as_tensor(v).detach().contiguous().cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else None
        out[k] = t.clone() if key in seen else t
        seen.add(key)
    return out
