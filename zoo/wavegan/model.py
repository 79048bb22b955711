"""WaveGAN: Adversarial Audio Synthesis (Donahue, McAuley & Puckette, ICLR 2019).

The idea. Autoregressive models pay one network pass per sample; a GAN pays one pass per *clip*. WaveGAN
takes DCGAN - the convolutional GAN of images - and flattens it into one dimension:

* **Generator** ``G(z)``: a latent ``z ~ U(-1, 1)^100`` -> a dense layer -> ``[16d, 16]`` (16 frames of
  ``16d`` channels) -> five transposed convolutions with **kernel 25 and stride 4** (DCGAN's 5x5 stride-2
  kernels have 25 taps, so the 1-D version keeps the taps and upsamples by 4), channels halving each time,
  ReLU between, ``tanh`` at the end: ``16 * 4^5 = 16384`` samples, one second at 16 kHz (table 2).
* **Discriminator** ``D(x)`` (a *critic*: it outputs a score, not a probability): the mirror image -
  five stride-4 convolutions of kernel 25, LeakyReLU(0.2), a dense layer to one number.
* **Phase shuffle** (section 3.3, the paper's own trick). A generator built from stride-4 transposed
  convolutions leaves periodic artifacts (the 1-D checkerboard) at fixed phases, and a discriminator
  could reject clips by those phases alone. After every discriminator layer but the last, the activations
  are shifted in time by a random ``k`` in ``[-n, n]`` (n = 2), and the ``|k|`` samples the shift uncovers
  at the edge are filled by *reflection*, so the critic must judge a clip the same at every phase.
* **WGAN-GP** (Gulrajani et al. 2017), the loss the paper found best: the critic maximises
  ``E[D(x)] - E[D(G(z))]``, an estimate of the Wasserstein-1 distance between the real and generated
  distributions when ``D`` is 1-Lipschitz, which the gradient penalty
  ``lambda * E[(||grad_x D(x_hat)||_2 - 1)^2]`` enforces softly at random points
  ``x_hat = u x + (1 - u) G(z)``, ``u ~ U(0, 1)`` (lambda = 10). The critic is updated 5 times per
  generator update (``steps``: :func:`critic_loss` five times, then :func:`generator_loss`); Adam with lr
  1e-4, betas (0.5, 0.9).

Differences from the paper, stated once: the tiny preset is smaller (``d`` = 16 instead of 64, four
upsampling layers instead of five: 16 x 4^4 = 4,096 samples, half a second at 8 kHz); no post-processing
filter (the paper's optional learned filter at the generator's output). SpecGAN, the paper's spectrogram
baseline, is not built: GANSynth (the next chapter) is the spectral GAN of this lineage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.audio import fit_length
from lineage.gan import frozen, gradient_penalty, wgan_steps
from lineage.protocol import Step


@dataclass
class Config:
    latent: int = field(default=100, metadata={"min": 1})  # size of z (paper: 100)
    d: int = field(default=64, metadata={"min": 1})  # the model size d of tables 2 and 3 (paper: 64)
    layers: int = field(default=5, metadata={"min": 1, "max": 16})  # stride-4 layers (paper: 5)
    start: int = field(default=16, metadata={"min": 1})  # frames after the dense layer (paper: 16)
    kernel: int = field(default=25, metadata={"min": 1})  # (paper: 25)
    stride: int = field(default=4, metadata={"min": 2})  # (paper: 4)
    phase_shuffle: int = field(default=2, metadata={"min": 0})  # n; 0 = off (paper: 2)
    critic_steps: int = field(default=5, metadata={"min": 1, "max": 100})  # critic updates per generator update
    gp_weight: float = field(default=10.0, metadata={"min": 0.0})  # lambda of the gradient penalty

    @property
    def length(self) -> int:
        """Samples per generated clip: ``start * stride^layers``."""
        return self.start * self.stride ** self.layers

    def channels(self) -> list[int]:
        """Channels from the dense layer down to the last hidden layer: ``16d, 8d, ..., d`` for 5 layers."""
        return [self.d * 2 ** i for i in reversed(range(self.layers))]


# -- phase shuffle ------------------------------------------------------------------------------------

def phase_shuffle(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift each example of ``x [B, C, T]`` by ``shifts[b]`` samples (positive: later in time), filling
    the uncovered edge by reflection: ``y[t] = x[t - k]``, with ``x[-j] = x[j]`` and
    ``x[T - 1 + j] = x[T - 1 - j]``."""
    n = int(shifts.abs().max()) if shifts.numel() else 0
    if n == 0:
        return x
    B, C, T = x.shape
    padded = F.pad(x, (n, n), mode="reflect")  # [B, C, T + 2n]; padded[n + t] = x[t]
    index = torch.arange(T, device=x.device)[None] + n - shifts[:, None].to(x.device)  # [B, T]: n + t - k
    return padded.gather(2, index[:, None, :].expand(B, C, T))


