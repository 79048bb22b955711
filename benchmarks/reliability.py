"""Benchmark (not a test): does a run survive being killed anywhere, and does bad input always end in one line?

**Kill and resume.** A tiny WaveNet run is started in a child process that kills itself with SIGKILL at a
chosen moment - the k-th call of one of the operations a run is made of - so every kill point is hit
exactly, not by polling the clock:

* ``step``: the k-th optimizer update (the middle of training);
* ``log``: the k-th append to ``log.jsonl``;
* ``save_file``: the k-th safetensors file of a checkpoint (weights, EMA, optimizer state);
* ``write_text``: the k-th ``state.json`` (the checksums), written after the tensors;
* ``replace``: the k-th atomic rename (``config.json``, a whole checkpoint folder, ``latest``, samples);
* ``rmtree``: the k-th pruning of an old checkpoint;
* ``sample``: the k-th sample file of the final listening samples.

After each kill the run is continued as a user would (``--resume`` if ``config.json`` is there, else the
same command again), and compared with an uninterrupted run of the same config: every logged loss and
every final weight must be bit-identical, the checkpoint ``latest`` names must verify at every moment a
kill leaves behind, and the final samples must be there.

**Bad configs.** Every field of every entry's tiny preset (model, data and train) is set to values of
the wrong type, out of range, non-finite and absurdly large; each must be refused with a one-line error
naming the key - or, when accepted, the model must build. **Bad audio.** Files are mutated (truncated,
random bytes, lying headers, non-finite and absurd samples, many channels) and read by the loader
that every data set goes through; each must load or be refused in one line, and no non-finite sample may
come out.

    python benchmarks/reliability.py [--kills 24] [--examples 200] [--sections kill fuzz files] [--out FILE.md]

The third section runs the tests that plant hostile files (pickle payloads where the code or its
libraries read files, symlinks at temporary names), reach outside a data set, and fill a disk, and
keeps their outcomes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.channels=8", "model.skip_channels=8", "model.dilation_cycle=4", "model.stacks=1",
        "model.cond_channels=4", "data.size=40", "data.segment=256", "train.steps=8", "train.batch_size=2",
        "train.checkpoint_every=2", "train.keep_checkpoints=2", "train.log_every=1", "train.sample_n=2",
        "train.sample_seconds=0.01", "train.threads=1", "train.ema=0.9"]

# The child: count every call of each operation; the k-th call of the chosen one kills the process.
# Then run `lineage train`. With no kill chosen it writes its counts to the file $CALLS_OUT.
CHILD = r"""
import atexit, json, os, signal, sys, shutil, pathlib
import lineage.run as R, lineage.checkpoint as C, lineage.train as T, lineage.audio as A
kill_op, kill_k, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
calls = {}
def counting(op, fn):
    def wrapped(*args, **kwargs):
        calls[op] = calls.get(op, 0) + 1
        if op == kill_op and calls[op] == kill_k:
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)
    return wrapped
T.Trainer._update = counting("step", T.Trainer._update)
R.Run.append_log = counting("log", R.Run.append_log)
C.save_file = counting("save_file", C.save_file)
pathlib.Path.write_text = counting("write_text", pathlib.Path.write_text)
os.replace = counting("replace", os.replace)
R.shutil.rmtree = counting("rmtree", shutil.rmtree)
A.sf.write = counting("sample", A.sf.write)
if os.environ.get("CALLS_OUT"):
    atexit.register(lambda: pathlib.Path(os.environ["CALLS_OUT"]).write_text(json.dumps(calls)))
