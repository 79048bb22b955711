"""Write the book's bibliography, ``book/references.bib``, from the lineage's data.

    python scripts/references.py [--check]

Every system of ``lineage.timeline.SYSTEMS`` and every work of ``lineage.timeline.OTHER_WORKS`` becomes
one BibTeX entry, keyed ``<name><year>`` (``wavenet2016``); chapters cite them with ``{cite:t}`` and
``{cite:p}``. The output is deterministic, and ``tests/test_book_sources.py`` fails while the committed
file differs from what this script writes - so an edit to the timeline is followed by a run of it.
``--check`` only reports whether the file is current (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lineage.timeline import bibtex

BIB = Path(__file__).resolve().parents[1] / "book" / "references.bib"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="report whether the file is current; write nothing")
    args = p.parse_args(argv)
    text = bibtex()
    current = BIB.is_file() and BIB.read_text(encoding="utf-8") == text
    if args.check:
        print(f"{BIB}: {'current' if current else 'out of date: run python scripts/references.py'}")
        return 0 if current else 1
    if not current:
        BIB.write_text(text, encoding="utf-8")
    print(f"{BIB}: {text.count('@misc{')} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
