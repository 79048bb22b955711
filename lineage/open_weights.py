"""The open-weights models of 2023-2026 behind one call, run by the field's own libraries.

The zoo builds each idea small; this module runs the grown-up checkpoints - Stable Audio Open,
AudioLDM 1 and 2, MusicLDM, MusicGen - through one interface, with Hugging Face ``diffusers`` and
``transformers`` doing the work::

    from lineage import open_weights

    model = open_weights.load("musicgen")            # a Hub id, the local cache, or a folder
    audio, rate = model.generate("a calm piano loop", seconds=8, seed=0)   # audio: [channels, samples]

Each model is a :class:`Wrapper` subclass in ``zoo/open_weights/``, announced in ``pyproject.toml``
under the entry-point group ``lineage.open_weights`` (as zoo entries are under ``lineage.models``), so
``lineage`` knows none of them by name. A wrapper states its facts - paper (through
:mod:`lineage.timeline`), the zoo chapters it grows from, native rate and length, default steps and
guidance, licence, whether the checkpoint is gated - and implements three things: how to load the
pipeline (``_load``), how to run it (``_generate``), and a pipeline of the same architecture with tiny
random components (``tiny_pipeline``), which is what the tests and the chapter run, offline.

Loading never executes code from a checkpoint (remote code stays switched off) and reads weights from
safetensors, or from PyTorch files with ``weights_only=True``, as both libraries do. With no
network and no cached copy, loading fails in one line that names the checkpoint and how to get it.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

GROUP = "lineage.open_weights"
_TOLD: set[str] = set()  # the models whose licence this process has printed


class OpenWeightsError(ValueError):
    """A one-line, user-facing reason that a checkpoint could not be loaded or run."""


class Wrapper:
    """One open-weights model: its facts (class attributes) and a loaded pipeline (``self.pipe``)."""

    name: str  # the name `lineage generate` takes
    system: str  # its name in lineage.timeline, which holds the paper
    hub_id: str  # the published checkpoint
    library: str  # "diffusers" or "transformers"
    pipeline: str  # the class that runs it
    chapters: tuple[str, ...]  # the zoo chapters it is the grown-up form of
    licence: str
    licence_url: str
    gated: bool  # the Hub asks for a token and an accepted licence
    sample_rate: int  # native rate of the published checkpoint
    channels: int
    seconds: float  # the length `generate` makes when asked for none
    max_seconds: float  # the longest clip the published checkpoint makes
    steps: int | None  # default denoising steps; None for an autoregressive model
    guidance: float  # default classifier-free guidance scale
    half: bool = True  # float16 on a GPU
    notes: str = ""  # what the wrapper works around, for the card

    def __init__(self, pipe, device: str = "cpu"):
        self.pipe, self.device = pipe, device

    # -- what each wrapper implements --------------------------------------------------------------
    @classmethod
    def _load(cls, source: str, dtype, token: str | None, local_only: bool):
        raise NotImplementedError

    def _generate(self, prompt: str, seconds: float, seed: int, steps: int | None, guidance: float,
                  negative_prompt: str | None, progress):
        """The waveform, ``[channels, samples]`` (torch or numpy), at :attr:`rate`."""
        raise NotImplementedError

    @classmethod
    def tiny_pipeline(cls, seed: int = 0):
        """A pipeline of the same architecture with tiny random components: what the tests run."""
        raise NotImplementedError

    @property
    def rate(self) -> int:
        """The sample rate of the loaded pipeline (a tiny one runs at its own)."""
        raise NotImplementedError

    @property
    def longest(self) -> float:
        """The longest clip, in seconds, the loaded pipeline can make."""
        return self.max_seconds

    # -- the one interface -------------------------------------------------------------------------
    @classmethod
    def tiny(cls, seed: int = 0) -> Wrapper:
        with quiet():
            return cls(cls.tiny_pipeline(seed))

    @classmethod
    def from_pretrained(cls, source: str | os.PathLike | None = None, device: str | None = None,
                        token: str | None = None) -> Wrapper:
        """Load from a folder, the Hugging Face cache, or the Hub (``source`` defaults to
        :attr:`hub_id`); float16 on a GPU where the model supports it. Prints the licence once."""
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = cls.precision(device)
        source = str(source or cls.hub_id)
        folder = Path(source).expanduser()
        with quiet():
            pipe = cls._find(source, folder, dtype, token)
        cls._tell_licence()
        wrapper = cls(pipe, "cpu")
        return wrapper.to(device)

    @classmethod
    def _find(cls, source: str, folder: Path, dtype, token):
        if folder.is_dir():
            pipe = cls._guarded(lambda: cls._load(str(folder), dtype, token, True), source, folder=True)
        elif folder.is_absolute() or source.startswith((".", "~")) or source.count("/") != 1:
            raise OpenWeightsError(f"{cls.name}: no folder {source}; pass a saved pipeline folder or a Hub "
                                   f"id such as {cls.hub_id}")
        else:
            offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
            try:  # the cache first: no network needed for a checkpoint already downloaded
                pipe = cls._load(source, dtype, token, True)
            except Exception as err:  # noqa: BLE001 - not cached, or cached incompletely: ask the Hub
                if offline or not _missing(err):
                    raise cls._explain(err, source) from None
                pipe = cls._guarded(lambda: cls._load(source, dtype, token, False), source)
        return pipe

    @classmethod
    def precision(cls, device: str):
        """float16 on a GPU where the model runs in it (half the memory, tensor cores), else float32."""
        import torch

        return torch.float16 if cls.half and str(device).startswith("cuda") else torch.float32

    def generate(self, prompt: str, seconds: float | None = None, seed: int = 0, steps: int | None = None,
                 guidance: float | None = None, negative_prompt: str | None = None,
                 device: str | None = None, progress: bool = True, on_step=None) -> tuple[np.ndarray, int]:
        """``(waveform [channels, samples] float32, sample_rate)`` for ``prompt``; the same seed gives
        the same clip on the same device. ``on_step(done, total)`` is called after every denoising or
        decoding step (an exception it raises stops the generation: how a server cancels)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise OpenWeightsError(f"{self.name}: the prompt must be a non-empty string, not {prompt!r}")
        seconds = float(min(self.seconds, self.longest) if seconds is None else seconds)
        if not 0 < seconds <= self.longest:
            raise OpenWeightsError(f"{self.name}: seconds must lie in (0, {self.longest:g}], the longest "
                                   f"clip this checkpoint makes; got {seconds:g}")
        steps = self.steps if steps is None else int(steps)
        if steps is not None and steps < 1:
            raise OpenWeightsError(f"{self.name}: steps must be at least 1, got {steps}")
        guidance = self.guidance if guidance is None else float(guidance)
        if device and device != self.device:
            self.to(device)
        bar = _Bar(self.name, steps, progress, on_step)
        try:
            audio = self._generate(prompt, seconds, int(seed), steps, guidance, negative_prompt, bar)
        finally:
            bar.close()
        audio = np.asarray(audio.float().cpu() if hasattr(audio, "cpu") else audio, dtype=np.float32)
        n = round(seconds * self.rate)
        return np.ascontiguousarray(audio.reshape(-1, audio.shape[-1])[:, :n]), self.rate

    def to(self, device: str) -> Wrapper:
        self.pipe.to(device)
        self.device = device
        return self

    def save_pretrained(self, folder) -> Path:
        with quiet():
            self.pipe.save_pretrained(str(folder))
        return Path(folder)

    @classmethod
    def facts(cls) -> dict:
        """What the card and the chapter tell of this model (the published checkpoint's figures)."""
        from lineage import timeline

        system = timeline.get(cls.system)
        return {"name": cls.name, "system": system.name, "year": system.year, "paper": system.paper,
                "authors": system.authors, "arxiv": system.arxiv, "hub_id": cls.hub_id,
                "library": cls.library, "pipeline": cls.pipeline, "chapters": list(cls.chapters),
                "licence": cls.licence, "licence_url": cls.licence_url, "gated": cls.gated,
                "sample_rate": cls.sample_rate, "channels": cls.channels, "seconds": cls.seconds,
                "max_seconds": cls.max_seconds, "steps": cls.steps, "guidance": cls.guidance,
                "half": cls.half, "notes": cls.notes}

    # -- loading errors, in one line ---------------------------------------------------------------
    @classmethod
    def _guarded(cls, load, source: str, folder: bool = False):
        try:
            return load()
        except Exception as err:  # noqa: BLE001 - every loading failure becomes one line
            raise cls._explain(err, source, folder) from None

    @classmethod
    def _explain(cls, err: Exception, source: str, folder: bool = False) -> OpenWeightsError:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        if folder:
            return OpenWeightsError(f"{cls.name}: {source} is not a saved {cls.pipeline} folder "
                                    f"({type(err).__name__}: {first})")
        if _gated(err):
            return OpenWeightsError(f"{cls.name}: {source} is gated; accept its licence at "
                                    f"https://huggingface.co/{source}, then set HF_TOKEN or pass --token")
        if _missing(err):
            return OpenWeightsError(f"{cls.name}: checkpoint {source} is not in the Hugging Face cache and "
                                    f"the Hub cannot be reached; on a machine with network run `hf download "
                                    f"{source}`, then copy the cache or pass its folder")
        return OpenWeightsError(f"{cls.name}: loading {source} failed ({type(err).__name__}: {first})")

    @classmethod
    def _tell_licence(cls) -> None:
        if cls.name not in _TOLD:
            _TOLD.add(cls.name)
            gated = ", gated" if cls.gated else ""
            print(f"{cls.name}: weights under the {cls.licence}{gated} ({cls.licence_url})", file=sys.stderr)


