"""GANSynth: Adversarial Neural Audio Synthesis (Engel, Agrawal, Chen, Gulrajani, Donahue & Roberts,
ICLR 2019).

The idea. WaveGAN generates waveforms with a GAN, and its notes come out rough: a convolutional
generator has to get the *phase* of every partial right in every frame, and a phase that jumps between
frames is heard as a click or a buzz. GANSynth generates a **spectrogram** instead, in a form in which a
steady note is a steady image:

* **log-magnitude** ``log(|X| + eps)`` of the STFT, as images of sound always were;
* **instantaneous frequency (IF)** instead of phase: the phase of bin ``k`` of a steady sinusoid turns by
  the same angle ``2 pi f hop / sr`` from one frame to the next, so its raw phase is a sawtooth that
  wraps around ``[-pi, pi)`` unpredictably, while its unwrapped phase difference along time,
  ``IF[k, m] = (phi_unwrapped[k, m] - phi_unwrapped[k, m - 1]) / pi``, is *constant*. The generator paints
  constants; the phase is rebuilt exactly by a cumulative sum, ``phi[k, m] = pi * sum_(j <= m) IF[k, j]``.

A whole note - 4 s at 16 kHz in the paper, one ``[2, 1024, 128]`` image - comes out of one generator pass,
tens of thousands of times faster than WaveNet, and because the note is made at once it has one latent
``z``: interpolating ``z`` at a fixed pitch morphs the timbre smoothly.

* **Representation** (``representation.py``): STFT with 75% overlap (``n_fft`` 2048, hop 512 at 16 kHz),
  the Nyquist bin dropped so that there are ``n_fft / 2 = 1024`` bins - a power of two for a
  convolutional net that halves and doubles its resolution. The authors' released model, **IF-Mel**,
  warps both channels to a mel frequency axis of the same size, which gives low notes more rows.
* **Networks**: progressive GAN's (Karras et al. 2018) - a generator from ``[z, one-hot pitch]`` through
  a small ``[C, 16, 2]`` map and blocks of ``x2`` nearest upsampling + two 3x3 convolutions with leaky
  ReLU and **pixel norm**, ``tanh`` out; a critic that mirrors it with average pooling, a
  **minibatch standard deviation** feature at the end, and two heads.
* **Loss**: WGAN-GP (Gulrajani et al. 2017) - the critic ``D`` estimates the Wasserstein distance
  ``W = E D(real) - E D(fake)``, kept 1-Lipschitz by a **gradient penalty**
  ``10 * E (||grad D(x_hat)|| - 1)^2`` on random mixes ``x_hat`` of real and fake; plus a small **drift**
  penalty ``0.001 * E D(real)^2``; plus **AC-GAN** (Odena et al. 2017): the critic's second head
  classifies the pitch, trained on real notes, and the generator is also trained to make that head
  hear the pitch it was asked for. That is what makes the pitch conditioning stick.

What is left out: progressive *growing* (the networks here are trained at full resolution from the
start; the paper grows them over 11 M images), equalised learning rates, and the data set (NSynth; here
the SoundFont-rendered ``notes`` set). The mel variant is here (``model.mel = true``).

This file holds the networks, the losses and the protocol; ``representation.py`` the image they paint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.audio import fit_length
from lineage.gan import frozen, gradient_penalty, wgan_steps
from lineage.nn import LabelEmbedding
from lineage.protocol import Step
from zoo.gansynth import representation


@dataclass
class Config:
    latent: int = field(default=256, metadata={"min": 1})  # dimensions of z (paper: 256)
    # channels per resolution, from the smallest map to the full spectrogram; each step doubles both
    # axes (paper: progressive GAN's min(4096 / 2^i, 256) for 7 resolutions, 2 x 16 up to 128 x 1024)
    channels: list[int] = field(default_factory=lambda: [256, 256, 256, 256, 128, 64, 32])
    n_fft: int = field(default=2048, metadata={"min": 4})  # F = n_fft / 2 frequency rows (Nyquist dropped)
    hop: int = field(default=512, metadata={"min": 1})  # paper: n_fft / 4, 75% overlap
    frames: int = field(default=128, metadata={"min": 2})  # time columns; clip: (frames - 1) * hop samples
    mel: bool = False  # IF-Mel: both channels on a mel axis of F rows (the authors' released model)
    critic_steps: int = field(default=1, metadata={"min": 1, "max": 100})  # critic updates per generator update
    gp_weight: float = field(default=10.0, metadata={"min": 0.0})  # lambda of the gradient penalty
    drift: float = field(default=0.001, metadata={"min": 0.0})  # eps_drift * D(real)^2 (progressive GAN)
    aux_weight: float = field(default=10.0, metadata={"min": 0.0})  # weight of the AC-GAN pitch loss
    minibatch_std: bool = True  # the critic sees how much its batch varies (against mode collapse)
    cond_keys: list[str] = field(default_factory=lambda: ["pitch"])  # [] = unconditional
    cond_classes: list[int] = field(default_factory=lambda: [128])  # MIDI pitch 0..127


# --- the networks ------------------------------------------------------------------------------------

def pixel_norm(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Progressive GAN's pixel norm: every position's feature vector to unit mean square,
    ``x / sqrt(mean_c x_c^2 + 1e-8)`` - it keeps the generator's signals from escalating."""
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + 1e-8)


