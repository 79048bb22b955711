"""WaveNet (2016) as a zoo entry: see ``model.py`` for the idea, ``README.md`` for the model card."""

from zoo.wavenet.model import Config, WaveNet, build, facts, loss, nll, sample, steps

SYSTEM = "WaveNet"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "WaveNet", "build", "steps", "sample", "nll", "facts", "loss"]
