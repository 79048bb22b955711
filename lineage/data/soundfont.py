"""`notes` and `drums`: recorded-instrument data sets rendered offline from a General MIDI SoundFont.

The SoundFont is ``TimGM6mb.sf2`` (Tim Brechbill's 6 MB General MIDI bank, GPL-2.0), which ships inside
the `pretty_midi` wheel; the `midirenderer` wheel renders MIDI bytes with it to 48 kHz stereo WAV. Both
come from pip alone, so these sets build on any machine, offline, in about a minute.

* ``notes`` - NSynth-like single notes: a General MIDI instrument plays one MIDI pitch at one of NSynth's
  five velocities, held for 0.75 s and released, in a 1 s clip (NSynth's notes are 4 s, held 3 s).
  Labels as NSynth has them: ``pitch``, ``velocity``, ``instrument`` (the GM program name) and
  ``instrument_family`` (NSynth's eleven families, from the GM program group).
* ``drums`` - one-shots of the General MIDI percussion kit in 1 s clips, labelled by ``drum`` class
  (kick, snare, clap, hat, tom, cymbal, ...) and the GM ``key``; velocity and a small playback-rate change
  (+-5%, like retuning a drum) vary the hits, since the bank has one sample per drum.

Levels are left as the SoundFont makes them (one fixed gain of 4 for all clips), so velocity stays
audible; clips are mixed to mono and resampled to 16 kHz.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np

RENDER_RATE = 48000
SAMPLE_RATE = 16000
GAIN = 4.0

# NSynth's instrument families -> General MIDI programs that play them, and a playable pitch range
FAMILIES: dict[str, tuple[list[int], tuple[int, int]]] = {
    "bass": ([32, 33, 34, 38], (28, 60)),
    "brass": ([56, 57, 60, 61], (48, 84)),
    "flute": ([72, 73, 74, 75], (60, 96)),
    "guitar": ([24, 25, 26, 27], (40, 80)),
    "keyboard": ([0, 1, 4, 6], (36, 96)),
    "mallet": ([9, 11, 12, 13], (48, 96)),
    "organ": ([16, 17, 19, 20], (36, 84)),
    "reed": ([64, 65, 66, 71], (48, 84)),
    "string": ([40, 41, 42, 48], (36, 96)),
    "synth_lead": ([80, 81, 82, 84], (36, 96)),
    "vocal": ([52, 53, 54], (48, 79)),
}
NSYNTH_VELOCITIES = [25, 50, 75, 100, 127]

# General MIDI percussion keys grouped into drum classes
DRUMS: dict[str, list[int]] = {
    "kick": [35, 36],
    "snare": [38, 40],
    "rim": [37],
    "clap": [39],
    "hat_closed": [42, 44],
    "hat_open": [46],
    "tom": [41, 43, 45, 47, 48, 50],
    "crash": [49, 57],
    "ride": [51, 59],
    "shaker": [54, 69, 70],
    "cowbell": [56],
    "conga": [62, 63, 64],
}


def instruments() -> list[tuple[str, int]]:
    """(family, program) for every instrument of the set, in a fixed order."""
    return [(fam, prog) for fam, (programs, _) in FAMILIES.items() for prog in programs]


def instrument_names() -> list[str]:
    import pretty_midi

    return [pretty_midi.program_to_instrument_name(p) for _, p in instruments()]


@lru_cache(maxsize=1)
def soundfont_bytes() -> bytes:
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the General MIDI SoundFont that ships with pretty_midi is missing; "
                                f"reinstall it with `pip install --force-reinstall pretty_midi`")
    return path.read_bytes()


def render(program: int, pitch: int, velocity: int, hold: float, seconds: float,
           drum: bool = False) -> np.ndarray:
    """Render one note: mono float32 at 48 kHz, exactly ``seconds`` long."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=program, is_drum=drum)
    inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=0.0, end=hold))
    pm.instruments.append(inst)
    return render_midi(pm, seconds)


