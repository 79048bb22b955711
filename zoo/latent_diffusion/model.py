"""Text to audio by latent diffusion: AudioLDM (Liu et al., 2023), with Moûsai's library and Stable Audio's
autoencoder, in miniature.

The idea. Three models, trained one after another, each small because the one before did its job:

1. an **autoencoder** (``vae.py``) squeezes the waveform into 8 channels at 50 frames a second - 400
   numbers a second instead of 16,000 - and rebuilds it;
2. **CLAP** (chapter 12, ``lineage.clap``) maps clips and captions into one space;
3. a **diffusion model** runs in the autoencoder's latent space, conditioned on a CLAP embedding. It is
   ``audio-diffusion-pytorch``'s (the Moûsai authors' library): a 1-D U-Net with cross-attention to the
   embedding, trained on the **v-objective**. With ``x_t = alpha z + sigma eps``, ``alpha = cos(phi)``,
   ``sigma = sin(phi)``, the network predicts ``v = alpha eps - sigma z``, and its sampler walks the noise
   level from 1 to 0 with deterministic steps (``lineage.diffusion.v_step`` is the same step, written out
   and checked against the library).

**AudioLDM's trick.** The diffusion model is trained on the *audio* CLAP embedding of each training clip -
no caption is read - and asked for audio with the *text* embedding of a prompt. Because CLAP put a clip
and its caption at the same place, the one stands in for the other; captions are needed only to train
CLAP. **Classifier-free guidance**: the embedding is replaced by a learnt null embedding for
``cond_dropout`` of the training clips, and sampling mixes the two predictions,
``v = v_null + gamma (v_cond - v_null)``.

The entry trains in two stages, one preset each: ``stage = "autoencoder"`` trains the VAE (the shared
reconstruction protocol measures it); ``stage = "diffusion"`` freezes a trained VAE (``autoencoder``: a run
folder, or an entry's shipped weights) and a CLAP trained on the same data (``lineage.eval.clap``, seed
``clap_seed`` - not the seed of the CLAP that computes the CLAP score), and trains the U-Net. Both frozen
parts are saved with the U-Net, so a diffusion run folder is complete on its own.

Differences from the papers, stated once: a waveform VAE (AudioLDM's is a mel-spectrogram VAE with a
HiFi-GAN vocoder; Stable Audio's is a waveform VAE like this one, with adversarial losses), tiny networks,
and a CLAP trained from scratch on the data set's templated captions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.clap import CLAP, ClapConfig
from lineage.protocol import Step
from zoo.latent_diffusion.vae import AudioVAE, vae_loss


@dataclass
class Config:
    stage: Literal["autoencoder", "diffusion"] = "diffusion"
    # the autoencoder (vae.py): the codec's encoder and decoder (chapter 10) around a KL bottleneck
    channels: int = field(default=16, metadata={"min": 1})
    strides: list[int] = field(default_factory=lambda: [2, 4, 5, 8])  # hop 320: 50 frames a second at 16 kHz
    latent: int = field(default=8, metadata={"min": 1})  # C latent channels per frame
    decoder: Literal["conv", "istft"] = "istft"
    fft_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512, 256, 128, 64])
    l1_weight: float = field(default=0.1, metadata={"min": 0.0})
    kl_weight: float = field(default=1e-3, metadata={"min": 0.0})
    # the diffusion stage's frozen parts
    autoencoder: str = "latent_diffusion"  # a run folder of the autoencoder stage, or an entry's shipped weights
    clap_seed: int = field(default=1, metadata={"min": 0})  # the CLAP judge that scores is seed 0
    clap_words: int = field(default=31, metadata={"min": 3})  # the data set's caption vocabulary (drums: 31)
    cond_keys: list[str] = field(default_factory=lambda: ["text"])
    cond_dropout: float = field(default=0.2, metadata={"min": 0.0, "max": 1.0})
    guidance: float = field(default=3.0, metadata={"min": 0.0})
    # the U-Net (audio-diffusion-pytorch's UNetV0), one entry per level
    unet_channels: list[int] = field(default_factory=lambda: [64, 128, 128])
    factors: list[int] = field(default_factory=lambda: [1, 2, 2])  # downsampling at each level
    items: list[int] = field(default_factory=lambda: [1, 2, 2])  # resnet blocks at each level
    attentions: list[int] = field(default_factory=lambda: [0, 1, 1])
    cross_attentions: list[int] = field(default_factory=lambda: [0, 1, 1])  # to the CLAP embedding
    attention_heads: int = field(default=4, metadata={"min": 1})
    attention_features: int = field(default=32, metadata={"min": 1})
    modulation_features: int = field(default=128, metadata={"min": 1})  # the noise level's embedding
    sampling_steps: int = field(default=50, metadata={"min": 1})


# the U-Net's lists, bounded before the library sees them (a value outside is a one-line error, not a crash)
BOUNDS = {"unet_channels": (1, 4096), "factors": (1, 16), "items": (1, 16), "attentions": (0, 1),
          "cross_attentions": (0, 1)}


class LatentDiffusion(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000, data_cfg=None):
        super().__init__()
        self.cfg, self.sample_rate, self.data_cfg = cfg, sample_rate, data_cfg
        if not cfg.strides or not all(isinstance(v, int) and 1 <= v <= 64 for v in cfg.strides):
            raise ValueError(f"model.strides = {cfg.strides}: needs whole numbers in [1, 64], one per encoder block")
        self.vae = AudioVAE(cfg.channels, cfg.strides, cfg.latent, cfg.decoder, sample_rate)
        if cfg.stage == "autoencoder":
            return
        from audio_diffusion_pytorch import UNetV0, VDiffusion, VSampler

        for key, (lo, hi) in BOUNDS.items():  # every U-Net list: non-empty, each value within its bounds
            values = getattr(cfg, key)
            if not values or not all(isinstance(v, int) and lo <= v <= hi for v in values):
                raise ValueError(f"model.{key} = {values}: needs one whole number per U-Net level, each in [{lo}, {hi}]")
        levels = len(cfg.unet_channels)
        if not all(len(v) == levels for v in (cfg.factors, cfg.items, cfg.attentions, cfg.cross_attentions)):
            raise ValueError(f"model.unet_channels, factors, items, attentions and cross_attentions need one value "
                             f"per U-Net level ({levels})")
        # the vocabulary's words come with the trained CLAP; its size fixes the text tower's table
        self.clap = CLAP(sample_rate, [f"w{i}" for i in range(cfg.clap_words)])
        self.unet = UNetV0(  # [B, C, F] and the noise level -> v [B, C, F], cross-attending to [B, 1, 64]
            dim=1, in_channels=cfg.latent, channels=cfg.unet_channels, factors=cfg.factors, items=cfg.items,
            attentions=cfg.attentions, cross_attentions=cfg.cross_attentions, attention_heads=cfg.attention_heads,
            attention_features=cfg.attention_features, modulation_features=cfg.modulation_features,
            embedding_features=ClapConfig().embed, embedding_max_length=1, use_embedding_cfg=True)
        # the library's v-objective and sampler around the same network; they hold no weights of their own,
        # so they stay outside the module tree (the state dict holds the U-Net once)
        object.__setattr__(self, "objective", VDiffusion(net=self.unet))
        object.__setattr__(self, "sampler", VSampler(net=self.unet))
        self.register_buffer("latent_scale", torch.ones(()))  # 1 / std of the latents, set before training
        self.unit = self.vae.hop * int(torch.tensor(cfg.factors).prod())  # samples per U-Net-divisible frame
        for part in (self.vae, self.clap):
            part.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.cfg.stage == "diffusion":  # the frozen parts stay in eval mode (the CLAP's batch norm)
            self.vae.eval(), self.clap.eval()
        return self

    def latents(self, audio: torch.Tensor, draw: bool = True) -> torch.Tensor:
        """``audio [B, 1, T]`` -> scaled latents ``[B, C, F]``, the clip padded with silence to a whole number
        of U-Net frames; a draw from the posterior in training, its mean otherwise."""
        mu, logvar = self.vae.posterior(F.pad(audio, (0, -audio.shape[-1] % self.unit)))
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu) if draw else mu
        return z * self.latent_scale


# --- the frozen parts -------------------------------------------------------------------------------

def attach_frozen_parts(model: LatentDiffusion) -> None:
    """Before the diffusion stage trains: the trained autoencoder, the CLAP of the same data (the one
    inside ``autoencoder`` when that is a diffusion run of this data set, else the judge of seed
    ``clap_seed``), and the latents' scale (1 / the std of the posterior means of up to 256 training clips;
    a diffusion run's own scale when ``autoencoder`` is one of this data set)."""
    from lineage.data import load
    from lineage.eval.clap import get_clap
    from lineage.run import Run

    cfg = model.cfg
    source = Run.load(cfg.autoencoder)
    trained = source.model(device="cpu")
    theirs = source.config.model
    if (theirs.channels, list(theirs.strides), theirs.latent, theirs.decoder) != \
            (cfg.channels, list(cfg.strides), cfg.latent, cfg.decoder):
        raise ValueError(f"model.autoencoder {cfg.autoencoder}: its VAE (channels {theirs.channels}, strides "
                         f"{theirs.strides}, latent {theirs.latent}, decoder {theirs.decoder}) is not the one this "
                         f"config builds; set the same model.channels, strides, latent and decoder")
    model.vae.load_state_dict(trained.vae.state_dict())
    kin = theirs.stage == "diffusion" and source.config.data.name == model.data_cfg.name  # a trained sibling
    if not cfg.cond_keys:  # a data set without captions: unconditional latent diffusion, no CLAP
        clap = None
    elif kin:
        clap = trained.clap  # a trained diffusion model of the same data set brings its CLAP too
    else:
        clap = get_clap(model.data_cfg, seed=cfg.clap_seed).model
    if clap is not None:
        if len(clap.vocab) != cfg.clap_words:
            raise ValueError(f"model.clap_words is {cfg.clap_words}, but the captions of data set "
                             f"{model.data_cfg.name} have {len(clap.vocab)} words; set model.clap_words="
                             f"{len(clap.vocab)}")
        model.clap.load_state_dict(clap.state_dict())
        model.clap.vocab = clap.vocab
    if kin:  # the same VAE on the same data: the same scale, and no data needed to find it
        model.latent_scale.copy_(trained.latent_scale)
        return
    train, _ = load(model.data_cfg).split(model.data_cfg.holdout, seed=model.data_cfg.seed)
    audio = torch.from_numpy(train.audio[:256])[:, None]
    with torch.no_grad():
        model.latent_scale.fill_(1.0)
        model.latent_scale.fill_(1.0 / float(model.latents(audio, draw=False).std()))


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> LatentDiffusion:
    return LatentDiffusion(cfg.model, sample_rate=cfg.data.sample_rate, data_cfg=cfg.data)


