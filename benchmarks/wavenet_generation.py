"""Benchmark (not a test): naive vs cached (Fast WaveNet) generation speed.

Builds an untrained WaveNet of a given size - speed does not depend on the weights - checks that both
paths draw the same samples, and reports samples per second, real-time factor (wall time / audio
time) and the speedup, as the median of several repeats after a warm-up.

    python benchmarks/wavenet_generation.py [--stacks 1] [--cycle 10] [--seconds 0.1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import zoo.wavenet as W
from lineage.config import make_config


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--skip", type=int, default=128)
    p.add_argument("--cycle", type=int, default=10, help="dilations 1..2^(cycle-1)")
    p.add_argument("--stacks", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0.1, help="audio generated per repeat")
    p.add_argument("-n", type=int, default=1, help="clips generated at once")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = make_config(W.Config, None, [f"model.channels={args.channels}", f"model.skip_channels={args.skip}",
                                       f"model.dilation_cycle={args.cycle}", f"model.stacks={args.stacks}"])
    torch.manual_seed(0)
    model = W.build(cfg).eval()
    cond = {"pitch": torch.full((args.n,), 60), "timbre": torch.zeros(args.n, dtype=torch.long)}
    audio_seconds = args.n * args.seconds
    same = torch.equal(W.sample(model, args.n, 0.01, seed=1, cond=cond, cached=False),
                       W.sample(model, args.n, 0.01, seed=1, cond=cond, cached=True))
    naive = timed(lambda: W.sample(model, args.n, args.seconds, cond=cond, cached=False), args.repeats)
    cached = timed(lambda: W.sample(model, args.n, args.seconds, cond=cond, cached=True), args.repeats)
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    print(f"WaveNet: {W.n_params(model):,} parameters, {len(model.layers)} layers, receptive field "
          f"{model.receptive_field} samples; {args.n} x {args.seconds} s at {model.sample_rate} Hz; "
          f"median of {args.repeats}")
    print(f"same samples from both paths (first 0.01 s): {same}")
    for name, wall in [("naive ", naive), ("cached", cached)]:
        print(f"{name}: {wall:7.2f} s  {audio_seconds * model.sample_rate / wall:8.0f} samples/s  "
              f"RTF {wall / audio_seconds:7.1f}")
    print(f"speedup of the cached path: {naive / cached:.1f}x")


if __name__ == "__main__":
    main()
