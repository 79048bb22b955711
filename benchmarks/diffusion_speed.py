"""Benchmark (not a test): sample-by-sample generation against a few denoising passes, in one table.

For each trained run given, the real-time factor (wall time / audio time, median of 3 after a warm-up)
of generating one clip - at the model's full training schedule and at the 6-step fast schedule for the
diffusion models, sample by sample (with Fast WaveNet's caches) for the autoregressive ones - and the
quality each reaches on the same footing:

* vocoders (WaveGrad, DiffWave with a mel conditioner): MR-STFT distance of held-out clips vocoded from
  their own log-mel spectrograms, beside the mean-spectrum-noise baseline;
* generators conditioned on pitch: the share of generated notes whose pYIN pitch is the asked one.

    python benchmarks/diffusion_speed.py runs/wavegrad-tiny runs/diffwave-tiny ... [--out FILE.md]

A diffusion model is one whose facts name its ``diffusion_steps``; its sampler runs the schedule of its
config's ``model.fast_betas``, so the full schedule is the same model built with the training betas there
(which is what ``fast=False`` does inside the entry). Tiny (a smoke test): ``--n 2 --seconds 0.25
--repeats 1`` on runs trained for two steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from lineage.audio import fit_length
from lineage.eval import metrics
from lineage.eval.report import mean_spectrum_noise
from lineage.eval.speed import machine, timed
from lineage.run import Run


def generators(run: Run, device: str) -> list[tuple[str, object]]:
    """(label, model) for each way the run's model generates: a diffusion model with its full training
    schedule, then with its fast one; any other model as it is."""
    model = run.model(device=device)
    facts = run.entry.facts(model)
    if "diffusion_steps" not in facts:
        return [("one network pass per sample", model)]
    full = Run(run.path)  # a second reader of the folder, whose config is ours to change
    # the sampler's schedule is model.fast_betas: the training betas there = all T training steps
    full.config.model.fast_betas = model.schedule.betas.tolist()
    return [(f"{facts['diffusion_steps']} steps (training schedule)", full.model(device=device)),
            (f"{facts['sampling_steps']} steps (fast schedule)", model)]


def measure(path: Path, n_quality: int, seconds: float, repeats: int = 3, device: str = "cpu") -> list[dict]:
    run = Run(path)
    entry, cfg = run.entry, run.config
    sr = cfg.data.sample_rate
    trainset, testset = run.data()
    k = min(n_quality, len(testset))
    length = int(round(seconds * sr))
    keys = entry.cond_keys(cfg)
    rows = []
    vocoder = False
    for label, model in generators(run, device):
        vocoder = entry.has("reconstruct", model)
        row = {"run": run.path.name, "model": entry.system, "generation": label}
        if vocoder:  # the held-out clips, vocoded from their own spectrograms
            one = {key: v.to(device) for key, v in testset.take([0], length).items()}
            row["rtf"] = timed(lambda: entry.reconstruct(model, one, seed=0), repeats)["median"] / seconds
            batch = testset.take(np.arange(k), length)
            out = entry.reconstruct(model, {key: v.to(device) for key, v in batch.items()}, seed=0)
            row["mrstft"] = float(metrics.mrstft_distance(batch["audio"][:, 0].numpy(),
                                                          fit_length(out.reshape(k, -1), length)))
        else:  # generated notes, asked for the labels of held-out clips
            cond1 = {key: torch.as_tensor(testset.labels[key][:1]).to(device) for key in keys}
            row["rtf"] = timed(lambda: entry.sample(model, 1, seconds, seed=0, cond=cond1), repeats)["median"] / seconds
            if "pitch" in keys:
                cond = {key: torch.as_tensor(testset.labels[key][:k]).to(device) for key in keys}
                audio = fit_length(entry.sample(model, k, seconds, seed=0, cond=cond).reshape(k, -1), length)
                row["pitch_accuracy"] = metrics.pitch_accuracy(audio, sr, testset.labels["pitch"][:k])["pitch_accuracy"]
        rows.append(row)
    if vocoder:
        ref = fit_length(testset.audio[:k], length)
        noise = mean_spectrum_noise(trainset.audio, k, length)
        rows.append({"run": run.path.name, "model": "baseline: mean-spectrum noise", "generation": "-",
                     "mrstft": float(metrics.mrstft_distance(ref, noise))})
    return rows


def table(rows: list[dict], n: int, seconds: float) -> str:
    lines = ["| model (run) | generation | RTF, one clip | MR-STFT (vocoding) | pitch accuracy |",
             "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r['model']} ({r['run']})", r["generation"],
                 f"{r['rtf']:.3g}" if "rtf" in r else "-",
                 f"{r['mrstft']:.3f}" if "mrstft" in r else "-",
                 f"{r['pitch_accuracy']:.2f}" if "pitch_accuracy" in r else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    m = machine()
    lines.append(f"{seconds:g} s clips; quality on {n} held-out clips or notes; {m['cpu']}, "
                 f"{m['torch_threads']} torch threads, torch {m['torch']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--n", type=int, default=16, help="held-out clips (or notes) for the quality column")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats after the warm-up (median)")
    p.add_argument("--device", default="cpu", help="where the models run (cpu, cuda, mps)")
    p.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    rows = [row for run in args.runs for row in measure(run, args.n, args.seconds, args.repeats, args.device)]
    text = table(rows, args.n, args.seconds)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return rows


if __name__ == "__main__":
    main()
