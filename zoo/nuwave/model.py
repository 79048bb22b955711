"""NU-Wave: A Diffusion Probabilistic Model for Neural Audio Upsampling (Lee & Han, Interspeech 2021).

The idea. Diffusion as *super-resolution*: the network is given a clip whose upper band is missing -
recorded at a low rate, or band-limited - and generates the full-band waveform, conditioned at every
sample on what is there. Resampling (sinc, soxr, linear interpolation) can only put the low band at the
higher rate: it has nothing to put above the old Nyquist frequency. A generative model can, because
speech and music have structure across frequency - a fricative's noise continues upwards, harmonics
keep their spacing - and a denoiser trained on full-band clips learns to continue it.

* **The condition** (section 3.1): the low-rate signal ``y_low`` brought back to the target rate (here
  by the same windowed-sinc resampler that made it), ``[B, 1, T]`` - so the network sees the low band and
  the noisy full band sample by sample, at one rate.
* **The network** is DiffWave's (Kong et al. 2021): residual layers of dilated, non-causal kernel-3
  convolutions with gated units and skip connections. Its own change: the condition enters every layer
  through a **dilated convolution with that layer's dilation** (DiffWave's vocoder used a 1x1), so each
  layer sees the low band over the same span it sees the noisy signal:

      y = DilatedConv_d(x + W_l e) + DilatedConv_d^low(c),  c = swish(1x1(y_low))
      z = tanh(filt) * sigmoid(gate),   (x + r) / sqrt(2) -> next layer,  s -> skips

* **Continuous noise level** (WaveGrad's, section 3.2): the network is told ``sqrt(abar)`` - drawn
  during training uniformly between two neighbouring levels of the fine schedule - encoded by 128
  sinusoids at scale 50,000 (:func:`lineage.diffusion.level_encoding`) and two fully connected layers
  with swish, so any short schedule can be used at inference.
* **Schedules**: training on 1,000 steps of ``beta`` from 1e-6 to 0.006 (linear); inference in 8 steps,
  ``beta = [1e-6, 2e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 9e-1]``.
* **Loss**: the L1 distance between the noise and its estimate, taken as a logarithm per clip,
  ``mean_b log( mean_t |eps - eps_theta(y_t, y_low, sqrt(abar))| )``, as the authors' code trains it: the
  log weighs a clip whose error is already small as much as one whose error is large.

Measured against resampling by the log-spectral distance of the *missing band* alone (LSD-HF, from the
old Nyquist frequency up) and of the whole band (:func:`band_report`,
``benchmarks/results/nuwave-upsampling.md``).

Differences from the paper, stated once: far smaller (the paper: 30 layers of 64 channels, dilation
cycle 10, 48 kHz from 16 or 24 kHz on VCTK); the low band made by torchaudio's windowed-sinc resampler
(the authors low-pass in the STFT domain); a zero-initialised output layer (the authors' code draws it
at random), so the untrained network predicts no noise; trained on random crops of a tenth of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio.functional as AF

from lineage.diffusion import Schedule, level_encoding, linear_betas, sample_by_level
from lineage.protocol import single_step

FAST_8 = [1e-6, 2e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 9e-1]  # the paper's 8-step inference schedule


@dataclass
class Config:
    ratio: int = field(default=2, metadata={"min": 2, "max": 16})  # target rate / low rate (paper: 2 and 3)
    channels: int = field(default=64, metadata={"min": 1})  # C (paper: 64)
    layers: int = field(default=30, metadata={"min": 1, "max": 256})  # L (paper: 30)
    dilation_cycle: int = field(default=10, metadata={"min": 1, "max": 16})  # dilations 1..512, three times
    embedding: int = field(default=512, metadata={"min": 2})  # the noise level's embedding (paper: 512)
    diffusion_steps: int = field(default=1000, metadata={"min": 1, "max": 100_000})  # fine training schedule
    beta_start: float = field(default=1e-6, metadata={"min": 1e-9, "max": 0.999})
    beta_end: float = field(default=0.006, metadata={"min": 1e-9, "max": 0.999})
    fast_betas: list[float] = field(default_factory=lambda: list(FAST_8))


# torchaudio's windowed sinc at its "best" settings (its resampling tutorial's kaiser_best: 64 zero
# crossings, Kaiser beta 14.77): above the low rate's Nyquist frequency it leaves less than -80 dB
SINC = {"lowpass_filter_width": 64, "rolloff": 0.9475, "resampling_method": "sinc_interp_kaiser",
        "beta": 14.769656459379492}


def low_band(audio: torch.Tensor, sample_rate: int, ratio: int) -> torch.Tensor:
    """``[..., T] -> [..., T]``: the clip as a recording at ``sample_rate / ratio`` would hold it, brought
    back to ``sample_rate`` - windowed-sinc resampling down, then up (:data:`SINC`). Everything above the
    low rate's Nyquist frequency, ``sample_rate / (2 ratio)``, is gone."""
    low = AF.resample(audio, sample_rate, sample_rate // ratio, **SINC)  # [..., T / ratio]
    return AF.resample(low, sample_rate // ratio, sample_rate, **SINC)[..., : audio.shape[-1]]


class ResidualLayer(nn.Module):
    def __init__(self, channels: int, dilation: int, embedding: int):
        super().__init__()
        self.level = nn.Linear(embedding, channels)  # W_l: the noise level's embedding, per layer
        self.dilated = nn.Conv1d(channels, 2 * channels, 3, dilation=dilation, padding=dilation)  # non-causal
        # the low band, through a convolution of the same dilation (DiffWave's conditioner was a 1x1)
        self.low = nn.Conv1d(channels, 2 * channels, 3, dilation=dilation, padding=dilation)
        self.out = nn.Conv1d(channels, 2 * channels, 1)

    def forward(self, x, e, c):  # x [B, C, T], e [B, E], c [B, C, T] -> ([B, C, T], skip [B, C, T])
        y = self.dilated(x + self.level(e)[:, :, None]) + self.low(c)  # [B, 2C, T]
        filt, gate = y.chunk(2, dim=1)
        residual, skip = self.out(torch.tanh(filt) * torch.sigmoid(gate)).chunk(2, dim=1)
        return (x + residual) / math.sqrt(2), skip


class NUWave(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        if sample_rate % cfg.ratio:
            raise ValueError(f"model.ratio = {cfg.ratio} must divide data.sample_rate = {sample_rate}: the low "
                             f"rate is sample_rate / ratio")
        self.cfg, self.sample_rate = cfg, sample_rate
        C = cfg.channels
        self.inp = nn.Conv1d(1, C, 1)  # the noisy full-band clip
        self.low_in = nn.Conv1d(1, C, 1)  # the low band
        self.embed = nn.Sequential(nn.Linear(128, cfg.embedding), nn.SiLU(),
                                   nn.Linear(cfg.embedding, cfg.embedding), nn.SiLU())
        self.layers = nn.ModuleList(ResidualLayer(C, 2 ** (i % cfg.dilation_cycle), cfg.embedding)
                                    for i in range(cfg.layers))
        self.skip_out = nn.Conv1d(C, C, 1)
        self.final = nn.Conv1d(C, 1, 1)
        nn.init.zeros_(self.final.weight)  # the untrained network predicts no noise
        nn.init.zeros_(self.final.bias)
        self.schedule = Schedule(linear_betas(cfg.diffusion_steps, cfg.beta_start, cfg.beta_end))

    @property
    def low_rate(self) -> int:
        return self.sample_rate // self.cfg.ratio

    @property
    def receptive_field(self) -> int:
        """Samples one output sees, both ways: ``1 + 2 sum(dilations)`` (kernel 3, non-causal)."""
        return 1 + 2 * sum(2 ** (i % self.cfg.dilation_cycle) for i in range(self.cfg.layers))

    def forward(self, y: torch.Tensor, low: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """The noise in ``y [B, 1, T]`` given the low band ``low [B, 1, T]`` and the level ``sqrt(abar) [B]``."""
        x = F.silu(self.inp(y))  # [B, C, T]
        c = F.silu(self.low_in(low))  # [B, C, T]
        e = self.embed(level_encoding(level, 128, 50000.0))  # [B, E]: sqrt(abar) x 50,000, as sinusoids
        skips = 0
        for layer in self.layers:
            x, s = layer(x, e, c)
            skips = skips + s
        return self.final(F.silu(self.skip_out(skips / math.sqrt(len(self.layers)))))  # [B, 1, T]


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> NUWave:
    return NUWave(cfg.model, sample_rate=cfg.data.sample_rate)


def loss(model: NUWave, batch: dict) -> tuple[torch.Tensor, dict]:
    """``mean_b log mean_t |eps - eps_theta(sqrt(abar) y_0 + sqrt(1 - abar) eps, y_low, sqrt(abar))|`` at a
    continuous level drawn per clip between two neighbouring steps of the training schedule."""
    y0 = batch["audio"]  # [B, 1, T]
    low = low_band(y0, model.sample_rate, model.cfg.ratio)  # [B, 1, T], the condition
    t = torch.randint(0, len(model.schedule), (y0.shape[0],))  # a diffusion step per clip
    level = model.schedule.noise_level(t).to(y0.device, y0.dtype)[:, None, None]  # sqrt(abar) ~ U(l_t, l_(t-1))
    noise = torch.randn_like(y0)
    y = level * y0 + (1 - level ** 2).sqrt() * noise  # q(y_t | y_0) at a continuous level
    error = (model(y, low, level[:, 0, 0]) - noise).abs().mean(dim=(1, 2))  # [B]: L1 per clip
    return error.clamp(min=1e-20).log().mean(), {"l1": float(error.detach().mean())}


steps = single_step(loss)


@torch.no_grad()
def generate(model: NUWave, low: torch.Tensor, seed: int = 0, fast: bool = True,
             trace: list | None = None, noise_scale: float = 1.0) -> torch.Tensor:
    """Upsample: ``low [B, 1, T]`` (the low band at the target rate) -> ``[B, 1, T]``, from white noise by
    one ancestral step per beta of the 8-step schedule (or of the 1,000-step training schedule with
    ``fast=False``), the network told each step's level ``sqrt(abar_t)``. ``trace`` receives ``y_t``;
    ``noise_scale`` multiplies the noise each step adds (``sigma_t z``; 0: the means alone)."""
    sched = Schedule(model.cfg.fast_betas) if fast else model.schedule
    # white noise, then one ancestral step per beta, the network told sqrt(abar_t) (lineage.diffusion)
    return sample_by_level(lambda y, level: model(y, low, level), low.shape, sched, seed, low.device, trace,
                           noise_scale)


def reconstruct(model: NUWave, batch: dict, seed: int = 0, fast: bool = True) -> torch.Tensor:
    """Super-resolution of the clips ``batch["audio"] [B, 1, T]``: their low band, upsampled to full band."""
    return generate(model, low_band(batch["audio"], model.sample_rate, model.cfg.ratio), seed, fast)


def sample(model: NUWave, n: int, seconds: float, seed: int = 0, cond: dict | None = None,
           fast: bool = True) -> torch.Tensor:
    """An upsampler invents nothing of its own: it upsamples ``cond["low"] [n, 1, T]`` when given one;
    given nothing, it upsamples silence - what the network puts above a band that holds nothing."""
    device = next(model.parameters()).device
    length = int(round(seconds * model.sample_rate))
    low = (cond or {}).get("low")
    if low is None:
        low = torch.zeros(n, 1, length, device=device)
    return generate(model, low.to(device), seed, fast)


def facts(model: NUWave) -> dict:
    return {"receptive_field": model.receptive_field, "ratio": model.cfg.ratio, "low_rate": model.low_rate,
            "diffusion_steps": len(model.schedule), "sampling_steps": len(model.cfg.fast_betas)}
