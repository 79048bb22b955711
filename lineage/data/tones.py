"""`tones`: the embedded default data set - procedural notes in five timbres, numpy only.

Each example is one note, 1 s at 16 kHz by default: a MIDI pitch between C3 (48) and C6 (84), a
velocity, an ADSR envelope (note-off at 75% of the clip, then release), and one of five timbres:

* ``sine``   - a sine with a little second and third harmonic (nearly pure);
* ``saw``    - a band-limited sawtooth, all harmonics at 1/k;
* ``square`` - a band-limited square, odd harmonics at 1/k;
* ``bell``   - inharmonic partials (ratios 1, 2.76, 5.40, 8.93) each decaying at its own rate;
* ``pluck``  - a Karplus-Strong plucked string (Karplus & Strong 1983): a noise burst circulating in a
  delay line of one period, averaged (low-passed) a little on every trip, so it decays brighter-to-darker.

Every example is drawn from its own generator seeded by ``(seed, index)``, so example *i* is the same
whatever the size of the build, and a build can be resumed or extended example by example.
"""

from __future__ import annotations

import numpy as np

from lineage.audio import midi_to_hz

TIMBRES = ["sine", "saw", "square", "bell", "pluck"]
PITCH_RANGE = (48, 84)
TABLE_SIZE = 4096


def make_example(index: int, seed: int, sample_rate: int = 16000, seconds: float = 1.0):
    """Synthesize example ``index``: ``(audio [samples] float32, labels dict)``."""
    rng = np.random.default_rng([seed, index])
    timbre = TIMBRES[index % len(TIMBRES)]  # balanced classes
    pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
    velocity = int(rng.integers(40, 128))
    audio = render(timbre, pitch, velocity, rng, sample_rate, seconds)
    return audio, {"pitch": pitch, "velocity": velocity, "timbre": timbre}


def render(timbre: str, pitch: int, velocity: int, rng: np.random.Generator,
           sample_rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    n = int(round(seconds * sample_rate))
    f0 = float(midi_to_hz(pitch))
    if timbre == "pluck":
        tone = karplus_strong(f0, n, sample_rate, rng)
        env = release_envelope(n, sample_rate, rng)
    elif timbre == "bell":
        tone = bell(f0, n, sample_rate, rng)
        env = release_envelope(n, sample_rate, rng)
    else:
        tone = periodic(timbre, f0, n, sample_rate, rng)
        env = adsr(n, sample_rate, rng)
    audio = tone * env
    peak = np.abs(audio).max()
    # velocity sets the loudness: peak = 0.9 * (velocity / 127)
    return (audio / max(peak, 1e-9) * 0.9 * velocity / 127).astype(np.float32)


def periodic(timbre: str, f0: float, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Wavetable oscillator: one band-limited period, read at phase ``phi_t = phi_0 + f0 t / sr``."""
    nyquist = sample_rate / 2
    if timbre == "sine":
        amps = {1: 1.0, 2: 0.08, 3: 0.03}
    elif timbre == "saw":  # sawtooth: sum_k sin(2 pi k x) / k
        amps = {k: 1.0 / k for k in range(1, 41)}
    elif timbre == "square":  # square: sum_{k odd} sin(2 pi k x) / k
        amps = {k: 1.0 / k for k in range(1, 41, 2)}
    else:
        raise ValueError(f"unknown tones timbre {timbre!r}; expected one of {TIMBRES}")
    x = np.arange(TABLE_SIZE) / TABLE_SIZE
    # keep only partials below Nyquist: k f0 < sr / 2 (no aliasing)
    table = sum(a * np.sin(2 * np.pi * k * x) for k, a in amps.items() if k * f0 < nyquist)
    phase = (rng.random() + f0 * np.arange(n) / sample_rate) % 1.0
    return np.interp(phase * TABLE_SIZE, np.arange(TABLE_SIZE + 1), np.append(table, table[0]))


def bell(f0: float, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Inharmonic partials, higher ones decaying faster: ``sum_i a_i e^{-t / tau_i} sin(2 pi r_i f0 t)``."""
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    for ratio, amp, tau in [(1.0, 1.0, 0.6), (2.76, 0.6, 0.35), (5.40, 0.35, 0.2), (8.93, 0.2, 0.1)]:
        if ratio * f0 < sample_rate / 2:
            out += amp * np.exp(-t / tau) * np.sin(2 * np.pi * ratio * f0 * t + rng.random() * 2 * np.pi)
    return out


def karplus_strong(f0: float, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: ``y[t] = g ((1 - a) y[t - M] + a y[t - M - 1])`` with ``M + a = sr / f0``.

    The two-tap average both low-passes the loop and, through its weight ``a``, supplies the fractional
    part of the period, so the pitch is right even when ``sr / f0`` is not an integer. The recursion is
    computed a block of ``M`` samples at a time: every sample in a block depends only on earlier blocks.
    """
    delay = sample_rate / f0
    m = int(np.floor(delay))
    a = delay - m
    g = 0.996  # loop gain < 1: the string loses energy every period
    y = np.zeros(n + m + 1)
    y[: m + 1] = rng.uniform(-1, 1, m + 1)  # the pluck: a burst of noise filling the string
    start = m + 1
    while start < len(y):
        stop = min(start + m, len(y))
        idx = np.arange(start, stop)
        y[start:stop] = g * ((1 - a) * y[idx - m] + a * y[idx - m - 1])
        start = stop
    return y[m + 1:]


def adsr(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Attack-decay-sustain-release, note-off at 75% of the clip (as NSynth's notes are held)."""
    attack = rng.uniform(0.005, 0.03)
    decay = rng.uniform(0.05, 0.2)
    sustain = rng.uniform(0.5, 0.9)
    release = rng.uniform(0.08, 0.2)
    t = np.arange(n) / sample_rate
    off = 0.75 * n / sample_rate
    env = np.where(t < attack, t / attack,
                   np.where(t < attack + decay, 1 - (1 - sustain) * (t - attack) / decay, sustain))
    return env * np.clip(1 - (t - off) / release, 0, 1)


def release_envelope(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """For naturally decaying timbres: a 2 ms fade-in and the same note-off release as ADSR."""
    t = np.arange(n) / sample_rate
    off = 0.75 * n / sample_rate
    release = rng.uniform(0.08, 0.2)
    return np.clip(t / 0.002, 0, 1) * np.clip(1 - (t - off) / release, 0, 1)
