"""Loops for the DAW: a length exact to the tempo, a seamless wrap, and the WAV chunks that say "loop".

A loop of ``bars`` bars of ``beats`` beats at ``bpm`` lasts ``bars x beats x 60 / bpm`` seconds - at
120 bpm, 4 bars of 4/4 are 8 s, 352,800 samples at 44.1 kHz. A DAW lines loops up by that length, so
it must be exact to the sample: :func:`loop_samples` rounds it once, and nothing after changes it.

**The seam.** A generated clip does not end where it began: played round, the jump from its last
sample back to its first is a click. :func:`make_loop` is asked for ``fade`` samples more than the
loop needs and folds that tail over the head with an equal-power crossfade:

    loop[i] = head[i] * sin(pi/2 * i/F) + tail[i] * cos(pi/2 * i/F),   0 <= i < F

where ``tail[i] = audio[n + i]`` is what the model wrote *after* the loop's end. At ``i = 0`` the loop
starts with ``audio[n]``, the sample that followed ``audio[n - 1]`` - its own last sample - so the wrap
is a step the model itself made; by ``i = F`` the head has taken over. Equal power (sin/cos weights,
``sin^2 + cos^2 = 1``) keeps the loudness even through the fade when head and tail are unrelated
sounds, where a linear fade would dip by 3 dB. The other way - generating with the wrap-around in
mind, as a circular model could - needs a model trained for it; the crossfade works on any generator.

**The file.** A WAV is a RIFF file of chunks. After ``fmt `` and ``data``, two more tell a DAW what it
holds: ``smpl`` (the sampler chunk: one forward loop from sample 0 to ``n - 1``) and ``acid`` (ACID's
chunk: tempo, number of beats, the meter; not a one-shot). :func:`write_loop` adds both;
:func:`read_loop` reads them back.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from pathlib import Path

import numpy as np


def loop_seconds(bpm: float, bars: int, beats_per_bar: int = 4) -> float:
    if not (20 <= bpm <= 400):
        raise ValueError(f"bpm must lie in [20, 400], got {bpm:g}")
    if not (isinstance(bars, int) and 1 <= bars <= 64):
        raise ValueError(f"bars must be a whole number in [1, 64], got {bars!r}")
    if not (isinstance(beats_per_bar, int) and 1 <= beats_per_bar <= 16):
        raise ValueError(f"beats per bar must be a whole number in [1, 16], got {beats_per_bar!r}")
    return bars * beats_per_bar * 60.0 / bpm


def loop_samples(bpm: float, bars: int, sample_rate: int, beats_per_bar: int = 4) -> int:
    """The loop's length in samples: ``round(bars x beats x 60 / bpm x rate)``."""
    return round(loop_seconds(bpm, bars, beats_per_bar) * sample_rate)


