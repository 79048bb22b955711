"""WaveGrad: Estimating Gradients for Waveform Generation (Chen, Zhang, Zen, Weiss, Norouzi & Chan, 2020).

The idea. A vocoder that turns a log-mel spectrogram into a waveform by *denoising*: start from white
noise the length of the clip and, a handful of times, subtract the noise a network estimates - the
network is an estimate of the gradient of the data's log-density (the "Grad" of the title), and each step
is one ancestral step of :mod:`lineage.diffusion`. Two ideas are its own:

* **Conditioning on the continuous noise level** ``sqrt(abar)`` instead of the step index ``t``
  (section 3.1). Training draws ``sqrt(abar)`` uniformly between two neighbouring levels of a fine
  1,000-step schedule, so the network knows every level in ``(0, 1)`` - and at inference *any* schedule
  can be used without retraining. The paper's 6-iteration schedule is
  ``beta = [1e-6, 1.89e-5, 1.19e-4, 1e-3, 1.11e-2, 0.06]``: six network passes for a whole clip.
* **The network runs at the spectrogram's rate and climbs to the audio rate** (figures 3-6):

  - the mel frames pass a convolution, then *UBlocks*, each upsampling time by a factor (the paper:
    5, 5, 3, 2, 2 = a hop of 300 samples);
  - the noisy waveform goes the other way through *DBlocks*, each downsampling by a factor, so that at
    every UBlock's resolution there is a summary of the noisy audio;
  - a *FiLM* module turns that summary, plus a sinusoidal encoding of the noise level, into a per-channel
    scale ``gamma`` and shift ``beta`` that modulate the UBlock: ``h -> gamma * h + beta``.

UBlock (figure 3): ``x`` upsampled takes two paths - a 1x1 convolution (the shortcut) and LReLU ->
upsample -> conv(d=1) -> FiLM -> LReLU -> conv(d=2); their sum then passes FiLM -> LReLU -> conv(d=4) ->
FiLM -> LReLU -> conv(d=8) as a residual. DBlock (figure 4): a 1x1 convolution and downsampling as the
shortcut, and downsample -> 3 x (LReLU -> conv(d = 1, 2, 4)) as the residual.

Loss: ``| eps - eps_theta(sqrt(abar) x_0 + sqrt(1 - abar) eps, mel, sqrt(abar)) |``, the L1 distance the
paper found better than L2. The spectrogram is computed from each clean training crop by the mel front
end the two vocoders share (:mod:`lineage.vocoder`).

Differences from the paper, stated once: far smaller (the paper's WaveGrad Base has 15M parameters and
24 kHz audio with 128 mel bins and a hop of 300); downsampling by average pooling and upsampling by
repetition; no output initialisation trick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.diffusion import Schedule, level_encoding, linear_betas, sample_by_level
from lineage.nn import RunningMean
from lineage.protocol import single_step
from lineage.vocoder import LogMel

FAST_6 = [1e-6, 1.89e-5, 1.19e-4, 1e-3, 1.11e-2, 0.06]  # the paper's 6-iteration schedule (table 2)


@dataclass
class Config:
    mel_bins: int = field(default=40, metadata={"min": 1})  # paper: 128
    n_fft: int = field(default=512, metadata={"min": 2})
    upsample: list[int] = field(default_factory=lambda: [4, 4, 2, 2])  # UBlock factors; product = hop
    mel_channels: int = field(default=128, metadata={"min": 1})  # the first convolution (paper: 768)
    up_channels: list[int] = field(default_factory=lambda: [128, 64, 64, 32])  # per UBlock (paper: 512,512,256,128,128)
    down_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])  # input conv, then per DBlock
    diffusion_steps: int = field(default=1000, metadata={"min": 1, "max": 100_000})  # the fine training schedule (paper: 1,000)
    beta_start: float = field(default=1e-6, metadata={"min": 1e-9, "max": 0.999})  # a variance in (0, 1)
    beta_end: float = field(default=0.01, metadata={"min": 1e-9, "max": 0.999})
    fast_betas: list[float] = field(default_factory=lambda: list(FAST_6))

    @property
    def hop(self) -> int:
        return math.prod(self.upsample)


class FiLM(nn.Module):
    """The noisy audio's summary ``d`` and the noise level -> ``(gamma, beta)`` for one UBlock."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.inp = nn.Conv1d(in_channels, in_channels, 3, padding=1)
        self.scale = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.shift = nn.Conv1d(in_channels, out_channels, 3, padding=1)

    def forward(self, d, level):  # d [B, Cd, T'], level [B]
        h = F.leaky_relu(self.inp(d), 0.2) + level_encoding(level, d.shape[1], 5000.0)[:, :, None]  # sqrt(abar) x 5000
        return self.scale(h), self.shift(h)  # gamma, beta: [B, Cu, T']


class UBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factor: int):
        super().__init__()
        self.factor = factor
        self.shortcut = nn.Conv1d(cin, cout, 1)
        conv = lambda c, d: nn.Conv1d(c, cout, 3, dilation=d, padding=d)  # noqa: E731
        self.c1, self.c2, self.c3, self.c4 = conv(cin, 1), conv(cout, 2), conv(cout, 4), conv(cout, 8)

    def forward(self, x, gamma, beta):  # x [B, Cin, T'] -> [B, Cout, T' * factor]
        up = lambda h: h.repeat_interleave(self.factor, dim=-1)  # noqa: E731 - nearest-neighbour upsampling
        act = lambda h: F.leaky_relu(h, 0.2)  # noqa: E731
        h = self.c2(act(gamma * self.c1(up(act(x))) + beta))
        x = self.shortcut(up(x)) + h
        h = self.c3(act(gamma * x + beta))
        return x + self.c4(act(gamma * h + beta))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factor: int):
        super().__init__()
        self.factor = factor
        self.shortcut = nn.Conv1d(cin, cout, 1)
        self.convs = nn.ModuleList(nn.Conv1d(cin if i == 0 else cout, cout, 3, dilation=d, padding=d)
                                   for i, d in enumerate((1, 2, 4)))

    def forward(self, x):  # [B, Cin, T'] -> [B, Cout, T' / factor]
        down = lambda h: F.avg_pool1d(h, self.factor)  # noqa: E731
        h = down(x)
        for conv in self.convs:
            h = conv(F.leaky_relu(h, 0.2))
        return down(self.shortcut(x)) + h


