"""Execute notebooks in place so they are committed with their outputs (the book shows those), and
record how long each took in benchmarks/results/chapter-times.json (the teacher's page and the cards
show it, through `make cards`).

    python scripts/execute_notebooks.py notebooks/*.ipynb            # one at a time
    python scripts/execute_notebooks.py --jobs 2 notebooks/*.ipynb   # as `make test` runs them

With ``--jobs N`` the notebooks run in N processes of one torch thread each (OMP_NUM_THREADS=1), as
`make test` executes them, so the recorded times are the ones CI sees per chapter.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "benchmarks" / "results" / "chapter-times.json"


def execute(name: str) -> tuple[str, float, str | None]:
    import nbformat
    from nbclient import NotebookClient

    path = Path(name)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as error:  # keep the outputs up to the failure, to read them
        nbformat.write(nb, path)
        return path.stem, time.perf_counter() - t0, str(error).splitlines()[-1][:300]
    nbformat.write(nb, path)
    return path.stem, time.perf_counter() - t0, None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    threads = 1 if args.jobs > 1 else int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    if args.jobs > 1:
        os.environ["OMP_NUM_THREADS"] = "1"  # inherited by each kernel
    from lineage.eval.speed import machine

    cpu = machine()["cpu"]
    record = json.loads(TIMES.read_text()) if TIMES.is_file() else {"chapters": {}}
    failed, measured = [], {}
    # the longest chapters first (by their last recorded time), so the processes finish together
    order = sorted(args.notebooks, key=lambda n: -record["chapters"].get(Path(n).stem, {}).get("seconds", 0))
    with ProcessPoolExecutor(args.jobs) as pool:
        for stem, seconds, error in pool.map(execute, order):
            print(f"{stem}: {'FAILED: ' + error if error else 'executed'} in {seconds:.0f} s", flush=True)
            if error:
                failed.append(stem)
            else:
                measured[stem] = {"seconds": round(seconds), "torch_threads": threads,
                                  "parallel_jobs": args.jobs, "cpu": cpu}
    # read again before writing: another invocation may have recorded other chapters meanwhile
    record = json.loads(TIMES.read_text()) if TIMES.is_file() else {"chapters": {}}
    record["chapters"] = dict(sorted({**record["chapters"], **measured}.items()))
    TIMES.write_text(json.dumps(record, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
