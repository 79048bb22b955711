"""The NSynth WaveNet autoencoder (2017) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.nsynth.model import (Config, NSynthAutoencoder, build, facts, loss, nll, reconstruct, sample,
                              steps)

SYSTEM = "NSynth"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "NSynthAutoencoder", "build", "steps", "sample", "nll", "reconstruct", "facts",
           "loss"]
