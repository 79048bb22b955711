"""Times each chapter while ``make test`` executes the notebooks (nbval): the seconds of every cell of a
notebook, kernel start included, are summed per notebook and written to ``$CHAPTER_TIMES`` (JSON) when
that is set; ``scripts/ci_times.py`` prints the table and the projection."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

_seconds: dict[str, float] = collections.defaultdict(float)


def pytest_runtest_logreport(report):
    # under pytest-xdist this runs in the controlling process for every item any worker finished
    _seconds[Path(report.nodeid.split("::")[0]).stem] += report.duration


def pytest_sessionfinish(session):
    out = os.environ.get("CHAPTER_TIMES")
    if out and _seconds and not hasattr(session.config, "workerinput"):  # the controller, not a worker
        Path(out).write_text(json.dumps({k: round(v, 1) for k, v in sorted(_seconds.items())}, indent=1))
