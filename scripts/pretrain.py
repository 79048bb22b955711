"""Train, measure and ship one zoo entry's weights: ``make pretrain NAME=wavenet``.

0. An entry of two stages (``PRETRAIN_FIRST`` in its module: latent diffusion's autoencoder) first trains
   and evaluates that stage's preset in ``runs/pretrain/NAME-PRESET``; the later runs are built on it.
1. Train the entry's ``tiny`` preset in ``runs/pretrain/NAME`` and copy that run to ``runs/pretrain/NAME-tiny``.
2. Evaluate the copy (``lineage eval --n N --no-speed``): the ``tiny`` row of the card's table.
3. Resume the same run as the ``small`` preset, which differs from ``tiny`` only in ``train.steps``: the
   small run's first steps *are* the tiny run, so the table measures what the longer budget buys.
4. Ship its EMA weights in float16 to ``zoo/NAME/pretrained/`` (:mod:`lineage.pretrained`), evaluate the
   shipped weights the same way, and write the two rows into ``provenance.json``.

``--rejudge`` measures both rows again when the judge has changed (a new cache version of
:mod:`lineage.eval.classifier`), without training ``small`` again: it trains ``tiny`` anew where its copy
is gone (the same preset and seed; an entry of two stages takes its first stage from the shipped weights),
evaluates it and the shipped weights with today's judges, and rewrites the table in ``provenance.json``.

Every stage is resumable: run the command again after a kill, or spread the training over several
sittings. One torch thread by default, as the shipped weights were trained (two entries side by side on
a two-core machine); ``--threads`` and ``--device`` change that, and the provenance records it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import torch

from lineage import config as cfgmod
from lineage import pretrained, registry
from lineage.eval import report
from lineage.eval.speed import machine
from lineage.files import write_atomic
from lineage.run import SAFE_ON_RESUME, Run, _differences
from lineage.train import train

# the metrics of the card's tiny-vs-small table, and the entry's main one: the first of these it reports
MAIN = (("mrstft", "reconstruction MR-STFT", "lower"), ("nll_bits", "held-out NLL, whole clips (bits)", "lower"),
        ("token_bits", "held-out bits per codec token", "lower"),
        ("fid", "FID", "lower"))
COMPARED = ("nll_bits", "nll_bits_crop", "token_bits", "mrstft", "fid", "is", "class_accuracy", "pitch_accuracy",
            "crepe_pitch_accuracy", "periodicity", "dnsmos", "pesq", "stoi", "clap_score")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("name")
    p.add_argument("--n", type=int, default=128, help="clips per evaluation (default 128)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--runs", default="runs/pretrain", help="folder for the runs (default runs/pretrain)")
    p.add_argument("--rejudge", action="store_true",
                   help="evaluate tiny and the shipped weights again with today's judges (no small training)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    entry = registry.load(args.name)
    if args.rejudge:
        return rejudge(entry, Path(args.runs), args.n)
    first = first_stage(entry, Path(args.runs), args.n)
    overrides = [f"model.{first['key']}={first['run']}"] if first else []
    tiny, small = entry.config("tiny", None, overrides), entry.config("small", None, overrides)
    diffs = [d for d in _differences(cfgmod.to_dict(tiny), cfgmod.to_dict(small)) if d not in SAFE_ON_RESUME]
    if diffs:
        raise SystemExit(f"pretrain: {entry.preset_path('small')}: differs from tiny in {', '.join(diffs)}; "
                         f"the small preset may only train longer (train.steps)")
    out, snap = Path(args.runs) / args.name, Path(args.runs) / f"{args.name}-tiny"

    t0 = time.perf_counter()
    if not snap.is_dir():
        run = Run(out)
        if run.started and run.latest is not None and _step(run) > tiny.train.steps:
            raise SystemExit(f"pretrain: {out} is past the tiny preset's {tiny.train.steps} steps but its copy "
                             f"{snap} is gone; remove {out} to start again")
        print(f"[{args.name}] training tiny ({tiny.train.steps} steps) in {out}", flush=True)
        train(args.name, tiny, out, resume=run.started)
        shutil.copytree(out, snap.with_name(snap.name + ".tmp"), dirs_exist_ok=True)
        snap.with_name(snap.name + ".tmp").rename(snap)
    if Run(snap).metrics is None:
        print(f"[{args.name}] evaluating tiny ({args.n} clips)", flush=True)
        report.evaluate(snap, n=args.n, speed=False)
    add_crop_bits(Run(snap))
    print(f"[{args.name}] training small ({small.train.steps} steps) in {out}", flush=True)
    train(args.name, small, out, resume=True)

    run = Run(out)
    dest = pretrained.folder(args.name)
    data_info = _build_info(run)
    provenance = {
        "model": args.name, "system": entry.system, "preset": "small", "tiny_steps": tiny.train.steps,
        "steps": _step(run), "seed": small.train.seed,
        "data": {"name": small.data.name, "clips": data_info.get("size"),
                 "manifest_sha256": data_info.get("manifest_sha256"), "build_seed": small.data.seed},
        "train_seconds": round(pretrained.train_seconds(run.log), 1), "threads": args.threads,
        "device": _device(run.config.train.device), "machine": machine(), "torch": torch.__version__,
        "date": date.today().isoformat(), "command": f"make pretrain NAME={args.name}",
        **({"first_stage": first["provenance"]} if first else {})}
    pretrained.ship(run, dest, provenance)
    if first:  # the shipped folder holds the first stage's weights itself: it names itself, not a run left behind
        shipped_cfg = json.loads((dest / "config.json").read_text())
        shipped_cfg["config"]["model"][first["key"]] = args.name
        (dest / "config.json").write_text(json.dumps(shipped_cfg, indent=2) + "\n")
    print(f"[{args.name}] evaluating the shipped weights in {dest} ({args.n} clips)", flush=True)
    report.evaluate(dest, n=args.n, speed=False)
    shipped = add_crop_bits(Run(dest))
    tiny_m = Run(snap).metrics
    provenance["metrics"] = compare(args.name, tiny_m, shipped)
    (dest / "provenance.json").write_text(json.dumps({**json.loads((dest / "provenance.json").read_text()),
                                                      "metrics": provenance["metrics"]}, indent=2) + "\n")
    m = provenance["metrics"]
    print(f"[{args.name}] {m['main']['label']}: tiny {m['tiny'][m['main']['key']]:.3f} -> small "
          f"{m['small'][m['main']['key']]:.3f}; {time.perf_counter() - t0:.0f} s in this sitting -> {dest}")
    return 0


def rejudge(entry, runs: Path, n: int) -> int:
    """Both rows of the card's table measured again by today's judges (see the module's docstring)."""
    from lineage.eval.classifier import VERSION

    dest = pretrained.folder(entry.name)
    out, snap = runs / entry.name, runs / f"{entry.name}-tiny"
    current = lambda run: (run.metrics or {}).get("classifier", {}).get("version") == VERSION  # noqa: E731
    if not snap.is_dir():
        tiny = entry.config("tiny")
        print(f"[{entry.name}] training tiny ({tiny.train.steps} steps) in {out}", flush=True)
        train(entry.name, tiny, out, resume=Run(out).started)
        shutil.copytree(out, snap.with_name(snap.name + ".tmp"), dirs_exist_ok=True)
        snap.with_name(snap.name + ".tmp").rename(snap)
    for run in (Run(snap), Run(dest)):
        if not current(run):
            print(f"[{entry.name}] evaluating {run.path} ({n} clips)", flush=True)
            report.evaluate(run, n=n, speed=False)
        add_crop_bits(Run(run.path))
    path = dest / "provenance.json"
    provenance = json.loads(path.read_text())
    provenance["metrics"] = compare(entry.name, Run(snap).metrics, Run(dest).metrics)
    provenance["judge"] = {"version": VERSION, "date": date.today().isoformat(),
                           "command": f"python scripts/pretrain.py {entry.name} --rejudge"}
    write_atomic(path, json.dumps(provenance, indent=2) + "\n")
    m = provenance["metrics"]
    print(f"[{entry.name}] {m['main']['label']}: tiny {m['tiny'][m['main']['key']]:.3f} -> small "
          f"{m['small'][m['main']['key']]:.3f}")
    return 0


def first_stage(entry, runs: Path, n: int) -> dict | None:
    """An entry of two stages names the first in its module, ``PRETRAIN_FIRST = (preset, key)``: that
    preset is trained (or resumed) in ``runs/NAME-PRESET`` and evaluated, and its run folder becomes
    ``model.KEY`` of the tiny and small runs (latent diffusion: the autoencoder its U-Net works on)."""
    spec = getattr(entry.module, "PRETRAIN_FIRST", None)
    if spec is None:
        return None
    preset, key = spec
    cfg, out = entry.config(preset), runs / f"{entry.name}-{preset}"
    print(f"[{entry.name}] training the first stage, preset {preset} ({cfg.train.steps} steps), in {out}", flush=True)
    train(entry.name, cfg, out, resume=Run(out).started)
    run = Run(out)
    if run.metrics is None:
        print(f"[{entry.name}] evaluating the first stage ({n} clips)", flush=True)
        report.evaluate(out, n=n, speed=False)
    row = {k: v for k, v in Run(out).metrics["rows"][entry.name].items() if k in COMPARED}
    return {"key": key, "run": out, "provenance": {
        "preset": preset, "steps": _step(run), "train_seconds": round(pretrained.train_seconds(run.log), 1),
        "metrics": row}}


def add_crop_bits(run: Run) -> dict:
    """A likelihood model trained on each clip's first ``data.segment`` samples (``crop = "start"``) is
    also scored on just that much of each held-out clip, as ``nll_bits_crop`` in its ``metrics.json``:
    ``lineage eval`` scores whole clips, most of which such a model never saw in training."""
    metrics, cfg = run.metrics, run.config
    row = metrics["rows"][run.entry.name]
    if "nll_bits" in row and cfg.data.crop == "start" and cfg.data.segment and "nll_bits_crop" not in row:
        model = run.model(device="cpu")
        row["nll_bits_crop"] = report.held_out_bits(run.entry.capability("nll", model), run.data()[1], "cpu",
                                                    length=cfg.data.segment)
        run.write_metrics(metrics)
    return metrics


def compare(name: str, tiny: dict, small: dict) -> dict:
    """The card's table: the shared metrics of the tiny run and of the shipped weights, with the real
    held-out clips (and the noise baseline of an autoencoder) for scale, and which metric is the main one."""
    row = lambda m, key: {k: m["rows"][key].get(k) for k in COMPARED if m["rows"].get(key, {}).get(k) is not None}  # noqa: E731
    t, s = row(tiny, name), row(small, name)
    key, label, better = next(m for m in MAIN if m[0] in t and m[0] in s)
    baseline = next((k for k in small["rows"] if k.startswith("baseline")), None)
    return {"n": small["n"], "seconds": small["seconds"], "tiny": t, "small": s,
            "real (test)": row(small, "real (test)"), **({baseline: row(small, baseline)} if baseline else {}),
            "main": {"key": key, "label": label, "better": better,
                     "improved": (s[key] < t[key]) if better == "lower" else (s[key] > t[key])}}


def _device(configured: str) -> str:
    """Where the run trained: ``train.device``, or what ``auto`` picks on this machine."""
    from lineage.run import default_device

    return default_device() if configured in ("", "auto") else configured


def _step(run: Run) -> int:
    return json.loads((run.latest / "state.json").read_text())["step"]


def _build_info(run: Run) -> dict:
    from lineage.data import data_root, read_build_info

    return read_build_info(data_root() / run.config.data.name) or {}


if __name__ == "__main__":
    sys.exit(main())