def autoencoder_loss(model: LatentDiffusion, batch: dict) -> tuple[torch.Tensor, dict]:
    """Stage 1: MR-STFT + L1 + a light KL (``vae.py``)."""
    cfg = model.cfg
    return vae_loss(model.vae, batch["audio"], cfg.fft_sizes, cfg.l1_weight, cfg.kl_weight)


def diffusion_loss(model: LatentDiffusion, batch: dict) -> tuple[torch.Tensor, dict]:
    """Stage 2: the v-objective on the clip's latents, conditioned on the clip's own *audio* CLAP
    embedding (AudioLDM's trick), replaced by the null embedding for ``cond_dropout`` of the clips (for
    all of them when ``cond_keys`` is empty: a data set without captions trains an unconditional model)."""
    audio, cfg = batch["audio"], model.cfg  # [B, 1, T]
    with torch.no_grad():
        z = model.latents(audio)  # [B, C, F]
        if cfg.cond_keys:
            embedding = model.clap.embed_audio(audio[:, 0])[:, None]  # [B, 1, 64]
        else:  # no captions, no CLAP: every clip gets the null embedding below
            embedding = torch.zeros(audio.shape[0], 1, ClapConfig().embed, device=audio.device)
    dropout = (cfg.cond_dropout if model.training else 0.0) if cfg.cond_keys else 1.0  # no captions: null only
    loss = model.objective(z, embedding=embedding, embedding_mask_proba=dropout)
    return loss, {"loss": float(loss.detach())}