class quiet:
    """Silence the libraries' own loading and saving bars while a pipeline is read or written."""

    def __enter__(self):
        import diffusers.utils.logging as dl
        import huggingface_hub.utils as hub
        import transformers.utils.logging as tl

        self.undo = [(m.enable_progress_bar, m.is_progress_bar_enabled()) for m in (dl, tl)]
        self.hub, self.verbosity = hub.are_progress_bars_disabled(), (dl.get_verbosity(), tl.get_verbosity())
        for m in (dl, tl):
            m.disable_progress_bar()
        hub.disable_progress_bars()
        # the libraries' own notes would break the one-line error ("Couldn't connect to the Hub..."), and
        # MusicGen's configs put the pad token one past the codebook on purpose, which transformers warns of
        dl.set_verbosity_error()
        tl.set_verbosity_error()
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()  # the vocoders' and autoencoders' own weight_norm is the libraries' affair
        warnings.filterwarnings("ignore", message=".*weight_norm.* is deprecated")

    def __exit__(self, *_):
        import diffusers.utils.logging as dl
        import huggingface_hub.utils as hub
        import transformers.utils.logging as tl

        self.warnings.__exit__(None, None, None)
        dl.set_verbosity(self.verbosity[0])
        tl.set_verbosity(self.verbosity[1])

        for enable, was in self.undo:
            if was:
                enable()
        if not self.hub:
            hub.enable_progress_bars()


