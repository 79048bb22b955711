"""Data sets: recipes that build them offline, the on-disk layout, and an in-memory clip set.

A built data set lives in ``datasets/<name>/``::

    README.md        the card (committed): provenance, licence, labels, size, manifest digest
    audio/*.wav      one clip per file (git-ignored)
    manifest.jsonl   one line per clip: file, sha256, labels (git-ignored)
    build.json       recipe, size, seed, sample rate, label vocabularies, manifest digest; written last,
                     so its presence means the build is complete

Builds are deterministic (example *i* is drawn from a generator seeded by ``(seed, i)``) and resumable
(a clip already on disk is kept; audio files are written atomically, so a killed build never leaves a
half-written one). The data root is ``$LINEAGE_DATA`` if set, else the ``datasets/`` folder of the
project checkout that contains the working directory, else ``~/.cache/audio-lineage/datasets``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from lineage.audio import load as load_audio, save as save_audio
from lineage.data import chorales, loaders, soundfont, speech, text, tones
from lineage.data.clipset import ClipSet
from lineage.files import sha256, write_atomic


@dataclass
class Recipe:
    """How to build one data set: ``make_example(index, seed, sample_rate) -> (audio, labels)``."""

    name: str
    description: str
    make_example: Callable
    sample_rate: int
    default_size: int
    vocab: dict[str, list[str]] = field(default_factory=dict)  # categorical labels and their classes
    class_label: str | None = None  # the label models condition on as "class" (timbre, drum, ...)
    workers: int = 1  # examples made at once in threads (for recipes that wait on another program)
    # the caption of a manifest row, templated from its labels, for sets whose rows carry no "text" of their own
    caption: Callable[[dict], str] | None = None


RECIPES: dict[str, Recipe] = {
    "tones": Recipe(
        name="tones",
        description="procedural notes in five timbres (sine, saw, square, bell, Karplus-Strong pluck)",
        make_example=tones.make_example,
        sample_rate=16000,
        default_size=2000,
        vocab={"timbre": tones.TIMBRES},
        class_label="timbre",
    ),
    "notes": Recipe(
        name="notes",
        description="NSynth-like notes of 43 General MIDI instruments in 11 families (SoundFont-rendered)",
        make_example=soundfont.make_note,
        sample_rate=soundfont.SAMPLE_RATE,
        default_size=2000,
        vocab={"instrument": soundfont.instrument_names(), "instrument_family": list(soundfont.FAMILIES)},
        class_label="instrument_family",
        caption=soundfont.note_caption,
    ),
    "drums": Recipe(
        name="drums",
        description="one-shots of the General MIDI drum kit in 12 classes (SoundFont-rendered)",
        make_example=soundfont.make_drum,
        sample_rate=soundfont.SAMPLE_RATE,
        default_size=1200,
        vocab={"drum": list(soundfont.DRUMS)},
        class_label="drum",
        caption=soundfont.drum_caption,
    ),
    "digits": Recipe(
        name="digits",
        description="SC09-like spoken digits zero..nine by 105 espeak-ng voices",
        make_example=speech.make_digit,
        sample_rate=speech.SAMPLE_RATE,
        default_size=2000,
        vocab={"digit": speech.DIGITS,
               "speaker": [f"{a}+{v}" for a in speech.ACCENTS for v in speech.VARIANTS]},
        class_label="digit",
        workers=2,
        caption=speech.digit_caption,
    ),
    "chorales": Recipe(
        name="chorales",
        description="4 s of Bach chorales (music21 corpus) by 7 GM ensembles, with text captions",
        make_example=chorales.make_chorale,
        sample_rate=soundfont.SAMPLE_RATE,
        default_size=800,
        vocab={"ensemble": list(chorales.ENSEMBLES), "mode": chorales.MODES, "register": list(chorales.REGISTERS)},
        class_label="ensemble",
    ),
}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(RECIPES)}")
    return RECIPES[name]


def data_root() -> Path:
    if os.environ.get("LINEAGE_DATA"):
        return Path(os.environ["LINEAGE_DATA"])
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "pyproject.toml").is_file() and (folder / "datasets").is_dir():
            return folder / "datasets"
    return Path.home() / ".cache" / "audio-lineage" / "datasets"


def build(name: str, size: int | None = None, seed: int = 0, root: Path | None = None,
          progress: bool = False) -> Path:
    """Build (or finish building) data set ``name``; returns its folder. Idempotent and resumable."""
    rec = recipe(name)
    size = size or rec.default_size
    folder = (root or data_root()) / name
    info = read_build_info(folder)
    if info and info["size"] == size and info["seed"] == seed:
        return folder
    if info and info["seed"] != seed:
        raise ValueError(f"{folder}: already built with seed {info['seed']}, not {seed}; "
                         f"remove its audio/ folder or set LINEAGE_DATA to another root")
    (folder / "build.json").unlink(missing_ok=True)  # incomplete until written again
    audio_dir = folder / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)

    def make(i: int) -> dict:
        path = audio_dir / f"{i:06d}.wav"
        # example i is made again for its labels; its file is written only if it is missing
        clip, labels = rec.make_example(i, seed, sample_rate=rec.sample_rate)
        if not path.exists():
            save_audio(path, clip, rec.sample_rate)
        return {"file": f"audio/{path.name}", "sha256": sha256(path), **labels}

    with ThreadPoolExecutor(max_workers=rec.workers) as pool:
        results = pool.map(make, range(size))  # in order, whatever order they finish in
        if progress:
            from tqdm import tqdm
            results = tqdm(results, total=size, desc=f"building {name}", unit="clip")
        rows = list(results)
    manifest = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_atomic(folder / "manifest.jsonl", manifest)
    info = {"recipe": name, "size": size, "seed": seed, "sample_rate": rec.sample_rate,
            "vocab": rec.vocab, "manifest_sha256": hashlib.sha256(manifest.encode()).hexdigest()}
    write_atomic(folder / "build.json", json.dumps(info, indent=2))
    return folder


def read_build_info(folder: Path) -> dict | None:
    path = Path(folder) / "build.json"
    return json.loads(path.read_text()) if path.is_file() else None


def verify(folder: Path) -> list[str]:
    """Files whose checksum no longer matches the manifest (empty when the data set is intact)."""
    folder = Path(folder)
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    paths = [clip_path(folder, r["file"], folder / "manifest.jsonl") for r in rows]
    return [r["file"] for r, path in zip(rows, paths) if not path.is_file() or sha256(path) != r["sha256"]]


def clip_path(base: Path, name: str, source: Path) -> Path:
    """The file that ``source`` (a manifest, or a loader's listing of ``base``) names ``name``. A name
    that could lead out of ``base`` - a ``..`` part, or an absolute path elsewhere - is refused: a data
    set reads only its own folder, whatever its manifest says."""
    path = base / name  # an absolute name replaces base: a loader's listing names its files so
    inside = Path(os.path.abspath(path)).is_relative_to(os.path.abspath(base))  # no link is followed
    if ".." in Path(name).parts or not inside:
        raise ValueError(f"{source}: file {name!r} lies outside {base}; a data set names its files "
                         f"inside its own folder, without '..'")
    return path


def load(cfg, build_if_missing: bool = True, root: Path | None = None) -> ClipSet:
    """Load the data set a :class:`~lineage.config.DataConfig` asks for: filtered, resampled to
    ``data.sample_rate`` and cut or padded to ``data.seconds``."""
    if cfg.name in loaders.LOADERS:
        if not cfg.path:
            raise ValueError(f"data set {cfg.name} is read from disk: set data.path to its folder "
                             f"(e.g. --set data.path='/data/{cfg.name}')")
        src = loaders.LOADERS[cfg.name](Path(cfg.path))
        rows, base, class_label, vocab = src.rows, Path(cfg.path), src.class_label, dict(src.vocab)
        caption = None
        for key in rows[0]:
            if key not in ("file", "text") and key not in src.numeric and key not in vocab:
                vocab[key] = sorted({r[key] for r in rows})
    else:
        folder = (root or data_root()) / cfg.name
        rec = recipe(cfg.name)
        info = read_build_info(folder)
        if info is None or info["size"] < cfg.size or info["seed"] != cfg.seed:
            if not build_if_missing:
                raise FileNotFoundError(f"{folder}: data set not built; run `lineage data build {cfg.name}`")
            build(cfg.name, size=max(cfg.size, info["size"] if info and info["seed"] == cfg.seed else 0),
                  seed=cfg.seed, root=root)
        manifest = (folder / "manifest.jsonl").read_text()
        info = read_build_info(folder)
        if hashlib.sha256(manifest.encode()).hexdigest() != info["manifest_sha256"]:
            raise ValueError(f"{folder / 'manifest.jsonl'}: checksum differs from build.json's; the set was "
                             f"changed after it was built - rebuild it with `lineage data build {cfg.name}`")
        rows = [json.loads(line) for line in manifest.splitlines()][: cfg.size]
        base, class_label, vocab, caption = folder, rec.class_label, dict(rec.vocab), rec.caption
    for k, allowed in cfg.select.items():
        unknown = set(allowed) - set(vocab.get(k, []))
        if unknown:
            raise ValueError(f"data.select.{k}: unknown value(s) {sorted(unknown)} for data set "
                             f"{cfg.name}; allowed: {vocab.get(k, [])}")
    lo, hi = cfg.pitch_range
    keep = [r for r in rows if ("pitch" not in r or lo <= r["pitch"] <= hi)
            and all(r.get(k) in allowed for k, allowed in cfg.select.items())]
    if not keep:
        raise ValueError(f"data set {cfg.name}: no clip matches data.pitch_range={cfg.pitch_range} "
                         f"and data.select={cfg.select}")
    return _clipset(cfg, keep, base, vocab, class_label, caption)


def label_names(cfg) -> set[str]:
    """The labels the clips of a data set carry (``class`` included where the set has one), read from its
    manifest or listing without loading any audio (a recipe set is built first if it is missing)."""
    if cfg.name in loaders.LOADERS:
        if not cfg.path:
            raise ValueError(f"data set {cfg.name} is read from disk: set data.path to its folder")
        src = loaders.LOADERS[cfg.name](Path(cfg.path))
        first, class_label = src.rows[0], src.class_label
        captioned = "text" in first
    else:
        folder = data_root() / cfg.name
        if read_build_info(folder) is None:
            build(cfg.name, size=cfg.size, seed=cfg.seed)
        with open(folder / "manifest.jsonl") as f:
            first = json.loads(f.readline())
        class_label = recipe(cfg.name).class_label
        captioned = "text" in first or recipe(cfg.name).caption is not None
    return ({k for k in first if k not in ("file", "sha256", "text")} | ({"class"} if class_label else set())
            | ({"text"} if captioned else set()))


def _clipset(cfg, rows: list[dict], base: Path, vocab: dict, class_label: str | None,
             caption: Callable | None = None) -> ClipSet:
    """Read every row's audio (mono, ``data.sample_rate``, ``data.seconds``) and encode its labels; the
    rows' captions (their ``text``, or ``caption(row)``) become the label ``text``, ``int64 [N, words]``
    (:mod:`lineage.data.text`).

    A file that cannot be read, holds no samples, declares an absurd rate, channel count or length, or
    holds non-finite or absurd samples (:func:`lineage.audio.load`) is skipped, and one warning says how
    many were and names the first; a data set with nothing readable is an error."""
    length = int(round(cfg.seconds * cfg.sample_rate))
    clips, kept, bad = [], [], []
    source = base / "manifest.jsonl" if (base / "manifest.jsonl").is_file() else base
    for r in rows:
        path = clip_path(base, r["file"], source)
        try:
            # the clip's length and a little more (resampling looks a few samples ahead), never the whole file
            audio = load_audio(path, sample_rate=cfg.sample_rate, mono=True, seconds=cfg.seconds + 0.1)[0]
            if audio.size == 0:
                raise ValueError(f"{path}: holds no samples")
        except (ValueError, FileNotFoundError) as err:
            bad.append(str(err))
            continue
        clip = np.zeros(length, dtype=np.float32)
        clip[: min(length, audio.size)] = audio[:length]
        clips.append(clip)
        kept.append(r)
    if bad:
        warnings.warn(f"data set {cfg.name}: skipped {len(bad)} unreadable, empty or broken file(s), e.g. {bad[0]}",
                      stacklevel=3)
    if not kept:
        raise ValueError(f"data set {cfg.name}: none of its {len(rows)} files could be read")
    labels = {}
    for key in kept[0]:
        if key in ("file", "sha256", "text"):
            continue
        table = vocab.get(key)
        labels[key] = np.array([table.index(r[key]) if table else r[key] for r in kept], dtype=np.int64)
    if class_label:
        labels["class"], vocab["class"] = labels[class_label], vocab[class_label]
    texts = [r["text"] for r in kept] if "text" in kept[0] else [caption(r) for r in kept] if caption else None
    if texts is not None:
        vocab["text"] = text.vocabulary(texts)
        labels["text"] = text.encode(texts, vocab["text"])
    return ClipSet(cfg.name, cfg.sample_rate, np.stack(clips), labels, vocab, class_label, texts)
