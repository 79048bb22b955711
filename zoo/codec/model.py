"""A neural audio codec: SoundStream (Zeghidour et al., 2021) and EnCodec (Défossez et al., 2022).

The idea. Every model so far generated audio sample by sample or spectrogram frame by frame. A codec
turns audio into a few **streams of integers** at a low frame rate, and back - so that a language model
(the next chapter) can treat audio as text. Three parts, trained together end to end:

* an **encoder** of strided convolutions: ``x [1, T] -> z [D, T / hop]``, ``hop = prod(strides)``
  (EnCodec at 24 kHz: strides 2, 4, 5, 8, hop 320, 75 frames per second);
* a **residual vector quantiser** (``rvq.py``): ``z -> codes [K, T / hop] -> z_hat``, ``K`` integers per
  frame, each ``log2 S`` bits, so the **bitrate** is ``frame rate x K x log2 S`` bits per second;
* a **decoder** mirroring the encoder with transposed convolutions: ``z_hat -> x_hat [1, T]``.

Each encoder block is a residual unit (``x + W_1 ELU(W_3,d ELU(x))``) then a strided convolution of kernel
``2 s`` that doubles the channels; the decoder's blocks are a transposed convolution of kernel ``2 s``
(halving the channels, ``s`` times more frames) then a residual unit (EnCodec, section 3.1). Every
convolution is weight-normalised, ``w = g v / ||v||``, as in EnCodec. ``decoder = "istft"`` replaces the
decoder by Vocos's head (:class:`ISTFTDecoder`): the tiny presets use it, because nothing in it runs at
the sample rate.

**Loss** (EnCodec, section 3.4, without its adversarial terms):

    L = L_f(x, x_hat) + lambda_t || x - x_hat ||_1 + lambda_w sum_k || r_{k-1} - sg(q_k) ||^2

with ``L_f`` the multi-resolution STFT distance (spectral convergence plus log-magnitude distance,
:func:`lineage.eval.metrics.mrstft_distance`, over FFT sizes 2048 down to 64) and the last term the
commitment loss. **Causal or not**: EnCodec's streaming model pads every convolution on the left only, so
a frame depends on no future sample and audio can be coded as it arrives; its non-streaming model pads on
both sides. Our clips are given whole, so the presets are non-causal; ``causal = true`` builds the
streaming form (checked in the tests: changing the last frame's samples changes no earlier output).

Differences from the papers, stated once: much smaller (EnCodec: 32 base channels, strides [2, 4, 5, 8],
D = 128, 32 codebooks of 1024); no LSTM after the encoder; no adversarial or feature-matching losses
(the multi-resolution STFT and L1 losses alone - the chapter says what the discriminators add); no
loss balancer; quantiser dropout draws the number of codebooks per example, as SoundStream does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm  # w = g v / ||v||, as EnCodec's convolutions

from lineage.eval import metrics
from lineage.eval.metrics import mrstft_distance
from lineage.protocol import single_step
from zoo.codec.rvq import ResidualVQ


@dataclass
class Config:
    channels: int = field(default=16, metadata={"min": 1})  # channels of the first block; doubled per stride
    strides: list[int] = field(default_factory=lambda: [2, 4, 5, 8])  # hop = their product (EnCodec's)
    dim: int = field(default=32, metadata={"min": 1})  # latent / codebook vector size D
    n_codebooks: int = field(default=8, metadata={"min": 1, "max": 64})  # K
    codebook_size: int = field(default=256, metadata={"min": 2})  # S: log2 S bits per code
    decay: float = field(default=0.99, metadata={"min": 0.0, "max": 1.0})  # the codebooks' EMA decay
    # restart a code whose EMA usage (vectors won per batch) falls under this; EnCodec's 2 assumes batches of
    # thousands of frames, where a fair share is several per code
    dead_threshold: float = field(default=2.0, metadata={"min": 0.0})
    quantizer_dropout: bool = True  # train every prefix of the stack (SoundStream)
    causal: bool = False  # pad on the left only (EnCodec's streaming model)
    decoder: Literal["conv", "istft"] = "conv"  # EnCodec's transposed convolutions, or Vocos's inverse STFT
    istft_blocks: int = field(default=2, metadata={"min": 1, "max": 16})  # residual units x 3 before the head
    fft_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512, 256, 128, 64])  # L_f, hop n/4
    l1_weight: float = field(default=0.1, metadata={"min": 0.0})  # lambda_t
    commit_weight: float = field(default=1.0, metadata={"min": 0.0})  # lambda_w


class Conv(nn.Module):
    """A 1-D convolution that maps ``T`` frames to ``T / stride`` (``T`` a multiple of ``stride``): the
    ``d (k - 1) + 1 - s`` padding it needs goes on both sides, or all on the left when causal."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1,
                 causal: bool = False):
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(c_in, c_out, kernel, stride=stride, dilation=dilation))
        pad = dilation * (kernel - 1) + 1 - stride
        self.pad = (pad, 0) if causal else (pad // 2, pad - pad // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, T] -> [B, C_out, T / stride]
        return self.conv(F.pad(x, self.pad))


class UpConv(nn.Module):
    """A transposed convolution of kernel ``2 s``, stride ``s``: ``T`` frames to ``s T``. It makes
    ``(T + 1) s`` samples; the extra ``s`` are trimmed from both ends, or from the end when causal."""

    def __init__(self, c_in: int, c_out: int, stride: int, causal: bool = False):
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(c_in, c_out, 2 * stride, stride=stride))
        self.trim = (0, stride) if causal else (stride // 2, stride - stride // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, T] -> [B, C_out, s T]
        y = self.conv(x)
        return y[..., self.trim[0]:y.shape[-1] - self.trim[1]]


class ResUnit(nn.Module):
    """``x + W_1 ELU(W_{3,d} ELU(x))``: a dilated kernel-3 convolution with a skip (SEANet's unit)."""

    def __init__(self, channels: int, dilation: int = 1, causal: bool = False):
        super().__init__()
        self.conv = Conv(channels, channels // 2 or 1, 3, dilation=dilation, causal=causal)
        self.out = nn.Conv1d(channels // 2 or 1, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(F.elu(self.conv(F.elu(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        C, causal = cfg.channels, cfg.causal
        layers = [Conv(1, C, 7, causal=causal)]
        for s in cfg.strides:  # each block: residual unit, then stride s with twice the channels
            layers += [ResUnit(C, causal=causal), nn.ELU(), Conv(C, 2 * C, 2 * s, stride=s, causal=causal)]
            C *= 2
        layers += [nn.ELU(), Conv(C, cfg.dim, 3, causal=causal)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, T] -> [B, D, T / hop]
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        C, causal = cfg.channels * 2 ** len(cfg.strides), cfg.causal
        layers = [Conv(cfg.dim, C, 7, causal=causal)]
        for s in reversed(cfg.strides):  # each block: s times more frames with half the channels, residual unit
            layers += [nn.ELU(), UpConv(C, C // 2, s, causal=causal), ResUnit(C // 2, causal=causal)]
            C //= 2
        layers += [nn.ELU(), Conv(C, 1, 7, causal=causal)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, D, F] -> [B, 1, F hop]
        return self.net(z)


class ISTFTDecoder(nn.Module):
    """Vocos's head (Siuzdak, 2023): residual units at the frame rate predict, for every frame, the log
    magnitude and the phase of each STFT bin, and the inverse STFT (window ``4 hop``, hop ``hop``) makes the
    samples. Nothing runs at the sample rate, and a partial's level is one output number, not a pattern
    a stack of transposed convolutions must learn to draw."""

    def __init__(self, cfg: Config, hop: int):
        super().__init__()
        C = cfg.channels * 2 ** len(cfg.strides)
        self.hop, self.n_fft = hop, 4 * hop
        bins = self.n_fft // 2 + 1
        layers = [Conv(cfg.dim, C, 7)]
        for d in (1, 3, 9) * cfg.istft_blocks:
            layers += [ResUnit(C, dilation=d)]
        layers += [nn.ELU(), Conv(C, 2 * bins, 1)]
        self.net = nn.Sequential(*layers)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [B, D, F] -> [B, 1, F hop]
        log_mag, phase = self.net(z).chunk(2, dim=1)  # [B, bins, F] each
        spec = torch.polar(torch.exp(log_mag.clamp(max=8.0)), phase)  # |X| e^{i phi}; e^8 is far above a full-scale partial
        spec = F.pad(spec, (0, 1))  # one frame more: the centred inverse STFT gives F hop samples
        audio = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True)
        return audio[:, None, :z.shape[-1] * self.hop]


class Codec(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        self.cfg, self.sample_rate = cfg, sample_rate
        self.hop = math.prod(cfg.strides)
        self.encoder = Encoder(cfg)
        self.decoder = ISTFTDecoder(cfg, self.hop) if cfg.decoder == "istft" else Decoder(cfg)
        self.quantizer = ResidualVQ(cfg.n_codebooks, cfg.codebook_size, cfg.dim, cfg.decay, cfg.dead_threshold)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def bitrate(self, n: int | None = None) -> float:
        """Bits per second with the first ``n`` codebooks: frames/s x n x log2 S."""
        return self.frame_rate * self.quantizer.bits_per_frame(n)

    def pad(self, audio: torch.Tensor) -> torch.Tensor:
        """Zeros appended up to a whole number of frames: ``[B, 1, T] -> [B, 1, hop ceil(T / hop)]``."""
        return F.pad(audio, (0, -audio.shape[-1] % self.hop))

    def forward(self, audio: torch.Tensor, n_q=None):  # [B, 1, T] -> x_hat [B, 1, T], codes, commit, logs
        T = audio.shape[-1]
        z = self.encoder(self.pad(audio))  # [B, D, F]
        z_hat, codes, commit, logs = self.quantizer(z, n_q)
        return self.decoder(z_hat)[..., :T], codes, commit, logs

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, n: int | None = None) -> torch.Tensor:  # [B, 1, T] -> [B, n, F]
        n = n or self.cfg.n_codebooks
        return self.quantizer(self.encoder(self.pad(audio)), n)[1][:, :n]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:  # [B, n, F] -> [B, 1, F hop]
        return self.decoder(self.quantizer.decode(codes))


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> Codec:
    return Codec(cfg.model, sample_rate=cfg.data.sample_rate)


def loss(model: Codec, batch: dict) -> tuple[torch.Tensor, dict]:
    """L_f + lambda_t L1 + lambda_w commitment, each example keeping ``n ~ U{1..K}`` codebooks in training."""
    audio = batch["audio"]  # [B, 1, T]
    cfg = model.cfg
    n_q = None
    if model.training and cfg.quantizer_dropout:  # SoundStream: a random bitrate per example
        n_q = torch.randint(1, cfg.n_codebooks + 1, (audio.shape[0],), device=audio.device)
    x_hat, _, commit, logs = model(audio, n_q)
    resolutions = [(n, n // 4) for n in cfg.fft_sizes]
    spectral = mrstft_distance(audio[:, 0], x_hat[:, 0], resolutions)
    l1 = (audio - x_hat).abs().mean()
    total = spectral + cfg.l1_weight * l1 + cfg.commit_weight * commit
    logs = {"mrstft": float(spectral.detach()), "l1": float(l1.detach()), "commit": float(commit.detach()), **logs}
    return total, logs


steps = single_step(loss)


def reconstruct(model: Codec, batch: dict, seed: int = 0, n: int | None = None) -> torch.Tensor:
    """``batch["audio"] [B, 1, T]`` through the first ``n`` codebooks (all by default) and back."""
    audio = batch["audio"]
    return model.decode(model.encode(audio, n))[..., :audio.shape[-1]]


def encode(model: Codec, audio: torch.Tensor) -> torch.Tensor:
    """``[B, 1, T]`` -> codes ``[B, K, ceil(T / hop)]`` (int64, each in ``[0, S)``)."""
    return model.encode(audio)


def decode(model: Codec, codes: torch.Tensor) -> torch.Tensor:
    """codes ``[B, n <= K, F]`` -> audio ``[B, 1, F hop]``."""
    return model.decode(codes)


def sample(model: Codec, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """A codec is not a generative model: this decodes codes drawn independently, frame by frame, from
    each codebook's usage in training - every code is a real sound, but nothing says which follows which.
    It is the floor a codec language model (chapter 11) has to rise above; ``cond`` is ignored."""
    device = model.quantizer.codebooks[0].embed.device
    length = int(round(seconds * model.sample_rate))
    frames = -(-length // model.hop)
    g = torch.Generator(device="cpu").manual_seed(seed)
    codes = torch.stack([torch.multinomial(cb.usage.cpu().clamp(min=0) + 1e-6, n * frames, True, generator=g)
                         for cb in model.quantizer.codebooks], dim=1)  # [n F, K]
    codes = codes.view(n, frames, -1).transpose(1, 2).to(device)  # [n, K, F]
    return model.decode(codes)[..., :length]


def bitrate_curve(model: Codec, audio: torch.Tensor, ns=None) -> dict:
    """Quality against bitrate on clips ``audio [k, 1, T]``: for each number of codebooks n (all by
    default), the bitrate, the latent error ``||z - z_hat_n||^2 / ||z||^2`` and the reconstruction's
    MR-STFT, spectral convergence and log-spectral distance (``lineage eval``'s functions); under
    ``"unquantised"``, the decoder fed the encoder's latent itself - the bound no bitrate can pass."""
    original, T = audio[:, 0].numpy(), audio.shape[-1]

    def scores(clips: torch.Tensor) -> dict:
        clips = clips[..., :T][:, 0].numpy()
        sc, logmag = metrics.mrstft_terms(original, clips)
        return {"mrstft": float((sc + logmag).mean()), "sc": float(sc.mean()),
                "lsd": metrics.log_spectral_distance(original, clips)}

    rows = {}
    with torch.no_grad():
        z = model.encoder(model.pad(audio))  # [k, D, F]
        for n in ns or range(1, model.cfg.n_codebooks + 1):
            codes = model.encode(audio, n)
            latent = float(((z - model.quantizer.decode(codes)) ** 2).sum() / (z ** 2).sum())
            rows[n] = {"bitrate": model.bitrate(n), "latent_error": latent, **scores(model.decode(codes))}
        rows["unquantised"] = {"latent_error": 0.0, **scores(model.decoder(z))}
    return rows


def facts(model: Codec) -> dict:
    K = model.cfg.n_codebooks
    return {"hop": model.hop, "frame_rate": model.frame_rate, "codebooks": K,
            "codebook_size": model.cfg.codebook_size, "bitrate_bps": model.bitrate(K),
            "bitrate_one_codebook_bps": model.bitrate(1), "causal": model.cfg.causal}