def steps(model: LatentDiffusion) -> list[Step]:
    """One part per stage: the VAE alone, or the U-Net alone (the VAE and the CLAP frozen, and attached
    here, before the optimizer is made)."""
    if model.cfg.stage == "autoencoder":
        return [Step("model", tuple(model.vae.parameters()), 1, autoencoder_loss)]
    attach_frozen_parts(model)
    return [Step("model", tuple(model.unet.parameters()), 1, diffusion_loss)]


@torch.no_grad()
def generate(model: LatentDiffusion, n: int, seconds: float, seed: int = 0, tokens: torch.Tensor | None = None,
             guidance: float | None = None, sampling_steps: int | None = None) -> torch.Tensor:
    """Clips ``[n, 1, T]`` for caption ``tokens [n, L]`` through the CLAP *text* tower (none: the null
    embedding, unconditional), in ``sampling_steps`` v steps at ``guidance``."""
    cfg = model.cfg
    length = int(round(seconds * model.sample_rate))
    frames = -(-length // model.unit) * model.unit // model.vae.hop
    device = model.latent_scale.device
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, cfg.latent, frames, generator=g).to(device)
    if tokens is None:  # the null embedding stands in for every clip
        embedding, mask, gamma = torch.zeros(n, 1, ClapConfig().embed, device=device), 1.0, 1.0
    else:
        embedding, mask = model.clap.embed_text(tokens.to(device))[:, None], 0.0
        gamma = cfg.guidance if guidance is None else guidance
    z = model.sampler(noise, num_steps=sampling_steps or cfg.sampling_steps, embedding=embedding,
                      embedding_scale=gamma, embedding_mask_proba=mask)
    return model.vae.decode(z / model.latent_scale)[..., :length]


