"""Shipped weights: every zoo entry's ``small`` run, trained once and kept beside its code.

``Run.load("wavenet")`` opens ``zoo/wavenet/pretrained/``, a run folder in its smallest form, so
sampling, evaluating and listening work with no training and no data set built::

    config.json        the config the run trained with (the entry's ``small`` preset)
    log.jsonl          its training log: losses and times, as the run wrote them
    checkpoints/       one checkpoint: the EMA weights in float16 as ``model.safetensors``, no optimizer
    labels.json        the training split's labels and vocabularies: conditioning drawn as from the data
    samples/reference/ the first four held-out clips (as ``lineage eval`` reconstructs them), with their
                       captions; their labels are in ``labels.json`` under ``reference``
    metrics.json       ``lineage eval`` of these very weights (after their rounding to float16)
    provenance.json    what made them: preset, seed, data set and its manifest digest, steps, training
                       time and machine, and the same metrics for the entry's ``tiny`` preset

``make pretrain NAME=...`` (``scripts/pretrain.py``) writes it: it trains ``tiny``, evaluates it,
resumes the same run as ``small`` (the presets differ only in ``train.steps``), then calls :func:`ship`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lineage.files import write_atomic

FOLDER = "pretrained"
MAX_BYTES = 10 * 2**20  # the most a shipped checkpoint may weigh: latent diffusion ships three networks in one
# (VAE, CLAP, U-Net: about 8.5 MB); every other entry's weights are under 4.5 MB


def folder(name: str) -> Path:
    """Where entry ``name`` keeps its shipped run (whether or not it has one)."""
    from lineage import registry

    return registry.load(name).folder / FOLDER


def available(name: str) -> bool:
    return (folder(name) / "config.json").is_file()


class StoredLabels:
    """The training split's labels, read from ``labels.json``: what a :class:`~lineage.data.clipset.ClipSet`
    offers for sampling (``label_batch``, ``caption``, ``vocab``, ``class_label``), without its audio.
    ``label_batch`` draws the same rows as the split itself would for the same seed."""

    def __init__(self, path: Path):
        stored = json.loads(path.read_text())
        self.name, self.vocab, self.class_label = stored["name"], stored["vocab"], stored["class_label"]
        self.labels = {k: np.asarray(v, dtype=stored["dtypes"][k]) for k, v in stored["labels"].items()}

    def __len__(self) -> int:
        return len(next(iter(self.labels.values()))) if self.labels else 0

    def label_batch(self, n: int, seed: int = 0) -> dict:
        from lineage.data.clipset import ClipSet

        return ClipSet.label_batch(self, n, seed)  # the same draw as the clip set's, on the stored labels

    def caption(self, labels: dict, i: int) -> str:
        from lineage.data.clipset import ClipSet

        return ClipSet.caption(self, labels, i)


def write_labels(trainset, reference: dict, path: Path) -> None:
    """``labels.json`` for :class:`StoredLabels`: the training split's labels, and ``reference``, the
    labels of the clips kept in ``samples/reference/``."""
    write_atomic(path, json.dumps({
        "name": trainset.name, "vocab": trainset.vocab, "class_label": trainset.class_label,
        "dtypes": {k: str(v.dtype) for k, v in trainset.labels.items()},
        "labels": {k: v.tolist() for k, v in trainset.labels.items()},
        "reference": {k: v.tolist() for k, v in reference.items()}}))


def reference_clips(run):
    """The held-out clips kept in a shipped run folder, as a :class:`~lineage.data.clipset.ClipSet`
    (labels included), e.g. for an autoencoder to reconstruct when the data set is not built."""
    from lineage.audio import load as load_audio
    from lineage.data.clipset import ClipSet

    stored = json.loads((run.path / "labels.json").read_text())
    paths = sorted((run.path / "samples" / "reference").glob("*.wav"))
    audio = np.stack([load_audio(p)[0] for p in paths]).astype(np.float32)
    labels = {k: np.asarray(v, dtype=stored["dtypes"][k]) for k, v in stored["reference"].items()}
    return ClipSet(stored["name"], run.sample_rate, audio, labels, stored["vocab"], stored["class_label"])


def ship(run, dest: Path, provenance: dict, n_reference: int = 4) -> Path:
    """Write ``run``'s EMA weights, rounded to float16, as the shipped run folder ``dest`` (replaced
    whole: written under a temporary name beside it, then renamed), with ``provenance`` as
    ``provenance.json``. Evaluate it afterwards (``lineage eval``) so ``metrics.json`` describes these
    weights. Raises ValueError if the weights exceed :data:`MAX_BYTES`."""
    import torch

    from lineage import checkpoint

    ckpt = checkpoint.read(run.latest)  # the arrays as saved, whichever framework trained them
    state = ckpt["ema"] if ckpt["ema"] is not None else ckpt["weights"]
    # float32 tensors are halved; integer buffers (counters, indices) keep their type
    weights = {k: (v.half() if v.dtype == torch.float32 else v).contiguous() for k, v in state.items()}
    size = sum(v.numel() * v.element_size() for v in weights.values())
    if size > MAX_BYTES:
        raise ValueError(f"{run.path}: {size / 2**20:.1f} MB of weights in float16; a shipped checkpoint "
                         f"holds at most {MAX_BYTES / 2**20:.0f} MB")
    step = json.loads((run.latest / "state.json").read_text())["step"]
    dest = Path(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copy(run.path / "config.json", tmp / "config.json")
        shutil.copy(run.path / "log.jsonl", tmp / "log.jsonl")
        checkpoint.write(tmp / "checkpoints", step, weights, None, {}, {}, keep=1)
        trainset, testset = run.data()
        idx = np.arange(min(n_reference, len(testset)))
        labels = {k: v[idx] for k, v in testset.labels.items()}
        write_labels(trainset, labels, tmp / "labels.json")
        from lineage.run import Run

        Run(tmp).write_samples("reference", testset.audio[idx],
                               [testset.caption(labels, i) for i in range(len(idx))])
        write_atomic(tmp / "provenance.json", json.dumps({**provenance, "weights_bytes": size,
                                                          "dtype": "float16"}, indent=2))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def train_seconds(log: list[dict]) -> float:
    """Training time over all sittings of a run: ``time`` restarts at 0 when a run is resumed."""
    total, last = 0.0, 0.0
    for row in log:
        t = row.get("time")
        if t is None:
            continue
        if t < last:  # a new sitting
            total += last
        last = t
    return total + last


def load_into(trainer, name: str) -> dict:
    """Skip training: give ``trainer`` the weights entry ``name`` ships, as if it had trained them, and
    return the last row of their training log, as ``trainer.fit()`` returns its own (with ``time`` the
    training time of every sitting). The shipped weights become the trainer's model and its EMA, its
    run folder gets their log and a checkpoint, so a chapter goes on as after ``fit()``. The trainer's
    config must build the same model on the same data (only ``train.*`` may differ, e.g. the steps)."""
    from safetensors.torch import load_file

    from lineage import config as cfgmod
    from lineage.run import Run, _differences

    run = Run.load(name)
    ours, theirs = cfgmod.to_dict(trainer.cfg), run.record["config"]
    diffs = [d for d in _differences({k: theirs[k] for k in ("model", "data")},
                                     {k: ours[k] for k in ("model", "data")})]
    if diffs:
        raise ValueError(f"{run.path}: the shipped weights were trained with other {', '.join(diffs)}; they load "
                         f"only into the config they were trained with (the {name} tiny preset's model and data)")
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.load_state_dict(load_file(run.latest / "model.safetensors", device=str(trainer.device)))
    if trainer.ema is not None:
        trainer.ema.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
    log = run.log
    for row in log:
        trainer.run.append_log(row)
    trainer.step = log[-1]["step"]
    trainer.save_checkpoint()
    return {**log[-1], "time": train_seconds(log)}


def summary(folders: list[Path]) -> list[dict]:
    """One row per shipped run folder (those without a measured ``provenance.json`` are left out): the
    entry's main metric for its tiny run and for the shipped weights, the real held-out clips' value,
    and the training each took."""
    rows = []
    for f in folders:
        path = Path(f) / "provenance.json"
        p = json.loads(path.read_text()) if path.is_file() else {}
        m = p.get("metrics")
        if not m:
            continue
        key = m["main"]["key"]
        rows.append({"model": p["model"], "system": p["system"], "data": p["data"]["name"], "metric": m["main"]["label"],
                     "better": m["main"]["better"], "tiny": m["tiny"][key], "small": m["small"][key],
                     "real": m["real (test)"].get(key), "tiny_steps": p["tiny_steps"], "steps": p["steps"],
                     "noise": m.get("baseline: mean-spectrum noise", {}).get(key),
                     "minutes": p["train_seconds"] / 60, "improved": m["main"]["improved"]})
    return rows


def summary_markdown(folders: list[Path]) -> str:
    """:func:`summary` as a Markdown table."""
    fmt = lambda x: "-" if x is None else f"{x:.3g}"  # noqa: E731
    lines = ["| system | data | main metric | tiny | small (shipped) | real held-out clips | mean-spectrum noise "
             "| steps | minutes |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['system']} | `{r['data']}` | {r['metric']}, {r['better']} is better | {fmt(r['tiny'])} | "
              f"{fmt(r['small'])} | {fmt(r['real'])} | {fmt(r['noise'])} | {r['tiny_steps']:,} -> {r['steps']:,} | "
              f"{r['minutes']:.1f} |" for r in summary(folders)]
    return "\n".join(lines) + "\n"
