"""Golden fixtures from Magenta's original `ddsp` (TensorFlow) for the PyTorch DDSP port.

Computes, with ddsp 3.7.0 on TensorFlow 2.15 (CPU, float32), small deterministic
cases of the pieces a reimplementation has to match and writes them, inputs and
outputs, to ``tests/golden/ddsp.npz``:

- ``exp_sigmoid/*``     core.exp_sigmoid with its defaults.
- ``resample/*``        core.resample 'linear' and 'window', add_endpoint True/False.
- ``harmonic/*``        synths.Harmonic controls and signal; core.harmonic_synthesis
                        called directly with 'linear' amplitude upsampling (with 'window' it is
                        bit-identical to harmonic/signal, asserted here and not stored twice).
- ``noise/*``           synths.FilteredNoise control scaling, core.frequency_impulse_response
                        and core.frequency_filter on a fixed noise (the synth's own noise is random).
- ``fft_convolve/*``    core.fft_convolve with a time-varying IR, 'same' and 'valid' padding.
- ``reverb/*``          effects.Reverb(trainable=False, add_dry=True).get_signal.
- ``spectral/*``        losses.SpectralLoss (mag + logmag, L1), per-size terms, compute_mag.
- ``loudness/*``        spectral_ops.compute_loudness, use_tf True/False, n_fft 512 and 2048.
- ``meta/versions``     package versions used.

Key names are ``section/name``; every array is float32 unless its name says otherwise.
Inputs come from ``numpy.random.default_rng(SEED)``; stored inputs are rounded to a coarse
binary grid (exact in float32; audio k / 32768 or k / 4096) so that the file compresses.

This needs its own virtual environment (ddsp's own dependency pins do not install on
modern Python). From the repository root:

    make golden-ddsp

or, with the environment already made (see the Makefile target for the recipe):

    .venv-golden/bin/python scripts/golden_ddsp.py
"""

import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# ddsp.spectral_ops and ddsp.losses do `import crepe` at import time; crepe is only used by
# the CREPE f0 estimator and the CREPE-embedding loss, neither of which is used here, so a
# placeholder module stands in for it. No other optional dependency needed a placeholder.
sys.modules.setdefault("crepe", types.ModuleType("crepe"))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import ddsp  # noqa: E402
import ddsp.core  # noqa: E402
import ddsp.effects  # noqa: E402
import ddsp.losses  # noqa: E402
import ddsp.spectral_ops  # noqa: E402
import ddsp.synths  # noqa: E402

SEED = 20240611
SR = 16000
FRAME_RATE = 250
HOP = SR // FRAME_RATE  # 64 samples per frame
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "tests", "golden", "ddsp.npz")

rng = np.random.default_rng(SEED)
out = {}


def f32(x):
    return np.asarray(x, dtype=np.float32)


def put(key, value):
    value = value.numpy() if hasattr(value, "numpy") else value
    value = np.asarray(value)
    if value.dtype.kind == "f":
        value = value.astype(np.float32)
    assert key not in out, key
    out[key] = value
    return value


def pcm16(x):
    """Round to the 16-bit grid k / 32768 (exact in float32)."""
    return f32(np.round(np.clip(x, -1.0, 32767 / 32768) * 32768.0) / 32768.0)


def grid(x, step):
    """Round to multiples of a power of two `step` (exact in float32)."""
    return f32(np.round(np.asarray(x) / step) * step)


# --- a. exp_sigmoid ------------------------------------------------------------
x = np.concatenate([np.linspace(-10.0, 10.0, 201), rng.normal(0.0, 6.0, 55)])
x = put("exp_sigmoid/x", f32(x))
put("exp_sigmoid/y", ddsp.core.exp_sigmoid(x))

# --- b0. resample on a small [1, F, 3] input -------------------------------------
r_in = put("resample/inputs", grid(rng.uniform(-1.0, 1.0, (1, 5, 3)), 1 / 64))
put("resample/n_timesteps", np.int64(40))
for method in ("linear", "window"):
    for add_endpoint in (True, False):
        suffix = "" if add_endpoint else "_no_endpoint"
        put(f"resample/{method}{suffix}",
            ddsp.core.resample(r_in, 40, method=method, add_endpoint=add_endpoint))

