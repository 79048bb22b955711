"""Latent diffusion (AudioLDM 2023, after Moûsai and Stable Audio) as a zoo entry: ``vae.py`` is the audio
autoencoder, ``model.py`` the diffusion model in its latent space, conditioned through CLAP."""

from zoo.latent_diffusion.model import (Config, LatentDiffusion, build, capabilities, facts, generate, reconstruct,
                                        sample, steps)

SYSTEM = "AudioLDM"  # the name of this system in lineage.timeline; Moûsai's library, Stable Audio's autoencoder
# `make pretrain` trains the autoencoder (preset `vae`) first and hands its run to the U-Net as model.autoencoder
PRETRAIN_FIRST = ("vae", "autoencoder")

__all__ = ["SYSTEM", "PRETRAIN_FIRST", "Config", "LatentDiffusion", "build", "steps", "sample", "generate", "reconstruct",
           "capabilities", "facts"]
