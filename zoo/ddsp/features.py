"""What DDSP listens to and how it is judged: f0, loudness, and the multi-scale spectral loss.

* **f0** - the fundamental frequency, one value per frame. The paper used CREPE, a pretrained network
  (its weights are a download); we use librosa's pYIN, a probabilistic YIN with an HMM over pitch
  candidates, which needs no weights. pYIN marks frames unvoiced where it finds no pitch; we carry
  the nearest voiced value into them (the synthesizer needs *some* frequency, and the loudness tells
  it to be quiet there), and use the note's nominal pitch when a clip has no voiced frame at all.
* **loudness** - A-weighted power in dB, per frame: the STFT power is weighted by the ear's
  sensitivity at each frequency (IEC 61672 A-weighting, from librosa), averaged over frequency, and
  converted to dB with an 80 dB range.
* **the multi-scale spectral loss** - L1 distance between STFT magnitudes and between their logs, at
  FFT sizes 2048, 1024, ..., 64 with 75% overlap, summed (the paper's section 4.2.1). Small FFTs see
  time detail, large ones frequency detail; no single size has both.

Frame rate: 250 frames per second at 16 kHz (a hop of 64 samples); frame ``j`` is centred on sample
``j * hop``, so a clip of ``n`` samples has ``n / hop + 1`` frames.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
DB_RANGE = 80.0


def stft(audio: torch.Tensor, size: int, overlap: float = 0.75, pad_end: bool = True) -> torch.Tensor:
    """``[B, n] -> [B, frames, bins]`` complex STFT: periodic Hann window of ``size``, hop
    ``size (1 - overlap)``, frames starting at sample 0 (no centring), the end zero-padded so the last
    samples get a frame, FFT length the next power of two."""
    hop = int(size * (1 - overlap))
    n = audio.shape[-1]
    if pad_end:
        frames = -(-n // hop)
        audio = F.pad(audio, (0, max(0, (frames - 1) * hop + size - n)))
    chunks = audio.unfold(-1, size, hop)  # [B, frames, size]
    window = torch.hann_window(size, periodic=True, dtype=audio.dtype, device=audio.device)
    return torch.fft.rfft(chunks * window, n=2 ** math.ceil(math.log2(size)))


def spectral_loss(target: torch.Tensor, audio: torch.Tensor, fft_sizes=FFT_SIZES, mag_weight: float = 1.0,
                  logmag_weight: float = 1.0) -> torch.Tensor:
    """``sum_sizes  w_mag mean|S_t - S_a| + w_log mean|log S_t - log S_a|`` with ``S`` the STFT magnitude.
    The linear term follows the loud partials, the log term the quiet detail (noise, decays)."""
    loss = audio.new_zeros(())
    for size in fft_sizes:
        st, sa = stft(target, size).abs(), stft(audio, size).abs()
        loss = loss + mag_weight * (st - sa).abs().mean()
        loss = loss + logmag_weight * (_safe_log(st) - _safe_log(sa)).abs().mean()
    return loss


def _safe_log(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return torch.log(torch.where(x <= 0, torch.full_like(x, eps), x))


def loudness(audio: torch.Tensor, sample_rate: int = 16000, frame_rate: int = 250, n_fft: int = 512,
             range_db: float = DB_RANGE) -> torch.Tensor:
    """A-weighted loudness in dB, ``[B, n] -> [B, n / hop + 1]``, between ``-range_db`` and about 0."""
    import librosa

    hop = sample_rate // frame_rate
    audio = F.pad(audio, (n_fft // 2, n_fft // 2))  # centre frame j on sample j * hop
    power = stft(audio, n_fft, overlap=1 - hop / n_fft, pad_end=False).abs() ** 2  # [B, frames, bins]
    with np.errstate(divide="ignore"):  # log10(0) at the DC bin, before librosa floors it at -80 dB
        weighting = 10 ** (librosa.A_weighting(librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)) / 10)
    power = (power * torch.as_tensor(weighting, dtype=audio.dtype, device=audio.device)).mean(dim=-1)
    db = 10 * torch.log10(power.clamp(min=10 ** (-range_db / 10)))  # power -> dB, floored
    return db.clamp(min=-range_db)


def f0_pyin(audio: np.ndarray, sample_rate: int, hop: int, fallback_hz: float, fmin: float = 32.7,
            fmax: float = 2093.0) -> np.ndarray:
    """f0 in Hz of one clip ``[n]``, ``n / hop + 1`` frames centred on samples ``j * hop``.

    pYIN runs at a hop of 4 frames (its cost grows with the number of frames) and is interpolated
    linearly to the frame rate (about 0.06 s per second of audio); unvoiced frames take the nearest
    voiced value; a clip with no voiced frame gets ``fallback_hz`` throughout."""
    import librosa

    n_frames = len(audio) // hop + 1
    coarse = 4 * hop
    x = np.asarray(audio, dtype=np.float64)
    kw = dict(fmin=fmin, fmax=min(fmax, sample_rate / 2 - 1), sr=sample_rate, hop_length=coarse,
              frame_length=2048 if sample_rate >= 16000 else 1024)
    # pYIN's HMM on a quarter-semitone grid (its default tenth of a semitone costs ~50x more, in the
    # Viterbi pass) decides voicing and the octave; plain YIN, which interpolates between lags, then
    # supplies the fine value wherever it agrees with pYIN to within half a semitone (a few cents).
    f0, voiced, _ = librosa.pyin(x, resolution=0.25, **kw)
    fine = librosa.yin(x, **kw)
    with np.errstate(invalid="ignore", divide="ignore"):
        f0 = np.where(np.abs(12 * np.log2(fine / f0)) < 0.5, fine, f0)
    ok = voiced & np.isfinite(f0)
    if not ok.any():
        return np.full(n_frames, fallback_hz, dtype=np.float32)
    times = np.arange(len(f0)) * coarse
    # each unvoiced frame takes the voiced value nearest in time
    nearest = np.searchsorted(times[ok], times).clip(0, ok.sum() - 1)
    left = (nearest - 1).clip(0)
    pick = np.where(np.abs(times[ok][left] - times) < np.abs(times[ok][nearest] - times), left, nearest)
    filled = f0[ok][pick]
    return np.interp(np.arange(n_frames) * hop, times, filled).astype(np.float32)
