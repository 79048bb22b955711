"""The open-weights models of 2023-2026, each a :class:`lineage.open_weights.Wrapper` over the pipeline
that Hugging Face ``diffusers`` or ``transformers`` publishes for it:

================  =====================  ===========================================  ==============
name              system                 runs on                                      grows from
================  =====================  ===========================================  ==============
stable_audio_open Stable Audio Open 2024 diffusers ``StableAudioPipeline``            chapters 10, 13
audioldm          AudioLDM 2023          diffusers ``AudioLDMPipeline`` (deprecated)  chapters 12, 13
audioldm2         AudioLDM 2 2023        diffusers ``AudioLDM2Pipeline``              chapters 11-13
musicldm          MusicLDM 2023          diffusers ``MusicLDMPipeline`` (deprecated)  chapters 12, 13
musicgen          MusicGen 2023          transformers ``MusicgenForConditionalGeneration``  chapters 10, 11
================  =====================  ===========================================  ==============

``tiny.py`` builds the random miniatures the tests and chapter 14 run; ``README.md`` is the card.
"""
