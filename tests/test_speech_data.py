"""`digits`, spoken by libespeak-ng from the espeakng-loader wheel: no system program, so these always run."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lineage import data as D
from lineage.data import espeak, speech
from conftest import shared_build


def test_digits_are_balanced_varied_and_deterministic(tmp_path):
    a = D.build("digits", size=30, root=tmp_path / "a")
    b = D.build("digits", size=30, root=tmp_path / "b")
    assert D.read_build_info(a)["manifest_sha256"] == D.read_build_info(b)["manifest_sha256"]
    from lineage.config import DataConfig

    clips = D.load(DataConfig(name="digits", size=30), root=tmp_path / "a")
    assert np.bincount(clips.labels["digit"]).tolist() == [3] * 10
    assert len(set(clips.labels["speaker"].tolist())) >= 15  # many speakers per set
    assert np.all(np.abs(clips.audio).max(axis=1) > 0.7)  # every clip holds its word


def test_digits_differ_as_words_not_only_as_voices():
    """Same speaker settings, different digit: the spectra differ more than across two speakers."""
    import librosa

    def mfcc(word, voice):
        audio, sr = speech.speak(word, voice, 50, 160)
        return librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=13).mean(axis=1)

    same_word = np.linalg.norm(mfcc("six", "en-us+m1") - mfcc("six", "en-gb+m3"))
    other_word = np.linalg.norm(mfcc("six", "en-us+m1") - mfcc("zero", "en-us+m1"))
    assert other_word > same_word


def test_a_word_sounds_the_same_whatever_was_said_before():
    """The library carries state from one utterance to the next; each is said from the same fresh state."""
    first, sr = espeak.speak("seven", "en-us+f3", 40, 180)
    espeak.speak("zero", "en-029+whisper", 70, 130)
    again, _ = espeak.speak("seven", "en-us+f3", 40, 180)
    assert sr == 22050 and first.dtype == np.int16
    assert np.array_equal(first, again)
    assert sr * 0.2 < len(first) < sr * 1.5 and np.abs(first).max() > 3000  # a word, and not a quiet one


def test_variants_and_pitch_change_the_voice():
    plain = speech.speak("two", "en-gb+m1", 50, 160)[0]
    for other in (speech.speak("two", "en-gb+croak", 50, 160)[0],  # the British voice takes its variants
                  speech.speak("two", "en-gb+f3", 50, 160)[0], speech.speak("two", "en-gb+m1", 80, 160)[0]):
        n = min(len(plain), len(other))
        assert np.abs(plain[:n] - other[:n]).mean() > 0.01


def test_unknown_voices_and_settings_are_refused_in_one_line():
    for voice in ("en-us+nosuchvariant", "xx-nowhere+m1", "en-gb+m1"):  # en-gb's file is `en`
        with pytest.raises(ValueError, match=rf"espeak-ng .* has no voice '{re.escape(voice)}'.*e\.g\. 'en-us\+m1'"):
            espeak.speak("six", voice, 50, 160)
    with pytest.raises(ValueError, match="rate 20 is out of range; it is 80-450"):
        espeak.speak("six", "en-us", 50, 20)
    with pytest.raises(ValueError, match="pitch 101 is out of range"):
        espeak.speak("six", "en-us", 101, 160)


def test_missing_loader_is_explained(monkeypatch):
    monkeypatch.setattr(espeak, "_idle", [])  # no helper already running: a new one must find the library
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails as if it were not installed
    with pytest.raises(OSError, match="espeakng-loader, which is not installed: pip install espeakng-loader"):
        speech.make_digit(0, 0)


def test_digits_build_without_any_espeak_program(tmp_path):
    """A build in a fresh process whose PATH holds no espeak-ng, and the same clips as built here."""
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if d and not shutil.which("espeak-ng", path=d) and not shutil.which("espeak", path=d))
    assert shutil.which("espeak-ng", path=path) is None
    code = ("import pathlib, sys; from lineage import data as D; "
            "D.build('digits', size=12, root=pathlib.Path(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, timeout=120,
                   env={**os.environ, "PATH": path, "OMP_NUM_THREADS": "1"})
    here = D.build("digits", size=12, root=tmp_path / "here")
    manifest = (tmp_path / "there" / "digits" / "manifest.jsonl").read_bytes()
    assert hashlib.sha256(manifest).hexdigest() == D.read_build_info(here)["manifest_sha256"]


def test_default_build_matches_its_card():
    card = (Path(__file__).parents[1] / "datasets" / "digits" / "README.md").read_text()
    synth = espeak.info()
    assert f"espeak-ng {synth['espeak-ng']}" in card and f"espeakng-loader {synth['espeakng-loader']}" in card
    assert D.read_build_info(shared_build("digits"))["manifest_sha256"] in card
