"""The autoencoder of latent diffusion: a variational autoencoder over waveforms, after Stable Audio's
(Evans et al., 2024), in miniature.

The idea. Diffusion on the waveform (chapters 7-8) spends every network pass on 16,000 numbers a second.
Most of them are predictable detail. Train an autoencoder first that squeezes a clip into a few channels
at a low frame rate, then run diffusion there - and decode once at the end. The autoencoder must make a
space diffusion can work in, so it is not a plain one:

* **Variational** (Kingma & Welling, 2014). The encoder gives a mean and a log-variance per latent
  value, the decoder reads a draw ``z = mu + sigma e``, and a KL term pulls the posterior towards
  ``N(0, I)``,

      KL(q(z | x) || N(0, I)) = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2),

  weighted very lightly (here 1e-3 per value): enough to keep the latents near unit scale and the space
  smooth, too little to blur what the decoder rebuilds.
* **Continuous, not quantised.** The codec of chapter 10 has the same encoder and decoder (they are
  imported from it), and the same 50 frames a second - but it rounds each frame to codebook entries,
  because a token model needs integers. Diffusion needs a continuous space; the KL term replaces the
  quantiser.
* **Trained on how it sounds**: the multi-resolution STFT distance plus a small L1 term on the samples,
  as the codec (Stable Audio adds adversarial losses, omitted here).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from lineage.eval.metrics import mrstft_distance
from zoo.codec.model import Config as CodecConfig
from zoo.codec.model import Decoder, Encoder, ISTFTDecoder


class AudioVAE(nn.Module):
    """``audio [B, 1, T] -> (mu, logvar) [B, C, T / hop]`` and back; ``C = latent`` channels."""

    def __init__(self, channels: int, strides: list[int], latent: int, decoder: str = "istft",
                 sample_rate: int = 16000):
        super().__init__()
        self.sample_rate, self.latent, self.hop = sample_rate, latent, math.prod(strides)
        self.encoder = Encoder(CodecConfig(channels=channels, strides=list(strides), dim=2 * latent))
        dec = CodecConfig(channels=channels, strides=list(strides), dim=latent, decoder=decoder)
        self.decoder = ISTFTDecoder(dec, self.hop) if decoder == "istft" else Decoder(dec)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def posterior(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``[B, C, ceil(T / hop)]`` (the clip padded with zeros to whole frames)."""
        pad = -audio.shape[-1] % self.hop
        mu, logvar = self.encoder(nn.functional.pad(audio, (0, pad))).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # [B, C, F] -> [B, 1, F hop]
        return self.decoder(z)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_hat [B, 1, T], kl)``: a draw from the posterior, decoded; ``kl`` per latent value."""
        mu, logvar = self.posterior(audio)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)  # the reparameterisation trick
        return self.decode(z)[..., :audio.shape[-1]], kl_divergence(mu, logvar)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))``, averaged over every latent value."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()


def vae_loss(vae: AudioVAE, audio: torch.Tensor, fft_sizes: list[int], l1_weight: float,
             kl_weight: float) -> tuple[torch.Tensor, dict]:
    """MR-STFT + ``l1_weight`` L1 + ``kl_weight`` KL on a batch ``[B, 1, T]``."""
    x_hat, kl = vae(audio)
    spectral = mrstft_distance(audio[:, 0], x_hat[:, 0], [(n, n // 4) for n in fft_sizes])
    l1 = (audio - x_hat).abs().mean()
    total = spectral + l1_weight * l1 + kl_weight * kl
    return total, {"loss": float(total.detach()), "mrstft": float(spectral.detach()), "l1": float(l1.detach()),
                   "kl": float(kl.detach())}
