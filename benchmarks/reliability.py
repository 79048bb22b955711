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

    python benchmarks/reliability.py [--kills 24] [--out benchmarks/results/reliability.md]
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=24)
    p.add_argument("--at", nargs="*", default=None, metavar="OP:K", help="kill only at these calls, e.g. replace:5")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "reliability")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reliability.md")
    args = p.parse_args()
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    at = [(op, int(k)) for op, k in (item.split(":") for item in args.at)] if args.at else None
    kills = kill_and_resume(args.kills, args.work, env, at=at)
    seconds = time.perf_counter() - t0
    result = {"kill_resume": kills, "seconds": round(seconds, 1)}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Reliability", "", "Written by `python benchmarks/reliability.py`; do not edit by hand.", "",
             "## Kill and resume", "",
             f"{kills['kills']} runs killed with SIGKILL at {len(kills['runs'])} chosen moments; "
             f"{kills['identical']} resumed to the uninterrupted run's losses and weights, bit for bit; "
             f"{kills['partial_latest']} left a partial checkpoint named `latest`; "
             f"{kills['missing_samples']} finished without their final samples.", "",
             "| killed at | call | killed | `latest` whole after the kill | resumed | identical | final samples |",
             "|---|---|---|---|---|---|---|"]
    for r in kills["runs"]:
        lines.append(f"| {r['operation']} | {r['call']} | {r['killed']} | {r['latest_whole_after_kill']} | "
                     f"exit {r['resume_exit']} | {r['identical']} | {r['final_samples']} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:7]))


if __name__ == "__main__":
    main()