def render_midi(pm, seconds: float) -> np.ndarray:
    """Render a ``pretty_midi.PrettyMIDI`` with the SoundFont: mono float32 at 48 kHz, ``seconds`` long."""
    import midirenderer
    import pretty_midi
    import soundfile as sf

    # a harmless event at the end keeps the renderer going through the last release
    pm.instruments[0].control_changes.append(pretty_midi.ControlChange(number=7, value=100, time=seconds))
    midi = io.BytesIO()
    pm.write(midi)
    wav, sr = sf.read(io.BytesIO(midirenderer.render_wave_from(soundfont_bytes(), midi.getvalue())),
                      dtype="float32", always_2d=True)
    n = int(round(seconds * RENDER_RATE))
    out = np.zeros(n, dtype=np.float32)
    mono = wav.mean(axis=1)[:n]
    out[: len(mono)] = mono
    return out


def _finish(audio48: np.ndarray, rate: float = 1.0) -> np.ndarray:
    """48 kHz -> 16 kHz (optionally played ``rate`` times faster), fixed gain, clipped to [-1, 1]."""
    from lineage.audio import resample

    n = int(round(len(audio48) * SAMPLE_RATE / RENDER_RATE))
    # playing `rate` times faster == resampling from 48 kHz * rate to 16 kHz
    audio = resample(audio48, int(round(RENDER_RATE * rate)), SAMPLE_RATE)
    audio = np.pad(audio, (0, max(0, n - len(audio))))[:n]
    return np.clip(audio * GAIN, -1.0, 1.0).astype(np.float32)


def make_note(index: int, seed: int, sample_rate: int = SAMPLE_RATE):
    """Example ``index`` of ``notes``: instruments in turn, random pitch in range and velocity."""
    rng = np.random.default_rng([seed, index])
    table = instruments()
    family, program = table[index % len(table)]
    lo, hi = FAMILIES[family][1]
    pitch = int(rng.integers(lo, hi + 1))
    velocity = int(rng.choice(NSYNTH_VELOCITIES))
    audio = _finish(render(program, pitch, velocity, hold=0.75, seconds=1.0))
    return audio, {"pitch": pitch, "velocity": velocity, "instrument": instrument_names()[index % len(table)],
                   "instrument_family": family}


def make_drum(index: int, seed: int, sample_rate: int = SAMPLE_RATE):
    """Example ``index`` of ``drums``: classes in turn, a random key of the class, velocity and rate."""
    rng = np.random.default_rng([seed, index])
    classes = list(DRUMS)
    drum = classes[index % len(classes)]
    key = int(rng.choice(DRUMS[drum]))
    velocity = int(rng.integers(50, 128))
    rate = float(rng.uniform(0.95, 1.05))
    audio = _finish(render(0, key, velocity, hold=0.1, seconds=1.1, drum=True), rate=rate)
    return audio[:SAMPLE_RATE], {"drum": drum, "key": key, "velocity": velocity}


# --- captions, templated from the labels (the sets' text for text-conditioned models) --------------------
# a drum class in words, and the GM keys some classes split into (a low tom is not a high tom)
DRUM_WORDS = {"kick": "kick drum", "snare": "snare drum", "rim": "rim shot", "clap": "hand clap",
              "hat_closed": "closed hi-hat", "hat_open": "open hi-hat", "tom": "tom", "crash": "crash cymbal",
              "ride": "ride cymbal", "shaker": "shaker", "cowbell": "cowbell", "conga": "conga"}
DRUM_KEY_WORDS = {41: "low", 43: "low", 45: "middle", 47: "middle", 48: "high", 50: "high", 62: "muted",
                  63: "open", 64: "low", 44: "pedal"}
NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def dynamic(velocity: int) -> str:
    """A MIDI velocity in words: under 40 very soft, then soft, medium, loud, and from 115 very loud."""
    return next(word for top, word in [(40, "very soft"), (70, "soft"), (95, "medium"), (115, "loud"),
                                       (128, "very loud")] if velocity < top)


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name, 60 -> ``C4``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def drum_caption(row: dict) -> str:
    """``{"drum": "hat_open", "key": 46, "velocity": 120}`` -> ``"a very loud open hi-hat"``."""
    key_word = DRUM_KEY_WORDS.get(row["key"])
    return f"a {dynamic(row['velocity'])} {key_word + ' ' if key_word else ''}{DRUM_WORDS[row['drum']]}"


def note_caption(row: dict) -> str:
    """``{"instrument": "Flute", "pitch": 72, "velocity": 50, ...}`` -> ``"a soft flute note, C5"``."""
    instrument = row["instrument"].lower().replace("(", "").replace(")", "")
    return f"a {dynamic(row['velocity'])} {instrument} note, {note_name(row['pitch'])}"
