"""WaveGAN (2019) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from lineage.gan import gradient_penalty
from zoo.wavegan.model import (Config, WaveGAN, build, critic_loss, facts, generate, generator_loss,
                               phase_shuffle, sample, steps)

SYSTEM = "WaveGAN"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "WaveGAN", "build", "steps", "sample", "facts", "critic_loss", "generator_loss",
           "generate", "phase_shuffle", "gradient_penalty"]
