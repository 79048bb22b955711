"""The zoo protocol, written down once.

Every system of the lineage - a WaveNet, a GAN, a diffusion vocoder, a JAX state-space model - is a Python
module registered in the entry-point group ``lineage.models`` (see :mod:`lineage.registry`). The rest of
``lineage`` never touches such a module directly: it holds an :class:`lineage.registry.Entry`, the one
adapter, which reads the module through the names below and nothing else.

Required (:class:`ZooModule`):

* ``SYSTEM`` - the system's name in :mod:`lineage.timeline`;
* ``Config`` - a dataclass, the ``[model]`` section of a run config; a model conditioned on labels lists
  them in ``Config.cond_keys`` (``["pitch", "class"]``...);
* ``build(cfg) -> model`` - a fresh model from a whole :class:`lineage.config.RunConfig`;
* ``steps(model) -> [Step]`` - the parts of one training step (:class:`Step`): one for most models, a
  GAN's critic then its generator;
* ``sample(model, n, seconds, seed=0, cond=None) -> audio [n, channels, T]`` at ``cfg.data.sample_rate``;
  ``cond`` holds labels ``{name: [n]}`` drawn from the training data.

Optional capabilities, each a module-level function. :meth:`Entry.capability` answers ``None`` when the
module lacks one, or when ``capabilities(model)`` says this built model has not got it:

* ``nll(model, batch) -> nats`` - mean negative log-likelihood per sample (likelihood models);
* ``token_nll(model, batch) -> nats`` - mean negative log-likelihood per *token* of a model that writes a
  codec's tokens: the likelihood of the codes, not of the samples, so never compared with ``nll``;
* ``reconstruct(model, batch, seed=0) -> [B, channels, T]`` - the clips of ``batch`` rebuilt
  (autoencoders, resynthesis, vocoders); with ``nll`` as well, ``nll`` is the likelihood *given* the
  clip's own code;
* ``encode(model, audio [B, channels, T]) -> codes`` and ``decode(model, codes) -> [B, channels, T]``;
* ``prepare(cfg, clips) -> Features`` - per-frame features computed once for a whole data set (f0,
  loudness...), returned as :class:`Features`; the clip set carries them and crops them with the audio;
* ``facts(model) -> dict`` - what a reader wants to know of a built model (receptive field, frame rate,
  hop...); the number of parameters is added by ``Entry``;
* ``capabilities(model) -> set[str]`` - which of the optional functions a *built* model has, when that
  depends on its config (a DiffWave reconstructs only when built as a vocoder); absent = all it defines.

Batches are dicts: ``audio [B, 1, T]`` (float, in [-1, 1]), every label ``[B]`` (integers) and every
prepared feature ``[B, frames]``. Every loss returns ``(loss, logs)``, ``logs`` a dict of floats shown in
the progress bar and the log.

**The boundary.** Audio and metrics cross it as numpy arrays: ``Entry.sample`` and ``Entry.reconstruct``
return ``float32 [n, channels, T]`` whatever the framework inside. A torch entry is trained by
:class:`lineage.train.Trainer`; an entry in another framework (JAX) brings its own loop as
``train(run, cfg, progress) -> dict`` and writes the same run folder through :class:`lineage.run.Run`
(``write_checkpoint`` with numpy arrays, ``append_log``), and takes its saved arrays back with
``load_weights(model, {name: array}) -> model`` (what ``Run.model`` calls); a run folder is then the
same, whoever trained it (its layout: :mod:`lineage.run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

REQUIRED = ("SYSTEM", "Config", "build", "steps", "sample")
OPTIONAL = ("nll", "token_nll", "reconstruct", "encode", "decode", "prepare", "facts")
# hooks that change how the rest of lineage handles an entry, rather than what it can do
HOOKS = ("capabilities", "train", "load_weights")

Loss = Callable[[Any, dict], tuple[Any, dict]]  # (model, batch) -> (scalar loss, logs)


@dataclass(frozen=True)
class Step:
    """One part of a training step: ``repeats`` updates of ``params`` by their own optimizer, each on a
    fresh batch, minimising ``loss(model, batch)``."""

    name: str  # "model" for a model trained whole; a part's name otherwise ("critic", "generator")
    params: tuple  # the parameters this part's optimizer updates
    repeats: int
    loss: Loss


def single_step(loss: Loss) -> Callable[[Any], list[Step]]:
    """``steps`` for a model trained whole by one optimizer: ``steps = single_step(loss)``."""

    def steps(model) -> list[Step]:
        return [Step("model", tuple(model.parameters()), 1, loss)]

    steps.__doc__ = f"One step: the whole model, once per step, minimising ``{loss.__name__}``."
    return steps


@dataclass
class Features:
    """Per-frame features of every clip of a data set, one frame every ``hop`` samples:
    ``values = {name: [N, frames]}`` (what ``prepare`` returns)."""

    hop: int
    values: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class ZooModule(Protocol):
    """What a module registered in ``lineage.models`` provides (the optional part is in the docstring
    above: a ``Protocol`` cannot say "may")."""

    SYSTEM: str
    Config: type

    def build(self, cfg) -> Any: ...

    def steps(self, model) -> list[Step]: ...

    def sample(self, model, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> Any: ...
