"""Captions as integers: the word-level tokenizer every text-conditioned model of the zoo shares.

A caption ("a loud open hi-hat") becomes a row of word indices, padded to the longest caption of its data
set, so it travels through batches like any other label: ``batch["text"]`` is ``int64 [B, L]`` and
``vocab["text"]`` lists the words. Index 0 is padding and 1 an unknown word. MusicGen's T5 uses a
SentencePiece vocabulary of 32k pieces learnt from the web; a data set whose captions come from a few
templates needs only the words it has, so the vocabulary is built from its own captions, sorted, and is
stored with the data's other vocabularies (a shipped run keeps it in ``labels.json``).
"""

from __future__ import annotations

import re

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9#]+|[^\sa-z0-9#]")  # words (C#4 stays one) and single punctuation marks


def words(caption: str) -> list[str]:
    """``"A loud open hi-hat"`` -> ``["a", "loud", "open", "hi", "-", "hat"]``."""
    return _WORD.findall(caption.lower())


def vocabulary(captions: list[str]) -> list[str]:
    """``[PAD, UNK, *sorted words]``: the same list for the same captions, whatever their order."""
    return [PAD, UNK, *sorted({w for c in captions for w in words(c)})]


def encode(captions: list[str], vocab: list[str], length: int | None = None) -> np.ndarray:
    """Captions -> ``int64 [N, length]`` (the longest caption's length by default), padded with 0; a word
    not in ``vocab`` becomes 1."""
    index = {w: i for i, w in enumerate(vocab)}
    rows = [[index.get(w, 1) for w in words(c)] for c in captions]
    length = length or max((len(r) for r in rows), default=1) or 1
    out = np.zeros((len(rows), length), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :min(len(r), length)] = r[:length]
    return out


def decode(tokens, vocab: list[str]) -> str:
    """One row of indices back to a caption (padding dropped; punctuation joins its neighbours)."""
    text = " ".join(vocab[int(t)] for t in tokens if int(t) != 0)
    return re.sub(r" ?([-,.;:']) ?", lambda m: m.group(1) if m.group(1) in "-'" else m.group(1) + " ", text).strip()
