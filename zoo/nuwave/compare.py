"""What NU-Wave is measured against: the clip's low band put back at the full rate by plain resampling.

Three resamplers, from the same low-rate signal (:func:`zoo.nuwave.model.low_band`'s first half):

* **linear** interpolation between the low-rate samples - the paper's baseline;
* **sinc**: torchaudio's Kaiser-windowed sinc (:data:`zoo.nuwave.model.SINC`), the resampler that made the condition (so this row *is*
  the network's input);
* **soxr**: librosa's default, the high-quality resampler of the SoX library.

None of them can put anything above the low rate's Nyquist frequency: that band is what an upsampler has
to invent, and what LSD-HF (:func:`lineage.eval.metrics.log_spectral_distance` with ``band=(1 / ratio,
1)``) judges. LSD over the whole band and the SNR sample by sample are beside it, as in the paper's
tables. The spoken digits hold digital silence between words, where the paper's recordings hold a room's
noise floor; there any hiss would outweigh every frame of speech in the LSD, so the distances are taken
over the frames that hold sound, and the hiss in the silences is measured on its own.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from lineage.audio import resample
from lineage.eval import metrics
from zoo.nuwave.model import SINC


def resampled(clips: np.ndarray, sample_rate: int, ratio: int) -> dict[str, np.ndarray]:
    """``clips [N, T]`` at ``sample_rate`` -> ``{resampler: [N, T]}``: each clip taken down to
    ``sample_rate / ratio`` (windowed sinc) and brought back up by each resampler."""
    x = torch.as_tensor(clips, dtype=torch.float32)
    T = x.shape[-1]
    low = AF.resample(x, sample_rate, sample_rate // ratio, **SINC)  # [N, T / ratio], the low-rate recording
    linear = F.interpolate(low[:, None], size=T, mode="linear", align_corners=False)[:, 0]
    sinc = AF.resample(low, sample_rate // ratio, sample_rate, **SINC)[..., :T]
    soxr = resample(low.numpy(), sample_rate // ratio, sample_rate)[..., :T]  # librosa's soxr (lineage.audio)
    return {"linear": linear.numpy(), "sinc": sinc.numpy(), "soxr": np.ascontiguousarray(soxr)}


ACTIVE_DB = 50  # LSD over the frames within 50 dB of a clip's loudest: the sound, not the digital silence


def band_report(original: np.ndarray, candidates: dict[str, np.ndarray], ratio: int) -> dict[str, dict]:
    """Per candidate ``[N, T]``, against ``original``: LSD over the whole band, LSD-HF over the missing band
    (from ``1 / ratio`` of the Nyquist frequency up) and LSD-LF over the band that was there - each over
    the frames that hold sound (:data:`ACTIVE_DB`) - then SNR, and the level of what the candidate puts
    where the original is digitally silent - 257 samples of it around (``silence_dbfs``, the RMS there in dBFS: the hiss in the pauses)."""
    cut = 1.0 / ratio
    from scipy.ndimage import maximum_filter1d

    silent = maximum_filter1d(np.abs(original), 257, axis=-1) < 1e-4  # [N, T]: 257 samples of nothing but zeros around
    out = {}
    for name, clips in candidates.items():
        lsd = lambda band: metrics.log_spectral_distance(original, clips, band=band, active_db=ACTIVE_DB)  # noqa: E731
        rms = float(np.sqrt(np.mean(np.square(clips[silent], dtype=np.float64)))) if silent.any() else None
        out[name] = {"lsd": lsd((0.0, 1.0)), "lsd_hf": lsd((cut, 1.0)), "lsd_lf": lsd((0.0, cut)),
                     "snr": metrics.snr(original, clips),
                     "silence_dbfs": None if rms is None else 20 * np.log10(max(rms, 1e-10))}
    return out
