"""Typed configs: dataclasses, TOML presets, and ``--set section.key=value`` overrides.

A run is configured by three sections, each a dataclass:

* ``model`` - the zoo entry's own ``Config`` (channels, layers, ...);
* ``data``  - :class:`DataConfig`, which data set and how training examples are cut from it;
* ``train`` - :class:`TrainConfig`, steps, batch size, learning rate, checkpoints...

A preset (``zoo/<name>/presets/tiny.toml``) is a TOML file with ``[model]``, ``[data]`` and ``[train]``
tables that override the dataclass defaults; ``--set`` overrides come last. Every value is checked against
the field's type (and its ``choices``/``min`` metadata), and a bad key or value fails with one line that
names the key, the value and what would be allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """A preset or override that does not fit the config; the message is one line, fit for a CLI."""


@dataclass
class DataConfig:
    """Which data set to train on and how examples are cut from its clips."""

    name: str = "tones"  # a data set from `lineage data list`, or nsynth, sc09, ljspeech, folder
    path: str = ""  # where nsynth, sc09, ljspeech or folder data live on disk
    seconds: float = field(default=1.0, metadata={"min": 0.01, "max": 600.0})  # every clip is cut or padded to this
    size: int = field(default=2000, metadata={"min": 1, "max": 10_000_000})  # examples to build when the set is missing
    seed: int = field(default=0, metadata={"min": 0, "max": 2**32 - 1})  # seed of the data build (not of training)
    sample_rate: int = field(default=16000, metadata={"min": 1000, "max": 384_000})  # clips are resampled to this
    segment: int = field(default=0, metadata={"min": 0, "max": 10_000_000})  # samples per example; 0 = whole clip
    crop: Literal["random", "start"] = "random"  # where a segment is cut from its clip
    pitch_range: list[int] = field(default_factory=lambda: [0, 127])  # keep clips with pitch in [lo, hi]
    select: dict[str, list[str]] = field(default_factory=dict)  # e.g. {timbre = ["sine", "pluck"]}
    holdout: float = field(default=0.1, metadata={"min": 0.0, "max": 0.5})  # fraction held out for eval


@dataclass
class TrainConfig:
    """The Trainer's knobs; the same for every model."""

    steps: int = field(default=1000, metadata={"min": 1, "max": 1_000_000_000})
    batch_size: int = field(default=8, metadata={"min": 1, "max": 65_536})
    lr: float = field(default=1e-3, metadata={"min": 0.0})
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam's (beta1, beta2); GANs: [0.5, 0.9]
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    grad_clip: float = field(default=1.0, metadata={"min": 0.0})  # max gradient norm; 0 = off
    seed: int = field(default=0, metadata={"min": 0, "max": 2**32 - 1})
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    checkpoint_every: int = field(default=250, metadata={"min": 1})
    keep_checkpoints: int = field(default=2, metadata={"min": 1})
    sample_every: int = field(default=0, metadata={"min": 0})  # 0 = only at the end
    sample_n: int = field(default=4, metadata={"min": 1, "max": 1024})
    sample_seconds: float = field(default=0.5, metadata={"min": 0.0, "max": 600.0})
    log_every: int = field(default=10, metadata={"min": 1})
    ema: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})  # EMA decay; 0 = no EMA
    threads: int = field(default=0, metadata={"min": 0, "max": 1024})  # CPU threads for torch; 0 = torch's choice


@dataclass
class RunConfig:
    """Everything a run needs; ``model`` is the zoo entry's own Config."""

    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def make_config(model_config_cls: type, preset: str | Path | None = None,
                overrides: list[str] | None = None) -> RunConfig:
    """Build a RunConfig from the defaults, a TOML preset, then ``section.key=value`` overrides."""
    cfg = RunConfig(model=model_config_cls())
    if preset is not None:
        apply_dict(cfg, load_toml(preset), source=str(preset))
    for item in overrides or []:
        apply_override(cfg, item)
    return cfg


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: preset file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML ({err})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); a preset is a TOML file") from None
    except RecursionError:  # tomllib parses nested arrays recursively
        raise ConfigError(f"{path}: arrays nested too deeply to be a preset") from None


