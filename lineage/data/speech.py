"""`digits`: SC09-like spoken digits "zero".."nine", synthesised offline with espeak-ng.

SC09 (the digits of Speech Commands, Warden 2018) is the benchmark of WaveGAN, DiffWave and SaShiMi:
one-second clips of many speakers saying one digit each. Here the speakers are espeak-ng's: seven English
accents x fifteen voice variants, each clip with its own pitch and speaking rate, so every digit is said
by many different "speakers". espeak-ng is a formant synthesizer - robotic, but the words are clear and
the classes are real speech sounds.

It needs Debian's (or Homebrew's) ``espeak-ng`` program; nothing else in the project depends on it.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np

SAMPLE_RATE = 16000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "croak", "whisper"]


def espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise FileNotFoundError("the digits data set is spoken by espeak-ng, which is not installed: "
                                "`apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS)")
    return path


def speak(word: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """espeak-ng's WAV for ``word``: ``-v voice -p pitch (0-99) -s speed (words per minute)``."""
    import soundfile as sf

    wav = subprocess.run([espeak(), "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", word],
                         check=True, capture_output=True).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return audio, sr


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
