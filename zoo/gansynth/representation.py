"""GANSynth's representation: audio <-> an image of (log-magnitude, instantaneous frequency).

A GAN paints images, and a convolutional generator paints *smooth* ones best. The STFT of a steady note
is smooth in magnitude but not in phase: the phase of bin ``k`` advances by ``omega hop`` radians every
frame,

    phi[k, m] = phi[k, 0] + 2 pi f hop m / sr                        (a sinusoid at f near bin k)

so the phase ``X`` reports, wrapped into ``[-pi, pi)``, is a sawtooth - a picture of noise. Its
derivative along time is not: unwrap the phase (add the multiple of ``2 pi`` that makes every step
between neighbouring frames at most ``pi``) and take the finite difference,

    IF[k, m] = (phi_u[k, m] - phi_u[k, m - 1]) / pi                  in [-1, 1]

the **instantaneous frequency**: a constant for a steady partial (``2 f hop / sr`` wrapped into
``[-1, 1)``), a smooth line for a glide. That is what the generator paints. The phase comes back exactly
by a cumulative sum, ``phi[k, m] = pi sum_(j <= m) IF[k, j]``, since frame 0 keeps its own phase.

The image has two channels, both scaled into ``[-0.8, 0.8]`` so that the generator's ``tanh`` never has to
saturate: the log-magnitude ``log(|X| + 1e-6)`` (from -13.8, silence, to 0, a full-scale sine) and the IF.
The STFT has 75% overlap (``hop = n_fft / 4``) and drops the Nyquist bin, so there are ``n_fft / 2``
rows - a power of two for a network that halves and doubles its resolution.

**IF-Mel**, the authors' released model, warps both channels to a mel frequency axis of the same size
(:func:`mel_warp`, a matrix ``M``): low notes get more rows. The warp and the cumulative sum are both
linear, so they commute: ``diff(M phi_u) / pi = M IF``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_EPS = 1e-6  # log(|X| + eps): the authors' code's floor, -120 dB below a full-scale sine
MARGIN = 0.8  # the authors' normaliser maps the data's range to [-0.8, 0.8]: tanh never has to saturate


def stft(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``[B, 1, T]`` -> complex ``[B, n_fft / 2, 1 + T // hop]``: a centred STFT with a (periodic) Hann
    window, scaled so that a sine of amplitude ``a`` at a bin centre peaks at ``|X| = a``, the Nyquist
    bin dropped."""
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    X = torch.stft(audio.reshape(-1, audio.shape[-1]), n_fft, hop, window=window, center=True,
                   pad_mode="constant", return_complex=True)  # [B, n_fft / 2 + 1, frames]
    # a sine a cos(w n) puts (a / 2) sum(w) in its bin: scale by 2 / sum(w) so that the peak is a
    return X[:, :-1] * (2 / window.sum())


