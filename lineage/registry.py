"""Find zoo entries through the entry-point group ``lineage.models``, and :class:`Entry`, the one adapter
through which the rest of ``lineage`` calls them.

``lineage`` never imports ``zoo``: every model - ours and any a student writes in their own package -
announces itself in its ``pyproject.toml``::

    [project.entry-points."lineage.models"]
    wavenet = "zoo.wavenet"

and the module it names provides the zoo protocol of :mod:`lineage.protocol`, plus a ``presets/``
folder (``tiny.toml``, ``gpu.toml``...) and a ``README.md`` (the model card) beside it.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import numpy as np

from lineage.protocol import HOOKS, OPTIONAL, REQUIRED, Features, Step

GROUP = "lineage.models"
MAX_PARAMS = 500_000_000  # 2 GB of float32 weights, 8 GB with gradients and Adam's moments
_ANY = object()  # "no particular model": asks what the entry has, not what one built model has


@dataclass
class Entry:
    """One zoo entry: its module, read only through the protocol, and where its presets and card live."""

    name: str
    module: ModuleType

    # -- required -----------------------------------------------------------------------------------
    @property
    def Config(self) -> type:  # noqa: N802 - it is a class
        return self.module.Config

    @property
    def system(self) -> str:
        return self.module.SYSTEM

    def build(self, cfg):
        """The entry's model for ``cfg``. Its size is counted first on PyTorch's ``meta`` device (shapes,
        no memory): a model over :data:`MAX_PARAMS`, or one memory cannot hold, is a one-line ConfigError
        instead of an exhausted machine."""
        from lineage.config import ConfigError

        too_big = ConfigError(f"{self.name}: the model this config describes does not fit in memory; lower "
                              f"its sizes (the model.* values)")
        n = 0
        try:
            if not hasattr(self.module, "load_weights"):  # torch's meta device (another framework: built, then counted)
                import torch

                with torch.device("meta"):
                    n = n_params(self.module.build(cfg))
        except (ConfigError, ValueError):
            raise
        except Exception:  # noqa: BLE001 - a model that cannot be counted this way is built as it is
            n = 0
        if n > MAX_PARAMS:
            raise ConfigError(f"{self.name}: the model this config describes has {n:,} parameters, over "
                              f"{MAX_PARAMS:,}; lower its sizes (the model.* values)")
        try:
            model = self.module.build(cfg)
            if n_params(model) > MAX_PARAMS:
                raise ConfigError(f"{self.name}: the model this config describes has {n_params(model):,} "
                                  f"parameters, over {MAX_PARAMS:,}; lower its sizes (the model.* values)")
            return model
        except MemoryError:
            raise too_big from None
        except RuntimeError as err:
            if "allocate" in str(err):
                raise too_big from None
            raise

    def steps(self, model) -> list[Step]:
        """The parts of one training step (:class:`~lineage.protocol.Step`), checked."""
        steps = self.module.steps(model)
        if not steps or not all(isinstance(s, Step) and s.repeats >= 1 for s in steps):
            raise TypeError(f"{self.name}.steps(model) must return a list of lineage.protocol.Step with "
                            f"repeats >= 1, got {steps!r}")
        return steps

    def sample(self, model, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> np.ndarray:
        """``n`` clips as numpy ``float32 [n, channels, T]``, whatever the framework inside."""
        return self._audio("sample", self.module.sample(model, n, seconds, seed=seed, cond=cond), n)

    # -- optional -----------------------------------------------------------------------------------
    def has(self, name: str, model=_ANY) -> bool:
        """Whether the entry - and, given one, this built model - has the optional capability ``name``."""
        if name not in OPTIONAL + HOOKS:
            raise ValueError(f"{name!r} is not part of the zoo protocol; optional: {', '.join(OPTIONAL)}")
        if not hasattr(self.module, name):
            return False
        if model is not _ANY and name in OPTIONAL and hasattr(self.module, "capabilities"):
            return name in self.module.capabilities(model)
        return True

    def capability(self, name: str, model=_ANY):
        """The module's function ``name`` (bound to ``model`` when given), or ``None`` when the entry or
        this built model has not got it."""
        if not self.has(name, model):
            return None
        fn = getattr(self.module, name)
        return fn if model is _ANY else functools.partial(fn, model)

    def capabilities(self, model=_ANY) -> list[str]:
        return [c for c in OPTIONAL if self.has(c, model)]

    def reconstruct(self, model, batch: dict, seed: int = 0) -> np.ndarray:
        """The clips of ``batch`` rebuilt by the model, numpy ``[B, channels, T]``."""
        fn = self.capability("reconstruct", model)
        if fn is None:
            raise ValueError(f"{self.name} (as built) does not reconstruct clips; capabilities: "
                             f"{', '.join(self.capabilities(model)) or 'none'}")
        return self._audio("reconstruct", fn(batch, seed=seed), len(batch["audio"]))

    def prepare(self, cfg, clips):
        """The clip set as this model trains on it: with the features of ``prepare``, if it has one."""
        fn = self.capability("prepare")
        if fn is None:
            return clips
        features = fn(cfg, clips)
        if not isinstance(features, Features):
            raise TypeError(f"{self.name}.prepare must return lineage.protocol.Features, got "
                            f"{type(features).__name__}")
        return clips.with_features(features)

    def facts(self, model) -> dict:
        """What to know of a built model: its parameters, then the entry's own ``facts``."""
        facts = {"parameters": n_params(model)}
        fn = self.capability("facts", model)
        return {**facts, **(fn() if fn else {})}

    def cond_keys(self, cfg) -> list[str]:
        """The labels a model is conditioned on (``Config.cond_keys``; none if it has no such field)."""
        return list(getattr(cfg.model, "cond_keys", None) or [])

    def _audio(self, what: str, audio, n: int) -> np.ndarray:
        if not isinstance(audio, np.ndarray):
            audio = audio.detach().float().cpu().numpy()
        if audio.ndim != 3 or audio.shape[0] != n:
            raise ValueError(f"{self.name}.{what} returned audio of shape {tuple(audio.shape)}; the protocol "
                             f"asks for [n={n}, channels, samples]")
        return audio.astype(np.float32, copy=False)

    # -- files beside the module ----------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return Path(self.module.__file__).parent

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
            for item in overrides:  # data.path first: a set read from disk needs it to tell its labels
                if item.split("=", 1)[0].strip().startswith("data."):
                    apply_override(cfg, item)
            keys = self.cond_keys(cfg)
            if keys:
                from lineage.data import label_names

                have = label_names(cfg.data)
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