class ConvBlock(nn.Sequential):
    """3x3 convolution and leaky ReLU (0.2), then pixel norm in the generator."""

    def __init__(self, cin: int, cout: int, norm: bool):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2))
        self.norm = norm

    def forward(self, x):
        x = super().forward(x)
        return pixel_norm(x) if self.norm else x


def start_shape(cfg: Config, n_bins: int) -> tuple[int, int]:
    """(rows, columns) of the smallest map: the spectrogram halved ``len(channels) - 1`` times."""
    k = 2 ** (len(cfg.channels) - 1)
    if n_bins % k or cfg.frames % k:
        raise ValueError(f"model.channels has {len(cfg.channels)} resolutions, so n_fft / 2 = {n_bins} and "
                         f"model.frames = {cfg.frames} must both be multiples of 2^{len(cfg.channels) - 1} "
                         f"= {k}")
    return n_bins // k, cfg.frames // k


class Generator(nn.Module):
    """``z [B, latent]`` (+ labels) -> spectrogram image ``[B, 2, F, frames]`` in ``(-1, 1)``."""

    def __init__(self, cfg: Config, n_bins: int):
        super().__init__()
        C = cfg.channels
        self.start = start_shape(cfg, n_bins)
        size = C[0] * self.start[0] * self.start[1]
        self.project = nn.Linear(cfg.latent, size)  # the paper: a dense layer from [z, one-hot pitch]
        # W [z; onehot(p)] = W_z z + W_p[:, p]: concatenating a one-hot then a linear layer is the same
        # as adding a learned vector per pitch - an embedding table of the layer's output size
        self.labels = LabelEmbedding(cfg.cond_keys, cfg.cond_classes, size) if cfg.cond_keys else None
        self.first = ConvBlock(C[0], C[0], norm=True)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                  ConvBlock(C[i - 1], C[i], norm=True),
                                                  ConvBlock(C[i], C[i], norm=True))
                                    for i in range(1, len(C)))
        self.to_spec = nn.Conv2d(C[-1], 2, 1)  # "to RGB": two channels, log-magnitude and IF

    def forward(self, z: torch.Tensor, cond: dict | None = None) -> torch.Tensor:
        B = z.shape[0]
        x = self.project(pixel_norm(z))  # [B, C0 h w]; z to unit mean square (progressive GAN)
        if self.labels is not None:
            x = x + self.labels(cond, B, z.device)
        x = pixel_norm(F.leaky_relu(x.view(B, -1, *self.start), 0.2))  # [B, C0, h, w]
        x = self.first(x)
        for block in self.blocks:
            x = block(x)  # [B, C_i, 2h, 2w]
        return torch.tanh(self.to_spec(x))  # [B, 2, F, frames]


