import hashlib
import json

import librosa
import numpy as np
import torch
import pytest

from lineage import audio as A
from lineage import data as D
from lineage.audio import fit_length
from lineage.protocol import Features
from lineage.config import DataConfig
from lineage.data import tones
from conftest import shared_build


@pytest.mark.parametrize("timbre", tones.TIMBRES)
@pytest.mark.parametrize("pitch", [48, 61, 84])
def test_every_timbre_sounds_at_its_labelled_pitch(timbre, pitch):
    audio = tones.render(timbre, pitch, 100, np.random.default_rng(0))
    assert audio.dtype == np.float32 and audio.shape == (16000,)
    assert np.abs(audio).max() == pytest.approx(0.9 * 100 / 127, rel=1e-5)
    if timbre == "bell":  # inharmonic: no period for YIN to find, but partial 1 is the loudest
        heard = A.hz_to_midi(A.dominant_frequency(audio[:8000], 16000))
    else:  # a plucked string's octave can outshine its fundamental: ask YIN for the period
        heard = A.hz_to_midi(np.median(librosa.yin(audio[:8000], fmin=80, fmax=1500, sr=16000,
                                                   frame_length=1024)))
    assert abs(heard - pitch) < 0.2, f"{timbre} at MIDI {pitch} sounds at {heard:.2f}"


def test_examples_depend_only_on_seed_and_index():
    a, la = tones.make_example(7, seed=3)
    b, lb = tones.make_example(7, seed=3)
    c, _ = tones.make_example(7, seed=4)
    assert np.array_equal(a, b) and la == lb and not np.array_equal(a, c)


def test_build_is_deterministic_resumable_and_verified(tmp_path):
    first = D.build("tones", size=12, seed=1, root=tmp_path / "a")
    second = D.build("tones", size=12, seed=1, root=tmp_path / "b")
    assert D.read_build_info(first)["manifest_sha256"] == D.read_build_info(second)["manifest_sha256"]
    # an interrupted build: a clip is missing and build.json was never written
    (first / "audio" / "000005.wav").unlink()
    (first / "build.json").unlink()
    D.build("tones", size=12, seed=1, root=tmp_path / "a")
    assert D.verify(first) == []
    assert D.read_build_info(first)["manifest_sha256"] == D.read_build_info(second)["manifest_sha256"]
    # corruption is detected
    (first / "audio" / "000003.wav").write_bytes(b"junk")
    assert D.verify(first) == ["audio/000003.wav"]


def test_load_filters_and_resamples(data_root):
    cfg = DataConfig(size=40, pitch_range=[50, 70], select={"timbre": ["saw", "pluck"]},
                     sample_rate=8000)
    clips = D.load(cfg, root=data_root)
    assert clips.audio.shape[1] == 8000
    assert set(clips.labels["timbre"]) <= {1, 4}
    assert clips.labels["pitch"].min() >= 50 and clips.labels["pitch"].max() <= 70
    rows = [json.loads(r) for r in (data_root / "tones" / "manifest.jsonl").read_text().splitlines()]
    expected = sum(50 <= r["pitch"] <= 70 and r["timbre"] in ("saw", "pluck") for r in rows)
    assert len(clips) == expected > 0
    assert D.label_names(cfg) == set(clips.labels) == {"pitch", "velocity", "timbre", "class"}


def test_unknown_selection_is_a_clear_error(data_root):
    with pytest.raises(ValueError, match="data.select.timbre.*'flute'"):
        D.load(DataConfig(size=40, select={"timbre": ["flute"]}), root=data_root)


def test_batches_are_a_function_of_the_generator(data_root):
    clips = D.load(DataConfig(size=40), root=data_root)
    a = clips.batch(np.random.default_rng([0, 5]), 4, segment=100)
    b = clips.batch(np.random.default_rng([0, 5]), 4, segment=100)
    assert a["audio"].shape == (4, 1, 100)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    train, test = clips.split(0.25)
    assert len(train) + len(test) == len(clips) and len(test) == 10


def test_default_build_digest():
    """The default build matches the digest printed on the data set's card."""
    from pathlib import Path

    card = (Path(__file__).parents[1] / "datasets" / "tones" / "README.md").read_text()
    folder = shared_build("tones")
    assert D.read_build_info(folder)["manifest_sha256"] in card


def test_a_tampered_manifest_is_refused(tmp_path):
    folder = D.build("tones", size=6, root=tmp_path)
    manifest = folder / "manifest.jsonl"
    manifest.write_text(manifest.read_text().replace('"pitch": ', '"pitch": 1', 1))
    with pytest.raises(ValueError, match="manifest.jsonl: checksum differs"):
        D.load(DataConfig(size=6), root=tmp_path)


@pytest.mark.parametrize("name", ["../outside.wav", "audio/../../outside.wav", "/etc/hostname"])
def test_a_manifest_cannot_name_a_file_outside_its_data_set(tmp_path, name):
    folder = D.build("tones", size=6, root=tmp_path / "sets")
    (tmp_path / "outside.wav").write_bytes((folder / "audio" / "000000.wav").read_bytes())
    manifest = folder / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["file"] = name
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    manifest.write_text(text)
    # a planted set comes with a build.json that agrees with its manifest
    info = json.loads((folder / "build.json").read_text())
    info["manifest_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / "build.json").write_text(json.dumps(info))
    for attempt in (lambda: D.verify(folder), lambda: D.load(DataConfig(size=6), root=tmp_path / "sets")):
        with pytest.raises(ValueError, match=r"manifest\.jsonl: file .* lies outside"):
            attempt()


def test_per_frame_features_are_cropped_with_the_audio_on_frame_boundaries():
    hop, n, length = 4, 6, 64
    audio = np.tile(np.arange(length, dtype=np.float32), (n, 1)) + 1000 * np.arange(n)[:, None]
    f0 = audio[:, ::hop] + 0.5  # frame j holds (sample j * hop) + 0.5 of the same clip
    clips = D.ClipSet("mini", 100, audio, {"pitch": np.arange(n)}, {}).with_features(Features(hop, {"f0": f0}))
    batch = clips.batch(np.random.default_rng(0), 16, segment=20, crop="random")
    assert batch["audio"].shape == (16, 1, 20) and batch["f0"].shape == (16, 5)
    first = batch["audio"][:, 0, 0]
    assert torch.all(first % 1000 % hop == 0)  # crops start on a frame boundary
    assert torch.equal(batch["f0"][:, 0], first + 0.5)  # and the features start at the same frame
    assert torch.equal(batch["f0"][:, -1], batch["audio"][:, 0, 16] + 0.5)
    held = clips.split(0.5, seed=0)[1]
    assert held.features["f0"].shape == (3, 16) and held.hop == hop
    whole = held.take([0, 2], length=48)  # fixed clips, cut to 48 samples and 12 frames
    assert whole["audio"].shape == (2, 1, 48) and whole["f0"].shape == (2, 12)
    assert torch.equal(whole["f0"][:, 5], whole["audio"][:, 0, 20] + 0.5)
    padded = held.take([1], length=80)  # zero-padded past the clip's 64 samples, frames too
    assert padded["audio"][0, 0, 64:].abs().sum() == 0 and padded["f0"].shape == (1, 20)


def test_fit_length_cuts_and_pads_numpy_and_torch_alike():
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    for length in (3, 5, 8):
        a, b = fit_length(x, length), fit_length(torch.from_numpy(x), length).numpy()
        assert a.shape == (2, length) and np.array_equal(a, b)
        assert np.array_equal(a[:, :min(5, length)], x[:, :length]) and not a[:, 5:].any()
