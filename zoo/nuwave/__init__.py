"""NU-Wave (2021) as a zoo entry: ``model.py`` for the idea, ``compare.py`` for the resamplers it is
measured against, ``README.md`` for the card."""

from zoo.nuwave.model import (Config, NUWave, build, facts, generate, loss, low_band, reconstruct, sample,
                              steps)

SYSTEM = "NU-Wave"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "NUWave", "build", "steps", "sample", "reconstruct", "facts", "generate", "loss",
           "low_band"]
