"""The NSynth WaveNet autoencoder (2017) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.nsynth.model import (Config, NSynthAutoencoder, build, loss, n_params, nll, reconstruct,
                              sample)

SYSTEM = "NSynth"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "NSynthAutoencoder", "build", "loss", "nll", "reconstruct", "sample",
           "n_params"]
