"""`digits`: SC09-like spoken digits "zero".."nine", synthesised offline with espeak-ng.

SC09 (the digits of Speech Commands, Warden 2018) is the benchmark of WaveGAN, DiffWave and SaShiMi:
one-second clips of many speakers saying one digit each. Here the speakers are espeak-ng's: seven English
accents x fifteen voice variants, each clip with its own pitch and speaking rate, so every digit is said
by many different "speakers". espeak-ng is a formant synthesizer - robotic, but the words are clear and
the classes are real speech sounds.

The synthesiser is libespeak-ng from the Python package ``espeakng-loader`` (a core dependency), driven
by :mod:`lineage.data.espeak`; no system program is needed.
"""

from __future__ import annotations

import numpy as np

from lineage.data import espeak

SAMPLE_RATE = 16000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "croak", "whisper"]
# espeak-ng selects a voice with a variant by its file's name; the British voice's file is `en` (its
# language is en-gb), and asked for as "en-gb+VARIANT" it would be found by language, without the variant
VOICE_FILES = {"en-gb": "en"}


def speak(word: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """espeak-ng saying ``word`` with ``voice`` (``accent+variant``, e.g. ``en-gb+f3``) at ``pitch`` (0-100)
    and ``speed`` (words per minute): float32 samples in [-1, 1) and their sample rate."""
    accent, plus, variant = voice.partition("+")
    samples, sr = espeak.speak(word, VOICE_FILES.get(accent, accent) + plus + variant, pitch, speed)
    return samples.astype(np.float32) / 32768, sr  # int16 full scale to [-1, 1), as a 16-bit WAV reads


def make_digit(index: int, seed: int, sample_rate: int = SAMPLE_RATE):
    """Example ``index``: digits in turn, a random speaker (accent + variant), pitch and rate; the word
    is trimmed of silence, placed at a random offset in a 1 s clip and peak-normalised to 0.8."""
    from lineage.audio import resample

    rng = np.random.default_rng([seed, index])
    digit = DIGITS[index % len(DIGITS)]
    accent, variant = ACCENTS[rng.integers(len(ACCENTS))], VARIANTS[rng.integers(len(VARIANTS))]
    pitch, speed = int(rng.integers(25, 76)), int(rng.integers(130, 211))
    audio, sr = speak(digit, f"{accent}+{variant}", pitch, speed)
    audio = resample(audio, sr, SAMPLE_RATE)
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    word = audio[loud[0]: loud[-1] + 1][:SAMPLE_RATE]  # trimmed; a word longer than 1 s is cut
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    start = int(rng.integers(0, SAMPLE_RATE - len(word) + 1))
    clip[start: start + len(word)] = word / np.abs(word).max() * 0.8
    return clip, {"digit": digit, "speaker": f"{accent}+{variant}", "pitch_setting": pitch, "speed": speed}


VOICE_WORDS = {"m": "male", "f": "female", "klatt": "synthetic", "croak": "croaking", "whisper": "whispering"}


def digit_caption(row: dict) -> str:
    """``{"digit": "seven", "speaker": "en-gb+f3"}`` -> ``"the word seven, in a female voice"``."""
    variant = row["speaker"].split("+")[1]
    return f"the word {row['digit']}, in a {VOICE_WORDS.get(variant.rstrip('0123456789'), 'male')} voice"