def n_params(model) -> int:
    """Trainable and frozen parameters of a torch module, or what a model of another framework counts with
    its own ``n_params()`` (0 if it has neither)."""
    if callable(getattr(model, "n_params", None)):
        return int(model.n_params())
    params = getattr(model, "parameters", None)
    if params is None:
        return 0
    return int(sum(p.numel() for p in params()))


def names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


@dataclass
class Listing:
    """What ``lineage list`` tells of an entry - its system, presets and shipped weights - read from its
    files without importing it (a zoo module imports torch, which takes seconds)."""

    name: str
    system: str
    folder: Path

    def presets(self) -> list[str]:
        return sorted(p.stem for p in (self.folder / "presets").glob("*.toml"))

    @property
    def shipped(self) -> bool:
        return (self.folder / "pretrained" / "config.json").is_file()


def listing(name: str) -> Listing:
    """The :class:`Listing` of entry ``name``: ``SYSTEM`` is read from the module's source when it is a
    plain string there, else the module is imported."""
    import ast
    import importlib.util

    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        return _listing_of(load(name))  # the one-line error for an unknown name
    spec = importlib.util.find_spec(found[name].value)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return _listing_of(load(name))
    for node in ast.parse(Path(spec.origin).read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SYSTEM" for t in node.targets) \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return Listing(name, node.value.value, Path(spec.origin).parent)
    return _listing_of(load(name))


def _listing_of(entry: Entry) -> Listing:
    return Listing(entry.name, entry.system, entry.folder)


def load(name: str) -> Entry:
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(found)) or 'none'} "
                         f"(entry-point group {GROUP})")
    module = found[name].load()
    if not isinstance(module, ModuleType):
        module = importlib.import_module(found[name].value)
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise TypeError(f"model {name!r} ({module.__name__}) lacks {', '.join(missing)} "
                        f"of the zoo protocol {REQUIRED} (lineage.protocol)")
    return Entry(name, module)


def entries() -> list[Entry]:
    return [load(n) for n in names()]
