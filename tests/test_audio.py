import librosa
import numpy as np
import pytest
import torch

from lineage import audio as A


def test_mu_law_compress_matches_librosa():
    x = np.linspace(-1, 1, 2001)
    ours = A.mu_law_compress(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, librosa.mu_compress(x, mu=255, quantize=False), atol=1e-12)
    np.testing.assert_allclose(A.mu_law_expand(torch.from_numpy(ours)).numpy(),
                               librosa.mu_expand(ours, mu=255, quantize=False), atol=1e-12)


def test_mu_law_quantisation_is_finer_near_zero():
    x = torch.linspace(-1, 1, 20001, dtype=torch.float64)
    q = A.mu_law_encode(x)
    assert q.min() == 0 and q.max() == 255 and int(A.mu_law_encode(torch.zeros(1))) == 128
    err = (A.mu_law_decode(q).double() - x).abs()
    # steps grow with amplitude: about 2e-4 near silence, 50 times coarser near full scale
    quiet, loud = err[x.abs() < 0.01].max(), err[x.abs() > 0.9].max()
    assert quiet < 5e-4 and 0.01 < loud < 0.025


def test_save_load_round_trip(tmp_path):
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = A.save(tmp_path / "a.wav", tone, 16000)
    back = A.load(path)
    assert back.shape == (1, 16000)
    np.testing.assert_allclose(back[0], tone, atol=1 / 32768 + 1e-6)
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left nothing behind
    assert path.stat().st_mode & 0o044  # readable by others, like any file written with open()


def test_resample_keeps_pitch_and_duration(tmp_path):
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 440 * t)[None].astype(np.float32)
    A.save(tmp_path / "a.wav", A.to_stereo(tone), 16000)
    down = A.load(tmp_path / "a.wav", sample_rate=8000, mono=True)
    assert down.shape == (1, 8000)
    assert abs(A.dominant_frequency(down, 8000) - 440) < 1.0


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        A.load(tmp_path / "nope.wav")
    (tmp_path / "bad.wav").write_text("not audio")
    with pytest.raises(ValueError, match="bad.wav"):
        A.load(tmp_path / "bad.wav")


def test_normalize_and_channels():
    x = np.array([[0.1, -0.2, 0.05]], dtype=np.float32)
    assert np.isclose(np.abs(A.normalize(x, 0.5)).max(), 0.5)
    assert A.to_stereo(x).shape == (2, 3)
    assert A.to_mono(A.to_stereo(x)).shape == (1, 3)
    assert A.hz_to_midi(A.midi_to_hz(60.0)) == pytest.approx(60.0)


def test_batched_torch_log_mel_equals_librosa_frame_for_frame():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, 4000))).astype(np.float32)
    frames = A.log_mel_frames(torch.from_numpy(x)[:, None], 8000, n_mels=40, n_fft=512, hop_length=64)
    assert frames.shape == (2, 40, 4000 // 64)
    for clip, ours in zip(x, frames):
        ref = A.log_mel(clip, 8000, n_mels=40, n_fft=512, hop_length=64)[:, : 4000 // 64]
        np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)


def test_mel_unit_range_maps_100_db_to_0_1():
    ln = torch.log(torch.tensor([1e-12, 10.0 ** (-80 / 10), 10.0 ** (-30 / 10), 100.0, 1e6]))  # power
    assert torch.allclose(A.mel_unit_range(ln), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]), atol=1e-6)
