"""Every zoo entry's shipped weights judged again by today's judges, one table per data configuration.

    python benchmarks/shipped_judged.py                 # every entry with shipped weights
    python benchmarks/shipped_judged.py wavenet diffwave

``lineage eval`` of each ``zoo/NAME/pretrained/`` run (128 clips, no speed timing) rewrites its
``metrics.json`` - the figures ``make demo``'s listening page shows - with the judge of the current cache
version and the field-standard columns (CREPE, DNSMOS, PESQ/STOI). Entries trained on the same data
configuration meet the same judge, so they share a table, in the order of the lineage, under the real
clips' own rows. Writes ``benchmarks/results/shipped-judged.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def describe(data: dict) -> str:
    """A data configuration in words: ``tones at 8000 Hz, 1 s, timbre in sine/square/saw, pitch 60-71``."""
    parts = [f"`{data['name']}` at {data['sample_rate']} Hz, {data['seconds']:g} s clips"]
    parts += [f"{k} in {'/'.join(v)}" for k, v in sorted(data.get("select", {}).items())]
    lo, hi = data.get("pitch_range", [0, 127])
    if [lo, hi] != [0, 127]:
        parts.append(f"pitch {lo}-{hi}")
    return ", ".join(parts)


def main(argv=None) -> int:
    from lineage import pretrained, registry, tables
    from lineage.eval import report
    from lineage.eval.classifier import VERSION
    from lineage.run import Run

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="entries (default: every entry with shipped weights)")
    p.add_argument("-n", type=int, default=128)
    p.add_argument("--tables-only", action="store_true", help="tabulate the metrics.json files as they are")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    names = args.names or [n for n in registry.names() if pretrained.available(n)]
    for name in [] if args.tables_only else names:
        t0 = time.perf_counter()
        report.evaluate(Run(pretrained.folder(name)), n=args.n, speed=False, log=lambda *a: None)
        print(f"{name}: evaluated in {time.perf_counter() - t0:.0f} s", flush=True)
    groups: dict[str, list[dict]] = {}
    from lineage.demo import order

    for name in order(registry.names()):  # the lineage's order
        if not pretrained.available(name):
            continue
        run = Run(pretrained.folder(name))
        result = json.loads((run.path / "metrics.json").read_text())
        if result.get("classifier", {}).get("version") != VERSION and name not in names:
            continue  # judged by an older judge: not comparable with the rows above
        data = {k: v for k, v in run.record["config"]["data"].items() if k not in ("segment", "crop")}
        groups.setdefault(json.dumps(data, sort_keys=True), []).append(result)  # the judge's own key
    lines = ["# The shipped weights, judged by today's judges", "",
             "Written by `benchmarks/shipped_judged.py`: `lineage eval` of every entry's shipped weights "
             f"(`zoo/NAME/pretrained/`), {args.n} clips each, judge cache version {VERSION}. Entries trained on "
             "the same data configuration (the clips, not how training cut them) share a table and a judge; the "
             "real rows are that data's own held-out and training clips.", ""]
    for key, results in groups.items():
        lines += [f"## {describe(json.loads(key))}", "", tables.format_table(results, markdown=True), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shipped-judged.md").write_text("\n".join(lines))
    (args.out / "shipped-judged.json").write_text(json.dumps(
        [{"data": json.loads(k), "results": v} for k, v in groups.items()], indent=1) + "\n")
    print(f"wrote {args.out / 'shipped-judged.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