# --- b. Harmonic synthesizer -------------------------------------------------------
N_H = 4096                  # 0.256 s
F_H = N_H // HOP            # 64 frames at 250 Hz
N_HARM = 60
t_frames = np.arange(F_H) / (F_H - 1)
f0 = np.stack([
    200.0 + 400.0 * t_frames,                                   # glide 200 -> 600 Hz
    np.where(t_frames < 0.5, 1000.0, 1000.0 + 3000.0 * (t_frames - 0.5)),  # 1000 Hz (8th
    # harmonic exactly at Nyquist) then up to 2500 Hz: most of the 60 harmonics are above it.
])[:, :, None]
f0_hz = put("harmonic/f0_hz", grid(f0, 1 / 256))
amps_raw = put("harmonic/amplitudes_raw", grid(
    np.cumsum(rng.normal(0.0, 0.3, (2, F_H, 1)), axis=1) - 1.0, 1 / 64))
hd_raw = put("harmonic/harmonic_distribution_raw",
             grid(rng.normal(-1.0, 2.0, (2, F_H, N_HARM)), 1 / 8))
put("harmonic/n_samples", np.int64(N_H))
put("harmonic/sample_rate", np.int64(SR))

harmonic = ddsp.synths.Harmonic(n_samples=N_H, sample_rate=SR,
                                scale_fn=ddsp.core.exp_sigmoid,
                                normalize_below_nyquist=True,
                                amp_resample_method="window")
controls = harmonic.get_controls(amps_raw, hd_raw, f0_hz)
amps = put("harmonic/amplitudes", controls["amplitudes"])
hd = put("harmonic/harmonic_distribution", controls["harmonic_distribution"])
put("harmonic/f0_hz_control", controls["f0_hz"])
signal = put("harmonic/signal", harmonic.get_signal(**controls))
synthesis = {method: ddsp.core.harmonic_synthesis(
    frequencies=f0_hz, amplitudes=amps, harmonic_distribution=hd,
    n_samples=N_H, sample_rate=SR, amp_resample_method=method).numpy()
    for method in ("window", "linear")}
# get_signal is harmonic_synthesis(..., 'window'): the two are bit-identical, so the direct
# 'window' call is not stored a second time (harmonic/signal is it).
assert np.array_equal(synthesis["window"], signal)
put("harmonic/synthesis_linear", synthesis["linear"])

# --- c. Filtered noise (deterministic parts) ---------------------------------------
N_N = 2048
F_N = 16                    # 128-sample blocks for the time-varying filter
N_BANDS = 65
noise = put("noise/audio", grid(rng.uniform(-1.0, 1.0, (2, N_N)), 2.0 ** -12))
mags_raw = put("noise/magnitudes_raw",
               grid(rng.normal(2.0, 3.0, (2, F_N, N_BANDS)), 1 / 32))
fn = ddsp.synths.FilteredNoise(n_samples=N_N, window_size=257, initial_bias=-5.0)
mags = put("noise/magnitudes", fn.get_controls(mags_raw)["magnitudes"])
# With 65 bands the irfft IR has 128 taps, so window_size 257 (the synth's default) falls
# back to the full 128, exactly like window_size 0: the ws0 results are bit-identical to the
# ws257 ones and are not stored. window_size 65 exercises the zero-padded-window branch.
for ws in (257, 65):
    put(f"noise/impulse_response_ws{ws}",
        ddsp.core.frequency_impulse_response(mags, window_size=ws))
    put(f"noise/filtered_ws{ws}",
        ddsp.core.frequency_filter(noise, mags, window_size=ws))
assert np.array_equal(ddsp.core.frequency_impulse_response(mags, window_size=0).numpy(),
                      out["noise/impulse_response_ws257"])
assert np.array_equal(ddsp.core.frequency_filter(noise, mags, window_size=0).numpy(),
                      out["noise/filtered_ws257"])

# --- d0. fft_convolve directly: time-varying IR, default delay compensation ---------
N_C = 1000                   # not a multiple of the 4 IR frames: exercises pad_end
c_audio = put("fft_convolve/audio", grid(rng.uniform(-0.5, 0.5, (2, N_C)), 2.0 ** -12))
c_ir = put("fft_convolve/impulse_response",
           grid(rng.normal(0.0, 0.3, (2, 4, 101)) * np.hanning(103)[1:-1], 1 / 4096))
for padding in ("same", "valid"):
    put(f"fft_convolve/{padding}", ddsp.core.fft_convolve(c_audio, c_ir, padding=padding))
put("fft_convolve/same_delay0",
    ddsp.core.fft_convolve(c_audio, c_ir, padding="same", delay_compensation=0))

