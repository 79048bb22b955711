"""Speed, measured properly: a warm-up call, several timed repeats, the median, and the machine named.

* **Real-time factor** (RTF) of generation: wall-clock seconds per second of audio produced. Below 1 is
  faster than real time. Reported for one clip at a time (a listener waiting for one sound) and for a
  batch (throughput).
* **Training throughput**: optimizer steps per second and audio samples per second (batch x segment).

These are benchmarks, not tests: the figures depend on the machine, so they are written down with its
description (:func:`machine`) and never asserted.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
import torch


def machine(device=None) -> dict:
    """What the figures were measured on: the CPU, and the GPU when ``device`` is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "torch": torch.__version__, "python": platform.python_version(), "os": platform.system()}
    if device is not None:
        out["device"] = str(device)
    if torch.cuda.is_available() and str(device).startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def timed(fn, repeats: int = 3, warmup=None) -> dict:
    """Call ``warmup`` (default ``fn``) once untimed, then ``fn`` ``repeats`` times; wall times in s."""
    (warmup or fn)()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "times": [round(t, 4) for t in times]}


def generation_speed(entry, model, cond: dict, seconds: float, n: int = 1, repeats: int = 3,
                     seed: int = 0, device="cpu") -> dict:
    """RTF of ``entry.sample(model, n, seconds)`` with labels ``cond`` (cut to ``n``): the median over
    ``repeats`` after a warm-up on a clip a tenth as long."""
    cond = {k: v[:n].to(device) for k, v in cond.items()}

    def run(s=seconds):
        with torch.no_grad():
            entry.sample(model, n, s, seed=seed, cond=cond)

    t = timed(run, repeats, warmup=lambda: run(max(seconds / 10, 0.01)))
    return {"n": n, "seconds": seconds, "wall_s": round(t["median"], 4), "times": t["times"],
            "rtf": t["median"] / (n * seconds), "device": str(device)}


def training_speed(entry, cfg, trainset, device="cpu", steps: int = 10, warmup: int = 3) -> dict:
    """Steps/s and samples/s of the training step (loss, backward, AdamW; every part of it) of a freshly
    built model on ``device``."""
    from lineage.train import make_optimizers

    if entry.capability("train") is not None:
        return _own_loop_speed(entry, cfg, steps, warmup)
    torch.manual_seed(0)
    model = entry.build(cfg).to(device).train()
    tc, dc = cfg.train, cfg.data
    parts = entry.steps(model)
    optimizers = make_optimizers(parts, tc)
    rng = np.random.default_rng(0)

    def step():  # every part of one training step (a GAN: n critic updates, one generator update)
        for part in parts:
            for _ in range(part.repeats):
                batch = trainset.batch(rng, tc.batch_size, dc.segment, dc.crop)
                loss, _ = part.loss(model, {k: v.to(device) for k, v in batch.items()})
                optimizers[part.name].zero_grad(set_to_none=True)
                loss.backward()
                optimizers[part.name].step()

    t = timed(step, steps, warmup=lambda: [step() for _ in range(warmup)])
    segment = dc.segment or trainset.audio.shape[1]
    batches = sum(part.repeats for part in parts)  # batches seen per step
    return {"steps_per_s": 1 / t["median"], "samples_per_s": batches * tc.batch_size * segment / t["median"],
            "batch_size": tc.batch_size, "segment": segment, "step_s": round(t["median"], 4),
            "device": str(device)}


def _own_loop_speed(entry, cfg, steps: int, warmup: int) -> dict:
    """The same figures for an entry with its own training loop (JAX): ``warmup + steps`` steps of it in a
    scratch run folder, timed from the log it writes after every step."""
    import dataclasses
    import tempfile

    from lineage.run import Run
    from lineage.train import train

    tc = dataclasses.replace(cfg.train, steps=warmup + steps, log_every=1, checkpoint_every=warmup + steps,
                             sample_n=1, sample_seconds=0.01)
    with tempfile.TemporaryDirectory() as tmp:
        train(entry.name, dataclasses.replace(cfg, train=tc), tmp, progress=False)
        times = [row["time"] for row in Run(tmp).log]
    step_s = statistics.median(np.diff(times[warmup - 1:]))
    segment = cfg.data.segment or int(cfg.data.seconds * cfg.data.sample_rate)
    return {"steps_per_s": 1 / step_s, "samples_per_s": tc.batch_size * segment / step_s,
            "batch_size": tc.batch_size, "segment": segment, "step_s": round(float(step_s), 4), "device": "cpu"}
