"""The committed chapters as a reader gets them (the book shows their stored outputs): each runs alone
(its first code cell installs the project where missing), keeps one progress display per training cell,
stores no warning, and stays small enough to load quickly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
MAX_BYTES = 800_000


def outputs(path: Path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            yield i, out


def test_every_chapter_starts_with_the_install_cell_of_the_book_config():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "install_cell.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_outputs_are_clean_and_small(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size:,} bytes"
    stderr: dict[int, int] = {}
    for i, out in outputs(path):
        if out.get("name") == "stderr":
            stderr[i] = stderr.get(i, 0) + 1
            assert "Warning" not in "".join(out["text"]), f"{path.name} cell {i}: {''.join(out['text'])[:200]}"
        assert out["output_type"] != "error", f"{path.name} cell {i} stored an error"
    assert all(n <= 2 for n in stderr.values()), f"{path.name}: stderr outputs per cell {stderr}"
