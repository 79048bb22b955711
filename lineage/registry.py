"""Find zoo entries through the entry-point group ``lineage.models``.

``lineage`` never imports ``zoo``: every model - ours and any a student writes in their own package -
announces itself in its ``pyproject.toml``::

    [project.entry-points."lineage.models"]
    wavenet = "zoo.wavenet"

and the module it names must provide the zoo protocol: ``Config`` (a dataclass), ``build(run_config)``,
``loss(model, batch)`` and ``sample(model, n, seconds, seed, cond=None)``, plus ``SYSTEM``, the
system's name in :mod:`lineage.timeline`, and a ``presets/`` folder beside it.

Optional parts the evaluation uses when present (:mod:`lineage.eval`):

* ``nll(model, batch)`` - mean negative log-likelihood in nats per sample (likelihood models), reported
  on held-out clips in bits per sample;
* ``model.cond_keys`` in the Config - the labels the model is conditioned on; the evaluation then checks
  that generated clips have the asked class (``class``) and pitch (``pitch``);
* ``reconstruct(model, batch, seed)`` - audio rebuilt from ``batch`` (autoencoders, resynthesis
  models, vocoders); the evaluation then scores reconstructions of held-out clips - unless the entry
  also has ``reconstructs(model) -> bool`` and it says this model cannot (DiffWave is a vocoder only
  when built with a mel conditioner).

A model trained by more than one optimizer - a GAN's critic and generator - also provides
``updates(model) -> {part: (submodule, n)}``: one training step updates each part ``n`` times in order,
each time on a fresh batch, with its own AdamW over that submodule's parameters; its ``loss`` is then
``loss(model, batch, part)``.

And one the Trainer and the evaluation use: ``prepare(run_config, clipset) -> clipset``, to compute
per-frame features once for the whole set (``ClipSet.frames``, cropped with the audio in every batch).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

GROUP = "lineage.models"
PROTOCOL = ("Config", "build", "loss", "sample", "SYSTEM")


@dataclass
class Entry:
    """One zoo entry: its module and where its presets and card live."""

    name: str
    module: ModuleType

    @property
    def Config(self) -> type:  # noqa: N802 - it is a class
        return self.module.Config

    def build(self, cfg):
        return self.module.build(cfg)

    def updates(self, model) -> dict:
        """The parts of one training step: ``{part: (module, updates per step)}``, each part with its own
        optimizer - ``{"model": (model, 1)}`` unless the entry says otherwise (a GAN: its critic several
        times, then its generator once)."""
        updates = getattr(self.module, "updates", None)
        return updates(model) if updates else {"model": (model, 1)}

    def loss(self, model, batch, part: str = "model"):
        """The loss of one update; an entry with ``updates`` is told which part is being updated."""
        if hasattr(self.module, "updates"):
            return self.module.loss(model, batch, part)
        return self.module.loss(model, batch)

    def sample(self, model, n: int, seconds: float, seed: int = 0, cond=None):
        return self.module.sample(model, n, seconds, seed=seed, cond=cond)

    def prepare(self, cfg, clips):
        """The data set as this model trains on it (features added by the entry's ``prepare``, if any)."""
        prepare = getattr(self.module, "prepare", None)
        return prepare(cfg, clips) if prepare else clips

    @property
    def folder(self) -> Path:
        return Path(self.module.__file__).parent

    @property
    def system(self) -> str:
        return self.module.SYSTEM

    def presets(self) -> list[str]:
        return sorted(p.stem for p in (self.folder / "presets").glob("*.toml"))

    def preset_path(self, preset: str) -> Path:
        path = Path(preset)
        if path.suffix == ".toml" and path.is_file():
            return path  # a preset file of the user's own
        path = self.folder / "presets" / f"{preset}.toml"
        if not path.is_file():
            raise ValueError(f"{self.name} has no preset {preset!r}; available: "
                             f"{', '.join(self.presets())} (or a path to a .toml file)")
        return path

    def config(self, preset: str = "tiny", data: str | None = None, overrides=()):
        """The run config: the preset, then ``data`` (another data set), then ``section.key=value``
        overrides. A preset's data choices (the filters ``data.select`` and ``data.pitch_range``,
        ``data.crop`` - cutting at the onset suits notes, not speech - and ``data.holdout``, sized for its
        own set) belong to its own data set, so naming another set starts that set unfiltered, randomly
        cropped and with the default split; and a model conditioned on labels the new set lacks
        (``model.cond_keys``, e.g. ``pitch`` for spoken digits) keeps only the labels it has."""
        from lineage.config import DataConfig, apply_override, make_config

        cfg = make_config(self.Config, self.preset_path(preset))
        if data and data != cfg.data.name:
            default = DataConfig()
            cfg.data.select, cfg.data.pitch_range, cfg.data.crop = default.select, default.pitch_range, default.crop
            cfg.data.holdout = default.holdout
            cfg.data.name = data
            keys = getattr(cfg.model, "cond_keys", None)
            if keys:
                from lineage import data as D

                have = D.label_names(cfg.data)
                if hasattr(cfg.model, "cond_classes"):
                    kept = [(k, n) for k, n in zip(keys, cfg.model.cond_classes) if k in have]
                    cfg.model.cond_classes = [n for _, n in kept]
                cfg.model.cond_keys = [k for k in keys if k in have]
        for item in overrides:
            apply_override(cfg, item)
        return cfg

    def card(self) -> str:
        readme = self.folder / "README.md"
        return readme.read_text() if readme.is_file() else ""


def names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load(name: str) -> Entry:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(found)) or 'none'} "
                         f"(entry-point group {GROUP})")
    module = found[name].load()
    if not isinstance(module, ModuleType):
        module = importlib.import_module(found[name].value)
    missing = [attr for attr in PROTOCOL if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"model {name!r} ({module.__name__}) lacks {', '.join(missing)} "
                        f"of the zoo protocol {PROTOCOL}")
    return Entry(name, module)


def entries() -> list[Entry]:
    return [load(n) for n in names()]
