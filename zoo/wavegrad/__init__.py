"""WaveGrad (2020) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.wavegrad.model import Config, WaveGrad, build, facts, generate, loss, reconstruct, sample, steps

SYSTEM = "WaveGrad"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "WaveGrad", "build", "steps", "sample", "reconstruct", "facts", "generate", "loss"]
