"""Benchmark (not a test): do the GANs' tiny presets train stably from any seed?

GAN training is where beginners lose weeks, so each GAN's tiny preset is trained from several seeds
(``train.seed``: the initial weights, the latents, the phase shuffles and the batch order all change)
and every run is checked for the three ways a GAN fails:

* **divergence** - a loss or gradient becomes NaN/inf (the Trainer stops with ``TrainingDiverged``);
* **silence** - the generator's clips fade to nothing: RMS of generated clips / RMS of real clips;
* **mode collapse** - one sound for every latent: the data set's classifier (the judge of the shared
  metrics) hears fewer classes among the generated clips, and the inception score falls towards 1.

Also reported: the critic's last Wasserstein estimate and gradient penalty, the shared metrics (FID, IS)
and, for a pitch-conditioned GAN, the share of notes at the asked pitch (pYIN).

    python benchmarks/gan_stability.py [--models wavegan gansynth] [--seeds 0 1 2] [--out FILE.md]

Finished runs in ``runs/gan-stability/`` are reused; a killed one resumes. Tiny (a smoke test): ``--data
tones --n 4 --judge-steps 5 --set train.steps=2 train.batch_size=2 ...`` with ``--runs`` and ``--out``
elsewhere.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lineage import registry
from lineage.audio import fit_length
from lineage.eval import metrics
from lineage.eval.classifier import get_judge
from lineage.eval.speed import machine
from lineage.run import Run
from lineage.train import TrainingDiverged, train_or_resume


def check(path: Path, n: int, judge_steps: int = 1000) -> dict:
    """The failure signs of one finished run, from ``n`` generated clips."""
    run = Run(path)
    entry, cfg = run.entry, run.config
    trainset, _ = run.data()
    judge = get_judge(cfg.data, seed=0, dataset=run.dataset(), steps=judge_steps)
    length = int(round(cfg.data.seconds * cfg.data.sample_rate))
    cond = trainset.label_batch(n, seed=1)
    fake = fit_length(run.sample(n, cfg.data.seconds, seed=1, cond=cond, device="cpu").reshape(n, -1), length)
    real = trainset.take(np.random.default_rng(1).choice(len(trainset), n), length)["audio"][:, 0].numpy()
    real_probs, real_feats = judge.model.classify(real)
    probs, feats = judge.model.classify(fake)
    heard = np.bincount(probs.argmax(1), minlength=len(judge.classes))
    row = {"rms_ratio": float(np.sqrt((fake ** 2).mean()) / np.sqrt((real ** 2).mean())),
           "classes_heard": int((heard >= max(2, n // 50)).sum()), "classes": len(judge.classes),
           "is": metrics.inception_score(probs), "is_real": metrics.inception_score(real_probs),
           "fid": metrics.fid(feats, real_feats)}
    if "pitch" in entry.cond_keys(cfg):
        row.update(metrics.pitch_accuracy(fake, cfg.data.sample_rate, cond["pitch"].numpy()))
    last = run.log[-1]
    row.update({k: last[k] for k in ("W", "gp") if k in last})
    row["train_s"] = last.get("time", float("nan"))  # training wall time, as the Trainer logged it
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["wavegan", "gansynth"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--preset", default="tiny", help="the preset every model is trained from")
    ap.add_argument("--data", default=None, help="another data set than the presets' own")
    ap.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="SECTION.KEY=VALUE",
                    help="config overrides for every model, e.g. --set train.steps=2 (a smoke test)")
    ap.add_argument("--n", type=int, default=128, help="generated clips per run")
    ap.add_argument("--judge-steps", type=int, default=1000, help="training steps of the data set's classifier")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=Path("runs/gan-stability"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/gan-stability.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        entry = registry.load(name)
        for seed in args.seeds:
            cfg = entry.config(args.preset, data=args.data, overrides=[*args.overrides, f"train.seed={seed}"])
            run = args.runs / f"{name}-seed{seed}"
            t0 = time.perf_counter()
            try:
                train_or_resume(name, cfg, run, progress=False)
                row = {"diverged": "no", **check(run, args.n, args.judge_steps)}
            except TrainingDiverged as err:
                row = {"diverged": str(err).split(";")[0]}
            row.update({"model": name, "seed": seed, "steps": cfg.train.steps, "wall_s": time.perf_counter() - t0})
            print(json.dumps(row), flush=True)
            rows.append(row)

    def fmt(row, key, spec):
        return format(row[key], spec) if key in row else "-"

    lines = [f"# GAN stability: each {args.preset} preset from {len(args.seeds)} seeds", "",
             f"`python benchmarks/gan_stability.py` on {machine()['cpu']}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads; {args.n} generated clips per run, judged by each data "
             f"set's classifier. Train s: the run's training time as its log recorded it.", "",
             "| model | seed | steps | diverged | critic W | gp | RMS gen/real | classes heard | IS (real) | FID "
             "| pitch acc. | train s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['seed']} | {r['steps']} | {r['diverged']} | {fmt(r, 'W', '.3f')} | "
                     f"{fmt(r, 'gp', '.4f')} | {fmt(r, 'rms_ratio', '.2f')} | "
                     f"{r.get('classes_heard', '-')} of {r.get('classes', '-')} | {fmt(r, 'is', '.2f')} "
                     f"({fmt(r, 'is_real', '.2f')}) | {fmt(r, 'fid', '.0f')} | {fmt(r, 'pitch_accuracy', '.2f')} "
                     f"| {fmt(r, 'train_s', '.0f')} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
