"""WaveGAN (2019) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.wavegan.model import (Config, WaveGAN, build, generate, gradient_penalty, loss, n_params,
                               phase_shuffle, sample, updates)

SYSTEM = "WaveGAN"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "WaveGAN", "build", "generate", "gradient_penalty", "loss", "n_params",
           "phase_shuffle", "sample", "updates"]
