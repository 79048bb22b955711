"""`digits`, spoken by espeak-ng (installed by .ci/run; these tests skip where it is absent)."""

import shutil

import numpy as np
import pytest

from lineage import data as D
from lineage.data import speech
from conftest import shared_build

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_digits_are_balanced_varied_and_deterministic(tmp_path):
    a = D.build("digits", size=30, root=tmp_path / "a")
    b = D.build("digits", size=30, root=tmp_path / "b")
    assert D.read_build_info(a)["manifest_sha256"] == D.read_build_info(b)["manifest_sha256"]
    from lineage.config import DataConfig

    clips = D.load(DataConfig(name="digits", size=30), root=tmp_path / "a")
    assert np.bincount(clips.labels["digit"]).tolist() == [3] * 10
    assert len(set(clips.labels["speaker"].tolist())) >= 15  # many speakers per set
    assert np.all(np.abs(clips.audio).max(axis=1) > 0.7)  # every clip holds its word


@needs_espeak
def test_digits_differ_as_words_not_only_as_voices():
    """Same speaker settings, different digit: the spectra differ more than across two speakers."""
    import librosa

    def mfcc(word, voice):
        audio, sr = speech.speak(word, voice, 50, 160)
        return librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=13).mean(axis=1)

    same_word = np.linalg.norm(mfcc("six", "en-us+m1") - mfcc("six", "en-gb+m3"))
    other_word = np.linalg.norm(mfcc("six", "en-us+m1") - mfcc("zero", "en-us+m1"))
    assert other_word > same_word


def test_missing_espeak_is_explained(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        speech.make_digit(0, 0)


@needs_espeak
def test_default_build_matches_its_card():
    from pathlib import Path

    card = (Path(__file__).parents[1] / "datasets" / "digits" / "README.md").read_text()
    assert D.read_build_info(shared_build("digits"))["manifest_sha256"] in card
