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

* **Representation**: STFT with 75% overlap (``n_fft`` 2048, hop 512 at 16 kHz), the
  Nyquist bin dropped so that there are ``n_fft / 2 = 1024`` bins - a power of two for a
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.audio import cut_or_pad
from lineage.gan import gradient_penalty
from lineage.nn import LabelEmbedding

LOG_EPS = 1e-6  # log(|X| + eps): the authors' code's floor, -120 dB below a full-scale sine
MARGIN = 0.8  # the authors' normaliser maps the data's range to [-0.8, 0.8]: tanh never has to saturate


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
    critic_steps: int = field(default=1, metadata={"min": 1})  # critic updates per generator update
    gp_weight: float = field(default=10.0, metadata={"min": 0.0})  # lambda of the gradient penalty
    drift: float = field(default=0.001, metadata={"min": 0.0})  # eps_drift * D(real)^2 (progressive GAN)
    aux_weight: float = field(default=10.0, metadata={"min": 0.0})  # weight of the AC-GAN pitch loss
    minibatch_std: bool = True  # the critic sees how much its batch varies (against mode collapse)
    cond_keys: list[str] = field(default_factory=lambda: ["pitch"])  # [] = unconditional
    cond_classes: list[int] = field(default_factory=lambda: [128])  # MIDI pitch 0..127


# --- the representation: audio <-> (log-magnitude, instantaneous frequency) --------------------------

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
    steps = wrap(torch.diff(phase, dim=dim))
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


def encode(audio: torch.Tensor, n_fft: int, hop: int, mel: torch.Tensor | None = None) -> torch.Tensor:
    """Audio ``[B, 1, T]`` -> the GAN's image ``[B, 2, F, 1 + T // hop]``, both channels in ``[-1, 1]``:

    * channel 0: ``0.8 (1 + 2 log(|X| + 1e-6) / 13.8)`` - the log-magnitude from ``log 1e-6 = -13.8``
      (silence) to ``log 1 = 0`` (a full-scale sine) mapped onto ``[-0.8, 0.8]``;
    * channel 1: ``0.8 IF``.

    With ``mel`` (:func:`mel_warp`, ``[F, F]``), IF-Mel: channel 0 from the mel-warped power,
    ``0.5 log(M |X|^2 + eps^2)``, and channel 1 from the mel-warped unwrapped phase, differentiated:
    ``IF_mel = diff(M phi_u) / pi = M IF`` - the cumulative sum and the warp are both linear, so they
    commute."""
    X = stft(audio, n_fft, hop)  # [B, F, frames]
    inst_freq = instantaneous_frequency(torch.angle(X))  # [B, F, frames] in [-1, 1]
    if mel is None:
        logmag = torch.log(X.abs() + LOG_EPS)
    else:
        logmag = 0.5 * torch.log(mel @ X.abs().square() + LOG_EPS ** 2)  # log of the mel magnitude
        inst_freq = mel @ inst_freq  # a mean of IFs in [-1, 1] stays in [-1, 1]
    spec = torch.stack([MARGIN * (1 + 2 * logmag / -math.log(LOG_EPS)), MARGIN * inst_freq], dim=1)
    return spec.clamp(-1, 1)  # [B, 2, F, frames]


