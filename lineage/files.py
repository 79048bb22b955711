"""Small file helpers: atomic writes and checksums (nothing half-written is ever left behind)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary sibling, then rename it over ``path`` (atomic on POSIX). The sibling's
    name is unique, so two processes writing the same file (two chapters building one data set) never
    write into each other's temporary file; the last rename wins, and both wrote the same content."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_result(folder: str | os.PathLike, name: str, result: dict, markdown: str) -> None:
    """A benchmark's two files, ``folder/NAME.json`` (the figures) and ``folder/NAME.md`` (its table), each
    written atomically; ``folder`` is made if missing."""
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{name}.json", json.dumps(result, indent=1) + "\n")
    write_atomic(folder / f"{name}.md", markdown)
