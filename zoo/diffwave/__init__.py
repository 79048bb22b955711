"""DiffWave (2021) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.diffwave.model import (Config, DiffWave, aligned_steps, build, generate, loss, n_params,
                                reconstruct, reconstructs, sample)

SYSTEM = "DiffWave"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "DiffWave", "aligned_steps", "build", "generate", "loss", "sample",
           "reconstruct", "reconstructs", "n_params"]