def istft(X: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft`: complex ``[B, n_fft / 2, frames]`` -> ``[B, 1, length]`` (overlap-add with
    the same Hann window; the dropped Nyquist bin comes back as zero)."""
    window = torch.hann_window(n_fft, device=X.device, dtype=X.real.dtype)
    X = F.pad(X * (window.sum() / 2), (0, 0, 0, 1))  # undo the scaling; Nyquist row = 0
    return torch.istft(X, n_fft, hop, window=window, center=True, length=length)[:, None]


def wrap(phase: torch.Tensor) -> torch.Tensor:
    """An angle mapped to ``[-pi, pi)``: ``((phi + pi) mod 2 pi) - pi``."""
    return torch.remainder(phase + math.pi, 2 * math.pi) - math.pi


def unwrap(phase: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``np.unwrap`` along ``dim``: add multiples of ``2 pi`` so that no step between neighbours exceeds
    ``pi``: ``phi_u[m] = phi[0] + sum_(j=1..m) wrap(phi[j] - phi[j - 1])``."""
    steps = wrap(torch.diff(phase, dim=dim))  # each frame-to-frame advance, in [-pi, pi)
    return torch.cat([phase.narrow(dim, 0, 1), phase.narrow(dim, 0, 1) + steps.cumsum(dim)], dim=dim)


def instantaneous_frequency(phase: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``IF[m] = (phi_u[m] - phi_u[m - 1]) / pi`` in ``[-1, 1]``, the unwrapped phase's finite difference
    along time; frame 0 keeps its own phase ``phi[0] / pi`` (the authors' code), so that the cumulative
    sum gives the phase back exactly."""
    phi_u = unwrap(phase, dim)
    return torch.cat([phi_u.narrow(dim, 0, 1), torch.diff(phi_u, dim=dim)], dim=dim) / math.pi


def phase_from_if(inst_freq: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The inverse: ``phi[m] = pi * sum_(j <= m) IF[j]`` (unwrapped; ``exp(i phi)`` does not mind)."""
    return torch.cumsum(inst_freq * math.pi, dim=dim)


def mel_warp(n_bins: int, sample_rate: int) -> torch.Tensor:
    """``[n_bins, n_bins]``: row ``j`` is a triangle over the linear bins (``f_k = k sr / (2 n_bins)``)
    centred on the ``j``-th of ``n_bins`` points equally spaced in mel (``mel(f) = 1127 ln(1 + f / 700)``,
    as the authors' code), at least 1.5 bins wide; rows sum to 1, so a mel bin holds a weighted *mean*
    of its linear bins. As many mel bins as linear ones: the image is warped, not shrunk - low
    frequencies get more rows, high frequencies fewer."""
    def to_mel(f):
        return 1127.0 * torch.log1p(f / 700.0)

    def to_hz(m):
        return 700.0 * torch.expm1(m / 1127.0)

    nyquist = sample_rate / 2
    freqs = torch.arange(n_bins, dtype=torch.float64) * nyquist / n_bins  # [F] linear bin centres
    edges = torch.linspace(0.0, float(to_mel(torch.tensor(nyquist))), n_bins + 2, dtype=torch.float64)
    lo, mid, hi = to_hz(edges[:-2]), to_hz(edges[1:-1]), to_hz(edges[2:])  # [M] each
    narrow = (hi - lo) < 1.5 * nyquist / n_bins  # low bands, narrower than 1.5 bins: widened around mid
    lo = torch.where(narrow, mid - 0.75 * nyquist / n_bins, lo)
    hi = torch.where(narrow, mid + 0.75 * nyquist / n_bins, hi)
    # triangle: rising from lo to mid, falling from mid to hi
    w = torch.clamp(torch.minimum((freqs[None] - lo[:, None]) / (mid - lo)[:, None],
                                  (hi[:, None] - freqs[None]) / (hi - mid)[:, None]), min=0)  # [M, F]
    return (w / w.sum(dim=1, keepdim=True)).float()


def encode(audio: torch.Tensor, n_fft: int, hop: int, mel_matrix: torch.Tensor | None = None) -> torch.Tensor:
    """Audio ``[B, 1, T]`` -> the GAN's image ``[B, 2, F, 1 + T // hop]``, both channels in ``[-1, 1]``:

    * channel 0: ``0.8 (1 + 2 log(|X| + 1e-6) / 13.8)`` - the log-magnitude from ``log 1e-6 = -13.8``
      (silence) to ``log 1 = 0`` (a full-scale sine) mapped onto ``[-0.8, 0.8]``;
    * channel 1: ``0.8 IF``.

    With ``mel_matrix`` (:func:`mel_warp`, ``[F, F]``), IF-Mel: channel 0 from the mel-warped power,
    ``0.5 log(M |X|^2 + eps^2)``, and channel 1 from the mel-warped unwrapped phase, differentiated:
    ``IF_mel = diff(M phi_u) / pi = M IF`` - the cumulative sum and the warp are both linear, so they
    commute."""
    X = stft(audio, n_fft, hop)  # [B, F, frames]
    inst_freq = instantaneous_frequency(torch.angle(X))  # [B, F, frames] in [-1, 1]
    if mel_matrix is None:
        logmag = torch.log(X.abs() + LOG_EPS)  # log |X|
    else:
        logmag = 0.5 * torch.log(mel_matrix @ X.abs().square() + LOG_EPS ** 2)  # log sqrt(M |X|^2)
        inst_freq = mel_matrix @ inst_freq  # M IF: a mean of IFs in [-1, 1] stays in [-1, 1]
    # m = 0.8 (1 + 2 log|X| / 13.8): [-13.8, 0] -> [-0.8, 0.8]
    spec = torch.stack([MARGIN * (1 + 2 * logmag / -math.log(LOG_EPS)), MARGIN * inst_freq], dim=1)
    return spec.clamp(-1, 1)  # [B, 2, F, frames]


def decode(spec: torch.Tensor, n_fft: int, hop: int, length: int,
           mel_inverse: torch.Tensor | None = None) -> torch.Tensor:
    """The inverse of :func:`encode`: ``[B, 2, F, frames]`` -> audio ``[B, 1, length]``.
    For IF-Mel, ``mel_inverse`` (``[F, F]``, the pseudo-inverse of the warp) maps power and IF back first."""
    logmag = (spec[:, 0] / MARGIN - 1) * -math.log(LOG_EPS) / 2  # log|X| = (m / 0.8 - 1) 13.8 / 2, [B, F, frames]
    inst_freq = spec[:, 1] / MARGIN  # IF = m / 0.8
    if mel_inverse is None:
        mag = (torch.exp(logmag) - LOG_EPS).clamp_min(0)  # |X|
    else:
        power = mel_inverse @ (torch.exp(2 * logmag) - LOG_EPS ** 2)  # |X|^2 = M^+ (M |X|^2)
        mag = power.clamp_min(0).sqrt()
        inst_freq = mel_inverse @ inst_freq  # IF = M^+ (M IF)
    phase = phase_from_if(inst_freq)  # phi = pi cumsum(IF) along time, [B, F, frames]
    return istft(torch.polar(mag, phase), n_fft, hop, length)  # X = |X| e^(i phi), then the iSTFT
