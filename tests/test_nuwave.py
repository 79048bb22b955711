"""NU-Wave: the condition holds the low band alone; it reaches every layer over the span of that layer's
dilation; the network is told the continuous noise level and starts by predicting no noise; the sampler
walks the 8-step schedule at its own levels; the log-L1 loss is what the authors' code trains; the
resamplers it is measured against put nothing above the old Nyquist frequency, and LSD-HF sees it."""

import math

import numpy as np
import pytest
import torch

import zoo.nuwave as nuwave
from lineage.config import make_config
from lineage.diffusion import Schedule, level_encoding
from lineage.eval import metrics
from zoo.nuwave.compare import band_report, resampled

SMALL = ["model.channels=8", "model.layers=4", "model.dilation_cycle=2", "model.embedding=16"]
SR = 16000


def small(seed: int = 0, *overrides):
    torch.manual_seed(seed)
    return nuwave.build(make_config(nuwave.Config, None, [*SMALL, f"data.sample_rate={SR}", *overrides]))


def band_power(x: np.ndarray, lo: float, hi: float) -> float:
    """Power between two frequencies (Hz) of ``x [T]`` at ``SR``."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_the_condition_is_the_low_band_alone():
    noise = torch.randn(1, 1, SR, generator=torch.Generator().manual_seed(0))
    low = nuwave.low_band(noise, SR, 2)[0, 0].numpy()
    x = noise[0, 0].numpy()
    assert band_power(low, 4200, 8000) < 1e-4 * band_power(x, 4200, 8000)  # the missing band: gone
    assert band_power(low, 0, 3500) == pytest.approx(band_power(x, 0, 3500), rel=0.02)  # the rest: kept
    assert nuwave.low_band(noise, SR, 4).shape == noise.shape  # back at the full rate, sample for sample


def test_level_encoding_is_the_continuous_level_as_sinusoids():
    level = torch.tensor([0.5, 0.99])
    enc = level_encoding(level, 8, 50000.0)
    i = torch.arange(4)
    expected = 50000.0 * level[:, None] * 1e-4 ** (i / 4)[None]  # scale * level * 10^(-4 i / (dim/2))
    assert torch.allclose(enc, torch.cat([expected.sin(), expected.cos()], 1), atol=5e-3)  # float32 at 5e4 rad
    # neighbouring levels of the 1,000-step training schedule near the data get distinct codes
    sched = Schedule(torch.linspace(1e-6, 0.006, 1000, dtype=torch.float64))
    a, b = sched.alpha_bar.sqrt()[:2].float()
    assert (level_encoding(a[None], 128, 50000.0) - level_encoding(b[None], 128, 50000.0)).abs().max() > 0.01


def test_untrained_predicts_no_noise_and_the_low_band_reaches_over_the_layer_span():
    model = small()
    y, low = torch.randn(1, 1, 200), torch.randn(1, 1, 200)
    level = torch.tensor([0.9])
    assert model(y, low, level).abs().max() == 0  # zero-initialised output layer
    torch.nn.init.normal_(model.final.weight)
    base = model(y, low, level)[0, 0]
    nudged = low.clone()
    nudged[..., 100] += 1.0
    d = (model(y, nudged, level)[0, 0] - base).abs()
    half = (model.receptive_field - 1) // 2  # dilations 1, 2, 1, 2: one output sees 100 +- 6
    assert half == 6
    assert d[100 - half] > 0 and d[100 + half] > 0  # both sides, as far as the dilated stacks reach ...
    assert d[: 100 - half].max() == 0 and d[100 + half + 1:].max() == 0  # ... and no further
    # a 1x1 conditioner (DiffWave's vocoder) would reach half as far: the low path's own dilations count
    assert (model(y, low, torch.tensor([0.5]))[0, 0] - base).abs().max() > 0  # the level is heard too


def test_the_sampler_tells_the_network_each_level_of_the_8_step_schedule():
    model = small().eval()
    told = []
    model.register_forward_pre_hook(lambda module, args: told.append(args[2].clone()))
    out = nuwave.generate(model, torch.zeros(2, 1, 64), seed=0)
    assert out.shape == (2, 1, 64)
    levels = Schedule(nuwave.model.FAST_8).alpha_bar.sqrt().float().tolist()[::-1]
    assert [float(t[0]) for t in told] == pytest.approx(levels, abs=1e-6)  # noisiest first
    assert len(told) == 8 and all(t.shape == (2,) for t in told)


def test_the_loss_is_the_log_of_each_clips_l1():
    model = small()
    gains = torch.tensor([0.0, 1.0, 3.0])[:, None, None]  # a stand-in network, wrong by a different amount per clip
    model.forward = lambda y, low, level: gains * y
    batch = {"audio": 0.1 * torch.randn(3, 1, 400, generator=torch.Generator().manual_seed(1))}
    torch.manual_seed(5)
    loss, logs = nuwave.loss(model, batch)
    # the same draws by hand: a step per clip, a level between its neighbours, the noise
    torch.manual_seed(5)
    t = torch.randint(0, len(model.schedule), (3,))
    level = model.schedule.noise_level(t).float()[:, None, None]
    noise = torch.randn(3, 1, 400)
    y = level * batch["audio"] + (1 - level ** 2).sqrt() * noise
    per_clip = (gains * y - noise).abs().mean(dim=(1, 2))  # [3]: L1 per clip
    assert float(loss) == pytest.approx(float(per_clip.log().mean()), rel=1e-5)
    assert float(loss) != pytest.approx(float(per_clip.mean().log()), rel=0.05)  # log per clip, then the mean
    assert logs["l1"] == pytest.approx(float(per_clip.mean()), rel=1e-5)


def test_the_resamplers_leave_the_missing_band_empty_and_lsd_hf_sees_it():
    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((3, SR))).astype(np.float32)
    rows = resampled(clips, SR, 2)
    assert set(rows) == {"linear", "sinc", "soxr"}
    assert np.allclose(rows["sinc"], nuwave.low_band(torch.from_numpy(clips), SR, 2).numpy(), atol=1e-6)
    for name in ("sinc", "soxr"):  # band-limited resamplers: nothing above 4 kHz
        assert band_power(rows[name][0], 4300, 8000) < 1e-3 * band_power(clips[0], 4300, 8000), name
    report = band_report(clips, {**rows, "original": clips}, 2)
    assert report["original"]["lsd_hf"] == 0 and report["original"]["snr"] > 100
    assert report["original"]["silence_dbfs"] is None  # white noise: no digital silence to listen to
    for name in rows:  # the band that was there is kept; the missing band is where each one fails
        assert report[name]["lsd_lf"] < 0.5 * report[name]["lsd_hf"], name
    assert report["sinc"]["lsd_hf"] > 20  # an empty band against white noise: tens of dB


def test_band_limited_lsd_and_snr():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8192))
    quiet_top = np.fft.irfft(np.fft.rfft(x) * (np.arange(4097) < 2048) + 0.1 * np.fft.rfft(x) * (np.arange(4097) >= 2048))
    assert metrics.log_spectral_distance(x, quiet_top, band=(0.55, 1.0)) == pytest.approx(20.0, abs=0.5)
    assert metrics.log_spectral_distance(x, quiet_top, band=(0.0, 0.45)) < 0.5
    assert metrics.snr(x, x + 0.1 * rng.standard_normal(x.shape)) == pytest.approx(20.0, abs=0.3)
    # digital silence in the reference: hiss there dominates the plain LSD; active frames alone ignore it
    gap = np.concatenate([x, np.zeros((2, 8192))], axis=1)
    hiss = gap + 1e-3 * rng.standard_normal(gap.shape) * (np.arange(16384) >= 8192)
    assert metrics.log_spectral_distance(gap, hiss) > 30
    assert metrics.log_spectral_distance(gap, hiss, active_db=60) < 1.0
    with pytest.raises(ValueError, match="band"):
        metrics.log_spectral_distance(x, x, band=(0.6, 0.4))


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"model.ratio = 3 must divide data.sample_rate = 16000"):
        small(0, "model.ratio=3")


def test_facts_and_the_upsampling_of_nothing():
    model = small().eval()
    facts = nuwave.facts(model)
    assert facts == {"receptive_field": 13, "ratio": 2, "low_rate": 8000, "diffusion_steps": 1000,
                     "sampling_steps": 8}
    quiet = nuwave.sample(model, 2, 0.01, seed=0)  # no condition: the untrained network's noise, clamped
    assert quiet.shape == (2, 1, 160) and math.isfinite(float(quiet.abs().max()))
