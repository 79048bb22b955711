"""Benchmark (not a test): naive vs cached (Fast WaveNet) generation speed.

Builds an untrained WaveNet of a given size through the registry - speed does not depend on the
weights - checks that both paths draw the same samples, and reports samples per second, real-time factor
(wall time / audio time) and the speedup, as the median of several repeats after a warm-up.

    python benchmarks/wavenet_generation.py [--stacks 1] [--cycle 10] [--seconds 0.1] [--out FILE.json]

Both paths are ``model.generate(..., cached=False/True)``: the naive one re-runs the whole receptive
field for every sample, the cached one keeps one queue per layer. Tiny (a smoke test):
``--channels 4 --skip 4 --cycle 3 --seconds 0.005 --repeats 1 --threads 1``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from lineage import registry
from lineage.config import make_config
from lineage.eval.speed import machine, timed


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--skip", type=int, default=128)
    p.add_argument("--cycle", type=int, default=10, help="dilations 1..2^(cycle-1)")
    p.add_argument("--stacks", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.1, help="audio generated per repeat")
    p.add_argument("--check-seconds", type=float, default=0.01, help="audio drawn by both paths and compared")
    p.add_argument("-n", type=int, default=1, help="clips generated at once")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    entry = registry.load("wavenet")
    cfg = make_config(entry.Config, None, [f"model.channels={args.channels}", f"model.skip_channels={args.skip}",
                                           f"model.dilation_cycle={args.cycle}", f"model.stacks={args.stacks}"])
    torch.manual_seed(0)
    model = entry.build(cfg).eval()
    sample_rate = cfg.data.sample_rate
    # a middle C of the first class, in the labels this model is conditioned on
    cond = {key: torch.full((args.n,), 60 if key == "pitch" else 0) for key in entry.cond_keys(cfg)}
    h = model.condition(cond, args.n, "cpu")  # [n, cond_channels], the same for both paths

    def generate(seconds: float, cached: bool) -> torch.Tensor:  # [n, samples] mu-law classes
        return model.generate(args.n, int(round(seconds * sample_rate)), h, seed=1, cached=cached)

    same = torch.equal(generate(args.check_seconds, cached=False), generate(args.check_seconds, cached=True))
    walls = {name: timed(lambda: generate(args.seconds, cached=cached), args.repeats)["median"]
             for name, cached in [("naive", False), ("cached", True)]}
    audio_seconds = args.n * args.seconds
    facts = entry.facts(model)
    result = {
        "same_samples": same, "check_seconds": args.check_seconds,
        "model": {**facts, "channels": args.channels, "skip_channels": args.skip, "sample_rate": sample_rate},
        "n": args.n, "seconds": args.seconds, "repeats": args.repeats,
        **{name: {"wall_s": wall, "samples_per_s": audio_seconds * sample_rate / wall, "rtf": wall / audio_seconds}
           for name, wall in walls.items()},
        "speedup": walls["naive"] / walls["cached"],
        "machine": machine(),
    }

    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['torch_threads']} torch threads, torch {m['torch']}")
    print(f"WaveNet: {facts['parameters']:,} parameters, {facts['layers']} layers, receptive field "
          f"{facts['receptive_field']} samples; {args.n} x {args.seconds} s at {sample_rate} Hz; "
          f"median of {args.repeats}")
    print(f"same samples from both paths (first {args.check_seconds:g} s): {same}")
    for name in ("naive", "cached"):
        r = result[name]
        print(f"{name:6s}: {r['wall_s']:7.2f} s  {r['samples_per_s']:8.0f} samples/s  RTF {r['rtf']:7.1f}")
    print(f"speedup of the cached path: {result['speedup']:.1f}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
