"""DDSP's processors: classical synthesis written so that gradients flow through it.

A processor turns *controls* (what a network predicts, one frame every few milliseconds) into a
*signal* (audio samples). Each is a few lines of textbook signal processing; what is new in DDSP
(Engel et al. 2020) is only that every step is differentiable, so a network can learn to play them.

* :func:`harmonic_synthesis` - an additive synthesizer: ``K`` sinusoids at integer multiples of f0,
  their amplitudes a loudness times a distribution over harmonics (section 3.2 of the paper);
* :func:`filtered_noise` - white noise shaped by a time-varying FIR filter designed by frequency
  sampling: the breath, bow and hiss a sum of sines cannot make (section 3.3);
* :class:`Reverb` - one long learnable impulse response, applied by FFT convolution: the room (3.4);
* :func:`exp_sigmoid` - the scaling that maps a network's raw outputs to positive amplitudes.

Conventions: controls are ``[batch, frames, channels]``, signals ``[batch, samples]``, as in the
original library; frame ``j`` describes the sound around sample ``j * hop``. Every function is checked
against Magenta's ``ddsp`` 3.7.0 on fixed inputs (``tests/test_ddsp.py``, fixtures in ``tests/golden/``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0,
                threshold: float = 1e-7) -> torch.Tensor:
    """``max_value * sigmoid(x) ** ln(exponent) + threshold``: positive, bounded, and for ``x`` far below
    0 it changes by a factor ``exponent`` per unit of ``x`` - so a network controls amplitudes on a
    log scale, the way the ear hears them (the paper's section B.5)."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


# -- frame rate -> sample rate ----------------------------------------------------------------------

def resample_linear(x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``[B, F, C] -> [B, n, C]`` by linear interpolation, output ``i`` read at frame ``i * F / n``
    (the last frame is held for its own hop rather than being the final sample)."""
    frames = x.shape[1]
    pos = torch.arange(n_samples, dtype=x.dtype, device=x.device) * (frames / n_samples)
    i0 = pos.floor().long().clamp(max=frames - 1)
    i1 = (i0 + 1).clamp(max=frames - 1)
    w = (pos - i0.to(x.dtype))[None, :, None]
    return x[:, i0] * (1 - w) + x[:, i1] * w


def upsample_with_windows(x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """``[B, F, C] -> [B, n, C]`` by overlap-adding one Hann window (length 2 hop, 50% overlap) per
    frame, each scaled by its frame's value: smooth amplitude envelopes without the corners of linear
    interpolation. ``n`` must be a multiple of ``F``; the last frame is held for its own hop.

    Two Hann windows at 50% overlap sum to 1, so between the peaks of windows ``k`` and ``k + 1`` this is
    a crossfade: ``out[k hop + j] = x_k cos^2(pi j / 2 hop) + x_(k+1) sin^2(pi j / 2 hop)`` - which is how
    it is computed here (the same numbers as an overlap-add, without building the windows)."""
    B, frames, C = x.shape
    if n_samples % frames:
        raise ValueError(f"upsample_with_windows: {n_samples} samples is not a multiple of {frames} frames")
    hop = n_samples // frames
    nxt = torch.cat([x[:, 1:], x[:, -1:]], dim=1)  # x_(k+1), the last frame held
    fade = torch.sin(torch.arange(hop, dtype=x.dtype, device=x.device) * (math.pi / (2 * hop))) ** 2
    fade = fade[None, None, :, None]  # [1, 1, hop, 1]: the rising half of the window
    out = x[:, :, None, :] * (1 - fade) + nxt[:, :, None, :] * fade  # [B, F, hop, C]
    return out.reshape(B, n_samples, C)


# -- the harmonic synthesizer -----------------------------------------------------------------------

def harmonic_frequencies(f0_hz: torch.Tensor, n_harmonics: int) -> torch.Tensor:
    """``[B, F, 1] -> [B, F, K]``: the k-th harmonic sits at ``k f0``."""
    return f0_hz * torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype, device=f0_hz.device)


def remove_above_nyquist(frequencies: torch.Tensor, amplitudes: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Silence every sinusoid at or above ``sample_rate / 2``: it would alias to a wrong frequency."""
    return torch.where(frequencies >= sample_rate / 2, torch.zeros_like(amplitudes), amplitudes)


def normalize_harmonics(distribution: torch.Tensor, f0_hz: torch.Tensor | None = None,
                        sample_rate: int | None = None) -> torch.Tensor:
    """Remove the harmonics above Nyquist (when f0 and the rate are given), then make the rest sum to 1,
    so that the overall amplitude alone sets the loudness."""
    if f0_hz is not None and sample_rate is not None:
        distribution = remove_above_nyquist(harmonic_frequencies(f0_hz, distribution.shape[-1]),
                                            distribution, sample_rate)
    total = distribution.sum(dim=-1, keepdim=True)
    return distribution / torch.where(total == 0, torch.full_like(total, 1e-7), total)


def oscillator_bank(frequencies: torch.Tensor, amplitudes: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Sample-rate envelopes ``[B, n, K]`` -> audio ``[B, n]``: the sum of ``A_k(n) sin(phi_k(n))`` with
    the phase the running sum of the instantaneous frequency, ``phi_k(n) = sum_{m<=n} 2 pi f_k(m) / sr``
    (equation 2 of the paper, in discrete time)."""
    amplitudes = remove_above_nyquist(frequencies, amplitudes, sample_rate)
    omegas = frequencies * (2 * math.pi / sample_rate)  # radians per sample
    phases = torch.cumsum(omegas, dim=1)
    return (amplitudes * torch.sin(phases)).sum(dim=-1)


def harmonic_synthesis(f0_hz: torch.Tensor, amplitude: torch.Tensor, distribution: torch.Tensor,
                       n_samples: int, sample_rate: int, amp_resample: str = "window") -> torch.Tensor:
    """Frame-rate controls -> audio ``[B, n]``. ``f0_hz`` and ``amplitude`` are ``[B, F, 1]``,
    ``distribution`` ``[B, F, K]`` (already normalised). Harmonic ``k`` has frequency ``k f0`` and
    amplitude ``A c_k``; frequencies are interpolated linearly to the sample rate, amplitudes with
    overlapping windows (or linearly)."""
    K = distribution.shape[-1]
    amps = amplitude * distribution  # A_k = A c_k
    amp_env = (upsample_with_windows(amps, n_samples) if amp_resample == "window"
               else resample_linear(amps, n_samples))  # [B, n, K]
    # Every harmonic's frequency is k f0, and interpolation and the phase sum are linear, so both are
    # done once for f0 and scaled by k: phi_k(n) = k phi_1(n). (The general oscillator bank above gives
    # the same numbers, K times more slowly.)
    f0_env = resample_linear(f0_hz, n_samples)  # [B, n, 1]
    k = torch.arange(1, K + 1, dtype=f0_env.dtype, device=f0_env.device)
    amp_env = remove_above_nyquist(f0_env * k, amp_env, sample_rate)
    phase = torch.cumsum(f0_env * (2 * math.pi / sample_rate), dim=1)  # [B, n, 1]
    return (amp_env * torch.sin(phase * k)).sum(dim=-1)


def harmonic_controls(amplitude_raw: torch.Tensor, distribution_raw: torch.Tensor, f0_hz: torch.Tensor,
                      sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A network's raw outputs -> (amplitude ``[B, F, 1]``, distribution ``[B, F, K]``): both through
    :func:`exp_sigmoid`, then the distribution cleared above Nyquist and normalised."""
    amplitude = exp_sigmoid(amplitude_raw)
    distribution = normalize_harmonics(exp_sigmoid(distribution_raw), f0_hz, sample_rate)
    return amplitude, distribution


# -- filtered noise ---------------------------------------------------------------------------------

def apply_window_to_impulse_response(ir: torch.Tensor, window_size: int = 0) -> torch.Tensor:
    """A zero-phase impulse response ``[..., N]`` (its centre at index 0, its left half wrapped to the
    end, as an inverse FFT returns it) -> a causal one of ``window_size`` taps, centred and tapered by a
    Hann window. The taper trades the sharp frequency response of the sampled magnitudes for a short,
    smooth filter (frequency sampling with windowing)."""
    n = ir.shape[-1]
    if window_size <= 0 or window_size > n:
        window_size = n
    # Hann window, periodic for an even length and symmetric for an odd one (an odd periodic window
    # would not be symmetric about its centre tap, and the filter would not be zero-phase)
    window = torch.hann_window(window_size, periodic=window_size % 2 == 0, dtype=ir.dtype, device=ir.device)
    pad = n - window_size
    if pad > 0:
        half = (window_size + 1) // 2
        # the window in zero-phase position: its right half at the start, its left half at the end
        window = torch.cat([window[half:], window.new_zeros(pad), window[:half]])
        ir = ir * window
        # rotate so the response is centred in `window_size` taps: causal, delayed by half a window
        return torch.cat([ir[..., n - (half - 1) + 1:], ir[..., :half + 1]], dim=-1)
    ir = ir * torch.fft.fftshift(window, dim=-1)
    return torch.fft.fftshift(ir, dim=-1)


def frequency_impulse_response(magnitudes: torch.Tensor, window_size: int = 0) -> torch.Tensor:
    """Frequency sampling: the desired magnitude response ``[B, F, M]`` (M bins from 0 to Nyquist, zero
    phase) -> windowed impulse responses ``[B, F, window_size]`` by one inverse real FFT."""
    ir = torch.fft.irfft(magnitudes.to(torch.complex64 if magnitudes.dtype == torch.float32
                                       else torch.complex128))
    return apply_window_to_impulse_response(ir, window_size)


def fft_convolve(audio: torch.Tensor, ir: torch.Tensor, delay_compensation: int = -1) -> torch.Tensor:
    """Time-varying convolution: ``audio [B, n]`` is cut into ``F`` non-overlapping frames, frame ``j``
    convolved with ``ir[:, j]`` (``[B, F, L]``, or ``[B, L]`` for one filter) by FFT, and the results
    overlap-added; the output keeps ``n`` samples, shifted back by the filter's delay
    (``(L - 1) // 2 - 1`` for a centred FIR unless ``delay_compensation`` says otherwise)."""
    if ir.dim() == 2:
        ir = ir[:, None, :]
    if ir.shape[0] == 1 and audio.shape[0] > 1:
        ir = ir.expand(audio.shape[0], -1, -1)
    B, n = audio.shape
    frames, L = ir.shape[1], ir.shape[2]
    hop = math.ceil(n / frames)
    audio = F.pad(audio, (0, hop * frames - n)).reshape(B, frames, hop)
    size = 2 ** math.ceil(math.log2(hop + L - 1))  # enough for a linear (not circular) convolution
    out = torch.fft.irfft(torch.fft.rfft(audio, size) * torch.fft.rfft(ir, size), size)  # [B, F, size]
    total = (frames - 1) * hop + size
    out = F.fold(out.transpose(1, 2), output_size=(1, total), kernel_size=(1, size),
                 stride=(1, hop)).reshape(B, total)  # overlap-add
    start = (L - 1) // 2 - 1 if delay_compensation < 0 else delay_compensation
    return out[:, start:start + n]


def frequency_filter(audio: torch.Tensor, magnitudes: torch.Tensor, window_size: int = 0) -> torch.Tensor:
    """Filter ``audio [B, n]`` with the FIR filters designed from ``magnitudes [B, F, M]``, one per frame."""
    return fft_convolve(audio, frequency_impulse_response(magnitudes, window_size))


def filtered_noise(magnitudes: torch.Tensor, n_samples: int, window_size: int = 257,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform white noise in [-1, 1) shaped by ``magnitudes [B, F, M]`` (already positive)."""
    device = generator.device if generator is not None else magnitudes.device  # where the generator draws
    noise = torch.rand(magnitudes.shape[0], n_samples, generator=generator, dtype=magnitudes.dtype,
                       device=device) * 2 - 1
    return frequency_filter(noise.to(magnitudes.device), magnitudes, window_size)


def noise_controls(magnitudes_raw: torch.Tensor, initial_bias: float = -5.0) -> torch.Tensor:
    """Raw outputs -> filter magnitudes: ``exp_sigmoid(x - 5)``, so an untrained network starts quiet."""
    return exp_sigmoid(magnitudes_raw + initial_bias)


# -- reverb -----------------------------------------------------------------------------------------

class Reverb(nn.Module):
    """A learnable room: one impulse response of ``length`` taps convolved with the dry signal, which is
    added back (``y = x + h * x``). The first tap is held at 0 so the dry path is not counted twice."""

    def __init__(self, length: int):
        super().__init__()
        self.ir = nn.Parameter(torch.randn(length) * 1e-6)

    def forward(self, audio: torch.Tensor, ir: torch.Tensor | None = None) -> torch.Tensor:
        ir = self.ir[None].expand(audio.shape[0], -1) if ir is None else ir
        ir = torch.cat([ir.new_zeros(ir.shape[0], 1), ir[:, 1:]], dim=1)  # mask the dry tap
        return audio + fft_convolve(audio, ir, delay_compensation=0)