class WaveGrad(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        n = len(cfg.upsample)
        if not (len(cfg.up_channels) == len(cfg.down_channels) == n):
            raise ValueError(f"model.upsample, model.up_channels and model.down_channels need one entry per "
                             f"UBlock; got {len(cfg.upsample)}, {len(cfg.up_channels)}, {len(cfg.down_channels)}")
        self.cfg, self.sample_rate = cfg, sample_rate
        self.mel_in = nn.Conv1d(cfg.mel_bins, cfg.mel_channels, 3, padding=1)
        ups = [cfg.mel_channels, *cfg.up_channels]
        self.ublocks = nn.ModuleList(UBlock(ups[i], ups[i + 1], cfg.upsample[i]) for i in range(n))
        self.audio_in = nn.Conv1d(1, cfg.down_channels[0], 5, padding=2)
        # DBlock k takes the audio down by the factor of UBlock n-k: its output matches UBlock n-k-1's rate
        self.dblocks = nn.ModuleList(DBlock(cfg.down_channels[k], cfg.down_channels[k + 1], cfg.upsample[n - 1 - k])
                                     for k in range(n - 1))
        # FiLM i modulates UBlock i from the audio summary at its output rate: down feature n-1-i
        self.films = nn.ModuleList(FiLM(cfg.down_channels[n - 1 - i], cfg.up_channels[i]) for i in range(n))
        self.out = nn.Conv1d(cfg.up_channels[-1], 1, 3, padding=1)
        self.schedule = Schedule(linear_betas(cfg.diffusion_steps, cfg.beta_start, cfg.beta_end))
        # the conditioning: log_mel(audio [B, 1, T]) -> [B, mel_bins, T // hop] in [0, 1] (lineage.vocoder)
        self.log_mel = LogMel(sample_rate, cfg.mel_bins, cfg.n_fft, cfg.hop, "the product of model.upsample")
        # the average training spectrogram frame: what `sample` vocodes when given no clip
        self.mean_mel = RunningMean(torch.zeros(cfg.mel_bins))  # [mel_bins]

    def forward(self, y: torch.Tensor, mel: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """The noise in ``y [B, 1, T]`` (``T = frames * hop``) given ``mel [B, M, frames]`` and the noise
        level ``sqrt(abar) [B]``."""
        d = [self.audio_in(y)]  # the noisy audio, summarised at every UBlock's rate: T, T/f_n, ...
        for block in self.dblocks:
            d.append(block(d[-1]))
        x = self.mel_in(mel)  # [B, mel_channels, frames]
        n = len(self.ublocks)
        for i, (block, film) in enumerate(zip(self.ublocks, self.films)):
            gamma, beta = film(d[n - 1 - i], level)
            x = block(x, gamma, beta)  # [B, C_i, frames * f_1 * ... * f_i]
        return self.out(x)  # [B, 1, T]


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> WaveGrad:
    return WaveGrad(cfg.model, sample_rate=cfg.data.sample_rate)


def loss(model: WaveGrad, batch: dict) -> tuple[torch.Tensor, dict]:
    """L1 between the noise and its estimate at a continuous noise level drawn per example (Algorithm 1)."""
    x0 = batch["audio"]  # [B, 1, T], T a whole number of frames
    mel = model.log_mel.of_crop(x0)  # [B, M, T / hop], from the clean crop
    model.mean_mel.track(mel.mean(dim=(0, 2)))  # the average frame, for `sample` (training mode only)
    t = torch.randint(0, len(model.schedule), (x0.shape[0],))  # a diffusion step per example
    level = model.schedule.noise_level(t).to(x0.device, x0.dtype)[:, None, None]  # sqrt(abar) ~ U(l_t, l_(t-1))
    noise = torch.randn_like(x0)
    y = level * x0 + (1 - level ** 2).sqrt() * noise  # eq. 4 at a continuous level
    return F.l1_loss(model(y, mel, level[:, 0, 0]), noise), {}


steps = single_step(loss)


@torch.no_grad()
def generate(model: WaveGrad, mel: torch.Tensor, seed: int = 0, fast: bool = True,
             trace: list | None = None, noise_scale: float = 1.0) -> torch.Tensor:
    """Vocode ``mel [B, M, frames]`` into ``[B, 1, frames * hop]``: white noise, then one ancestral step
    per beta of the 6-iteration schedule (or of the 1,000-step training schedule with ``fast=False``),
    the network told each diffusion step's noise level ``sqrt(abar_t)``. ``trace`` receives ``y`` before
    each step; ``noise_scale`` multiplies the noise each step adds (0: the means alone)."""
    sched = Schedule(model.cfg.fast_betas) if fast else model.schedule
    shape = (mel.shape[0], 1, mel.shape[-1] * model.cfg.hop)
    return sample_by_level(lambda y, level: model(y, mel, level), shape, sched, seed, mel.device, trace, noise_scale)


def reconstruct(model: WaveGrad, batch: dict, seed: int = 0, fast: bool = True) -> torch.Tensor:
    """Vocoding: the clips ``batch["audio"] [B, 1, T]`` regenerated from their own log-mel spectrograms."""
    return model.log_mel.vocode(batch["audio"], lambda mel: generate(model, mel, seed, fast))


def sample(model: WaveGrad, n: int, seconds: float, seed: int = 0, cond: dict | None = None,
           fast: bool = True) -> torch.Tensor:
    """A vocoder generates nothing of its own: given no spectrogram (``cond["mel"]``) it vocodes the
    average training frame held still - its idea of 'an average sound'."""
    device = next(model.parameters()).device
    length = int(round(seconds * model.sample_rate))
    mel = (cond or {}).get("mel")
    if mel is None:  # [n, M, frames]: the average frame, held
        mel = model.mean_mel.value.to(device)[None, :, None].expand(n, -1, model.log_mel.frames(length))
    return generate(model, mel, seed, fast)[..., :length]


def facts(model: WaveGrad) -> dict:
    return {"hop": model.cfg.hop, "frame_rate": model.sample_rate / model.cfg.hop,
            "diffusion_steps": len(model.schedule), "sampling_steps": len(model.cfg.fast_betas)}
