"""DDSP (2020) as a zoo entry: ``processors.py`` (the synthesizer), ``features.py`` (f0, loudness, the
spectral loss), ``model.py`` (the decoder and the protocol), ``README.md`` for the card."""

from zoo.ddsp.model import DDSP, Config, build, loss, n_params, prepare, reconstruct, sample

SYSTEM = "DDSP"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "DDSP", "build", "loss", "prepare", "reconstruct", "sample", "n_params"]
