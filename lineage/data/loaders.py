"""Loaders for the public originals, for a user who has them on disk.

Each loader reads a data set in its own published layout and returns :class:`Rows`: one dict per clip
with the audio ``file`` and its labels (categorical labels as strings, numeric ones as integers).
:func:`lineage.data.load` turns rows into a :class:`~lineage.data.ClipSet` - the same object the built
sets give - so any preset trains on them with ``--data NAME --set data.path=...``:

* ``nsynth``   - NSynth (Engel et al. 2017): ``examples.json`` + ``audio/<note>.wav``;
* ``sc09``     - Speech Commands (Warden 2018) restricted to the digits "zero".."nine", as in SC09:
  ``<word>/<speaker>_nohash_<n>.wav``;
* ``ljspeech`` - LJSpeech 1.1: ``metadata.csv`` (``id|text|normalized text``) + ``wavs/<id>.wav``;
* ``folder``   - any folder of audio files, labelled by their first-level subfolder.
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3"}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass
class Rows:
    rows: list[dict]
    class_label: str | None = None
    numeric: set[str] = field(default_factory=set)  # labels that are numbers, not categories
    vocab: dict[str, list[str]] = field(default_factory=dict)  # fixed vocabularies, where known


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found - expected {what}")
    return path


def folder(root: Path) -> Rows:
    """Audio files under ``root/<label>/...``; files directly in ``root`` get the label ``unlabelled``.
    Hidden files and folders (``.cache/``, ``.ipynb_checkpoints/``, ``._x.wav``) are not part of it."""
    root = _need(Path(root), "a folder of audio files")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise ValueError(f"{root}: no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) found")
    rows = []
    for p in files:
        parts = p.relative_to(root).parts
        rows.append({"file": str(p), "label": parts[0] if len(parts) > 1 else "unlabelled"})
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    lonely = sorted(k for k, n in counts.items() if n == 1)
    if lonely:
        warnings.warn(f"{root}: {len(lonely)} label folder(s) hold a single file ({', '.join(lonely[:5])}); "
                      f"a classifier or conditional model learns little from one example", stacklevel=2)
    return Rows(rows, class_label="label")


def nsynth(root: Path) -> Rows:
    """NSynth's JSON + WAV layout (``root`` is e.g. ``nsynth-valid/``)."""
    root = Path(root)
    meta = json.loads(_need(root / "examples.json", "NSynth's examples.json").read_text())
    rows = []
    for note, ex in sorted(meta.items()):
        try:
            rows.append({"file": str(root / "audio" / f"{note}.wav"), "pitch": int(ex["pitch"]),
                         "velocity": int(ex["velocity"]), "instrument": ex["instrument_str"],
                         "instrument_family": ex["instrument_family_str"],
                         "instrument_source": ex["instrument_source_str"]})
        except KeyError as err:
            raise ValueError(f"{root / 'examples.json'}: note {note!r} lacks the field {err}") from None
    return Rows(rows, class_label="instrument_family", numeric={"pitch", "velocity"})


def sc09(root: Path) -> Rows:
    """Speech Commands, the ten digit words only; ``split`` comes from the official list files."""
    root = _need(Path(root), "the Speech Commands folder (zero/, one/, ...)")
    lists = {}
    for split, name in [("valid", "validation_list.txt"), ("test", "testing_list.txt")]:
        if (root / name).is_file():
            lists.update({line.strip(): split for line in (root / name).read_text().splitlines()})
    rows = []
    for word in DIGITS:
        for p in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{p.name}"
            rows.append({"file": str(p), "digit": word, "speaker": p.name.split("_nohash_")[0],
                         "split": lists.get(rel, "train")})
    if not rows:
        raise ValueError(f"{root}: no digit recordings found (expected {root}/zero/*.wav, ...)")
    return Rows(rows, class_label="digit", vocab={"digit": DIGITS})


def ljspeech(root: Path) -> Rows:
    """LJSpeech 1.1: one speaker, transcripts as ``text``."""
    root = Path(root)
    meta = _need(root / "metadata.csv", "LJSpeech's metadata.csv")
    rows = []
    with open(meta, newline="", encoding="utf-8") as f:
        for i, rec in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), start=1):
            if len(rec) < 2:
                raise ValueError(f"{meta}: line {i} has {len(rec)} field(s); expected id|text|normalized")
            rows.append({"file": str(root / "wavs" / f"{rec[0]}.wav"), "text": rec[-1]})
    return Rows(rows)


LOADERS = {"nsynth": nsynth, "sc09": sc09, "ljspeech": ljspeech, "folder": folder}
DESCRIPTIONS = {
    "nsynth": "NSynth (examples.json + audio/), labels pitch, velocity, instrument, family, source",
    "sc09": "Speech Commands, digits zero..nine only (SC09), labels digit, speaker, split",
    "ljspeech": "LJSpeech 1.1 (metadata.csv + wavs/), one speaker, transcripts",
    "folder": "any folder of audio files, labelled by first-level subfolder",
}
