"""DiffWave: the network sees both ways and starts by predicting no noise; the fast schedule's steps land
between the steps of the training schedule with the same noise level, and the fast sampler tells the
network those fractional steps; the mel upsampler starts as linear interpolation; only a DiffWave built
as a vocoder reconstructs."""

import pytest
import torch

import zoo.diffwave as diffwave
from lineage import registry
from lineage.config import make_config
from lineage.diffusion import Schedule

SMALL = ["model.channels=8", "model.layers=4", "model.dilation_cycle=2", "model.diffusion_steps=50"]


def test_network_is_bidirectional_and_starts_at_zero_noise():
    torch.manual_seed(0)
    model = diffwave.build(make_config(diffwave.Config, None, SMALL))
    x = torch.randn(1, 1, 64)
    assert model(x, torch.tensor([3])).abs().max() == 0  # zero-initialised output layer
    torch.nn.init.normal_(model.final.weight)
    later = x.clone()
    later[..., 40] += 1.0
    d = (model(later, torch.tensor([3])) - model(x, torch.tensor([3]))).abs()[0, 0]
    assert d[35] > 0 and d[45] > 0  # outputs before and after the nudged sample both change


def test_fast_schedule_aligns_to_training_steps_with_equal_noise_level():
    train, fast = Schedule(torch.linspace(1e-4, 0.05, 50, dtype=torch.float64)), Schedule(diffwave.model.FAST_BASE)
    times = diffwave.aligned_steps(train, fast)
    assert times[0] == 0 and all(a < b for a, b in zip(times, times[1:]))
    level = train.alpha_bar.sqrt()
    for s, t in enumerate(times):
        lo = int(t)
        frac = t - lo
        interp = level[lo] + frac * (level[min(lo + 1, 49)] - level[lo])
        assert abs(float(interp) - float(fast.alpha_bar[s].sqrt())) < 1e-9


@pytest.mark.parametrize("fast", [True, False])
def test_the_sampler_tells_the_network_the_aligned_continuous_step(fast):
    """Fast sampling runs inference step s = 5, 4, ..., 0 of its own 6-step schedule, and must evaluate
    the network at t_s, the fractional step of the *training* schedule with the same noise level
    (appendix B) - not at s,
    and not at a rounded step. The full schedule runs the integer steps 49, ..., 0."""
    torch.manual_seed(0)
    model = diffwave.build(make_config(diffwave.Config, None, SMALL)).eval()
    told = []
    model.register_forward_pre_hook(lambda module, args: told.append(args[1].clone()))
    diffwave.generate(model, 2, 64, seed=0, fast=fast)
    assert all(t.shape == (2,) and t[0] == t[1] for t in told)  # one t per pass, the same for the batch
    told = [float(t[0]) for t in told]
    if fast:
        aligned = diffwave.aligned_steps(model.schedule, Schedule(model.cfg.fast_betas))
        assert told == pytest.approx(aligned[::-1], abs=1e-5)  # float32 of the float64 alignment
        assert sum(abs(t - round(t)) > 0.01 for t in told) >= 4  # between the schedule's steps, not on them
        assert told != pytest.approx(list(range(5, -1, -1)))
    else:
        assert told == list(range(49, -1, -1))


def test_mel_upsampler_starts_as_linear_interpolation_in_time():
    up = diffwave.model.MelUpsampler([4, 4])
    mel = torch.tensor([[[0.0, 1.0, 1.0, 3.0]]]).repeat(1, 5, 1)  # [1, 5 bins, 4 frames]
    out = up(mel)[0]  # [5, 64]
    assert out.shape == (5, 64)
    # frame i sits at the middle of its own block of 16 samples (each stage: the middle of its s samples)
    assert torch.allclose(out[:, 28:36], torch.ones(5, 8), atol=1e-6)  # between two equal frames: flat
    ramp = out[2, 40:52]  # between frames 2 and 3: rising from 1 to 3, monotonically
    assert (ramp.diff() > 0).all() and 1 < ramp[0] < ramp[-1] < 3


def test_only_a_vocoder_reconstructs():
    entry = registry.load("diffwave")
    plain = diffwave.build(make_config(diffwave.Config, None, SMALL))
    assert "reconstruct" not in diffwave.capabilities(plain) and entry.capability("reconstruct", plain) is None
    assert entry.facts(plain)["receptive_field"] == 1 + 2 * (1 + 2 + 1 + 2)  # dilations 1, 2, 1, 2 both ways
    with pytest.raises(ValueError, match="mel_bins"):
        diffwave.reconstruct(plain, {"audio": torch.zeros(1, 1, 256)})
    vocoder = diffwave.build(make_config(diffwave.Config, None, [*SMALL, "model.mel_bins=8", "model.n_fft=128",
                                                                 "data.sample_rate=8000"]))
    assert "reconstruct" in diffwave.capabilities(vocoder) and entry.has("reconstruct", vocoder)
    assert diffwave.reconstruct(vocoder, {"audio": torch.zeros(1, 1, 200)}).shape == (1, 1, 200)
    assert entry.facts(vocoder)["hop"] == 64
    with pytest.raises(ValueError, match="cond\\['mel'\\]"):
        vocoder(torch.zeros(1, 1, 64), torch.tensor([1]))
    with pytest.raises(ValueError, match="model.upsample"):
        diffwave.build(make_config(diffwave.Config, None, [*SMALL, "model.mel_bins=8", "model.hop=60"]))


def test_a_class_label_changes_the_prediction():
    torch.manual_seed(0)
    model = diffwave.build(make_config(diffwave.Config, None,
                                       [*SMALL, 'model.cond_keys=["class"]', "model.cond_classes=[3]"]))
    torch.nn.init.normal_(model.final.weight)
    x = torch.randn(1, 1, 64)
    a, b = (model(x, torch.tensor([5]), {"class": torch.tensor([c])}) for c in (0, 2))
    assert (a - b).abs().max() > 1e-4


def test_between_two_steps_the_embedding_is_their_interpolation_as_in_the_authors_code():
    """The network is trained on whole steps; the fast sampler asks it about fractional ones. The
    embedding there is the linear interpolation of the neighbours' (the authors' `_lerp_embedding`),
    never the sinusoids evaluated off the grid: at 10^4 radians per step those take values training never
    showed the network (the shipped weights' noise estimate was 3-7x worse at the fast sampler's
    fractional steps than at the whole steps beside them: benchmarks/results/diffusion-hiss.md)."""
    from zoo.diffwave.model import diffusion_step_embedding, sinusoids

    whole = torch.arange(50, dtype=torch.float32)
    assert torch.equal(diffusion_step_embedding(whole), sinusoids(whole))  # training is unchanged
    t = torch.tensor([10.452, 22.992, 0.894])
    lo, w = torch.floor(t), (t - torch.floor(t))[:, None]
    expected = (1 - w) * sinusoids(lo) + w * sinusoids(lo + 1)
    torch.testing.assert_close(diffusion_step_embedding(t), expected)
    # continuous in t: a thousandth of a step moves it a little, where the raw sinusoids jump
    step = torch.tensor([1e-3, 1e-3, 1e-3])
    assert (diffusion_step_embedding(t + step) - diffusion_step_embedding(t)).abs().max() < 5e-3
    assert (sinusoids(t + step) - sinusoids(t)).abs().max() > 0.5