from lineage.cli import main
sys.exit(main(argv))
"""
OPERATIONS = ["step", "log", "save_file", "write_text", "replace", "rmtree", "sample"]


def train(out: Path, resume: bool, env: dict, kill: tuple[str, int] = ("none", 0)) -> int:
    """``lineage train`` of the tiny run into ``out`` in a child process that dies at the ``kill`` point."""
    args = ["train", "wavenet", "--quiet", "--out", str(out), *(["--resume"] if resume else []), "--set", *TINY]
    return subprocess.run([sys.executable, "-c", CHILD, *map(str, kill), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True).returncode


def state(run: Path) -> tuple[dict, dict]:
    """(losses by step, final weights) of a run folder."""
    from lineage.run import Run

    r = Run(run)
    return {row["step"]: row["loss"] for row in r.log}, r.model(device="cpu").state_dict()


def latest_verifies(run: Path) -> bool:
    """Whether the checkpoint ``latest`` names (if any) is whole: a kill must never leave a partial one there."""
    from lineage.checkpoint import verify as verify_checkpoint

    pointer = run / "checkpoints" / "latest"
    return not pointer.is_file() or verify_checkpoint(pointer.parent / pointer.read_text().strip()) is None


def kill_and_resume(kills: int, work: Path, env: dict, seed: int = 0, at: list[tuple[str, int]] | None = None) -> dict:
    import torch

    counts_file = work / "calls.json"
    assert train(work / "whole", False, {**env, "CALLS_OUT": str(counts_file)}) == 0
    calls = json.loads(counts_file.read_text())  # how often the uninterrupted run calls each operation
    want_losses, want_weights = state(work / "whole")
    rng = random.Random(seed)
    # every operation's first and last call, then random calls of random operations
    points = [(op, k) for op in OPERATIONS for k in sorted({1, calls[op]})]
    while len(points) < kills:
        op = rng.choice(OPERATIONS)
        points.append((op, rng.randint(1, calls[op])))
    if at:  # chosen points only
        points, kills = at, len(at)
    rows = []
    for i, (op, k) in enumerate(points[:kills]):
        run = work / f"killed-{i:02d}"
        code = train(run, False, env, kill=(op, k))
        killed = code == -9
        whole_after_kill = latest_verifies(run)
        resumed = train(run, (run / "config.json").is_file(), env)
        losses, weights = state(run) if resumed == 0 else ({}, {})
        same = resumed == 0 and losses == want_losses and set(weights) == set(want_weights) and \
            all(torch.equal(weights[n], want_weights[n]) for n in weights)
        samples = len(list((run / "samples" / "step_0000008").glob("*.wav")))
        rows.append({"operation": op, "call": k, "killed": killed, "latest_whole_after_kill": whole_after_kill,
                     "resume_exit": resumed, "identical": same, "final_samples": samples})
    return {"calls": calls, "runs": rows, "kills": sum(r["killed"] for r in rows),
            "identical": sum(r["identical"] for r in rows),
            "partial_latest": sum(not r["latest_whole_after_kill"] for r in rows),
            "missing_samples": sum(r["final_samples"] != 2 for r in rows)}


def fuzz(examples: int, work: Path) -> dict:
    """The fuzz tests' strategies (tests/test_fuzz.py), run longer and counted instead of asserted."""
    from collections import Counter

    import numpy as np
    from hypothesis import given, settings

    sys.path.insert(0, str(ROOT / "tests"))
    import test_fuzz as F

    from lineage import audio as A
    from lineage.config import ConfigError

    def one_line(err, key) -> bool:
        return "\n" not in str(err) and key in str(err)

    configs, files = Counter(), Counter()
    once = settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    for entry, section, key in F.FIELDS:
        dotted = f"{section}.{key}"

        @once
        @given(value=F.values)
        def config(value):
            try:
                cfg = F.ENTRIES[entry].config("tiny", None, [f"{dotted}={F.toml(value)}"])
            except ConfigError as err:
                configs["refused in one line naming the key" if one_line(err, dotted) else "other error"] += 1
                return
            except Exception:  # noqa: BLE001 - counted, not raised
                configs["traceback"] += 1
                return
            if section != "model":
                configs["accepted"] += 1
                return
            try:
                with F.memory_ceiling():
                    F.ENTRIES[entry].build(cfg)
                configs["accepted, and the model built"] += 1
            except (ConfigError, ValueError) as err:
                configs["refused in one line when built" if one_line(err, "model") else "other error"] += 1
            except Exception:  # noqa: BLE001
                configs["traceback"] += 1

        config()

    @settings(max_examples=examples * 20, deadline=None, derandomize=True, database=None)
    @given(m=F.mutations)
    def audio(m):
        path = work / "clip.wav"
        path.write_bytes(F.mutate(m))
        try:
            clip = A.load(path, sample_rate=16000, mono=True, seconds=1.0)
        except ValueError as err:
            files["refused in one line naming the file" if one_line(err, str(path)) else "other error"] += 1
            return
        except Exception:  # noqa: BLE001
            files["crash"] += 1
            return
        finite = bool(np.isfinite(clip).all()) and np.abs(clip).max(initial=0) <= A.MAX_PEAK
        files["loaded, finite" if finite else "non-finite samples reached the caller"] += 1

    audio()
    return {"fields": len(F.FIELDS), "configs": dict(configs), "files": dict(files)}