def _chain(err: BaseException):
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__


def _gated(err: Exception) -> bool:
    from huggingface_hub.errors import GatedRepoError

    return any(isinstance(e, GatedRepoError) or "gated" in str(e).lower() for e in _chain(err))


def _missing(err: Exception) -> bool:
    """True when the checkpoint is simply not here: not cached, offline, or the Hub unreachable."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    words = ("local_files_only", "offline", "cannot find the requested files", "couldn't connect",
             "connection", "not cached", "cache", "does not appear to have", "no such file")
    return any(isinstance(e, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError))
               or any(w in str(e).lower() for w in words) for e in _chain(err))


class _Bar:
    """The one progress display of a generation: a step counter the wrappers tick (`lineage.progress`)."""

    def __init__(self, name: str, steps: int | None, show: bool, on_step=None):
        self.name, self.total, self.show, self.bar, self.n, self.on_step = name, steps, show, None, 0, on_step

    def reset(self, total: int, unit: str = "step") -> None:
        """Start the display for ``total`` steps (a wrapper calls it once it knows the count)."""
        from lineage.progress import bar

        self.total = total
        if self.show:
            self.bar = bar(total, desc=self.name, unit=unit)

    def __call__(self, *_) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.on_step is not None:
            self.on_step(self.n, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- the registry -----------------------------------------------------------------------------------

def names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def wrapper(name: str) -> type[Wrapper]:
    """The :class:`Wrapper` subclass announced as ``name``."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise OpenWeightsError(f"unknown open-weights model {name!r}; known: {', '.join(sorted(found))} "
                               f"(entry-point group {GROUP})")
    cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Wrapper)):
        raise OpenWeightsError(f"{name}: {found[name].value} is not a lineage.open_weights.Wrapper")
    return cls


def load(name: str, source=None, device: str | None = None, token: str | None = None) -> Wrapper:
    """Model ``name`` loaded from ``source`` (a folder or a Hub id; default: its published checkpoint)."""
    return wrapper(name).from_pretrained(source, device, token or os.environ.get("HF_TOKEN"))


def zoo_family(name: str) -> list[str]:
    """The nearest systems with a zoo entry that ``name``'s system grows from (the walk up
    ``built_on`` stops at each one it reaches)."""
    from lineage import timeline

    seen, queue, found = set(), [wrapper(name).system], []
    while queue:
        system = timeline.get(queue.pop(0))
        for parent in system.built_on:
            if parent not in seen:
                seen.add(parent)
                if timeline.get(parent).zoo:
                    found.append(parent)
                else:
                    queue.append(parent)
    return found
