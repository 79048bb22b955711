"""Audio in and out: files, resampling, channels, mu-law companding, normalisation, spectrograms.

Waveforms are float32 numpy arrays in [-1, 1], shaped ``[channels, samples]`` (a 1-D array is taken as
mono). Files are read and written with soundfile (WAV, FLAC, OGG...), resampling and spectrograms use
librosa; mu-law companding is written out here because it is one of WaveNet's ideas, and a test checks
it against librosa's own ``mu_compress`` and ``mu_expand``.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch


# What a file's header may declare before any sample is decoded, and what its samples may hold: a header
# can claim any rate, channel count or length, and a float file any value - NaN included.
RATE_RANGE = (1_000, 384_000)  # Hz
MAX_CHANNELS = 64
MAX_SECONDS = 3_600.0  # a whole file read at once (pass `seconds` to read only the start of a longer one)
MAX_PEAK = 100.0  # 40 dB over full scale: beyond it a float file is broken, not loud


def load(path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True,
         seconds: float | None = None) -> np.ndarray:
    """Read an audio file (its first ``seconds`` only, if given) as float32 ``[channels, samples]``,
    optionally resampled and mixed to mono. A header outside :data:`RATE_RANGE`, :data:`MAX_CHANNELS` or
    :data:`MAX_SECONDS`, and samples that are not finite or peak over :data:`MAX_PEAK`, are refused in
    one line (ValueError) before they can exhaust memory or reach a batch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such audio file")
    try:
        info = sf.info(path)
        if not RATE_RANGE[0] <= info.samplerate <= RATE_RANGE[1]:
            raise ValueError(f"{path}: its header declares {info.samplerate} Hz; expected "
                             f"{RATE_RANGE[0]:,} to {RATE_RANGE[1]:,} Hz")
        if not 1 <= info.channels <= MAX_CHANNELS:
            raise ValueError(f"{path}: its header declares {info.channels} channels; expected 1 to {MAX_CHANNELS}")
        frames = -1 if seconds is None else int(math.ceil(seconds * info.samplerate))
        if seconds is None and info.frames > MAX_SECONDS * info.samplerate:
            raise ValueError(f"{path}: its header declares {info.frames / info.samplerate:,.0f} s; read at most "
                             f"{MAX_SECONDS:,.0f} s at once (pass seconds=)")
        audio, sr = sf.read(path, frames=frames, dtype="float32", always_2d=True)  # [samples, channels]
    except (sf.LibsndfileError, RuntimeError, OverflowError) as err:
        raise ValueError(f"{path}: not a readable audio file ({err})") from None
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: holds non-finite samples (NaN or infinity)")
    if audio.size and np.abs(audio).max() > MAX_PEAK:
        raise ValueError(f"{path}: peaks at {np.abs(audio).max():.3g}; audio is at most {MAX_PEAK:g} (full scale is 1)")
    audio = audio.T  # [channels, samples]
    if mono:
        audio = to_mono(audio)
    if sample_rate is not None and sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
    return audio


def save(path: str | os.PathLike, audio: np.ndarray | torch.Tensor, sample_rate: int) -> Path:
    """Write ``[channels, samples]`` (or ``[samples]``) audio as 16-bit PCM, atomically.

    The file appears under its final name only once it is complete (write to a temporary file in the
    same folder, then rename), so an interrupted run never leaves a truncated WAV behind.
    """
    path = Path(path)
    audio = _as_numpy(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise ValueError(f"{path}: audio must be [channels, samples], got shape {audio.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = sf.available_formats().get(path.suffix[1:].upper()) and path.suffix[1:].upper()
    if not fmt:
        raise ValueError(f"{path}: unknown audio format {path.suffix!r}; use .wav, .flac or .ogg")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        subtype = "PCM_16" if fmt in ("WAV", "FLAC") else None
        sf.write(tmp, np.clip(audio, -1.0, 1.0).T, sample_rate, format=fmt, subtype=subtype)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling along the last axis (librosa's soxr high-quality resampler)."""
    if orig_sr == target_sr:
        return audio
    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, axis=-1).astype(np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels: ``[channels, samples] -> [1, samples]``."""
    audio = np.atleast_2d(audio)
    return audio.mean(axis=0, keepdims=True)


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """Duplicate a mono signal into two channels; stereo passes through."""
    audio = np.atleast_2d(audio)
    if audio.shape[0] == 2:
        return audio
    if audio.shape[0] != 1:
        raise ValueError(f"to_stereo expects 1 or 2 channels, got {audio.shape[0]}")
    return np.concatenate([audio, audio], axis=0)


def normalize(audio: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so that the largest absolute sample equals ``peak`` (silence is returned unchanged)."""
    m = np.abs(audio).max()
    return audio if m == 0 else audio * (peak / m)


def mu_law_compress(x: torch.Tensor | np.ndarray, mu: int = 255) -> torch.Tensor:
    """WaveNet eq. (2): ``f(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu)``, [-1, 1] -> [-1, 1].

    Quiet samples get more of the output range than loud ones, which is why 8 bits of mu-law sound far
    better than 8 linear bits.
    """
    x = torch.as_tensor(x)
    x = x.clamp(-1.0, 1.0) if x.is_floating_point() else x.float().clamp(-1.0, 1.0)
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


def mu_law_expand(y: torch.Tensor | np.ndarray, mu: int = 255) -> torch.Tensor:
    """The inverse of :func:`mu_law_compress`: ``f^-1(y) = sign(y) ((1 + mu)^|y| - 1) / mu``."""
    y = torch.as_tensor(y)
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


def mu_law_encode(x: torch.Tensor | np.ndarray, mu: int = 255) -> torch.Tensor:
    """Compress, then quantise [-1, 1] to the integer classes ``0..mu`` (256 for mu = 255)."""
    fx = mu_law_compress(x, mu)
    # round (f(x) + 1) / 2 * mu to the nearest integer
    return ((fx + 1) / 2 * mu + 0.5).floor().long().clamp(0, mu)


def mu_law_decode(q: torch.Tensor | np.ndarray, mu: int = 255) -> torch.Tensor:
    """Classes ``0..mu`` back to audio: ``f^-1(2 q / mu - 1)``."""
    return mu_law_expand(2 * torch.as_tensor(q).float() / mu - 1, mu)


def stft_db(audio: np.ndarray, n_fft: int = 1024, hop_length: int = 256) -> np.ndarray:
    """Magnitude spectrogram in dB, ``[freq, frames]``, of a mono signal."""
    mag = np.abs(librosa.stft(np.asarray(audio, dtype=np.float32).reshape(-1), n_fft=n_fft,
                              hop_length=hop_length))
    return librosa.amplitude_to_db(mag, ref=1.0, top_db=80.0)


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = 80, n_fft: int = 1024,
            hop_length: int = 256) -> np.ndarray:
    """Log-mel spectrogram ``[n_mels, frames]`` (natural log, floored at 1e-5)."""
    mel = librosa.feature.melspectrogram(y=np.asarray(audio, dtype=np.float32).reshape(-1),
                                         sr=sample_rate, n_fft=n_fft, hop_length=hop_length,
                                         n_mels=n_mels)
    return np.log(np.maximum(mel, 1e-5))


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_mels: int, n_fft: int) -> torch.Tensor:
    return torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels))  # [M, F]