def make_loop(audio: np.ndarray, n: int, fade: int) -> np.ndarray:
    """``[channels, n]`` from ``audio`` ``[channels, >= n + fade]``: its tail folded over its head (module
    docstring), so that played round it has no seam."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1, np.shape(audio)[-1])
    if not 0 < fade <= n:
        raise ValueError(f"the crossfade must be 1 to {n} samples (the loop's length), got {fade}")
    if audio.shape[-1] < n + fade:
        raise ValueError(f"a loop of {n} samples with a {fade}-sample crossfade needs {n + fade} samples, "
                         f"got {audio.shape[-1]}")
    phase = np.pi / 2 * np.arange(fade) / fade
    loop = audio[:, :n].copy()
    loop[:, :fade] = audio[:, :fade] * np.sin(phase) + audio[:, n:n + fade] * np.cos(phase)
    return loop


def seam(loop: np.ndarray) -> tuple[float, float]:
    """``(the jump at the wrap, the clip's typical jump)``: ``|x[0] - x[n-1]|``, and the 99th percentile of
    ``|x[i+1] - x[i]|`` - a step the clip itself takes once in a hundred - the largest over channels. The
    crossfaded wrap is one of the clip's own steps, so it lies within that; a click lies far above it."""
    loop = np.asarray(loop, dtype=np.float64).reshape(-1, np.shape(loop)[-1])
    wrap = np.abs(loop[:, 0] - loop[:, -1]).max()
    typical = np.percentile(np.abs(np.diff(loop, axis=1)), 99, axis=1).max()
    return float(wrap), float(typical)


def loop_wav(loop: np.ndarray, sample_rate: int, bpm: float, beats: int, meter: tuple[int, int] = (4, 4),
             root_note: int = 60) -> bytes:
    """``loop`` ``[channels, n]`` as the bytes of a 16-bit PCM WAV with ``smpl`` and ``acid`` chunks."""
    import soundfile as sf

    loop = np.asarray(loop, dtype=np.float32).reshape(-1, np.shape(loop)[-1])
    buf = io.BytesIO()
    sf.write(buf, np.clip(loop, -1, 1).T, sample_rate, format="WAV", subtype="PCM_16")
    n = loop.shape[-1]
    # smpl: manufacturer, product, sample period (ns), MIDI unity note, pitch fraction, SMPTE format and
    # offset, number of loops, sampler data; then one loop: id, type 0 = forward, start, end (inclusive),
    # fraction, play count 0 = for ever
    smpl = struct.pack("<9I", 0, 0, round(1e9 / sample_rate), root_note, 0, 0, 0, 1, 0)
    smpl += struct.pack("<6I", 0, 0, 0, n - 1, 0, 0)
    # acid: flags (0x04: stretch; not 0x01, a one-shot), root note, two unused fields, beats, meter
    # denominator, numerator, tempo
    acid = struct.pack("<IHHfIHHf", 0x04, root_note, 0x8000, 0.0, beats, meter[1], meter[0], float(bpm))
    data = bytearray(buf.getvalue())
    for tag, body in ((b"smpl", smpl), (b"acid", acid)):
        data += tag + struct.pack("<I", len(body)) + body
    data[4:8] = struct.pack("<I", len(data) - 8)  # the RIFF size covers every chunk
    return bytes(data)


def write_loop(path: str | Path, loop: np.ndarray, sample_rate: int, bpm: float, beats: int,
               meter: tuple[int, int] = (4, 4), root_note: int = 60) -> Path:
    """Write :func:`loop_wav` to ``path``, atomically (a temporary sibling, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(loop_wav(loop, sample_rate, bpm, beats, meter, root_note))
    os.replace(tmp, path)
    return path


def read_loop(path: str | Path) -> dict:
    """What the ``smpl`` and ``acid`` chunks of a WAV say: ``{"loop_start", "loop_end", "loop_type",
    "bpm", "beats", "meter", "one_shot", "root_note"}`` (keys absent for a missing chunk)."""
    return read_loop_bytes(Path(path).read_bytes(), str(path))


def read_loop_bytes(data: bytes, name: str = "WAV data") -> dict:
    """:func:`read_loop` of a WAV held in memory (an HTTP answer, say)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    found, at = {}, 12
    while at + 8 <= len(data):
        tag, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        body = data[at + 8:at + 8 + size]
        if tag == b"smpl" and len(body) >= 60:
            loops = struct.unpack("<I", body[28:32])[0]
            if loops:
                _, kind, start, end, _, _ = struct.unpack("<6I", body[36:60])
                found.update(loop_start=start, loop_end=end, loop_type=kind, root_note=body[12])
        elif tag == b"acid" and len(body) >= 24:
            flags, root, _, _, beats, denominator, numerator, tempo = struct.unpack("<IHHfIHHf", body[:24])
            found.update(bpm=tempo, beats=beats, meter=(numerator, denominator), one_shot=bool(flags & 1))
        at += 8 + size + (size & 1)  # chunks are padded to an even length
    return found
