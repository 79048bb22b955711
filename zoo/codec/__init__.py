"""The neural codec (SoundStream 2021 / EnCodec 2022) as a zoo entry: ``rvq.py`` for residual vector
quantisation, ``model.py`` for the codec around it, ``README.md`` for the card."""

from zoo.codec.model import (Codec, Config, build, decode, encode, facts, loss, reconstruct, sample, steps)
from zoo.codec.rvq import Codebook, ResidualVQ

SYSTEM = "EnCodec"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "Codec", "Codebook", "ResidualVQ", "build", "steps", "sample", "reconstruct",
           "encode", "decode", "facts", "loss"]
