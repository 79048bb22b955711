"""DiffWave: the network sees both ways and starts by predicting no noise; the fast schedule's steps land
between the training steps with the same noise level; the mel upsampler starts as linear interpolation;
only a DiffWave built as a vocoder reconstructs."""

import pytest
import torch

import zoo.diffwave as DW
from lineage.config import make_config
from lineage.diffusion import Schedule

SMALL = ["model.channels=8", "model.layers=4", "model.dilation_cycle=2", "model.steps=50"]


def test_network_is_bidirectional_and_starts_at_zero_noise():
    torch.manual_seed(0)
    model = DW.build(make_config(DW.Config, None, SMALL))
    x = torch.randn(1, 1, 64)
    assert model(x, torch.tensor([3])).abs().max() == 0  # zero-initialised output layer
    torch.nn.init.normal_(model.final.weight)
    later = x.clone()
    later[..., 40] += 1.0
    d = (model(later, torch.tensor([3])) - model(x, torch.tensor([3]))).abs()[0, 0]
    assert d[35] > 0 and d[45] > 0  # outputs before and after the nudged sample both change


def test_fast_schedule_aligns_to_training_steps_with_equal_noise_level():
    train, fast = Schedule(torch.linspace(1e-4, 0.05, 50, dtype=torch.float64)), Schedule(DW.model.FAST_BASE)
    times = DW.aligned_steps(train, fast)
    assert times[0] == 0 and all(a < b for a, b in zip(times, times[1:]))
    level = train.alpha_bar.sqrt()
    for s, t in enumerate(times):
        lo = int(t)
        frac = t - lo
        interp = level[lo] + frac * (level[min(lo + 1, 49)] - level[lo])
        assert abs(float(interp) - float(fast.alpha_bar[s].sqrt())) < 1e-9


def test_mel_upsampler_starts_as_linear_interpolation_in_time():
    up = DW.model.MelUpsampler([4, 4])
    mel = torch.tensor([[[0.0, 1.0, 1.0, 3.0]]]).repeat(1, 5, 1)  # [1, 5 bins, 4 frames]
    out = up(mel)[0]  # [5, 64]
    assert out.shape == (5, 64)
    # frame i sits at the middle of its own block of 16 samples (each stage: the middle of its s samples)
    assert torch.allclose(out[:, 28:36], torch.ones(5, 8), atol=1e-6)  # between two equal frames: flat
    ramp = out[2, 40:52]  # between frames 2 and 3: rising from 1 to 3, monotonically
    assert (ramp.diff() > 0).all() and 1 < ramp[0] < ramp[-1] < 3


def test_only_a_vocoder_reconstructs():
    plain = DW.build(make_config(DW.Config, None, SMALL))
    assert not DW.reconstructs(plain)
    with pytest.raises(ValueError, match="mel_bins"):
        DW.reconstruct(plain, {"audio": torch.zeros(1, 1, 256)})
    vocoder = DW.build(make_config(DW.Config, None, [*SMALL, "model.mel_bins=8", "model.n_fft=128",
                                                      "data.sample_rate=8000"]))
    assert DW.reconstructs(vocoder)
    assert DW.reconstruct(vocoder, {"audio": torch.zeros(1, 1, 200)}).shape == (1, 1, 200)
    with pytest.raises(ValueError, match="cond\\['mel'\\]"):
        vocoder(torch.zeros(1, 1, 64), torch.tensor([1]))
    with pytest.raises(ValueError, match="model.upsample"):
        DW.build(make_config(DW.Config, None, [*SMALL, "model.mel_bins=8", "model.hop=60"]))


def test_a_class_label_changes_the_prediction():
    torch.manual_seed(0)
    model = DW.build(make_config(DW.Config, None, [*SMALL, 'model.cond_keys=["class"]', "model.cond_classes=[3]"]))
    torch.nn.init.normal_(model.final.weight)
    x = torch.randn(1, 1, 64)
    a, b = (model(x, torch.tensor([5]), {"class": torch.tensor([c])}) for c in (0, 2))
    assert (a - b).abs().max() > 1e-4
