"""GANSynth (2019) as a zoo entry: ``representation.py`` (the image of log-magnitude and instantaneous
frequency), ``model.py`` (the networks, the losses and the protocol), ``README.md`` for the card.

The representation's ``encode``/``decode`` (audio <-> image, given ``n_fft`` and ``hop``) are reached as
``representation.encode``: at the top of an entry those names are the protocol's ``encode(model, audio)``,
which this entry does not offer."""

from zoo.gansynth import representation
from zoo.gansynth.model import (Config, Critic, GANSynth, Generator, build, critic_loss, facts, generate,
                                generator_loss, latents, sample, steps)
from zoo.gansynth.representation import (instantaneous_frequency, istft, mel_warp, phase_from_if, stft,
                                         unwrap, wrap)

SYSTEM = "GANSynth"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "GANSynth", "Generator", "Critic", "build", "steps", "sample", "facts",
           "critic_loss", "generator_loss", "generate", "latents", "representation", "stft", "istft", "wrap",
           "unwrap", "instantaneous_frequency", "phase_from_if", "mel_warp"]