def log_mel_frames(audio: torch.Tensor, sample_rate: int, n_mels: int = 80, n_fft: int = 1024,
                   hop_length: int = 256) -> torch.Tensor:
    """``log_mel`` in torch for a batch, one frame per ``hop_length`` samples: ``[B, 1, T]`` ->
    ``[B, n_mels, T // hop_length]`` (frame ``k`` is centred on sample ``k * hop_length``; the vocoders'
    conditioning, computed on the fly from each training crop). librosa's mel filters, torch's STFT."""
    x = audio[:, 0].float()
    spec = torch.stft(x, n_fft, hop_length, window=torch.hann_window(n_fft, device=x.device),
                      center=True, pad_mode="constant", return_complex=True).abs() ** 2  # [B, F, frames]
    mel = _mel_basis(sample_rate, n_mels, n_fft).to(x.device) @ spec  # [B, M, frames]
    return torch.log(mel.clamp_min(1e-5))[:, :, : audio.shape[-1] // hop_length]


def mel_unit_range(ln_mel: torch.Tensor, ref_db: float = 20.0, range_db: float = 100.0) -> torch.Tensor:
    """A natural-log mel *power* spectrogram (``log_mel``) as the diffusion vocoders' reference code
    feeds it to the network: in dB, less ``ref_db``, the top ``range_db`` mapped to [0, 1] (silence at
    0, loud frames near 1)."""
    db = 10 / math.log(10) * ln_mel  # 10 log10(power)
    return ((db - ref_db + range_db) / range_db).clamp(0, 1)


def dominant_frequency(audio: np.ndarray, sample_rate: int, fmin: float = 30.0) -> float:
    """Frequency (Hz) of the strongest partial in a Hann-windowed spectrum: a crude pitch probe.

    Good enough to check that a generated note sits at the requested pitch when its fundamental is its
    loudest partial; use librosa's pyin for anything subtler.
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=4 * len(x)))
    freqs = np.fft.rfftfreq(4 * len(x), 1.0 / sample_rate)
    spectrum[freqs < fmin] = 0
    return float(freqs[np.argmax(spectrum)])


def fit_length(audio, length: int):
    """Clips ``[..., T]`` cut, or zero-padded at the end, to ``length`` samples - numpy arrays or torch
    tensors alike (a fixed-length generator's clips to the asked length, real clips to a generator's or
    a judge's length)."""
    T = audio.shape[-1]
    if T >= length:
        return audio[..., :length]
    if isinstance(audio, torch.Tensor):
        return torch.nn.functional.pad(audio, (0, length - T))
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, length - T)])


def hz_to_midi(f: float | np.ndarray) -> float | np.ndarray:
    """MIDI note number of a frequency: ``69 + 12 log2(f / 440)``."""
    return 69 + 12 * np.log2(np.asarray(f) / 440.0)


def midi_to_hz(m: float | np.ndarray) -> float | np.ndarray:
    """Frequency of a MIDI note number: ``440 * 2^((m - 69) / 12)``."""
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69) / 12)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_numpy(audio) -> np.ndarray:
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().float().cpu().numpy()
    return np.asarray(audio, dtype=np.float32)
