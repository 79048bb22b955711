"""MusicLDM (Chen et al. 2023): AudioLDM retrained on music, with beat-synchronous mixup.

The machine is AudioLDM's (a mel VAE, a 2-D U-Net, a HiFi-GAN; chapter 13) with a CLAP trained on music
(chapter 12). The paper's idea is in the training data, not the sampler: two songs are mixed in time
only after their beats are aligned, so the model learns to interpolate between training songs instead
of copying them. In diffusers its pipeline lives in the ``deprecated`` folder; with transformers 5,
``ClapModel.get_text_features`` returns an output object where the pipeline expects a tensor, which
:func:`_text_features_as_tensor` repairs on the loaded model.
"""

from __future__ import annotations

import types

from zoo.open_weights import tiny
from zoo.open_weights.diffusion import DiffusersWrapper


def _text_features_as_tensor(clap) -> None:
    """Make ``clap.get_text_features`` return the embedding tensor, as transformers 4 did."""
    original = clap.get_text_features

    def get_text_features(self, *args, **kwargs):
        out = original(*args, **kwargs)
        return getattr(out, "pooler_output", out)  # transformers 5: the projected embedding is the pooler output

    clap.get_text_features = types.MethodType(get_text_features, clap)


class MusicLDM(DiffusersWrapper):
    name = "musicldm"
    system = "MusicLDM"
    hub_id = "ucsd-reach/musicldm"
    pipeline = "MusicLDMPipeline"
    chapters = ("12_clap", "13_latent_diffusion")
    licence = "CC BY-NC-SA 4.0"
    licence_url = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
    gated = False
    sample_rate, channels, seconds, max_seconds = 16000, 1, 10.0, 30.0
    steps, guidance = 200, 2.0
    notes = ("diffusers keeps its pipeline in the deprecated folder (pinned); with transformers 5 "
             "ClapModel.get_text_features returns an output object, repaired on load")

    def __init__(self, pipe, device: str = "cpu"):
        super().__init__(pipe, device)
        _text_features_as_tensor(pipe.text_encoder)

    @classmethod
    def pipeline_class(cls):
        from diffusers import MusicLDMPipeline

        return MusicLDMPipeline

    @classmethod
    def tiny_pipeline(cls, seed: int = 0):
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(seed)
            tokenizer = tiny.roberta_tokenizer()
            clap = tiny.clap_model(len(tokenizer))
            unet = tiny.clap_unet()
            vae, vocoder = tiny.mel_vae(), tiny.vocoder()
        return cls.pipeline_class()(vae=vae, text_encoder=clap, tokenizer=tokenizer,
                                    feature_extractor=tiny.clap_features(), unet=unet, scheduler=tiny.ddim(),
                                    vocoder=vocoder)