def minibatch_std(x: torch.Tensor) -> torch.Tensor:
    """Progressive GAN's minibatch standard deviation: one more channel holding the mean over features
    and positions of each feature's standard deviation across the batch - a generator that makes the
    same note every time shows up as a small number the critic can punish. ``[B, C, h, w]`` ->
    ``[B, C + 1, h, w]``."""
    s = x.std(dim=0, unbiased=False).mean() if x.shape[0] > 1 else x.new_zeros(())
    return torch.cat([x, s.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


class Critic(nn.Module):
    """Spectrogram image ``[B, 2, F, frames]`` -> (critic score ``[B]``, ``{label: logits [B, classes]}``)."""

    def __init__(self, cfg: Config, n_bins: int):
        super().__init__()
        C = cfg.channels
        self.start = start_shape(cfg, n_bins)
        self.from_spec = nn.Sequential(nn.Conv2d(2, C[-1], 1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(nn.Sequential(ConvBlock(C[i], C[i], norm=False),
                                                  ConvBlock(C[i], C[i - 1], norm=False),
                                                  nn.AvgPool2d(2))
                                    for i in reversed(range(1, len(C))))
        self.std = cfg.minibatch_std
        self.last = ConvBlock(C[0] + int(cfg.minibatch_std), C[0], norm=False)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(C[0] * self.start[0] * self.start[1], C[0]),
                                   nn.LeakyReLU(0.2))
        self.score = nn.Linear(C[0], 1)  # the Wasserstein critic: unbounded, no sigmoid
        self.aux = nn.ModuleDict({k: nn.Linear(C[0], n) for k, n in zip(cfg.cond_keys, cfg.cond_classes)})

    def forward(self, spec: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.from_spec(spec)  # [B, C_last, F, frames]
        for block in self.blocks:
            x = block(x)  # [B, C_(i-1), h / 2, w / 2]
        h = self.dense(self.last(minibatch_std(x) if self.std else x))  # [B, C0]
        return self.score(h)[:, 0], {k: head(h) for k, head in self.aux.items()}


def he_init(module: nn.Module) -> None:
    """He initialisation for leaky ReLU (0.2): ``w ~ N(0, 2 / ((1 + 0.2^2) fan_in))``, biases 0. Each layer
    then keeps the size of its signal; with torch's default (variance ``1 / (3 fan_in)``) it shrinks layer
    after layer, and the tiny critic's gradient at real notes started at 1e-6 - a critic with nothing to
    say. Progressive GAN goes further and rescales the weights at run time ("equalised learning rate");
    that is left out here."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
            nn.init.zeros_(m.bias)


class GANSynth(nn.Module):
    """The generator, the critic and the representation that links them to audio."""

    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        if len(cfg.cond_keys) != len(cfg.cond_classes):
            raise ValueError(f"model.cond_keys {cfg.cond_keys} and model.cond_classes {cfg.cond_classes} "
                             f"must have the same length")
        if cfg.n_fft % 2:
            raise ValueError(f"model.n_fft must be even, got {cfg.n_fft}")
        if not cfg.channels:
            raise ValueError("model.channels is empty: it needs one width per resolution, e.g. [64, 32, 16]")
        self.cfg, self.sample_rate = cfg, sample_rate
        self.n_bins = cfg.n_fft // 2  # F: the Nyquist bin is dropped
        self.length = (cfg.frames - 1) * cfg.hop  # a centred STFT of this many samples has `frames` frames
        self.generator = Generator(cfg, self.n_bins)
        self.critic = Critic(cfg, self.n_bins)
        he_init(self)
        if cfg.mel:  # IF-Mel: the warp M [F, F] and its pseudo-inverse M^+ (fixed, not learned)
            warp = representation.mel_warp(self.n_bins, sample_rate)
            self.register_buffer("mel_matrix", warp, persistent=False)
            self.register_buffer("mel_inverse", torch.linalg.pinv(warp.double()).float(), persistent=False)
        else:
            self.mel_matrix = self.mel_inverse = None

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Clips ``[B, 1, T]`` of any length -> ``[B, 2, F, frames]`` (cut or zero-padded to the model's
        clip)."""
        return representation.encode(fit_length(audio, self.length), self.cfg.n_fft, self.cfg.hop,
                                     self.mel_matrix)

    def decode(self, spec: torch.Tensor) -> torch.Tensor:
        """``[B, 2, F, frames]`` -> ``[B, 1, length]``."""
        return representation.decode(spec, self.cfg.n_fft, self.cfg.hop, self.length, self.mel_inverse)


# --- the losses: WGAN-GP, drift, AC-GAN --------------------------------------------------------------

def _labels(model: GANSynth, batch: dict) -> dict:
    """The batch's labels the model is conditioned on, ``{key: [B]}``: the fakes are asked for the real
    clips' labels, so they follow the data's label distribution."""
    return {k: batch[k] for k in model.cfg.cond_keys}


def critic_loss(model: GANSynth, batch: dict) -> tuple[torch.Tensor, dict]:
    """``L_D = E D(fake) - E D(real) + 10 GP + 0.001 E D(real)^2 + 10 CE(aux(real), pitch)`` (the weights
    are ``model.gp_weight``, ``model.drift`` and ``model.aux_weight``), on a batch of real clips
    (``batch["audio"] [B, 1, T]`` of any length, fitted to the model's clip; labels ``batch[key]``)."""
    cfg = model.cfg
    real = model.encode(batch["audio"])  # [B, 2, F, frames]
    cond = _labels(model, batch)
    z = torch.randn(real.shape[0], cfg.latent, device=real.device)
    with torch.no_grad():  # the generator is not trained here: no graph through it
        fake = model.generator(z, cond)  # [B, 2, F, frames]
    d_real, aux_real = model.critic(real)
    d_fake, _ = model.critic(fake)
    w = d_real.mean() - d_fake.mean()  # the critic's estimate of the Wasserstein distance
    # GP = E (||grad D(x_hat)|| - 1)^2 at x_hat = u real + (1 - u) fake, u ~ U[0, 1] (lineage.gan): an
    # optimal critic has gradient norm 1 between the two distributions; this keeps D 1-Lipschitz softly
    gp = gradient_penalty(lambda x: model.critic(x)[0], real, fake)
    # AC-GAN: the critic learns to name the pitch of *real* notes (cross-entropy on its second head)
    aux = sum((F.cross_entropy(aux_real[k], cond[k].long()) for k in cfg.cond_keys), real.new_zeros(()))
    loss = -w + cfg.gp_weight * gp + cfg.drift * d_real.square().mean() + cfg.aux_weight * aux
    logs = {"W": w.item(), "gp": gp.item(), "aux": aux.item(),
            # silence: the fakes' log-magnitude channel far below the reals' (0 = as loud)
            "level": (fake[:, 0].mean() - real[:, 0].mean()).item(),
            # mode collapse: how much the fakes vary across the batch, relative to the reals (1 = as much)
            "spread": (fake.std(dim=0).mean() / real.std(dim=0).mean().clamp_min(1e-8)).item()}
    return loss, logs


def generator_loss(model: GANSynth, batch: dict) -> tuple[torch.Tensor, dict]:
    """``L_G = -E D(G(z, p)) + 10 CE(aux(G(z, p)), p)``: fool the critic, and make it hear pitch ``p``
    (the batch's labels; its audio only gives the batch size)."""
    cfg = model.cfg
    cond = _labels(model, batch)
    audio = batch["audio"]
    z = torch.randn(audio.shape[0], cfg.latent, device=audio.device)
    fake = model.generator(z, cond)  # [B, 2, F, frames]
    with frozen(model.critic):  # a fixed judge: gradients flow through it, none into it
        d_fake, aux_fake = model.critic(fake)
    aux = sum((F.cross_entropy(aux_fake[k], cond[k].long()) for k in cfg.cond_keys), fake.new_zeros(()))
    return -d_fake.mean() + cfg.aux_weight * aux, {"aux_fake": aux.item()}


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> GANSynth:
    return GANSynth(cfg.model, sample_rate=cfg.data.sample_rate)


def steps(model: GANSynth) -> list[Step]:
    """One training step: the critic ``critic_steps`` times, then the generator once, each with its own
    optimizer and each on a fresh batch."""
    return wgan_steps(model, critic_loss, generator_loss)


def latents(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    """``n`` latent vectors ``z ~ N(0, I)`` ``[n, dim]``, the same for the same seed."""
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(model: GANSynth, z: torch.Tensor, cond: dict | None = None) -> torch.Tensor:
    """Notes ``[n, 1, model.length]`` from latents ``z [n, latent]`` (and labels, e.g. ``{"pitch":
    tensor([60])}``): one generator pass, then the inverse of the representation."""
    device = next(model.parameters()).device
    return model.decode(model.generator(z.to(device), cond)).clamp(-1, 1)


def sample(model: GANSynth, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """``n`` notes ``[n, 1, round(seconds * sample_rate)]``: the model's fixed-length clip, cut or
    zero-padded. ``cond["pitch"]`` holds the MIDI pitches of a pitch-conditioned model."""
    if cond is not None:
        cond = {k: torch.as_tensor(v)[:n] for k, v in cond.items()}
    audio = generate(model, latents(n, model.cfg.latent, seed), cond)
    return fit_length(audio, int(round(seconds * model.sample_rate)))


def facts(model: GANSynth) -> dict:
    return {"hop": model.cfg.hop, "frame_rate": model.sample_rate / model.cfg.hop, "n_fft": model.cfg.n_fft,
            "image": f"2 x {model.n_bins} x {model.cfg.frames}", "length": model.length,
            "critic_steps": model.cfg.critic_steps}
