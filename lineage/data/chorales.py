"""`chorales`: Bach chorales from the music21 corpus, played by General MIDI ensembles, with captions.

The `music21` wheel carries the four-part Bach chorales as MusicXML. Each clip takes four seconds of one
chorale from a random bar, gives it a tempo, an ensemble and a register, renders it with the same
SoundFont as `notes` (:mod:`lineage.data.soundfont`), and describes it in words built from those choices
and from the key music21 finds in the score - "a slow chorale in G minor played on strings, in a low
register" - so text-conditioned models have real text paired with real audio.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SECONDS = 4.0
# ensemble -> GM programs for soprano, alto, tenor, bass
PHRASES = {"strings": "played on strings", "organ": "played on an organ", "brass": "played by brass",
           "woodwinds": "played by woodwinds", "choir": "sung by a choir", "piano": "played on a piano",
           "guitars": "played on guitars"}
ENSEMBLES: dict[str, list[int]] = {
    "strings": [40, 41, 42, 43],  # violin, viola, cello, contrabass
    "organ": [19, 19, 19, 19],
    "brass": [56, 60, 57, 58],  # trumpet, French horn, trombone, tuba
    "woodwinds": [73, 68, 71, 70],  # flute, oboe, clarinet, bassoon
    "choir": [52, 52, 52, 52],
    "piano": [0, 0, 0, 0],
    "guitars": [24, 24, 25, 32],
}
TEMPI = {"slow": (56, 72), "moderate": (76, 96), "fast": (100, 126)}  # quarter notes per minute
REGISTERS = {"low": -12, "middle": 0, "high": 12}  # transposition in semitones (the key keeps its name)
MODES = ["major", "minor"]


@lru_cache(maxsize=1)
def chorale_paths() -> list:
    """The four-part chorales of the corpus, in a fixed order (parts counted in the MusicXML itself,
    which is much faster than parsing all 433 scores)."""
    import zipfile

    from music21 import corpus

    def n_parts(path) -> int:
        if path.suffix != ".mxl":
            return 0
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.startswith("META-INF")]
            return z.read(names[0]).count(b"<score-part ") if names else 0

    paths = sorted(corpus.getComposer("bach"), key=lambda p: p.name)
    return [p for p in paths if n_parts(p) == 4]


@lru_cache(maxsize=64)
def _score(path: str):
    """The score parsed from its MusicXML every time. By default music21 keeps a pickle of every parsed
    score in a scratch folder shared by all users (under the system's temporary folder) and loads it on
    the next parse - and unpickling a file someone else could have planted runs their code.
    ``forceSource=True`` neither reads nor writes those pickles."""
    from music21 import corpus

    return corpus.parse(path, forceSource=True).stripTies()


@lru_cache(maxsize=512)
def _notes_and_key(path: str):
    """Per part: (onset, duration) in quarter notes and MIDI pitch; the key, and the bar lines."""
    score = _score(path)
    key = score.analyze("key")
    parts = [[(float(n.offset), float(n.quarterLength), p.midi) for n in part.flatten().notes for p in n.pitches]
             for part in score.parts]
    bars = sorted({float(m.offset) for m in score.parts[0].getElementsByClass("Measure")})
    return parts, key.tonic.name.replace("-", "b"), key.mode, bars, float(score.highestTime)


def make_chorale(index: int, seed: int, sample_rate: int = 16000):
    import pretty_midi

    from lineage.data.soundfont import SAMPLE_RATE, _finish, render_midi

    rng = np.random.default_rng([seed, index])
    paths = chorale_paths()
    chorale = index % len(paths)
    parts, tonic, mode, bars, end = _notes_and_key(str(paths[chorale]))
    ensemble = list(ENSEMBLES)[int(rng.integers(len(ENSEMBLES)))]
    tempo_word = list(TEMPI)[int(rng.integers(len(TEMPI)))]
    bpm = int(rng.integers(*TEMPI[tempo_word]))
    register = list(REGISTERS)[int(rng.integers(len(REGISTERS)))]
    seconds_per_quarter = 60.0 / bpm
    # start at a bar line early enough that four seconds of music follow
    last_start = max(0.0, end - SECONDS / seconds_per_quarter)
    starts = [b for b in bars if b <= last_start] or [0.0]
    start = starts[int(rng.integers(len(starts)))]
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    for voice, notes in enumerate(parts):
        inst = pretty_midi.Instrument(program=ENSEMBLES[ensemble][voice])
        for onset, duration, pitch in notes:
            t0 = (onset - start) * seconds_per_quarter
            t1 = min(t0 + duration * seconds_per_quarter, SECONDS)
            if t1 > 0 and t0 < SECONDS:
                pitch = int(np.clip(pitch + REGISTERS[register], 21, 108))
                inst.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=max(t0, 0.0), end=t1))
        pm.instruments.append(inst)
    audio = _finish(render_midi(pm, SECONDS))[: int(SECONDS * SAMPLE_RATE)]
    caption = f"a {tempo_word} chorale in {tonic} {mode} {PHRASES[ensemble]}, in a {register} register"
    return audio, {"chorale": chorale, "ensemble": ensemble, "mode": mode, "tempo": bpm,
                   "register": register, "text": caption}
