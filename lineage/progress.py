"""One progress display per loop, wherever the loop runs.

* In a **terminal**, a tqdm bar redrawn in place.
* In a **notebook** (a Jupyter kernel), one output line that is updated in place through a display
  handle: JupyterLab shows it moving, and the notebook stores only its final state, so a saved chapter
  (and the book made from it) shows one line per training cell instead of a redraw every few seconds.
* Anywhere else (a log file, CI), tqdm with a redraw only every 15 s, since each redraw is a new line.

All three share tqdm's text (``tqdm.format_meter``) and its interface: ``update(n)``, ``set_postfix(dict)``
and ``close()``.
"""

from __future__ import annotations

import sys
import time


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, nbclient, nbval), False in a terminal or a script."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and "IPKernelApp" in ip.config


class NotebookBar:
    """tqdm's text in one output line, updated at most every ``interval`` seconds and at ``close``."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", unit: str = "it",
                 interval: float = 1.0, display=None):
        if display is None:
            from IPython.display import display
        self.total, self.n, self.desc, self.unit, self.interval = total, initial, desc, unit, interval
        self.initial, self.postfix = initial, ""
        self.start = self.last = time.perf_counter()
        self.handle = display({"text/plain": self.text()}, raw=True, display_id=True)

    def text(self) -> str:
        from tqdm import tqdm

        elapsed = time.perf_counter() - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 and self.n > self.initial else None
        return tqdm.format_meter(self.n, self.total, elapsed, ncols=100, prefix=self.desc, unit=self.unit,
                                 rate=rate, initial=self.initial, postfix=self.postfix or None)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            self.handle.update({"text/plain": self.text()}, raw=True)

    def set_postfix(self, values: dict, refresh: bool = False) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        self.handle.update({"text/plain": self.text()}, raw=True)


def bar(total: int, initial: int = 0, desc: str = "", unit: str = "it"):
    """The progress display that suits where this process runs (see the module docstring)."""
    if in_notebook():
        return NotebookBar(total, initial, desc, unit)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 15)
