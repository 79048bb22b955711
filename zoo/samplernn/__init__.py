"""SampleRNN (2017) as a zoo entry: see ``model.py`` for the idea, ``README.md`` for the model card."""

from zoo.samplernn.model import Config, SampleRNN, build, facts, loss, nll, sample, steps

SYSTEM = "SampleRNN"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "SampleRNN", "build", "steps", "sample", "nll", "facts", "loss"]
