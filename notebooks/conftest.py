"""How ``make test`` executes the chapters (nbval): the longest first, by the times last recorded in
benchmarks/results/chapter-times.json, so the two processes finish together; and timed - the seconds
of every cell of a notebook, kernel start included, are summed per notebook and written to
``$CHAPTER_TIMES`` (JSON) when that is set; ``scripts/ci_times.py`` prints the table and the projection."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

_seconds: dict[str, float] = collections.defaultdict(float)
RECORDED = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "chapter-times.json"


def pytest_collection_modifyitems(items):
    recorded = json.loads(RECORDED.read_text())["chapters"] if RECORDED.is_file() else {}
    # a stable sort: the cells of one notebook keep their order
    items.sort(key=lambda item: -recorded.get(Path(str(item.fspath)).stem, {}).get("seconds", 0))


def pytest_runtest_logreport(report):
    # under pytest-xdist this runs in the controlling process for every item any worker finished
    _seconds[Path(report.nodeid.split("::")[0]).stem] += report.duration


def pytest_sessionfinish(session):
    out = os.environ.get("CHAPTER_TIMES")
    if out and _seconds and not hasattr(session.config, "workerinput"):  # the controller, not a worker
        Path(out).write_text(json.dumps({k: round(v, 1) for k, v in sorted(_seconds.items())}, indent=1))