def sample(model: LatentDiffusion, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """The autoencoder stage decodes draws from its prior ``N(0, I)``; the diffusion stage writes clips for
    the captions in ``cond["text"]`` (unconditional without)."""
    if model.cfg.stage == "autoencoder":
        length = int(round(seconds * model.sample_rate))
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, model.cfg.latent, -(-length // model.vae.hop), generator=g)
        return model.vae.decode(z.to(next(model.parameters()).device))[..., :length]
    return generate(model, n, seconds, seed, (cond or {}).get("text"))


def reconstruct(model: LatentDiffusion, batch: dict, seed: int = 0) -> torch.Tensor:
    """``batch["audio"]`` through the posterior mean and back (the autoencoder stage)."""
    audio = batch["audio"]
    mu, _ = model.vae.posterior(audio)
    return model.vae.decode(mu)[..., :audio.shape[-1]]


def capabilities(model: LatentDiffusion) -> set[str]:
    """``reconstruct`` for the autoencoder stage only: the diffusion stage writes new clips."""
    return {"facts", "reconstruct"} if model.cfg.stage == "autoencoder" else {"facts"}


def facts(model: LatentDiffusion) -> dict:
    vae = model.vae
    out = {"stage": model.cfg.stage, "frame_rate": vae.frame_rate, "latent_channels": vae.latent,
           "compression": vae.hop / vae.latent}  # samples per latent value
    if model.cfg.stage == "diffusion":
        out.update(sampling_steps=model.cfg.sampling_steps, unet_parameters=sum(p.numel() for p in model.unet.parameters()))
    return out
