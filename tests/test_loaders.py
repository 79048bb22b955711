"""Loaders for the public originals, each run on a miniature copy fabricated in its published layout."""

import json

import numpy as np
import pytest

from lineage import audio as A
from lineage import data as D
from lineage.config import DataConfig


def tone(path, freq=440.0, sr=16000, seconds=0.5, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    A.save(path, np.tile(x, (channels, 1)), sr)


def test_nsynth_layout(tmp_path):
    root = tmp_path / "nsynth-valid"
    meta = {}
    for i, (fam, pitch) in enumerate([("guitar", 60), ("brass", 64), ("guitar", 67)]):
        note = f"{fam}_acoustic_00{i}-0{pitch}-100"
        tone(root / "audio" / f"{note}.wav", A.midi_to_hz(pitch), seconds=4.0)
        meta[note] = {"pitch": pitch, "velocity": 100, "instrument_str": f"{fam}_acoustic_00{i}",
                      "instrument_family_str": fam, "instrument_source_str": "acoustic", "sample_rate": 16000}
    (root / "examples.json").write_text(json.dumps(meta))
    clips = D.load(DataConfig(name="nsynth", path=str(root), seconds=1.0, select={"instrument_family": ["guitar"]}))
    assert clips.audio.shape == (2, 16000)
    assert clips.vocab["instrument_family"] == ["brass", "guitar"]
    assert list(clips.labels["pitch"]) == [60, 67] and set(clips.labels["class"]) == {1}
    heard = A.hz_to_midi(A.dominant_frequency(clips.audio[1], 16000))
    assert abs(heard - 67) < 0.1  # the audio belongs to its label


def test_sc09_keeps_digits_only_and_reads_the_splits(tmp_path):
    root = tmp_path / "speech_commands"
    for word, speaker in [("zero", "aa11"), ("nine", "bb22"), ("nine", "cc33"), ("yes", "aa11")]:
        tone(root / word / f"{speaker}_nohash_0.wav", sr=16000, seconds=1.0)
    (root / "testing_list.txt").write_text("nine/cc33_nohash_0.wav\n")
    clips = D.load(DataConfig(name="sc09", path=str(root)))
    assert len(clips) == 3  # "yes" is not a digit
    assert clips.vocab["digit"][int(clips.labels["digit"][0])] == "zero"
    assert sorted(clips.vocab["split"]) == ["test", "train"]
    test_only = D.load(DataConfig(name="sc09", path=str(root), select={"split": ["test"]}))
    assert len(test_only) == 1
    # the label names without reading audio are the labels the loaded clips carry
    assert D.label_names(DataConfig(name="sc09", path=str(root))) == set(clips.labels)


def test_ljspeech_reads_transcripts_and_resamples(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    tone(root / "wavs" / "LJ001-0001.wav", sr=22050, seconds=2.0)
    tone(root / "wavs" / "LJ001-0002.wav", sr=22050, seconds=0.5)
    (root / "metadata.csv").write_text("LJ001-0001|Printing, in the only sense|Printing, in the only sense\n"
                                       "LJ001-0002|is 2 words|is two words\n")
    clips = D.load(DataConfig(name="ljspeech", path=str(root), seconds=1.0, sample_rate=16000))
    assert clips.audio.shape == (2, 16000)
    assert clips.texts == ["Printing, in the only sense", "is two words"]
    assert np.abs(clips.audio[1, 9000:]).max() == 0  # 0.5 s padded to 1 s with silence
    assert abs(A.dominant_frequency(clips.audio[0], 16000) - 440) < 1


def test_folder_labels_from_subfolders_and_bad_files(tmp_path):
    root = tmp_path / "my_sounds"
    for name in ["a", "b"]:
        tone(root / "cats" / f"{name}.wav", channels=2, sr=44100)  # stereo, another rate
    tone(root / "dogs" / "only.flac")
    (root / "dogs" / "broken.wav").write_bytes(b"RIFF....not audio")
    A.save(root / "dogs" / "empty.wav", np.zeros((1, 0), dtype=np.float32), 16000)
    (root / "notes.txt").write_text("ignored")
    with pytest.warns(UserWarning) as record:
        clips = D.load(DataConfig(name="folder", path=str(root), seconds=0.25))
    messages = " | ".join(str(w.message) for w in record)
    assert "skipped 2 unreadable, empty or broken file(s)" in messages and "broken.wav" in messages
    assert "single file" not in messages  # dogs has three files on disk, one readable
    assert clips.audio.shape == (3, 4000) and clips.vocab["label"] == ["cats", "dogs"]


def test_folder_warns_about_a_label_with_one_file(tmp_path):
    tone(tmp_path / "x" / "a.wav")
    tone(tmp_path / "x" / "b.wav")
    tone(tmp_path / "y" / "c.wav")
    with pytest.warns(UserWarning, match="single file.*y"):
        D.load(DataConfig(name="folder", path=str(tmp_path)))


@pytest.mark.parametrize("name, hint", [("nsynth", "examples.json"), ("ljspeech", "metadata.csv"),
                                        ("sc09", "zero/"), ("folder", "no audio files")])
def test_missing_or_empty_data_sets_fail_clearly(tmp_path, name, hint):
    with pytest.raises((FileNotFoundError, ValueError), match=hint):
        D.load(DataConfig(name=name, path=str(tmp_path)))
    with pytest.raises(ValueError, match="data.path"):
        D.load(DataConfig(name=name))


def test_torch_dataset_and_numpy_paths_agree(data_root):
    from torch.utils.data import DataLoader

    clips = D.load(DataConfig(size=40), root=data_root)
    batch = next(iter(DataLoader(clips.torch_dataset(), batch_size=4)))
    assert batch["audio"].shape == (4, 1, 16000)
    assert np.array_equal(batch["audio"][2, 0].numpy(), clips.audio[2])
    assert np.array_equal(batch["class"].numpy(), clips.labels["timbre"][:4])
