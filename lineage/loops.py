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


# -- MIDI triggering: one loop per note, where the note falls ----------------------------------------

def midi_notes(path: str | Path) -> list[dict]:
    """The notes of a MIDI file in time order, each ``{"pitch", "start", "end"}`` in seconds (the file's
    tempo map applied) with ``"bpm"``, the tempo where the note starts."""
    import pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as err:  # noqa: BLE001 - a missing or broken file: one line
        raise ValueError(f"{path}: not a readable MIDI file ({type(err).__name__}: {err})") from None
    times, tempi = midi.get_tempo_changes()
    notes = sorted((n for inst in midi.instruments if not inst.is_drum for n in inst.notes), key=lambda n: n.start)
    if not notes:
        raise ValueError(f"{path}: no pitched notes to trigger loops with")
    return [{"pitch": n.pitch, "start": n.start, "end": n.end,
             # MIDI stores microseconds per beat (90 bpm is 666,667 us: 89.99995 bpm); to 0.001 bpm
             "bpm": round(float(tempi[max(np.searchsorted(times, n.start, side="right") - 1, 0)]), 3)}
            for n in notes]


def render_midi(backend, path: str | Path, out: str | Path, prompt: str | None = None, seed: int = 0,
                fade_seconds: float = 0.05) -> dict:
    """Trigger one generated loop per note of the MIDI file at ``path``, as a sampler plugin does: each
    lasts the note's length rounded to whole beats at the tempo where it starts (at least one), is
    written to ``out/NN-pPITCH.wav`` as a loop, and is placed at its note's start, to the sample, in
    ``out/render.wav``. A model that takes labels gets the note's pitch; one that takes a prompt, the
    prompt. Returns what was made (also written to ``out/render.json``)."""
    import json

    from lineage.audio import save
    from lineage.files import write_atomic

    out, rate = Path(out), backend.rate
    made, clips = [], []
    for i, note in enumerate(midi_notes(path)):
        beats = max(1, round((note["end"] - note["start"]) * note["bpm"] / 60))
        n = round(beats * 60 / note["bpm"] * rate)
        fade = min(n // 4, round(fade_seconds * rate))
        req = {"seconds": (n + fade) / rate, "seed": seed + i}
        req.update({"cond": {"pitch": note["pitch"]}} if "cond" in backend.takes else {"prompt": prompt or ""})
        audio, _ = backend.generate(req, lambda *_: None)
        loop = make_loop(audio, n, fade)
        name = f"{i:02d}-p{note['pitch']}.wav"
        write_loop(out / name, loop, rate, note["bpm"], beats, root_note=note["pitch"])
        clips.append((round(note["start"] * rate), loop))
        made.append({"file": name, **note, "beats": beats, "start_sample": clips[-1][0], "samples": n})
    end = max(s + loop.shape[-1] for s, loop in clips)
    mix = np.zeros((max(c.shape[0] for _, c in clips), end), dtype=np.float32)
    for start, loop in clips:
        mix[:loop.shape[0], start:start + loop.shape[-1]] += loop
    peak = max(np.abs(mix).max(), 1.0)  # overlapping notes may add past full scale: scale down, never clip
    save(out / "render.wav", mix / peak, rate)
    record = {"midi": str(path), "model": backend.name, "sample_rate": rate, "scaled_by": 1 / peak, "notes": made}
    write_atomic(out / "render.json", json.dumps(record, indent=1) + "\n")
    return record


def add_command(sub, make) -> None:
    s = make(sub, "loops", "trigger one generated loop per note of a MIDI file, aligned to its tempo map",
             "lineage loops ddsp --midi tune.mid -o runs/loops      # shipped weights; each note's pitch\n"
             "lineage loops musicgen --midi clip.mid --prompt \"a funk bass loop\" -o runs/loops", _command)
    s.add_argument("model", help="a zoo entry (its shipped weights), a run folder, or an open-weights model")
    s.add_argument("--midi", required=True, help="the MIDI file whose notes trigger the loops")
    s.add_argument("--prompt", default=None, help="the prompt of an open-weights model (the same for every note)")
    s.add_argument("--from", dest="source", default=None, help="a run folder, Hub id or saved pipeline to load")
    s.add_argument("--seed", type=int, default=0, help="the first note's seed (each next note: one more)")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: what training would pick)")
    s.add_argument("-o", "--out", default="runs/loops", help="folder for the loops, render.wav and render.json")


def _command(args) -> None:
    from lineage.backend import Backend

    backend = Backend(args.model, args.source, args.device)
    if "prompt" in backend.takes and not args.prompt:
        raise ValueError(f"--prompt: {backend.name} needs a prompt for its loops")
    record = render_midi(backend, args.midi, args.out, args.prompt, args.seed)
    print(f"{len(record['notes'])} loops from {args.midi} -> {args.out}/ (render.wav, render.json)")
