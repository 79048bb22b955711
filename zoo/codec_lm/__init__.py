"""The codec language model (AudioGen 2022, MusicGen 2023) as a zoo entry: ``pattern.py`` lays K streams
of codec tokens out as one sequence (delay and flattening), ``model.py`` is the transformer that writes
them, conditioned on captions, ``README.md`` is the card."""

from zoo.codec_lm.model import CodecLM, Config, build, facts, loss, prepare, sample, steps, token_nll

SYSTEM = "MusicGen"  # the name of this system in lineage.timeline; AudioGen is the same machine on sound effects

__all__ = ["SYSTEM", "Config", "CodecLM", "build", "prepare", "steps", "sample", "facts", "loss", "token_nll"]
