"""A data set in memory: :class:`ClipSet`, and :meth:`ClipSet.take`, the one way a batch is made.

Every batch in the project - a training batch, the held-out clips of the likelihood, the clips a model
reconstructs, an item of the torch ``Dataset`` - is ``take(indices)``: ``audio [B, 1, T]``, each label
``[B]`` and each per-frame feature ``[B, frames]``, all torch tensors. Training batches add random
indices and crops (:meth:`ClipSet.batch`); everything else asks for fixed clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from lineage.audio import fit_length


@dataclass
class ClipSet:
    """Clips ``audio [N, T]`` float32 plus integer labels ``{name: [N]}`` - and, where the clips have
    captions, ``text [N, words]``, each caption's word indices (:mod:`lineage.data.text`).

    Besides its own labels (``timbre``, ``instrument_family``, ``drum``...), every set with a categorical
    label offers it a second time as ``class``, so a model can condition on "the class" of any data set.
    ``features`` are per-frame values a model computed once for the set (``prepare`` in the zoo
    protocol): ``{name: [N, frames]}``, one frame every ``hop`` samples, cropped together with the audio.
    """

    name: str
    sample_rate: int
    audio: np.ndarray
    labels: dict[str, np.ndarray]
    vocab: dict[str, list[str]]
    class_label: str | None = None  # which label is also offered as "class"
    texts: list[str] | None = None  # a transcript or caption per clip, where the set has them
    features: dict[str, np.ndarray] = field(default_factory=dict)
    hop: int = 0

    def __len__(self) -> int:
        return len(self.audio)

    def with_features(self, features) -> "ClipSet":
        """The same clips carrying ``features`` (a :class:`lineage.protocol.Features`)."""
        for name, values in features.values.items():
            if len(values) != len(self):
                raise ValueError(f"feature {name!r} has {len(values)} rows for {len(self)} clips of {self.name}")
        return replace(self, features={**self.features, **features.values}, hop=features.hop)

    def subset(self, mask: np.ndarray) -> "ClipSet":
        texts = [t for t, m in zip(self.texts, mask) if m] if self.texts is not None else None
        return replace(self, audio=self.audio[mask], labels={k: v[mask] for k, v in self.labels.items()},
                       texts=texts, features={k: v[mask] for k, v in self.features.items()})

    def split(self, holdout: float, seed: int = 0) -> tuple["ClipSet", "ClipSet"]:
        """A fixed random (train, held-out) split; the held-out part is ``holdout`` of the clips."""
        order = np.random.default_rng(seed).permutation(len(self))
        n_test = int(round(holdout * len(self)))
        test = np.zeros(len(self), dtype=bool)
        test[order[:n_test]] = True
        return self.subset(~test), self.subset(test)

    def take(self, indices, length: int | None = None, starts=None) -> dict[str, torch.Tensor]:
        """The batch of clips ``indices``: ``audio [B, 1, length]`` (cut or zero-padded to ``length``
        samples, from sample ``starts[i]`` of clip i when given), each label ``[B]`` and each feature
        ``[B, length // hop]`` from the same frame on (a start is moved back to a frame boundary)."""
        idx = np.asarray(indices, dtype=np.int64)
        clips, features = self.audio[idx], {k: v[idx] for k, v in self.features.items()}
        if starts is not None:
            starts = np.asarray(starts, dtype=np.int64)
            if self.features:  # move each crop back to the frame boundary at or before its start
                starts = starts - starts % self.hop
                first, n = starts // self.hop, length // self.hop
                features = {k: np.stack([f[s:s + n] for f, s in zip(v, first)]) for k, v in features.items()}
            clips = np.stack([c[s:s + length] for c, s in zip(clips, starts)])
        elif length is not None:
            clips = fit_length(clips, length)
            features = {k: fit_length(v, length // self.hop) for k, v in features.items()}
        batch = {"audio": torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))[:, None, :]}
        batch.update({k: torch.from_numpy(v[idx]) for k, v in self.labels.items()})
        batch.update({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in features.items()})
        return batch

    def batch(self, rng: np.random.Generator, batch_size: int, segment: int = 0,
              crop: str = "random") -> dict[str, torch.Tensor]:
        """A training batch of ``batch_size`` random clips, each cut to ``segment`` samples (0 = whole
        clips) at a random start (``crop="random"``) or at the start (``"start"``)."""
        idx = rng.integers(0, len(self), batch_size)
        length = self.audio.shape[1]
        if not segment or segment >= length:
            return self.take(idx)
        starts = (rng.integers(0, length - segment + 1, batch_size) if crop == "random"
                  else np.zeros(batch_size, dtype=np.int64))
        return self.take(idx, segment, starts)

    def label_batch(self, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Labels of ``n`` real clips drawn at random: conditioning for sampling that matches the data."""
        idx = np.random.default_rng(seed).integers(0, len(self), n)
        return {k: torch.from_numpy(v[idx]) for k, v in self.labels.items()}

    def torch_dataset(self) -> "torch.utils.data.Dataset":
        """The clips as a map-style torch ``Dataset`` of ``{"audio": [1, T], label: scalar...}``, for a
        ``DataLoader``; ``self.audio`` and ``self.labels`` are the plain numpy path (JAX, sklearn)."""
        return _TorchClips(self)

    def caption(self, labels: dict, i: int) -> str:
        """A short caption for example ``i`` of a label batch: its text where the batch has one (``a loud
        kick drum``), else its labels (``pitch 60, timbre saw``)."""
        if "text" in labels:
            from lineage.data.text import decode

            return decode(labels["text"][i], self.vocab["text"])
        parts = []
        for k, v in labels.items():
            if k == "class":
                continue  # the same as the set's own class label, already described
            value = int(v[i])
            parts.append(f"{k} {self.vocab[k][value] if k in self.vocab else value}")
        return ", ".join(parts)


class _TorchClips(torch.utils.data.Dataset):
    def __init__(self, clips: ClipSet):
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.clips.take([i]).items()}
