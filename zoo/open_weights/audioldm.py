"""AudioLDM (Liu et al. 2023): chapter 13's system at full size - latent diffusion on a mel spectrogram.

A VAE squeezes a 64-bin mel spectrogram 4x in each direction into 8 latent channels; a 2-D U-Net denoises
those latents; a HiFi-GAN vocoder turns the decoded mel back into 16 kHz audio. The trick chapter 13
teaches: the U-Net was trained on CLAP *audio* embeddings of unlabelled sound, and at sampling time a
CLAP *text* embedding (chapter 12's shared space) takes their place. In diffusers its pipeline lives in
the ``deprecated`` folder (no fixes after 0.33): ``constraints.txt`` pins the diffusers it was checked with.
"""

from __future__ import annotations

from zoo.open_weights import tiny
from zoo.open_weights.diffusion import DiffusersWrapper


class AudioLDM(DiffusersWrapper):
    name = "audioldm"
    system = "AudioLDM"
    hub_id = "cvssp/audioldm-s-full-v2"
    pipeline = "AudioLDMPipeline"
    chapters = ("12_clap", "13_latent_diffusion")
    licence = "CC BY-NC-SA 4.0"
    licence_url = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
    gated = False
    sample_rate, channels, seconds, max_seconds = 16000, 1, 5.12, 30.0
    steps, guidance = 10, 2.5
    notes = "diffusers keeps its pipeline in the deprecated folder (no fixes after 0.33); pinned"

    @classmethod
    def pipeline_class(cls):
        from diffusers import AudioLDMPipeline

        return AudioLDMPipeline

    @classmethod
    def tiny_pipeline(cls, seed: int = 0):
        import torch
        from transformers import ClapTextModelWithProjection

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            tokenizer = tiny.roberta_tokenizer()
            text = ClapTextModelWithProjection(tiny.clap_text_config(len(tokenizer)))
            unet = tiny.clap_unet()
            vae, vocoder = tiny.mel_vae(), tiny.vocoder()
        return cls.pipeline_class()(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                    scheduler=tiny.ddim(), vocoder=vocoder)