class PhaseShuffle(nn.Module):
    """Phase shuffle with a fresh ``k ~ U{-n..n}`` per example in training; the identity in eval mode."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.n == 0:
            return x
        shifts = torch.randint(-self.n, self.n + 1, (x.shape[0],), device=x.device)
        return phase_shuffle(x, shifts)


# -- the two networks ---------------------------------------------------------------------------------

class Generator(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels()
        self.dense = nn.Linear(cfg.latent, cfg.start * ch[0])
        pad = (cfg.kernel - cfg.stride + 1) // 2  # with output_padding, exactly stride x the length
        outs = ch[1:] + [1]
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(cin, cout, cfg.kernel, cfg.stride, padding=pad,
                               output_padding=cfg.stride + 2 * pad - cfg.kernel)
            for cin, cout in zip(ch, outs))

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # z [B, latent] -> audio [B, 1, length]
        h = F.relu(self.dense(z)).view(z.shape[0], -1, self.cfg.start)  # [B, 16d, 16]
        for i, up in enumerate(self.ups):
            h = up(h)  # [B, C / 2, 4 T]
            h = torch.tanh(h) if i == len(self.ups) - 1 else F.relu(h)
        return h


class Critic(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        ch = [1] + list(reversed(cfg.channels()))  # 1, d, 2d, ..., 16d
        pad = (cfg.kernel - 1) // 2  # "same" padding: a stride-4 layer divides the length by 4
        self.convs = nn.ModuleList(nn.Conv1d(cin, cout, cfg.kernel, cfg.stride, padding=pad)
                                   for cin, cout in zip(ch[:-1], ch[1:]))
        self.shuffle = PhaseShuffle(cfg.phase_shuffle)
        self.out = nn.Linear(ch[-1] * cfg.start, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, 1, length] -> score [B]
        h = x
        for i, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), 0.2)  # [B, 2C, T / 4]
            if i < len(self.convs) - 1:
                h = self.shuffle(h)  # not after the last layer (table 3)
        return self.out(h.flatten(1)).squeeze(1)


class WaveGAN(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        self.cfg = cfg
        self.sample_rate = sample_rate
        self.generator = Generator(cfg)
        self.critic = Critic(cfg)

    def latent(self, n: int, seed: int | None = None, device=None) -> torch.Tensor:
        """``z ~ U(-1, 1)^latent``, ``[n, latent]``, from its own generator when ``seed`` is given."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return (torch.rand(n, self.cfg.latent, generator=gen) * 2 - 1).to(device or self.device)

    @property
    def device(self) -> torch.device:
        return self.generator.dense.weight.device


# -- the losses: WGAN-GP ------------------------------------------------------------------------------

def critic_loss(model: WaveGAN, batch: dict) -> tuple[torch.Tensor, dict]:
    """``L_D = D(G(z)) - D(x) + lambda GP``, minimised: the critic pushes real scores up and fake ones
    down. ``batch["audio"] [B, 1, T]`` of any length is cut or zero-padded to the generator's clip."""
    real = fit_length(batch["audio"], model.cfg.length)  # [B, 1, length], the generator's
    z = model.latent(real.shape[0], device=real.device)
    with torch.no_grad():  # the generator is not trained here: no graph through it
        fake = model.generator(z)  # [B, 1, length]
    d_real, d_fake = model.critic(real).mean(), model.critic(fake).mean()
    gp = gradient_penalty(model.critic, real, fake)  # E(||grad D(x_hat)|| - 1)^2 (lineage.gan)
    wasserstein = d_real - d_fake  # the critic's estimate of W(real, generated)
    return -wasserstein + model.cfg.gp_weight * gp, {"W": wasserstein.item(), "gp": gp.item()}


def generator_loss(model: WaveGAN, batch: dict) -> tuple[torch.Tensor, dict]:
    """``L_G = -D(G(z))``: climb the critic's score; only the batch size is read from ``batch``."""
    z = model.latent(batch["audio"].shape[0], device=batch["audio"].device)
    with frozen(model.critic):  # a fixed judge: gradients flow through it, none into it
        return -model.critic(model.generator(z)).mean(), {}


# -- the zoo protocol (lineage.protocol) -------------------------------------------------------------

def build(cfg) -> WaveGAN:
    return WaveGAN(cfg.model, cfg.data.sample_rate)


def steps(model: WaveGAN) -> list[Step]:
    """One training step: ``critic_steps`` critic updates, then one generator update (section 4)."""
    return wgan_steps(model, critic_loss, generator_loss)


@torch.no_grad()
def generate(model: WaveGAN, z: torch.Tensor) -> torch.Tensor:
    """One network pass: latents ``[n, latent]`` -> clips ``[n, 1, length]``."""
    return model.generator(z.to(model.device))


@torch.no_grad()
def sample(model: WaveGAN, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """``n`` clips ``[n, 1, seconds * sample_rate]``: the generator's fixed-length clip, cut or
    zero-padded. Unconditional, so ``cond`` is ignored."""
    length = int(round(seconds * model.sample_rate))
    return fit_length(generate(model, model.latent(n, seed)), length)


def facts(model: WaveGAN) -> dict:
    return {"length": model.cfg.length, "critic_steps": model.cfg.critic_steps}