# --- d. Reverb -----------------------------------------------------------------------
N_R = 4096
IR_LEN = 4000
dry = np.zeros((2, N_R))
dry[0, :400] = rng.uniform(-0.5, 0.5, 400) * np.hanning(400)   # short noise burst
dry[1, [0, 1000, 2500]] = [0.9, -0.5, 0.25]                      # clicks
r_audio = put("reverb/audio", pcm16(dry))
decay = np.exp(-np.arange(IR_LEN) / (0.05 * SR))                # about 50 ms time constant
r_ir = put("reverb/ir", grid(rng.normal(0.0, 0.5, (2, IR_LEN)) * decay, 2.0 ** -12))
reverb = ddsp.effects.Reverb(trainable=False, add_dry=True)
put("reverb/signal", reverb.get_signal(r_audio, r_ir))

# --- e. Spectral loss ------------------------------------------------------------------
N_S = N_H
sig = out["harmonic/signal"]
target = put("spectral/target",
             pcm16(0.8 * sig / np.abs(sig).max() + 0.01 * rng.uniform(-1, 1, (2, N_S))))
pred = put("spectral/prediction",
           pcm16(0.5 * sig / np.abs(sig).max() + 0.03 * rng.uniform(-1, 1, (2, N_S))))
FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
put("spectral/fft_sizes", np.array(FFT_SIZES, dtype=np.int64))
loss = ddsp.losses.SpectralLoss(fft_sizes=FFT_SIZES, loss_type="L1",
                                mag_weight=1.0, logmag_weight=1.0)
put("spectral/loss", loss(target, pred))
mag_terms, logmag_terms = [], []
for size in FFT_SIZES:
    mag_terms.append(ddsp.losses.SpectralLoss(
        fft_sizes=(size,), mag_weight=1.0, logmag_weight=0.0)(target, pred).numpy())
    logmag_terms.append(ddsp.losses.SpectralLoss(
        fft_sizes=(size,), mag_weight=0.0, logmag_weight=1.0)(target, pred).numpy())
put("spectral/loss_mag_per_size", f32(mag_terms))
put("spectral/loss_logmag_per_size", f32(logmag_terms))
# Same loss on reverb/signal (target) vs reverb/audio (prediction): the dry audio is mostly
# exact zeros, so whole STFT frames are exactly 0 and safe_log's replacement is exercised.
put("spectral/loss_reverb_signal_vs_audio", loss(out["reverb/signal"], out["reverb/audio"]))
# compute_mag on a 600-sample excerpt (not a multiple of the hop: checks pad_end).
mag_audio = put("spectral/mag_audio", target[:, :600])
put("spectral/mag256", ddsp.spectral_ops.compute_mag(mag_audio, 256))

# --- f. Loudness -------------------------------------------------------------------------
quiet = put("loudness/quiet_audio", pcm16(0.01 * target))
# Inputs: spectral/target, spectral/prediction, loudness/quiet_audio (pcm16(0.01 * target))
# and reverb/audio.
# reverb/audio is mostly silence: exercises the -80 dB floor.
for name, audio in (("target", target), ("prediction", pred), ("quiet", quiet),
                    ("reverb_audio", out["reverb/audio"])):
    for n_fft in (512, 2048):  # 512 is the 3.7.0 default
        put(f"loudness/{name}_nfft{n_fft}_tf", ddsp.spectral_ops.compute_loudness(
            audio, sample_rate=SR, frame_rate=FRAME_RATE, n_fft=n_fft, use_tf=True))
        put(f"loudness/{name}_nfft{n_fft}_np", ddsp.spectral_ops.compute_loudness(
            audio, sample_rate=SR, frame_rate=FRAME_RATE, n_fft=n_fft, use_tf=False))


# --- meta --------------------------------------------------------------------------------
def version(mod):
    import importlib.metadata as md
    return md.version(mod)


put("meta/versions", np.array([
    f"python={sys.version.split()[0]}",
    f"tensorflow={tf.__version__}",
    f"ddsp={ddsp.__version__}",
    f"numpy={np.__version__}",
    f"tensorflow-probability={version('tensorflow-probability')}",
    f"librosa={version('librosa')}",
    f"scipy={version('scipy')}",
    f"seed={SEED}",
]))

os.makedirs(os.path.dirname(OUT), exist_ok=True)
np.savez_compressed(OUT, **out)
print(f"wrote {OUT}: {os.path.getsize(OUT) / 1024:.1f} kB, {len(out)} arrays")
for k, v in out.items():
    print(f"  {k:45s} {str(v.dtype):8s} {v.shape}")
