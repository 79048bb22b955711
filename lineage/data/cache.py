"""Arrays a model computes once per clip of a whole data set (``prepare`` in the zoo protocol), kept
beside the data so the next run, chapter or test reads them instead: DDSP's pitch and loudness (pYIN
takes about a second a clip), a codec language model's tokens (a codec encoder over every clip).

The file is ``<data root>/.features/<kind>-<set>-<key>.npz``, ``key`` a digest of the clips' samples, their
rate and ``tag`` (what else decides the arrays: a hop, the codec's weights). It holds numbers only (read
with ``allow_pickle`` off), is written atomically, and one that does not hold what it should - another
clip count, a non-finite value, a missing array - is computed again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


def cache_path(kind: str, clips, tag: str) -> Path:
    """Where the arrays of ``kind`` for ``clips`` and ``tag`` are kept."""
    from lineage.data import data_root

    h = hashlib.sha256(np.ascontiguousarray(clips.audio).tobytes())
    h.update(f"{clips.sample_rate}-{tag}".encode())
    return data_root() / ".features" / f"{kind}-{clips.name}-{h.hexdigest()[:16]}.npz"


def cached_arrays(kind: str, clips, tag: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()`` (``{name: [N, ...]}``, one row per clip of ``clips``), or what an earlier call with the
    same clips and ``tag`` stored."""
    path = cache_path(kind, clips, tag)
    if path.is_file():
        try:
            with np.load(path) as stored:
                arrays = {k: stored[k] for k in stored.files}
            if arrays and all(len(v) == len(clips) and np.isfinite(v).all() for v in arrays.values()):
                return arrays
        except (OSError, ValueError, KeyError):
            pass
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")  # private, unique
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)  # atomic: a half-written cache is never read
    return arrays
