"""Neural Audio Synthesis of Musical Notes with WaveNet Autoencoders (Engel et al., 2017).

The idea. A WaveNet (chapter 1) conditioned only on labels must invent a note's timbre from a handful of
integers. The NSynth autoencoder gives it something richer to listen to: an **encoder** reads the whole
note and compresses it into a slow **temporal embedding** - 16 numbers every 32 ms in the paper (512
samples at 16 kHz, about 31 frames per second) - and a WaveNet **decoder** reconstructs the waveform
sample by sample, conditioned on that embedding (and on the pitch).

* **Encoder** (non-causal: it may look ahead, since the whole note is given): a stack of dilated
  convolutions with residual connections and ReLUs, a 1x1 convolution down to ``D`` channels, then
  average pooling over ``hop`` samples:

      Z = AvgPool_hop( W_out * f_enc(x) )         Z in R^{D x T/hop}                   (section 3.1)

* **Decoder**: a WaveNet whose every gate also hears the embedding, upsampled back to the audio rate
  by repetition, through its own 1x1 projection - WaveNet's *local* conditioning (its section 2.5):

      z_l = tanh(W_f * x + V_f h + V'_f up(Z)) ⊙ sigmoid(W_g * x + V_g h + V'_g up(Z))

  with ``h`` the pitch embedding. The decoder is :class:`zoo.wavenet.WaveNet` itself (imported, not
  copied) with ``local_channels = D``.

* **Loss**: the decoder's cross-entropy on the mu-law samples; the encoder is trained through it.

What made the paper famous is what the embedding allows: **timbre morphing**. Interpolating the
embeddings of two notes and decoding gives a sound *between* the two instruments, where mixing their audio
only gives both instruments at once.

Differences from the paper, stated once: much smaller (the paper: 30-layer encoder and decoder, 128/512
channels, 16 kHz, 4 s notes); the pooling ``hop`` keeps the paper's 32 ms at our sample rate; the decoder
is conditioned on pitch through WaveNet's label embedding rather than a one-hot vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.audio import mu_law_decode
from lineage.nn import RunningMean
from lineage.protocol import single_step
from zoo.wavenet.model import Config as WaveNetConfig
from zoo.wavenet.model import WaveNet
from zoo.wavenet.model import loss as wavenet_loss


@dataclass
class Config:
    # encoder
    enc_channels: int = field(default=32, metadata={"min": 1})
    enc_cycle: int = field(default=8, metadata={"min": 1, "max": 16})  # dilations 1, 2, ..., 2^(cycle-1) (kernel 3)
    enc_stacks: int = field(default=1, metadata={"min": 1, "max": 64})
    bottleneck: int = field(default=16, metadata={"min": 1})  # embedding channels D (paper: 16)
    hop: int = field(default=256, metadata={"min": 1})  # pooling stride: 32 ms at 8 kHz (paper: 512 at 16 kHz)
    # decoder: a WaveNet (see zoo/wavenet) with local conditioning on the upsampled embedding
    channels: int = field(default=32, metadata={"min": 1})
    skip_channels: int = field(default=64, metadata={"min": 1})
    dilation_cycle: int = field(default=8, metadata={"min": 1, "max": 16})
    stacks: int = field(default=2, metadata={"min": 1, "max": 64})
    cond_keys: list[str] = field(default_factory=lambda: ["pitch"])  # the paper conditions on pitch
    cond_classes: list[int] = field(default_factory=lambda: [128])
    cond_channels: int = field(default=32, metadata={"min": 1})
    quantization: int = field(default=256, metadata={"min": 2})
    temperature: float = field(default=1.0, metadata={"min": 0.0})


class Encoder(nn.Module):
    """Non-causal dilated residual convolutions -> 1x1 to ``D`` channels -> average pooling over ``hop``."""

    def __init__(self, cfg: Config):
        super().__init__()
        C = cfg.enc_channels
        self.hop = cfg.hop
        self.inp = nn.Conv1d(1, C, 3, padding=1)
        dilations = [2 ** i for i in range(cfg.enc_cycle)] * cfg.enc_stacks
        # kernel 3, padding = dilation: output t sees t - d, t, t + d (the future too: non-causal)
        self.dilated = nn.ModuleList(nn.Conv1d(C, C, 3, dilation=d, padding=d) for d in dilations)
        self.mix = nn.ModuleList(nn.Conv1d(C, C, 1) for _ in dilations)
        self.out = nn.Conv1d(C, cfg.bottleneck, 1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # [B, 1, T] -> [B, D, ceil(T / hop)]
        pad = -audio.shape[-1] % self.hop
        x = self.inp(F.pad(audio, (0, pad)))
        for dilated, mix in zip(self.dilated, self.mix):
            x = x + mix(F.relu(dilated(F.relu(x))))  # residual block: x + W_1x1 relu(W_d * relu(x))
        return F.avg_pool1d(self.out(x), self.hop)  # one D-vector per hop samples


class NSynthAutoencoder(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        self.cfg, self.sample_rate = cfg, sample_rate
        self.encoder = Encoder(cfg)
        dec = WaveNetConfig(channels=cfg.channels, skip_channels=cfg.skip_channels,
                            dilation_cycle=cfg.dilation_cycle, stacks=cfg.stacks, quantization=cfg.quantization,
                            cond_keys=cfg.cond_keys, cond_classes=cfg.cond_classes,
                            cond_channels=cfg.cond_channels, local_channels=cfg.bottleneck,
                            temperature=cfg.temperature)
        self.decoder = WaveNet(dec, sample_rate)
        # running mean of the training embeddings: what `sample` decodes when given no note to encode
        self.mean_embedding = RunningMean(torch.zeros(cfg.bottleneck))  # [D]

    def upsample(self, z: torch.Tensor, length: int) -> torch.Tensor:
        """``[B, D, frames] -> [B, D, length]``: each embedding frame held for ``hop`` samples."""
        return z.repeat_interleave(self.cfg.hop, dim=2)[:, :, :length]

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        return self.encoder(audio)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, cond: dict, length: int, seed: int = 0) -> torch.Tensor:
        """Audio ``[B, 1, length]`` generated sample by sample from embeddings ``z [B, D, frames]``."""
        h = self.decoder.condition(cond, z.shape[0], z.device)
        classes = self.decoder.generate(z.shape[0], length, h, seed=seed, local=self.upsample(z, length))
        return mu_law_decode(classes, self.cfg.quantization - 1).float()[:, None, :]


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> NSynthAutoencoder:
    return NSynthAutoencoder(cfg.model, sample_rate=cfg.data.sample_rate)


def loss(model: NSynthAutoencoder, batch: dict) -> tuple[torch.Tensor, dict]:
    """The decoder's next-sample cross-entropy given the embedding of the same audio."""
    audio = batch["audio"]  # [B, 1, T]
    z = model.encode(audio)  # [B, D, T/hop]
    model.mean_embedding.track(z.mean(dim=(0, 2)))  # the average embedding, for `sample` (training mode only)
    # chapter 1's teacher-forced cross-entropy, every sample also hearing up(Z)
    return wavenet_loss(model.decoder, batch, local=model.upsample(z, audio.shape[-1]))


