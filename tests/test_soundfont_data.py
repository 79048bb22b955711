"""The SoundFont-rendered sets: labels that match the sound, determinism, the cards' digests."""

from pathlib import Path

import librosa
import numpy as np
import pytest

from lineage import audio as A
from lineage import data as D
from lineage.data import soundfont as S
from conftest import shared_build

CARDS = Path(__file__).parents[1] / "datasets"


def test_rendered_notes_sound_at_their_labelled_pitch():
    """One note of every instrument: the estimated pitch matches the label for the large majority."""
    n = len(S.instruments())
    hits, misses = 0, []
    for i in range(n):
        audio, labels = S.make_note(i, seed=0)
        assert audio.shape == (16000,) and np.abs(audio).max() > 0.01, labels
        f0 = librosa.yin(audio[1600:10000], fmin=30, fmax=2500, sr=16000, frame_length=2048)
        heard = float(A.hz_to_midi(np.median(f0)))
        if abs(heard - labels["pitch"]) < 0.5:
            hits += 1
        else:
            misses.append((labels["instrument"], labels["pitch"], round(heard, 1)))
    assert hits >= 0.85 * n, misses


def test_note_labels_follow_the_families():
    for i in range(len(S.instruments())):
        _, labels = S.make_note(i, seed=3)
        programs, (lo, hi) = S.FAMILIES[labels["instrument_family"]]
        assert lo <= labels["pitch"] <= hi and labels["velocity"] in S.NSYNTH_VELOCITIES


def test_drum_hits_start_at_once_and_are_labelled():
    for i in range(len(S.DRUMS)):
        audio, labels = S.make_drum(i, seed=0)
        assert labels["key"] in S.DRUMS[labels["drum"]]
        onset = np.argmax(np.abs(audio) > 0.05 * np.abs(audio).max())
        assert onset < 160, f"{labels['drum']} starts {onset} samples late"  # within 10 ms
    kick, _ = S.make_drum(0, seed=0)
    hat, _ = S.make_drum(4, seed=0)
    centroid = [librosa.feature.spectral_centroid(y=x[:4000], sr=16000).mean() for x in (kick, hat)]
    assert centroid[0] < centroid[1] / 2  # a kick is dark, a closed hat bright


@pytest.mark.parametrize("name", ["notes", "drums"])
def test_builds_are_deterministic(tmp_path, name):
    a = D.build(name, size=8, root=tmp_path / "a")
    b = D.build(name, size=8, root=tmp_path / "b")
    assert D.read_build_info(a)["manifest_sha256"] == D.read_build_info(b)["manifest_sha256"]
    assert D.verify(a) == []


@pytest.mark.parametrize("name", ["notes", "drums"])
def test_default_build_matches_its_card(name):
    folder = shared_build(name)
    assert D.read_build_info(folder)["manifest_sha256"] in (CARDS / name / "README.md").read_text()
