"""DDSP (2020) as a zoo entry: ``processors.py`` (the synthesizer), ``features.py`` (f0, loudness, the
spectral loss), ``model.py`` (the decoder and the protocol), ``README.md`` for the card."""

from zoo.ddsp.model import DDSP, Config, build, facts, loss, prepare, reconstruct, sample, steps

SYSTEM = "DDSP"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "DDSP", "build", "steps", "sample", "reconstruct", "prepare", "facts", "loss"]
