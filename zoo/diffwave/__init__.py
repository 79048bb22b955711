"""DiffWave (2021) as a zoo entry: ``model.py`` for the idea, ``README.md`` for the card."""

from zoo.diffwave.model import (Config, DiffWave, aligned_steps, build, capabilities, facts, generate, loss,
                                reconstruct, sample, steps)

SYSTEM = "DiffWave"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "DiffWave", "build", "steps", "sample", "reconstruct", "capabilities", "facts",
           "generate", "aligned_steps", "loss"]
