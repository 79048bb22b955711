"""A run folder, and :class:`Run`: the one reader and writer of it, and the public way to use a trained model.

::

    from lineage.run import Run
    run = Run("runs/wavenet-tiny")          # a folder written by `lineage train`
    audio = run.sample(n=4, seconds=1)      # numpy [4, channels, samples] at run.config.data.sample_rate
    Run.load("someone/wavenet-tiny")        # a run folder published on the Hugging Face Hub

What a run folder holds - the same whoever trained it (the torch Trainer, or an entry's own loop)::

    config.json        {"model": NAME, "config": {"model": ..., "data": ..., "train": ...}}; written first
    log.jsonl          one JSON object per logged step: "step", "loss" (or "loss_PART" per part), the
                       entry's logs, "time" (s since the start of this sitting)
    checkpoints/
      step_0000500/    complete or absent: filled under a temporary name, then renamed
        model.safetensors   the weights
        ema.safetensors     their exponential moving average (when train.ema > 0)
        state.safetensors   optimizer tensors and RNG states
        state.json          {"step": 500, "optimizers": skeleton of the optimizer states,
                             "files": {file name: SHA-256}, "digest": SHA-256 of the rest of state.json}
      latest           the name of the newest complete checkpoint (written atomically)
    samples/
      step_0000500/    WAVs written during training, with captions.json (file -> what was asked)
      eval/, recon/    written by `lineage eval`
    metrics.json       written by `lineage eval`

Nothing in a run folder is ever unpickled: weights and states are safetensors, the rest JSON. A checkpoint
is used only if every file it lists matches its checksum and ``state.json`` its digest: flipped bytes, a
deleted EMA file or an edited step count make it be skipped (one warning says which and why) for the
newest older checkpoint that verifies.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from lineage import checkpoint
from lineage import config as cfgmod
from lineage import registry
from lineage.audio import save as save_audio
from lineage.files import write_atomic


# what `--resume` may change: how long and how fast to go on, and how often to save, log and listen - not
# what is trained nor on what (the NaN guard's advice, a lower train.lr or a train.grad_clip, is among them)
SAFE_ON_RESUME = ("train.steps", "train.lr", "train.grad_clip", "train.checkpoint_every", "train.keep_checkpoints",
                  "train.log_every", "train.sample_every", "train.sample_n", "train.sample_seconds", "train.threads",
                  "train.device")


def default_device() -> str:
    """What the Trainer would pick: CUDA, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class Run:
    """One run folder (see the module docstring for its layout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # -- opening and starting -------------------------------------------------------------------------
    @classmethod
    def load(cls, where: str | os.PathLike) -> "Run":
        """A run folder on disk; a zoo entry's name, for the weights it ships (``Run.load("wavenet")``, see
        :mod:`lineage.pretrained`); or a Hugging Face Hub repository id (``owner/name``) holding a run
        folder, which is downloaded (or read from the local Hub cache when offline)."""
        path = Path(where)
        if not path.exists() and str(where) in registry.names():  # an entry's shipped weights
            from lineage import pretrained

            if not pretrained.available(str(where)):
                raise FileNotFoundError(f"{where}: this entry ships no weights; train it with `lineage train "
                                        f"{where}` (or `make pretrain NAME={where}`)")
            return cls(pretrained.folder(str(where)))
        if path.exists() or str(where).count("/") != 1 or str(where).startswith((".", "/")):
            run = cls(path)
            run.record  # noqa: B018 - fails now, in one line, if it is not a run folder
            return run
        from huggingface_hub import snapshot_download

        try:
            local = snapshot_download(repo_id=str(where), allow_patterns=["config.json", "log.jsonl",
                                                                          "checkpoints/*", "metrics.json"])
        except Exception as err:  # offline, unknown id, gated...: one line naming the id
            raise FileNotFoundError(f"{where}: not a run folder here, and the Hugging Face Hub repository "
                                    f"{where!r} could not be fetched ({type(err).__name__})") from None
        return cls(local)

    @classmethod
    def start(cls, path, model: str, cfg, resume: bool = False) -> "Run":
        """Begin a run in ``path`` (``resume``: continue the one there, which must have the same config
        but for the :data:`SAFE_ON_RESUME` fields); writes ``config.json``. A folder where a run started
        but never finished a checkpoint (a failed start, or a kill before the first checkpoint) holds
        nothing to keep: it is cleared and the run starts afresh, with or without ``resume``."""
        run = cls(path)
        record = {"model": model, "config": cfgmod.to_dict(cfg)}
        saved = run.path / "config.json"
        if saved.is_file() and not run.checkpoints:
            warnings.warn(f"{run.path}: a run started here but wrote no checkpoint; starting it afresh",
                          stacklevel=2)
            run._clear()
            resume = False
        if saved.is_file():
            if not resume:
                raise FileExistsError(f"{run.path}: a run already lives here; pass --resume to continue it "
                                      f"or choose another --out")
            old = json.loads(saved.read_text())
            try:  # the saved config read with today's defaults: a field added since is not a difference
                old["config"] = cfgmod.to_dict(cfgmod.from_dict(type(cfg.model), old["config"]))
            except cfgmod.ConfigError:
                pass  # a key that no longer exists: reported as a difference below
            diffs = [d for d in _differences(old, record) if d.removeprefix("config.") not in SAFE_ON_RESUME]
            if diffs:
                raise ValueError(f"{run.path}: --resume with a different config ({', '.join(diffs)}); use the "
                                 f"same preset and --set values as the original run (only "
                                 f"{', '.join(SAFE_ON_RESUME)} may change)")
        elif resume:
            raise FileNotFoundError(f"{run.path}: --resume given but there is no run here")
        run.path.mkdir(parents=True, exist_ok=True)
        write_atomic(saved, json.dumps(record, indent=2))
        run.__dict__["record"] = record
        return run

    def _clear(self) -> None:
        """Remove what a run writes here (and nothing else that may share the folder)."""
        for name in ("config.json", "log.jsonl", "metrics.json"):
            (self.path / name).unlink(missing_ok=True)
        for name in ("checkpoints", "samples"):
            shutil.rmtree(self.path / name, ignore_errors=True)
        self.__dict__.pop("record", None)

    # -- what it is -----------------------------------------------------------------------------------
    @cached_property
    def record(self) -> dict:
        path = self.path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.path}: not a run folder (no config.json); train one with "
                                    f"`lineage train`")
        return json.loads(path.read_text())

    @cached_property
    def entry(self) -> registry.Entry:
        return registry.load(self.record["model"])

    @cached_property
    def config(self) -> cfgmod.RunConfig:
        return cfgmod.from_dict(self.entry.Config, self.record["config"])

    @property
    def started(self) -> bool:
        """Whether a run was begun here (its config is written before anything else)."""
        return (self.path / "config.json").is_file()

    @property
    def sample_rate(self) -> int:
        return self.record["config"]["data"]["sample_rate"]

    # -- checkpoints ----------------------------------------------------------------------------------
    @property
    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        return checkpoint.complete(self.path / "checkpoints")

    @property
    def latest(self) -> Path | None:
        """The checkpoint to continue from: the one ``latest`` names if it verifies, else the newest older
        one that does (each one skipped is named in one warning), or ``None``."""
        return checkpoint.newest_whole(self.path / "checkpoints")

    def write_checkpoint(self, step: int, weights: dict, ema: dict | None, optimizers: dict, rng: dict,
                         keep: int = 2) -> Path:
        """Write ``checkpoints/step_NNNNNNN/`` atomically, point ``latest`` at it and keep the newest
        ``keep``. ``weights``/``ema``/``rng``: name -> tensor; ``optimizers``: part -> state dict."""
        return checkpoint.write(self.path / "checkpoints", step, weights, ema, optimizers, rng, keep)

    def read_checkpoint(self, device: str = "cpu") -> dict:
        """The latest checkpoint: ``{"step", "weights", "ema" (or None), "optimizers", "rng", "path"}``."""
        ckpt = self.latest
        if ckpt is None:
            raise FileNotFoundError(f"{self.path}: no usable checkpoint in {self.path / 'checkpoints'}")
        return checkpoint.read(ckpt, device)

    def model(self, ema: bool = True, device: str | None = None):
        """The trained model with its latest weights (the EMA weights when the run kept them and ``ema``
        is true): a torch model in eval mode on ``device`` (default: :func:`default_device`), or - for an
        entry with ``load_weights`` (JAX) - whatever that hook makes of the arrays."""
        ckpt = self.latest
        if ckpt is None:
            raise FileNotFoundError(f"{self.path}: no checkpoint yet in {self.path / 'checkpoints'}")
        weights = ckpt / ("ema.safetensors" if ema and (ckpt / "ema.safetensors").is_file() else "model.safetensors")
        model = self.entry.build(self.config)
        load_weights = self.entry.capability("load_weights")
        if load_weights is not None:  # another framework: numpy arrays in, its own model out
            from safetensors.numpy import load_file as load_arrays

            return load_weights(model, load_arrays(weights))
        device = device or default_device()
        model.load_state_dict(load_file(weights, device=device))
        return model.to(device).eval()

    def sample(self, n: int = 4, seconds: float = 1.0, seed: int = 0, cond: dict | None = None,
               device: str | None = None) -> np.ndarray:
        """``n`` clips ``[n, channels, samples]`` from the trained model; labels of real clips are drawn
        when the model is conditioned and ``cond`` is not given."""
        model = self.model(device=device)
        if cond is None and self.entry.cond_keys(self.config):
            cond = self.labels().label_batch(n, seed=seed)
        if isinstance(model, torch.nn.Module):  # labels go where the weights are
            on = next(model.parameters()).device
            cond = {k: torch.as_tensor(v).to(on) for k, v in (cond or {}).items()}
        with torch.no_grad():
            return self.entry.sample(model, n, seconds, seed=seed, cond=cond)

    # -- data -----------------------------------------------------------------------------------------
    def dataset(self):
        """The run's data set, loaded and prepared for its model once (the entry's ``prepare``)."""
        if "_dataset" not in self.__dict__:
            from lineage.data import load

            self._dataset = self.entry.prepare(self.config, load(self.config.data))
        return self._dataset

    def data(self):
        """``(trainset, testset)``: the run's data set split as in training (loaded, prepared and split
        once per ``Run``)."""
        if "_split" not in self.__dict__:
            data = self.config.data
            self._split = self.dataset().split(data.holdout, seed=data.seed)
        return self._split

    def labels(self):
        """What sampling needs of the data (``label_batch``, ``caption``, ``vocab``): the training split's
        labels that shipped weights keep beside them (the same draws, with no data set loaded or built),
        or the training split itself."""
        stored = self.path / "labels.json"
        if stored.is_file():
            from lineage.pretrained import StoredLabels

            return StoredLabels(stored)
        return self.data()[0]

    def data_built(self) -> bool:
        """Whether the run's data set is on this machine (built, or a folder of the user's own)."""
        from lineage.data import data_root, read_build_info

        data = self.config.data
        return bool(data.path) or read_build_info(data_root() / data.name) is not None

    # -- log, samples, metrics ------------------------------------------------------------------------
    @property
    def log(self) -> list[dict]:
        """The logged rows; a torn last line (a kill during an append) is left out."""
        path = self.path / "log.jsonl"
        rows = []
        for line in path.read_text().splitlines() if path.is_file() else []:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return rows

    def append_log(self, row: dict) -> None:
        with open(self.path / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def truncate_log(self, step: int) -> None:
        """Forget what a killed run logged after ``step`` (its last checkpoint)."""
        if (self.path / "log.jsonl").is_file():
            kept = [row for row in self.log if row["step"] <= step]
            write_atomic(self.path / "log.jsonl", "".join(json.dumps(r) + "\n" for r in kept))

    def write_samples(self, name: str, audio: np.ndarray, captions: list[str]) -> Path:
        """WAVs ``samples/NAME/00.wav ...`` at the run's rate, with ``captions.json``."""
        folder = self.path / "samples" / name
        paths = [save_audio(folder / f"{i:02d}.wav", a, self.sample_rate) for i, a in enumerate(audio)]
        write_atomic(folder / "captions.json", json.dumps({p.name: c for p, c in zip(paths, captions)}, indent=2))
        return folder

    def has_samples(self, name: str) -> bool:
        """Whether ``samples/NAME/`` was written to the end (its captions are written last)."""
        return (self.path / "samples" / name / "captions.json").is_file()

    def samples(self) -> Path | None:
        """The folder of samples to listen to: the demo's (``lineage demo``), else the evaluation's if
        ``lineage eval`` ran, else the latest written during training."""
        for name in ("demo", "eval"):
            if (self.path / "samples" / name).is_dir():
                return self.path / "samples" / name
        folders = sorted((self.path / "samples").glob("step_*"))
        return folders[-1] if folders else None

    @property
    def metrics(self) -> dict | None:
        path = self.path / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write_metrics(self, metrics: dict) -> None:
        write_atomic(self.path / "metrics.json", json.dumps(metrics, indent=2))

    @property
    def facts(self) -> dict:
        """What the listening page says of a run: parameters (read from the weights' header, nothing
        loaded), data set, steps, final losses, training time."""
        from safetensors import safe_open

        n_params = 0
        if self.latest is not None:
            with safe_open(self.latest / "model.safetensors", framework="np") as f:
                n_params = int(sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys()))
        log = self.log
        last = log[-1] if log else {}
        return {"parameters": n_params, "data": self.record["config"]["data"]["name"],
                "steps": last.get("step", 0),
                "losses": {k: v for k, v in last.items() if k == "loss" or k.startswith("loss_")},
                "train_seconds": last.get("time")}


def _differences(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    return [] if a == b else [path]
