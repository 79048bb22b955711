"""From `git clone` to the first sound: clone this checkout, `make setup`, `make demo`, every step timed.

    python benchmarks/first_sound.py            # writes benchmarks/results/first-sound.json and .md

What a new user does on a fresh machine, with pip's cache warm (packages are installed, not
downloaded; nothing else is cached): the clone is of this checkout's committed HEAD, so no network time
is counted for it. The demo's output is read line by line as it is printed: the time of the first line
that names a WAV is the first sound; the time of the line naming the page, the page.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def demo(cwd: Path) -> dict:
    """Run `make demo`, timing each printed line from the start."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["make", "--no-print-directory", "demo"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    for line in proc.stdout:
        lines.append((round(time.perf_counter() - t0, 1), line.rstrip()))
        print(f"{lines[-1][0]:7.1f} s  {lines[-1][1]}", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"make demo failed with status {proc.returncode}")
    first_wav = next(t for t, line in lines if ".wav" in line)
    page = [t for t, line in lines if "listening.html" in line][-1]  # the last line naming it: done
    return {"seconds": round(time.perf_counter() - t0, 1), "first_wav_s": first_wav, "page_named_s": page,
            "lines": lines}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "first-sound"))
    args = p.parse_args(argv)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "audio-lineage"
        t_clone = timed(["git", "clone", "--quiet", str(ROOT), str(clone)], Path(tmp))
        t_setup = timed(["make", "--no-print-directory", "setup"], clone)
        run = demo(clone)
        run_again = demo(clone)  # the same command once more: a warm disk cache, the venv in place
    result = {"commit": head, "cpu": cpu(), "cores": __import__("os").cpu_count(), "python": sys.version.split()[0],
              "clone_s": round(t_clone, 1), "setup_s": round(t_setup, 1), "demo": run, "demo_again": run_again,
              "first_sound_s": round(t_clone + t_setup + run["first_wav_s"], 1)}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [("`git clone` (of the checkout: no network)", result["clone_s"]),
            ("`make setup` (venv, pinned install from a warm pip cache)", result["setup_s"]),
            ("`make demo`: first WAV named", run["first_wav_s"]),
            ("`make demo`: the page finished", run["page_named_s"]),
            ("`make demo`: all", run["seconds"]),
            ("**clone to first sound**", result["first_sound_s"]),
            ("`make demo` again: all", run_again["seconds"])]
    md = ["| step | seconds |", "|---|---|"] + [f"| {k} | {v:.1f} |" for k, v in rows]
    md += ["", f"Measured by `benchmarks/first_sound.py` at commit {head} on {result['cpu']} ({result['cores']} "
           f"cores), Python {result['python']}. What `make demo` printed, with the time of each line:", "", "```"]
    md += [f"{t:7.1f} s  {line}" for t, line in run["lines"]] + ["```"]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
