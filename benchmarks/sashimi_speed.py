"""SaShiMi's speed: recurrent generation against WaveNet's cached generation, and training throughput.

    python benchmarks/sashimi_speed.py          # writes benchmarks/results/sashimi-speed.json and .md

Generation (the tiny presets' models, random weights - speed does not depend on what was learned), at
batch 1 and 8: seconds of wall time per second of audio, and the time per sample over 1 s and over 8 s of
output. A recurrence does constant work per sample, so the two must agree; WaveNet's cached generation
is constant per sample too (its queues), a naive one would not be. SaShiMi's first call compiles its step
(``jax.jit``); that time is reported on its own line and left out of the others.

Training: samples per second of one optimizer step at each tiny preset's batch and segment, for SaShiMi
(JAX) beside the PyTorch entries of a similar size.

One thread each (``OMP_NUM_THREADS=1``, XLA's single-thread flags), one process at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch and JAX start

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lineage import registry  # noqa: E402
from lineage.eval.speed import machine, training_speed  # noqa: E402
from lineage.data import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE = 8000  # the tiny presets' sample rate


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def generation(name: str, batch: int, seconds: float, repeats: int = 2) -> dict:
    entry = registry.load(name)
    cfg = entry.config("tiny")
    torch.manual_seed(0)
    model = entry.build(cfg)
    if hasattr(model, "eval"):
        model.eval()
    cond = {"pitch": np.full(batch, 60), "class": np.zeros(batch, np.int64)}
    cond = {k: torch.as_tensor(v) for k, v in cond.items() if k in entry.cond_keys(cfg)}
    first = timed(lambda: entry.sample(model, batch, 0.05, cond=cond))  # compiles SaShiMi's step
    with torch.no_grad():
        walls = [timed(lambda: entry.sample(model, batch, seconds, cond=cond)) for _ in range(repeats)]
    wall = float(np.median(walls))
    return {"model": name, "batch": batch, "seconds": seconds, "first_call_s": round(first, 3),
            "wall_s": round(wall, 3), "s_per_audio_s": round(wall / seconds, 4),
            "us_per_sample": round(1e6 * wall / (seconds * RATE), 2), "parameters": entry.facts(model)["parameters"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sashimi-speed"))
    p.add_argument("--models", nargs="+", default=["sashimi", "wavenet"])
    p.add_argument("--train-models", nargs="+", default=["sashimi", "wavenet", "samplernn"])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    gen = [generation(m, b, s) for m in args.models for b in (1, 8) for s in (1.0, 8.0)]
    train = []
    for name in args.train_models:
        entry = registry.load(name)
        cfg = entry.config("tiny")
        trainset = entry.prepare(cfg, load(cfg.data)).split(cfg.data.holdout, seed=cfg.data.seed)[0]
        row = training_speed(entry, cfg, trainset, "cpu", steps=10, warmup=3)
        row.update(model=name, parameters=entry.facts(entry.build(cfg))["parameters"])
        train.append(row)
    result = {"machine": machine(), "generation": gen, "training": train}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["## Generation (tiny presets, 8 kHz, random weights)", "",
          "| model | parameters | batch | audio | wall s per audio s | us per sample | first call (compile) s |",
          "|---|---|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['parameters']:,} | {r['batch']} | {r['seconds']:.0f} s | {r['s_per_audio_s']:.3f} "
           f"| {r['us_per_sample']:.1f} | {r['first_call_s']:.2f} |" for r in gen]
    md += ["", "Time per sample at 8 s over that at 1 s (1.00 = flat):", ""]
    for m in args.models:
        for b in (1, 8):
            one, eight = (next(r for r in gen if r["model"] == m and r["batch"] == b and r["seconds"] == s)
                          for s in (1.0, 8.0))
            md.append(f"- {m}, batch {b}: {eight['us_per_sample'] / one['us_per_sample']:.3f}")
    md += ["", "## Training (tiny presets: one optimizer step, median of 10 after 3)", "",
           "| model | parameters | batch x segment | steps/s | samples/s |", "|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['parameters']:,} | {r['batch_size']} x {r['segment']} | {r['steps_per_s']:.2f} | "
           f"{r['samples_per_s']:,.0f} |" for r in train]
    m = result["machine"]
    md += ["", f"Measured by `benchmarks/sashimi_speed.py` on {m.get('cpu', '?')}, one thread per framework."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