steps = single_step(loss)


def nll(model: NSynthAutoencoder, batch: dict) -> torch.Tensor:
    """Nats per sample of the audio given its own embedding (a reconstruction likelihood, not p(x))."""
    return loss(model, batch)[0]


def reconstruct(model: NSynthAutoencoder, batch: dict, seed: int = 0) -> torch.Tensor:
    """Encode ``batch["audio"] [B, 1, T]`` and decode it sample by sample with the batch's labels."""
    audio = batch["audio"]
    with torch.no_grad():
        z = model.encode(audio)
    return model.decode(z, batch, audio.shape[-1], seed=seed)


def sample(model: NSynthAutoencoder, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """With no note to encode, decode the average training embedding at the asked pitch: the model's
    idea of 'an average instrument'. (Reconstruction and morphing are what this model is for.)"""
    device = next(model.parameters()).device
    length = int(round(seconds * model.sample_rate))
    frames = -(-length // model.cfg.hop)
    z = model.mean_embedding.value.to(device)[None, :, None].expand(n, -1, frames)  # [n, D, frames]
    return model.decode(z, cond, length, seed=seed)


def facts(model: NSynthAutoencoder) -> dict:
    return {"hop": model.cfg.hop, "frame_rate": model.sample_rate / model.cfg.hop,
            "bottleneck": model.cfg.bottleneck, "receptive_field": model.decoder.receptive_field}
