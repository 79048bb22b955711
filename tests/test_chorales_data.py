"""`chorales`: captions that say what the clip is, determinism, the card's digest."""

from pathlib import Path

import numpy as np

from lineage import data as D
from lineage.config import DataConfig
from lineage.data import chorales as C


def test_captions_describe_their_clips():
    assert len(C.chorale_paths()) > 300
    for i in range(6):
        audio, labels = C.make_chorale(i, seed=1)
        assert audio.shape == (64000,) and np.abs(audio).max() > 0.05
        text = labels["text"]
        assert C.PHRASES[labels["ensemble"]] in text and labels["mode"] in text
        assert f"{labels['register']} register" in text
        low, high = C.TEMPI[text.split()[1]]
        assert low <= labels["tempo"] < high


def test_register_moves_the_music_by_an_octave():
    """Two renderings differing only in register: the spectral centroid rises with it."""
    import librosa

    found = {}
    for i in range(300):
        audio, labels = C.make_chorale(i, seed=2)
        if labels["ensemble"] == "organ" and labels["register"] in ("low", "high"):
            found.setdefault(labels["register"], audio)
        if len(found) == 2:
            break
    centroid = {r: librosa.feature.spectral_centroid(y=a, sr=16000).mean() for r, a in found.items()}
    assert centroid["high"] > 1.5 * centroid["low"]


def test_texts_reach_the_clip_set_and_builds_repeat(tmp_path):
    a = D.build("chorales", size=4, root=tmp_path / "a")
    b = D.build("chorales", size=4, root=tmp_path / "b")
    assert D.read_build_info(a)["manifest_sha256"] == D.read_build_info(b)["manifest_sha256"]
    clips = D.load(DataConfig(name="chorales", size=4, seconds=4.0), root=tmp_path / "a")
    assert clips.audio.shape == (4, 64000) and len(clips.texts) == 4
    assert all(t.startswith("a ") and "chorale in" in t for t in clips.texts)


def test_default_build_matches_its_card(tmp_path):
    card = (Path(__file__).parents[1] / "datasets" / "chorales" / "README.md").read_text()
    assert D.read_build_info(D.build("chorales", root=tmp_path))["manifest_sha256"] in card


class _Payload:
    """Unpickling this writes a marker file: the proof that a planted pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_a_pickle_planted_in_music21s_scratch_folder_never_runs(tmp_path, monkeypatch):
    """music21 caches parsed scores as pickles in a scratch folder shared by every user and loads one
    whenever it is newer than the score: a payload planted under the right name would run during a data
    build. Plant one for the first chorale and parse it as the build does."""
    import pickle
    import zlib

    from music21 import converter

    monkeypatch.setattr(converter.environLocal, "getRootTempDir", lambda: tmp_path)
    path = C.chorale_paths()[0]
    planted = converter.PickleFilter(path).getPickleFp(tmp_path, zipType="gz")
    marker = tmp_path / "payload-ran"
    planted.write_bytes(zlib.compress(pickle.dumps(_Payload(marker))))  # music21's own format
    C._score.cache_clear()
    try:
        score = C._score(str(path))
    except Exception:  # what music21 makes of the payload's return value, once it has run
        score = None
    finally:
        C._score.cache_clear()
    assert not marker.exists(), "the planted pickle was unpickled"
    assert score is not None and len(score.parts) == 4  # parsed from the MusicXML itself
    assert sorted(p.name for p in tmp_path.iterdir()) == [planted.name], "no pickle written either"
