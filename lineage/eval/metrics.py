"""The figures of the papers' evaluation protocol, as plain functions of arrays.

Sample-quality metrics take what a classifier says about a set of clips: its class probabilities
``probs [N, K]`` (softmax outputs) and its penultimate activations ``features [N, D]``.

* **FID** (Heusel et al. 2017) - fit a Gaussian to the features of the real and of the generated set
  and take the Frechet distance between the two Gaussians. Lower is better; 0 for identical statistics.
* **IS** (Salimans et al. 2016) - ``exp(E_x KL(p(y|x) || p(y)))``: high when each clip is confidently
  one class (sharp ``p(y|x)``) and all classes appear (flat marginal ``p(y)``). At most K.
* **mIS** (Gurumurthy et al. 2017) - ``exp(E_{x,x'} KL(p(y|x) || p(y|x')))``: IS's "sharp and diverse"
  measured between pairs of clips, so it also rewards variety *within* a class.
* **AM score** (Zhou et al. 2018) - ``KL(p_train(y) || p(y)) + E_x H(p(y|x))``: the generated class
  marginal should match the training set's, and each clip should be confidently classified. Lower is better.
* **NDB/K** (Richardson & Weiss 2018) - cluster the training features into K bins (k-means), drop the
  generated clips into the nearest bin, and count the bins whose share differs significantly (two-proportion
  z-test) from the training share; divide by K. Lower is better: a model that covers the data well has few
  over- or under-filled bins.

Differences from the papers, stated once: IS is computed with the full-set marginal in one split (the
original averaged 10 splits of 5,000 images); NDB clusters the classifier's features rather than raw
samples (raw waveforms are not comparable sample by sample), as the SC09 evaluations of DiffWave and
SaShiMi do with their classifier's features.

Reconstruction metrics compare a clip with its reconstruction:

* **MR-STFT distance** (Yamamoto et al. 2020, Parallel WaveGAN) - spectral convergence plus mean
  absolute log-magnitude difference, averaged over several STFT resolutions.
* **LSD**, log-spectral distance - per frame, the RMS over frequency of the dB difference; averaged over
  frames.

And one figure for pitched notes: **pitch accuracy**, the share of clips whose pYIN pitch (librosa) rounds
to the MIDI note they were asked for.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.stats
import torch

EPS = 1e-12


# -- classifier-based sample quality -----------------------------------------------------------------

def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` of features ``[N, D]``."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` - the Frechet (2-Wasserstein) distance
    between N(mu1, S1) and N(mu2, S2)."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular when there are fewer clips than feature dimensions
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product (fewer clips than dimensions): regularise
        offset = np.eye(len(mu1)) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real  # tiny imaginary parts are numerical noise
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(features: np.ndarray, reference: np.ndarray | tuple) -> float:
    """FID of ``features [N, D]`` against reference features ``[M, D]`` (or their ``(mu, sigma)``)."""
    ref = reference if isinstance(reference, tuple) else gaussian_stats(reference)
    return frechet_distance(*gaussian_stats(features), *ref)


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``KL(p_i || q_i)`` for each row (q broadcasts)."""
    return np.sum(p * (np.log(p + EPS) - np.log(q + EPS)), axis=-1)


