"""Degradations of real clips: what generated audio really has wrong with it, applied on purpose.

Two uses, one set of functions:

* **the judge's training** (:func:`augment`): the classifier and CLAP's audio tower see their training
  clips with a noise floor, quantisation, a gain change, a shift or a band limit, so that what they key
  on is the note, the drum or the word - not the absence of a noise floor. The data sets are synthetic
  and digitally silent between partials; a judge trained on them alone learns that silence is the
  strongest feature of a "real" clip: such a judge heard the right timbre in only 28% of real notes
  with a -40 dBFS hiss, and in 74% of them through 8-bit mu-law (``benchmarks/results/metric-ladder.md``).
* **the metric ladder** (``benchmarks/metric_ladder.py``): held-out clips degraded by a graded series,
  to check that every metric gets worse as the damage grows and stays near the clean value where a
  listener hears little.

Every function takes clips ``[N, T]`` (a torch tensor, float) and returns the same shape; randomness comes
from a ``torch.Generator`` so a ladder is the same on every run. Levels are in dBFS: a level of ``L``
means an RMS of ``10^(L/20)`` against a full scale of 1.0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lineage.audio import mu_law_decode, mu_law_encode


def noise_floor(x: torch.Tensor, dbfs: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """White Gaussian noise at ``dbfs`` RMS added to every clip (``dbfs`` a number or one per clip ``[N]``)."""
    rms = 10 ** (torch.as_tensor(dbfs, dtype=x.dtype) / 20)  # L dBFS -> RMS 10^(L/20)
    rms = rms.reshape(-1, 1) if rms.ndim else rms
    return x + rms * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def mu_law(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Round trip through ``bits``-bit mu-law (mu = 2^bits - 1): WaveNet's own 8-bit quantisation at
    ``bits=8``; its error is small near zero and grows with the amplitude."""
    mu = 2 ** bits - 1
    return mu_law_decode(mu_law_encode(x.clamp(-1, 1), mu), mu).to(x.dtype)


def bit_depth(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform quantisation to ``bits`` bits over [-1, 1]: a step of ``2 / 2^bits``, an error of about
    ``6.02 bits`` dB below full scale, the same in silence as in a loud note."""
    step = 2.0 / 2 ** bits
    return torch.round(x.clamp(-1, 1) / step) * step


def low_pass(x: torch.Tensor, cutoff_hz: float | torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Everything above ``cutoff_hz`` removed (a brick wall in the DFT of the whole clip; one cutoff or
    one per clip ``[N]``): the dull sound of a model that never learnt the top octave."""
    spec = torch.fft.rfft(x, dim=-1)  # [N, T/2 + 1]
    freqs = torch.fft.rfftfreq(x.shape[-1], d=1.0 / sample_rate)  # [T/2 + 1] Hz
    cutoff = torch.as_tensor(cutoff_hz, dtype=freqs.dtype)
    keep = freqs[None, :] <= (cutoff.reshape(-1, 1) if cutoff.ndim else cutoff)
    return torch.fft.irfft(spec * keep, n=x.shape[-1], dim=-1).to(x.dtype)


def gain(x: torch.Tensor, db: float | torch.Tensor) -> torch.Tensor:
    """Every clip scaled by ``db`` decibels (one number or one per clip ``[N]``)."""
    g = 10 ** (torch.as_tensor(db, dtype=x.dtype) / 20)
    return x * (g.reshape(-1, 1) if g.ndim else g)


def shift(x: torch.Tensor, samples: int) -> torch.Tensor:
    """A circular shift by ``samples``: the same sound a little later."""
    return torch.roll(x, samples, dims=-1)


def time_reverse(x: torch.Tensor) -> torch.Tensor:
    """The clip played backwards: the same spectrum on average, the wrong sound (a swelling pluck)."""
    return torch.flip(x, dims=[-1])


def shuffle_frames(x: torch.Tensor, frame: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The clip cut into frames of ``frame`` samples, put back in a random order: every moment is real,
    the sound as a whole is not."""
    n, t = x.shape
    k = t // frame
    order = torch.randperm(k, generator=generator)
    body = x[:, :k * frame].reshape(n, k, frame)[:, order].reshape(n, k * frame)
    return torch.cat([body, x[:, k * frame:]], dim=-1)


def augment(x: torch.Tensor, sample_rate: int, rng: np.random.Generator) -> torch.Tensor:
    """The judge's training augmentation of a batch ``[B, T]``: every clip gets a gain of -12..+3 dB and a
    circular shift of up to 1/8 of its length; then, independently, a quarter of the clips a mu-law (6-8
    bit) or linear (8-12 bit) quantisation, half a noise floor of -90..-30 dBFS, and a quarter a low-pass
    at 35-95% of Nyquist. The ranges stop short of the ladder's harshest rungs (-20 dBFS, 4-bit mu-law, a
    1 kHz low-pass), so those stay audible to the judge as damage."""
    b = x.shape[0]
    x = gain(x, torch.from_numpy(rng.uniform(-12, 3, b)).to(x.dtype))
    x = shift(x, int(rng.integers(0, x.shape[1] // 8 + 1)))
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    quantise = rng.random(b) < 0.25
    if quantise.any():
        idx = torch.from_numpy(np.flatnonzero(quantise))
        bits_mu, bits_lin = int(rng.integers(6, 9)), int(rng.integers(8, 13))
        x[idx] = mu_law(x[idx], bits_mu) if rng.random() < 0.5 else bit_depth(x[idx], bits_lin)
    noisy = rng.random(b) < 0.5
    if noisy.any():
        idx = torch.from_numpy(np.flatnonzero(noisy))
        x[idx] = noise_floor(x[idx], torch.from_numpy(rng.uniform(-90, -30, len(idx))).to(x.dtype), g)
    dull = rng.random(b) < 0.25
    if dull.any():
        idx = torch.from_numpy(np.flatnonzero(dull))
        cut = torch.from_numpy(rng.uniform(0.35, 0.95, len(idx)) * sample_rate / 2)
        x[idx] = low_pass(x[idx], cut, sample_rate)
    return x


def ladder(sample_rate: int) -> list[tuple[str, str, float, object]]:
    """The metric ladder's rungs: ``(family, name, severity, fn(x, generator) -> x)``, mildest first in
    each family. Families are graded series (noise, mu-law, linear bits, low-pass) or single rungs of
    the wrong sound altogether (reversed, shuffled); a metric must not improve as severity grows."""
    rungs = [("clean", "clean", 0.0, lambda x, g: x)]
    for level in (-80, -60, -40, -30, -20):
        rungs.append(("noise", f"noise {level} dBFS", 100.0 + level, lambda x, g, L=level: noise_floor(x, L, g)))
    for bits in (8, 6, 4):
        rungs.append(("mu-law", f"mu-law {bits} bit", 16.0 - bits, lambda x, g, b=bits: mu_law(x, b)))
    nyquist = sample_rate / 2
    for frac in (0.5, 0.25, 0.125):
        hz = frac * nyquist
        rungs.append(("low-pass", f"low-pass {hz / 1000:g} kHz", -math.log2(frac),
                      lambda x, g, c=hz: low_pass(x, c, sample_rate)))
    rungs.append(("wrong sound", "time-reversed", 1.0, lambda x, g: time_reverse(x)))
    rungs.append(("wrong sound", "shuffled 50 ms frames", 2.0,
                  lambda x, g: shuffle_frames(x, int(0.05 * sample_rate), g)))
    return rungs
