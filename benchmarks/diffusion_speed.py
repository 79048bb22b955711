"""Benchmark (not a test): sample-by-sample generation against a few denoising passes, in one table.

For each trained run given, the real-time factor (wall time / audio time, median of 3 after a warm-up)
of generating one clip - at the model's full training schedule and at the 6-step fast schedule for the
diffusion models, sample by sample (with Fast WaveNet's caches) for the autoregressive ones - and the
quality each reaches on the same footing:

* vocoders (WaveGrad, DiffWave with a mel conditioner): MR-STFT distance of held-out clips vocoded from
  their own log-mel spectrograms, beside the mean-spectrum-noise baseline;
* generators conditioned on pitch: the share of generated notes whose pYIN pitch is the asked one.

    python benchmarks/diffusion_speed.py runs/wavegrad-tiny runs/diffwave-tiny ... [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from lineage import data as D
from lineage.eval import metrics as M
from lineage.eval.report import fit_length, mean_spectrum_noise
from lineage.eval.speed import machine, timed
from lineage.train import load_run


def schedules(entry, model) -> list[tuple[str, dict]]:
    """(label, keyword arguments of sample/reconstruct) for each way this model can generate."""
    if hasattr(model, "schedule"):  # a diffusion model: its full training schedule, then 6 steps
        return [(f"{len(model.schedule)} steps (training schedule)", {"fast": False}),
                (f"{len(model.cfg.fast_betas)} steps (fast schedule)", {"fast": True})]
    return [("one network pass per sample", {})]


def measure(run: Path, n_quality: int, seconds: float) -> list[dict]:
    entry, cfg, model = load_run(run)
    sr = cfg.data.sample_rate
    clips = entry.prepare(cfg, D.load(cfg.data))
    _, test = clips.split(cfg.data.holdout, seed=cfg.data.seed)
    k = min(n_quality, len(test))
    length = int(round(seconds * sr))
    vocoder = hasattr(entry.module, "reconstruct") and getattr(entry.module, "reconstructs", lambda m: True)(model)
    rows = []
    for label, kw in schedules(entry, model):
        row = {"run": run.name, "model": entry.system, "generation": label}
        clips_of = lambda m: {"audio": torch.from_numpy(fit_length(test.audio[:m], length))[:, None]}  # noqa: E731
        one = clips_of(1)
        if vocoder:
            row["rtf"] = timed(lambda: entry.module.reconstruct(model, one, seed=0, **kw))["median"] / seconds
            batch = clips_of(k)
            out = entry.module.reconstruct(model, batch, seed=0, **kw).reshape(k, -1).numpy()
            ref = batch["audio"].reshape(k, -1).numpy()
            row["mrstft"] = float(M.mrstft_distance(ref, out))
        else:
            pitch = {"pitch": torch.tensor([60])} if "pitch" in getattr(cfg.model, "cond_keys", []) else None
            cond1 = {key: torch.as_tensor(test.labels[key][:1]) for key in getattr(cfg.model, "cond_keys", [])}
            row["rtf"] = timed(lambda: entry.module.sample(model, 1, seconds, seed=0, cond=cond1, **kw))["median"] / seconds
            if pitch is not None:
                cond = {key: torch.as_tensor(test.labels[key][:k]) for key in cfg.model.cond_keys}
                audio = entry.module.sample(model, k, seconds, seed=0, cond=cond, **kw).reshape(k, -1).numpy()
                row["pitch_accuracy"] = M.pitch_accuracy(audio, sr, test.labels["pitch"][:k])["pitch_accuracy"]
        rows.append(row)
    if vocoder:
        ref = fit_length(test.audio[:k], length)
        train, _ = clips.split(cfg.data.holdout, seed=cfg.data.seed)
        noise = mean_spectrum_noise(fit_length(train.audio, length), k, length)
        rows.append({"run": run.name, "model": "baseline: mean-spectrum noise", "generation": "-",
                     "mrstft": float(M.mrstft_distance(ref, noise))})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--n", type=int, default=16, help="held-out clips (or notes) for the quality column")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    rows = [row for run in args.runs for row in measure(run, args.n, args.seconds)]
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
    lines.append(f"{args.seconds:g} s clips; quality on {args.n} held-out clips or notes; {m['cpu']}, "
                 f"{m['torch_threads']} torch threads, torch {m['torch']}.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