def inception_score(probs: np.ndarray) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` with ``p(y)`` the mean of ``probs [N, K]``."""
    p = np.asarray(probs, dtype=np.float64)
    return float(np.exp(_kl_rows(p, p.mean(axis=0)).mean()))


def modified_inception_score(probs: np.ndarray) -> float:
    """``exp(E_{i,j} KL(p(y|x_i) || p(y|x_j)))`` over all ordered pairs of clips (including i = j,
    whose KL is 0, as in the original definition)."""
    p = np.asarray(probs, dtype=np.float64)
    logp = np.log(p + EPS)
    # KL(p_i || p_j) = sum_k p_ik log p_ik - sum_k p_ik log p_jk
    neg_entropy = np.sum(p * logp, axis=1)  # [N]
    cross = p @ logp.T  # [N, N]: sum_k p_ik log p_jk
    return float(np.exp((neg_entropy[:, None] - cross).mean()))


def am_score(probs: np.ndarray, reference_probs: np.ndarray) -> float:
    """``KL(p_ref(y) || p(y)) + E_x H(p(y|x))`` with ``p_ref(y)`` the training set's class marginal."""
    p = np.asarray(probs, dtype=np.float64)
    ref = np.asarray(reference_probs, dtype=np.float64).mean(axis=0)
    entropy = -np.sum(p * np.log(p + EPS), axis=1).mean()
    return float(_kl_rows(ref, p.mean(axis=0)) + entropy)


def ndb(features: np.ndarray, reference: np.ndarray, k: int = 50, alpha: float = 0.05,
        seed: int = 0) -> dict:
    """Number of statistically different bins. Returns ``{"ndb": count, "k": K, "ndb_k": count / K}``.

    The reference (training) features are clustered into ``k`` bins with k-means; each set's share of
    clips per bin is compared with a two-proportion z-test at level ``alpha``.
    """
    from scipy.cluster.vq import kmeans2

    ref = np.asarray(reference, dtype=np.float64)
    gen = np.asarray(features, dtype=np.float64)
    k = int(min(k, len(ref)))
    scale = ref.std(axis=0) + EPS  # whiten by the reference's spread so no feature dominates
    centroids, ref_bins = kmeans2(ref / scale, k, minit="++", seed=seed)
    gen_bins = np.argmin((((gen / scale)[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)  # nearest bin
    n1, n2 = len(ref), len(gen)
    p1 = np.bincount(ref_bins, minlength=k) / n1  # share of training clips per bin
    p2 = np.bincount(gen_bins, minlength=k) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) + EPS
    z = (p1 - p2) / se
    different = 2 * scipy.stats.norm.sf(np.abs(z)) < alpha  # two-sided p-value below alpha
    return {"ndb": int(different.sum()), "k": k, "ndb_k": float(different.mean())}


# -- reconstruction ---------------------------------------------------------------------------------

RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))  # (n_fft, hop) pairs; scaled to the clip if shorter


def _magnitude(x: torch.Tensor, n_fft: int, hop: int, floor: float = 1e-8) -> torch.Tensor:
    """``|STFT|`` with the power floored at ``floor`` (-80 dB), so the log of silence stays finite."""
    window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)  # [B, F, frames]
    return (spec.real ** 2 + spec.imag ** 2).clamp(min=floor).sqrt()


def mrstft_terms(x, y, resolutions=RESOLUTIONS,
                 name: str = "mrstft_terms") -> tuple[torch.Tensor, torch.Tensor]:
    """Per clip, averaged over resolutions: spectral convergence ``|| |Y| - |X| ||_F / || |X| ||_F`` and
    log-magnitude distance ``mean | log |Y| - log |X| |`` - the two halves of MR-STFT, each ``[B]``."""
    x, y = torch.as_tensor(x).float(), torch.as_tensor(y).float()
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    if x.shape != y.shape:
        raise ValueError(f"{name}: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    sc, logmag = 0.0, 0.0
    for n_fft, hop in resolutions:
        while n_fft > x.shape[-1] and n_fft > 16:  # a short clip gets shorter windows
            n_fft, hop = n_fft // 2, max(1, hop // 2)
        mx, my = _magnitude(x, n_fft, hop), _magnitude(y, n_fft, hop)
        sc = sc + torch.linalg.norm(my - mx, dim=(1, 2)) / torch.linalg.norm(mx, dim=(1, 2))
        logmag = logmag + (torch.log(my) - torch.log(mx)).abs().mean(dim=(1, 2))
    return sc / len(resolutions), logmag / len(resolutions)


def mrstft_distance(x, y, resolutions=RESOLUTIONS, per_clip: bool = False):
    """Multi-resolution STFT distance between ``x`` and ``y`` (``[B, T]`` or ``[T]``, numpy or torch).

    Per resolution: spectral convergence ``|| |Y| - |X| ||_F / || |X| ||_F`` plus log-magnitude distance
    ``mean | log |Y| - log |X| |``; the figure is the mean over resolutions (and clips, unless
    ``per_clip``). ``x`` is the reference. Differentiable when given torch tensors.
    """
    sc, logmag = mrstft_terms(x, y, resolutions, "mrstft_distance")
    d = sc + logmag  # [B]
    return d if per_clip else d.mean()


def spectral_convergence(x, y, resolutions=RESOLUTIONS) -> float:
    """The linear half of :func:`mrstft_distance` alone, averaged over clips. It weighs bins by their
    energy, so it hears the partials and not the noise floor - where the log-magnitude half counts a
    quiet bin's hiss as much as a loud bin's error."""
    return float(mrstft_terms(x, y, resolutions, "spectral_convergence")[0].mean())


def log_spectral_distance(x, y, n_fft: int = 2048, hop: int = 512, band: tuple[float, float] = (0.0, 1.0),
                          active_db: float | None = None) -> float:
    """``mean_frames sqrt(mean_f (10 log10 |X|^2 - 10 log10 |Y|^2)^2)`` in dB, averaged over clips. ``band``
    keeps the bins between two fractions of the Nyquist frequency: ``(0.5, 1.0)`` is the upper half alone -
    the LSD-HF of the audio super-resolution papers, where the band an upsampler had to invent is judged.
    ``active_db`` keeps only the frames of ``x`` within that many dB of its loudest frame: where a clip holds
    digital silence, the floor (-100 dB) against any hiss would otherwise outweigh every frame of sound."""
    x, y = torch.as_tensor(x).float(), torch.as_tensor(y).float()
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    n_fft = min(n_fft, 2 ** int(np.log2(x.shape[-1])))
    hop = min(hop, n_fft // 4)
    px = _magnitude(x, n_fft, hop, floor=1e-10) ** 2
    py = _magnitude(y, n_fft, hop, floor=1e-10) ** 2
    diff = 10 * torch.log10(px) - 10 * torch.log10(py)  # [B, F, frames] dB
    bins = diff.shape[1] - 1  # bin k is at k / bins of the Nyquist frequency
    lo, hi = int(np.ceil(band[0] * bins)), int(np.floor(band[1] * bins))
    if not 0 <= lo <= hi <= bins:
        raise ValueError(f"log_spectral_distance: band {band} must be two fractions 0 <= lo <= hi <= 1 of the "
                         f"Nyquist frequency")
    per_frame = diff[:, lo:hi + 1].pow(2).mean(dim=1).sqrt()  # [B, frames]
    if active_db is None:
        return float(per_frame.mean())
    energy = px.sum(dim=1)  # [B, frames]
    active = energy >= energy.amax(dim=1, keepdim=True) * 10 ** (-active_db / 10)
    return float(torch.stack([f[a].mean() for f, a in zip(per_frame, active)]).mean())


def snr(x, y) -> float:
    """``10 log10( ||x||^2 / ||x - y||^2 )`` in dB, per clip, averaged: how much of the reference ``x`` the
    estimate ``y`` gets sample by sample (phase included - a plausible band in the wrong phase scores low)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    signal = (x ** 2).sum(-1)
    error = ((x - y) ** 2).sum(-1)
    return float(np.mean(10 * np.log10(np.maximum(signal, 1e-20) / np.maximum(error, 1e-20))))


# -- pitch ------------------------------------------------------------------------------------------

def estimate_pitch(audio: np.ndarray, sample_rate: int, fmin: float = 32.7, fmax: float = 2093.0) -> float:
    """The median pYIN f0 (Hz) over the voiced frames of a clip; NaN when no frame is voiced."""
    import librosa

    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    frame = 2048 if sample_rate >= 16000 else 1024
    if x.size < frame or not np.any(x):
        return float("nan")
    f0, voiced, _ = librosa.pyin(x, fmin=fmin, fmax=min(fmax, sample_rate / 2 - 1), sr=sample_rate,
                                 frame_length=frame)
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if f0.size else float("nan")


def pitch_accuracy(clips: np.ndarray, sample_rate: int, midi: np.ndarray) -> dict:
    """Share of clips whose estimated pitch rounds to the asked MIDI note (and within one semitone)."""
    from lineage.audio import hz_to_midi

    est = np.array([estimate_pitch(c, sample_rate) for c in clips])
    with np.errstate(invalid="ignore"):
        err = np.abs(hz_to_midi(est) - np.asarray(midi, dtype=np.float64))
    ok = np.isfinite(err)
    return {"pitch_accuracy": float(np.mean(ok & (err < 0.5))),
            "pitch_within_1": float(np.mean(ok & (err < 1.5))),
            "voiced": float(ok.mean())}