def decode(spec: torch.Tensor, n_fft: int, hop: int, length: int,
           mel_inverse: torch.Tensor | None = None) -> torch.Tensor:
    """The inverse of :func:`encode`: ``[B, 2, F, frames]`` -> audio ``[B, 1, length]``.
    ``log|X| = (m / 0.8 - 1) 13.8 / 2``; ``phi = pi cumsum(IF)`` along time; ``X = |X| e^(i phi)``; iSTFT.
    For IF-Mel, ``mel_inverse`` (``[F, F]``, the pseudo-inverse of the warp) maps power and IF back first."""
    logmag = (spec[:, 0] / MARGIN - 1) * -math.log(LOG_EPS) / 2  # [B, F, frames]
    inst_freq = spec[:, 1] / MARGIN
    if mel_inverse is None:
        mag = (torch.exp(logmag) - LOG_EPS).clamp_min(0)
    else:
        power = mel_inverse @ (torch.exp(2 * logmag) - LOG_EPS ** 2)
        mag = power.clamp_min(0).sqrt()
        inst_freq = mel_inverse @ inst_freq
    phase = phase_from_if(inst_freq)  # [B, F, frames]
    return istft(torch.polar(mag, phase), n_fft, hop, length)


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
        self.cfg, self.sample_rate = cfg, sample_rate
        self.n_bins = cfg.n_fft // 2  # F: the Nyquist bin is dropped
        self.length = (cfg.frames - 1) * cfg.hop  # a centred STFT of this many samples has `frames` frames
        self.generator = Generator(cfg, self.n_bins)
        self.critic = Critic(cfg, self.n_bins)
        he_init(self)
        if cfg.mel:
            warp = mel_warp(self.n_bins, sample_rate)
            self.register_buffer("mel", warp, persistent=False)
            self.register_buffer("mel_inverse", torch.linalg.pinv(warp.double()).float(), persistent=False)
        else:
            self.mel = self.mel_inverse = None

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Clips ``[B, 1, T]`` of any length -> ``[B, 2, F, frames]`` (cut or zero-padded to the model's
        clip)."""
        return encode(cut_or_pad(audio, self.length), self.cfg.n_fft, self.cfg.hop, self.mel)

    def decode(self, spec: torch.Tensor) -> torch.Tensor:
        """``[B, 2, F, frames]`` -> ``[B, 1, length]``."""
        return decode(spec, self.cfg.n_fft, self.cfg.hop, self.length, self.mel_inverse)


# --- the losses ------------------------------------------------------------------------------------

def _freeze(module: nn.Module, frozen: bool) -> None:
    """While the generator learns, the critic is a fixed judge: no gradient for its weights is computed."""
    for p in module.parameters():
        p.requires_grad_(not frozen)


def critic_loss(model: GANSynth, real: torch.Tensor, cond: dict) -> tuple[torch.Tensor, dict]:
    """``L_D = E D(fake) - E D(real) + 10 GP + 0.001 E D(real)^2 + 10 CE(aux(real), pitch)`` (the weights
    are ``model.gp_weight``, ``model.drift`` and ``model.aux_weight``)."""
    cfg = model.cfg
    _freeze(model.critic, False)
    z = torch.randn(real.shape[0], cfg.latent, device=real.device)
    with torch.no_grad():  # the generator is not trained here: no graph through it
        fake = model.generator(z, cond)  # [B, 2, F, frames], asked for the real clips' labels
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


def generator_loss(model: GANSynth, real: torch.Tensor, cond: dict) -> tuple[torch.Tensor, dict]:
    """``L_G = -E D(G(z, p)) + 10 CE(aux(G(z, p)), p)``: fool the critic, and make it hear pitch ``p``."""
    cfg = model.cfg
    _freeze(model.critic, True)
    z = torch.randn(real.shape[0], cfg.latent, device=real.device)
    fake = model.generator(z, cond)
    d_fake, aux_fake = model.critic(fake)
    aux = sum((F.cross_entropy(aux_fake[k], cond[k].long()) for k in cfg.cond_keys), real.new_zeros(()))
    return -d_fake.mean() + cfg.aux_weight * aux, {"aux_fake": aux.item()}


# --- the zoo protocol ------------------------------------------------------------------------------

def build(cfg) -> GANSynth:
    return GANSynth(cfg.model, sample_rate=cfg.data.sample_rate)


def updates(model: GANSynth) -> dict[str, tuple[nn.Module, int]]:
    """One training step: the critic ``critic_steps`` times, then the generator once, each with its own
    optimizer and each on a fresh batch."""
    return {"critic": (model.critic, model.cfg.critic_steps), "generator": (model.generator, 1)}


def loss(model: GANSynth, batch: dict, part: str = "critic") -> tuple[torch.Tensor, dict]:
    """The loss of one update of ``part`` (``critic`` or ``generator``) on a batch of real clips
    (``batch["audio"] [B, 1, T]`` of any length, fitted to the model's clip; labels ``batch[key]``). The
    fakes are asked for the real clips' labels, so they follow the data's label distribution."""
    real = model.encode(batch["audio"])  # [B, 2, F, frames]
    cond = {k: batch[k] for k in model.cfg.cond_keys}
    if part == "critic":
        return critic_loss(model, real, cond)
    if part == "generator":
        return generator_loss(model, real, cond)
    raise ValueError(f"GANSynth trains the parts 'critic' and 'generator', not {part!r}")


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
    return cut_or_pad(audio, int(round(seconds * model.sample_rate)))


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