# the tests that plant hostile files, reach outside a data set, and fill a disk: run, and their outcomes kept
FILE_TESTS = [
    "tests/test_chorales_data.py::test_a_pickle_planted_in_music21s_scratch_folder_never_runs",
    "tests/test_reliability.py::test_pickles_planted_where_files_are_read_never_run",
    "tests/test_reliability.py::test_a_symlink_planted_at_a_temporary_checkpoint_name_is_never_followed",
    "tests/test_data.py::test_a_manifest_cannot_name_a_file_outside_its_data_set",
    "tests/test_reliability.py::test_a_failed_checkpoint_write_leaves_the_last_one_whole",
    "tests/test_reliability.py::test_a_really_full_disk_ends_in_one_line_and_keeps_the_last_checkpoint",
]


def file_tests(work: Path, env: dict) -> list[dict]:
    import xml.etree.ElementTree as ET

    report = work / "files.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    *FILE_TESTS], cwd=ROOT, env=env, capture_output=True)
    rows = []
    for case in ET.parse(report).iter("testcase"):
        outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else \
            "skipped" if case.find("skipped") is not None else "passed"
        rows.append({"test": f"{case.get('classname').split('.')[-1]}::{case.get('name')}", "outcome": outcome})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=24)
    p.add_argument("--at", nargs="*", default=None, metavar="OP:K", help="kill only at these calls, e.g. replace:5")
    p.add_argument("--examples", type=int, default=200, help="fuzzed values per config field (x20 audio files)")
    p.add_argument("--sections", nargs="*", default=["kill", "fuzz", "files"])
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "reliability")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reliability.md")
    args = p.parse_args()
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    result = {}
    lines = ["# Reliability", "", "Written by `python benchmarks/reliability.py`; do not edit by hand.", ""]
    if "kill" in args.sections:
        at = [(op, int(k)) for op, k in (item.split(":") for item in args.at)] if args.at else None
        kills = result["kill_resume"] = kill_and_resume(args.kills, args.work, env, at=at)
        lines += ["## Kill and resume", "",
                  f"{kills['kills']} runs killed with SIGKILL at {len(kills['runs'])} chosen moments; "
                  f"{kills['identical']} resumed to the uninterrupted run's losses and weights, bit for bit; "
                  f"{kills['partial_latest']} left a partial checkpoint named `latest`; "
                  f"{kills['missing_samples']} finished without their final samples.", "",
                  "| killed at | call | killed | `latest` whole after the kill | resumed | identical | final samples |",
                  "|---|---|---|---|---|---|---|"]
        for r in kills["runs"]:
            lines.append(f"| {r['operation']} | {r['call']} | {r['killed']} | {r['latest_whole_after_kill']} | "
                         f"exit {r['resume_exit']} | {r['identical']} | {r['final_samples']} |")
        lines.append("")
    if "fuzz" in args.sections:
        f = result["fuzz"] = fuzz(args.examples, args.work)
        total_c, total_f = sum(f["configs"].values()), sum(f["files"].values())
        lines += ["## Fuzzing (hypothesis)", "",
                  f"{total_c:,} values tried over {f['fields']} config fields (every entry's model fields, the "
                  f"shared data and train fields once):", "", "| outcome | values |", "|---|---|"]
        lines += [f"| {k} | {v:,} |" for k, v in sorted(f["configs"].items())]
        refused = sum(v for k, v in f["configs"].items() if k.startswith("refused"))
        failed = refused + f["configs"].get("other error", 0) + f["configs"].get("traceback", 0)
        lines += ["", f"Of the {failed:,} values that failed, {100 * refused / max(failed, 1):.0f}% failed with a "
                  f"one-line error; tracebacks: {f['configs'].get('traceback', 0)}.", "",
                  f"{total_f:,} mangled WAV files read as every data set reads them:", "",
                  "| outcome | files |", "|---|---|"]
        lines += [f"| {k} | {v:,} |" for k, v in sorted(f["files"].items())]
        lines += ["", f"Crashes: {f['files'].get('crash', 0)}; files whose non-finite or absurd samples reached the "
                  f"caller: {f['files'].get('non-finite samples reached the caller', 0)}.", ""]
    if "files" in args.sections:
        rows = result["files"] = file_tests(args.work, env)
        lines += ["## Hostile files, traversals, full disks", "", "| test | outcome |", "|---|---|"]
        lines += [f"| `{r['test']}` | {r['outcome']} |" for r in rows]
        lines.append("")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
