"""GANSynth (2019) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.gansynth.model import (Config, Critic, GANSynth, Generator, build, decode, encode, generate,
                                instantaneous_frequency, latents, loss, mel_warp, n_params,
                                phase_from_if, sample, unwrap, updates)

SYSTEM = "GANSynth"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "GANSynth", "Generator", "Critic", "build", "loss", "updates", "sample",
           "generate", "latents", "encode", "decode", "instantaneous_frequency", "phase_from_if", "unwrap",
           "mel_warp", "n_params"]
