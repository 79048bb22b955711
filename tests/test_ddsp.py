"""DDSP: golden tests against Magenta's own ``ddsp`` package, then the lessons of the processors and the
decoder.

The fixtures in ``tests/golden/ddsp.npz`` hold Magenta's outputs (ddsp 3.7.0 on TensorFlow 2.15) for
fixed inputs. They are made in a separate environment, because ddsp's pinned dependencies cannot be
installed beside this project's::

    make golden-ddsp      # creates .venv-golden (Python 3.11, tensorflow 2.15.1, ddsp 3.7.0 --no-deps)
                          # and runs scripts/golden_ddsp.py, which rewrites tests/golden/ddsp.npz

Tolerances: float32 on both sides; about 1e-5 relative, except where noted. The oscillators accumulate
phase with a float32 cumulative sum over thousands of samples: TensorFlow's drifts (by up to 0.05 of
the peak after 4,096 samples, against a float64 computation), so synthesized signals are compared sample
by sample over their first 512 samples and as magnitude spectra over their whole length.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo.ddsp as ddsp
from lineage.config import make_config
from lineage.protocol import Features
from zoo.ddsp import features, processors

GOLDEN = Path(__file__).parent / "golden" / "ddsp.npz"


@pytest.fixture(scope="module")
def g():
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def t(x):
    return torch.from_numpy(np.asarray(x))


def close(ours, theirs, rtol=1e-5, atol=1e-6, scale=None):
    ours = ours.detach().numpy() if torch.is_tensor(ours) else np.asarray(ours)
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if scale is not None:  # an absolute tolerance relative to the signal's peak
        atol = scale * np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


# -- golden: Magenta's ddsp ------------------------------------------------------------------------

def test_golden_exp_sigmoid(g):
    close(processors.exp_sigmoid(t(g["exp_sigmoid/x"])), g["exp_sigmoid/y"])


def test_golden_upsampling_of_frame_rate_controls(g):
    x, n = t(g["resample/inputs"]), int(g["resample/n_timesteps"])
    close(processors.resample_linear(x, n), g["resample/linear"])
    close(processors.upsample_with_windows(x, n), g["resample/window"])


def test_golden_harmonic_synthesizer(g):
    sr, n = int(g["harmonic/sample_rate"]), int(g["harmonic/n_samples"])
    f0 = t(g["harmonic/f0_hz"])
    amp, dist = processors.harmonic_controls(t(g["harmonic/amplitudes_raw"]),
                                             t(g["harmonic/harmonic_distribution_raw"]),
                                    f0, sr)
    close(amp, g["harmonic/amplitudes"])
    close(dist, g["harmonic/harmonic_distribution"], atol=1e-7)
    assert (g["harmonic/harmonic_distribution"] == 0).any()  # the fixture does exercise the Nyquist cut
    amp, dist = t(g["harmonic/amplitudes"]), t(g["harmonic/harmonic_distribution"])
    for method, key in (("window", "harmonic/signal"), ("linear", "harmonic/synthesis_linear")):
        ours = processors.harmonic_synthesis(f0, amp, dist, n, sr, amp_resample=method)
        # sample by sample while the float32 phase sums agree ...
        close(ours[:, :512], g[key][:, :512], rtol=0, atol=1e-3 * np.abs(g[key]).max())
        # ... and as magnitude spectra over the whole signal, where they drift apart (see below)
        spec = lambda x: np.abs(np.fft.rfft(np.asarray(x) * np.hanning(n), axis=-1))  # noqa: E731
        close(spec(ours), spec(g[key]), rtol=0, scale=0.02)
    # The drift is TensorFlow's: its float32 cumulative phase wanders by up to 0.05 from a float64
    # computation at the end of these 4,096 samples (harmonics up to 8 kHz), ours by 5e-4.
    exact = processors.harmonic_synthesis(f0.double(), amp.double(), dist.double(), n, sr)
    close(processors.harmonic_synthesis(f0, amp, dist, n, sr), exact, rtol=0, scale=1e-3)


def test_golden_filtered_noise(g):
    mags = processors.noise_controls(t(g["noise/magnitudes_raw"]))
    close(mags, g["noise/magnitudes"])
    for ws in (257, 65):
        close(processors.frequency_impulse_response(mags, ws), g[f"noise/impulse_response_ws{ws}"], atol=1e-6)
        close(processors.frequency_filter(t(g["noise/audio"]), mags, ws), g[f"noise/filtered_ws{ws}"], rtol=0,
              scale=1e-5)


def test_golden_fft_convolution_and_reverb(g):
    audio, ir = t(g["fft_convolve/audio"]), t(g["fft_convolve/impulse_response"])
    close(processors.fft_convolve(audio, ir), g["fft_convolve/same"], rtol=0, scale=1e-5)
    close(processors.fft_convolve(audio, ir, delay_compensation=0), g["fft_convolve/same_delay0"], rtol=0, scale=1e-5)
    reverb = processors.Reverb(4000)
    close(reverb(t(g["reverb/audio"]), t(g["reverb/ir"])), g["reverb/signal"], rtol=0, scale=1e-5)


def test_golden_spectral_loss_and_magnitudes(g):
    close(features.stft(t(g["spectral/mag_audio"]), 256).abs(), g["spectral/mag256"], rtol=1e-4, atol=1e-5)
    loss = features.spectral_loss(t(g["spectral/target"]), t(g["spectral/prediction"]),
                            [int(s) for s in g["spectral/fft_sizes"]])
    close(loss, g["spectral/loss"], rtol=1e-4)


def test_golden_loudness(g):
    for name in ("target", "prediction", "quiet"):
        audio = t(g["spectral/target"] if name == "target" else g["spectral/prediction"] if name == "prediction"
                  else g["loudness/quiet_audio"])
        for n_fft in (512, 2048):
            close(features.loudness(audio, 16000, 250, n_fft), g[f"loudness/{name}_nfft{n_fft}_tf"], rtol=1e-4,
                  atol=1e-3)


# -- the lessons -----------------------------------------------------------------------------------

def test_harmonic_synth_plays_the_asked_pitch_and_its_spectrum_follows_the_distribution():
    sr, n, frames = 16000, 16000, 250
    f0 = torch.full((1, frames, 1), 220.0)
    dist = torch.zeros(1, frames, 8)
    dist[..., 0], dist[..., 2] = 0.75, 0.25  # energy in harmonics 1 and 3 only
    audio = processors.harmonic_synthesis(f0, torch.full((1, frames, 1), 0.5), dist, n, sr)[0]
    spec = torch.fft.rfft(audio * torch.hann_window(n)).abs()  # 1 Hz bins
    power = spec ** 2
    at = lambda hz: power[hz - 3:hz + 4].sum()  # noqa: E731 - a partial's energy, main lobe included
    assert (at(220) + at(660)) / power.sum() > 0.999  # nothing but harmonics 1 and 3
    assert (at(660) / at(220)).sqrt() == pytest.approx(1 / 3, rel=0.01)  # amplitudes 0.25 : 0.75


def test_the_harmonic_shortcut_equals_the_general_oscillator_bank():
    """phi_k = k phi_1: one phase sum scaled by k gives the same audio as K separate oscillators."""
    sr, n, frames, K = 16000, 4000, 50, 12
    g = torch.Generator().manual_seed(0)
    f0 = torch.linspace(200, 900, frames, dtype=torch.float64)[None, :, None]
    amp = torch.rand(1, frames, 1, generator=g, dtype=torch.float64)
    dist = processors.normalize_harmonics(torch.rand(1, frames, K, generator=g, dtype=torch.float64), f0, sr)
    fast = processors.harmonic_synthesis(f0, amp, dist, n, sr)
    general = processors.oscillator_bank(processors.resample_linear(processors.harmonic_frequencies(f0, K), n),
                                processors.upsample_with_windows(amp * dist, n), sr)
    torch.testing.assert_close(fast, general, rtol=0, atol=1e-9)


def test_harmonics_above_nyquist_are_removed_so_nothing_aliases():
    sr = 16000
    f0 = torch.full((1, 10, 1), 3000.0)  # harmonics 3 (9 kHz) and up are above 8 kHz
    amp, dist = processors.harmonic_controls(torch.zeros(1, 10, 1), torch.zeros(1, 10, 5), f0, sr)
    assert torch.allclose(dist[0, 0], torch.tensor([0.5, 0.5, 0, 0, 0]))  # the rest renormalised


def test_filtered_noise_has_the_asked_spectral_shape():
    g = torch.Generator().manual_seed(0)
    mags = torch.zeros(1, 64, 65)
    mags[..., 8:16] = 1.0  # pass 1-2 kHz of 0-8 kHz
    audio = processors.filtered_noise(mags, 16000, generator=g)[0]
    spec = torch.fft.rfft(audio).abs() ** 2
    band = spec[1000:2000].mean()
    assert band > 100 * spec[3000:7000].mean() and band > 100 * spec[50:500].mean()


def test_spectral_loss_is_zero_for_a_copy_and_can_be_descended_to_the_right_pitch():
    """The lesson of DDSP in one test: the loss passes gradients through the synthesizer. Start an
    oscillator at the wrong loudness and let gradient descent on the spectral loss find it."""
    sr, n, frames = 16000, 4000, 50
    f0 = torch.full((1, frames, 1), 440.0)
    dist = torch.ones(1, frames, 1)
    target = processors.harmonic_synthesis(f0, torch.full((1, frames, 1), 0.5), dist, n, sr)
    assert features.spectral_loss(target, target).item() == 0
    amp = torch.full((1, frames, 1), 0.05, requires_grad=True)
    opt = torch.optim.Adam([amp], lr=0.02)
    for _ in range(60):
        loss = features.spectral_loss(target, processors.harmonic_synthesis(f0, amp, dist, n, sr))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert amp.mean().item() == pytest.approx(0.5, abs=0.05)


def test_loudness_drops_40_db_for_a_hundredth_of_the_amplitude():
    t_ = torch.arange(16000) / 16000
    x = 0.5 * torch.sin(2 * math.pi * 1000 * t_)[None]
    ld = features.loudness(x)[0, 10:-10]
    quiet = features.loudness(0.01 * x)[0, 10:-10]
    assert (ld - quiet).mean().item() == pytest.approx(40.0, abs=0.01)
    assert features.loudness(x).shape == (1, 16000 // 64 + 1)


def test_pyin_f0_follows_a_glide_and_fills_silence():
    sr, hop = 16000, 64
    t_ = np.arange(sr) / sr
    hz = 220 * 2 ** t_  # one octave up over the second
    x = 0.5 * np.sin(2 * np.pi * np.cumsum(hz) / sr)
    x[12000:] = 0  # the last quarter silent
    f0 = features.f0_pyin(x, sr, hop, fallback_hz=100.0)
    assert f0.shape == (sr // hop + 1,)
    assert abs(12 * np.log2(f0[125] / hz[125 * hop])) < 0.3  # within a third of a semitone at 0.5 s
    assert np.all(np.isfinite(f0)) and abs(f0[-1] - f0[180]) < 20  # silence holds the last voiced pitch


# -- the decoder and the protocol ------------------------------------------------------------------

SMALL = ["model.hidden=16", "model.gru=16", "model.mlp_layers=1", "model.n_harmonics=8", "model.noise_bands=9",
         "model.reverb_seconds=0", "model.fft_sizes=[256, 64]"]


def small_ddsp():
    torch.manual_seed(0)
    return ddsp.build(make_config(ddsp.Config, None, SMALL))


def test_the_decoder_plays_the_loudness_it_is_given():
    """The same f0 with two loudness contours that agree for 20 frames and then part: the controls agree
    while the contours do (the GRU only looks back) and differ clearly after, and so does the audio; a
    contour at the floor (-80 dB, the decoder's input 0) is heard too; and the loss trains the loudness
    branch. A decoder that dropped its loudness input would fail every one of these."""
    model = small_ddsp().eval()
    frames, split, hop = 40, 20, model.hop
    f0 = torch.full((1, frames), 220.0)
    quiet = torch.full((1, frames), -60.0)
    loud = quiet.clone()
    loud[:, split:] = -10.0
    floor = torch.full((1, frames), -features.DB_RANGE)
    with torch.no_grad():
        a, b, c = (model.controls(f0, ld) for ld in (quiet, loud, floor))
        audio = [model(f0, ld, frames * hop, torch.Generator().manual_seed(0)) for ld in (quiet, loud)]
    for key in ("amplitude", "distribution", "noise"):
        torch.testing.assert_close(a[key][:, :split], b[key][:, :split], rtol=0, atol=1e-6)
        after = (a[key][:, split:] - b[key][:, split:]).abs().mean() / a[key][:, split:].abs().mean()
        assert after > 0.01, (key, after)
        assert (a[key] - c[key]).abs().mean() / a[key].abs().mean() > 0.01, key
    # the audio: identical while the contours agree (up to the noise filter's half-window), apart after
    assert torch.allclose(audio[0][:, :split * hop - 256], audio[1][:, :split * hop - 256], atol=1e-6)
    assert (audio[0][:, split * hop:] - audio[1][:, split * hop:]).abs().mean() > 0.01 * audio[0].abs().mean()
    model.train()
    t_ = torch.arange(frames * hop) / 16000
    batch = {"audio": (0.3 * torch.sin(2 * math.pi * 220 * t_))[None, None], "f0_hz": f0, "loudness_db": loud}
    loss, _ = ddsp.loss(model, batch)
    loss.backward()
    assert model.ld_mlp[0].weight.grad.abs().sum() > 0  # the loss reaches the loudness branch


def test_the_loss_tracks_the_average_loudness_contour_for_sample():
    model = small_ddsp()
    (step,) = ddsp.steps(model)
    assert step.loss is ddsp.loss and len(step.params) == len(list(model.parameters()))
    frames = 10
    batch = {"audio": torch.zeros(2, 1, frames * model.hop), "f0_hz": torch.full((2, frames), 220.0),
             "loudness_db": torch.full((2, frames), -20.0)}
    ddsp.loss(model, batch)  # a contour of 10 frames moves the first 10 of the 250 tracked
    mean = model.mean_loudness.value
    assert mean[:frames].tolist() == pytest.approx([-80 + 0.01 * 60] * frames) and (mean[frames:] == -80).all()
    ddsp.loss(model.eval(), batch)
    assert model.mean_loudness.value[0].item() == pytest.approx(-80 + 0.01 * 60)  # eval: not tracked
    audio = ddsp.sample(model, 2, 0.05, cond={"pitch": torch.tensor([60, 72])})
    assert audio.shape == (2, 1, 800) and torch.isfinite(audio).all()


def test_prepare_returns_the_features_and_leaves_the_clips_alone():
    class Clips:  # the part of a clip set that prepare reads
        name, sample_rate = "ddsp-unit-test", 16000
        t_ = np.arange(4000) / 16000
        audio = np.stack([0.5 * np.sin(2 * np.pi * 220 * t_), 0.05 * np.sin(2 * np.pi * 440 * t_)]).astype(np.float32)
        labels = {"pitch": np.array([57, 69])}

        def __len__(self):
            return len(self.audio)

    clips = Clips()
    cfg = make_config(ddsp.Config, None, SMALL)
    found = ddsp.prepare(cfg, clips)
    assert isinstance(found, Features) and found.hop == 64 and set(found.values) == {"f0_hz", "loudness_db"}
    f0, ld = found.values["f0_hz"], found.values["loudness_db"]
    assert f0.shape == ld.shape == (2, 4000 // 64 + 1) and f0.dtype == np.float32
    assert abs(12 * np.log2(f0[0, 30] / 220)) < 0.3 and abs(12 * np.log2(f0[1, 30] / 440)) < 0.3
    assert ld[0, 30] - ld[1, 30] > 10  # a tenth of the amplitude: 20 dB quieter, less A-weighting's 6 dB
    assert not hasattr(clips, "frames") and not hasattr(clips, "hop")
    again = ddsp.prepare(cfg, clips)  # from the cache beside the data
    assert np.array_equal(again.values["f0_hz"], f0) and np.array_equal(again.values["loudness_db"], ld)