def apply_dict(cfg: RunConfig, values: dict, source: str = "config") -> None:
    """Apply nested ``{section: {key: value}}`` values, checking every key and value."""
    for section, table in values.items():
        target = _section(cfg, section, source)
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of key = value pairs")
        for key, value in table.items():
            set_value(target, f"{section}.{key}", key, value, source)


def apply_override(cfg: RunConfig, item: str) -> None:
    """Apply one ``section.key=value`` override; the value is read as TOML (so 64, 1e-3, true,
    [1, 2] and "text" work), and a bare word that is not TOML is taken as a string."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ConfigError(f"override {item!r} must look like section.key=value, e.g. train.steps=200")
    dotted, raw = item.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except RecursionError:
        raise ConfigError(f"--set {dotted.strip()}: arrays nested too deeply") from None
    except tomllib.TOMLDecodeError:
        value = raw
    set_value(_section(cfg, section, "--set"), f"{section}.{key}", key, value, "--set")


def set_value(obj: Any, dotted: str, key: str, value: Any, source: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if key not in fields:
        section = dotted.split(".")[0]
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f"; did you mean {section}.{close[0]}?" if close else ""
        raise ConfigError(f"{source}: unknown key {dotted} (allowed in [{section}]: "
                          f"{', '.join(fields)}){hint}")
    f = fields[key]
    setattr(obj, key, check_value(dotted, value, _resolve_type(type(obj), key), f.metadata, source))


MAX_INT = 2**20  # the largest integer a field takes unless it states its own "max" (the least: 0, or its "min")


def check_value(dotted: str, value: Any, tp: Any, meta: Any, source: str) -> Any:
    """Return ``value`` converted to type ``tp``, or raise a one-line ConfigError."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {dotted} = {value!r} is not valid: expected {expected}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise bad("one of " + ", ".join(repr(a) for a in args))
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"an integer (e.g. {dotted}=64)")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"a number (e.g. {dotted}=0.001)")
        value = float(value)
        if not math.isfinite(value):  # TOML and --set accept nan and inf; no knob means anything by them
            raise bad("a finite number")
    elif tp is str:
        if not isinstance(value, str):
            raise bad("a string")
    elif origin in (list, tuple):
        if not isinstance(value, list):
            raise bad(f"a list, e.g. {dotted}=[1, 2, 4]")
        value = [check_value(f"{dotted}[{i}]", v, args[0], meta, source) for i, v in enumerate(value)]  # bounds hold per item
    elif origin is dict:
        if not isinstance(value, dict):
            raise bad('a table, e.g. {timbre = ["sine"]}')
        value = {str(k): check_value(f"{dotted}.{k}", v, args[1], {}, source) for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = meta.get("min"), meta.get("max")
        if isinstance(value, int):  # sizes, counts and seeds: none is negative, and past MAX_INT no machine copes
            lo = 0 if lo is None else lo
            hi = MAX_INT if hi is None else hi
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"from {lo:,} to {hi:,}" if lo is not None and hi is not None else \
                f">= {lo:,}" if lo is not None else f"<= {hi:,}"
            raise bad(f"a value {span}")
    return value


def to_dict(cfg: Any) -> dict:
    """The config as plain, JSON-able nested dicts."""
    return dataclasses.asdict(cfg)


def from_dict(model_config_cls: type, values: dict) -> RunConfig:
    """Rebuild a RunConfig saved by :func:`to_dict` (checked like a preset)."""
    cfg = RunConfig(model=model_config_cls())
    apply_dict(cfg, values, source="config.json")
    return cfg


def _section(cfg: RunConfig, section: str, source: str) -> Any:
    names = [f.name for f in dataclasses.fields(cfg)]
    if section not in names:
        raise ConfigError(f"{source}: unknown section [{section}] (allowed: {', '.join(names)})")
    return getattr(cfg, section)


def _resolve_type(cls: type, key: str) -> Any:
    tp = typing.get_type_hints(cls)[key]
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        non_none = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = non_none[0]
    return tp

