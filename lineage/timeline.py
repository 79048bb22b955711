"""The lineage as data: who built what on what, and which zoo entry implements it.

Each :class:`System` records a year (of the paper's publication at a venue, or of its preprint where
that is how the field met it), the paper, its family, the one thing it introduced, and the systems it
built on. ``zoo`` names the zoo entry that implements the system here, or is empty while none does -
``lineage timeline`` and chapter 0 draw the whole family tree from this list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FAMILIES = {
    "autoregressive": "sample-level autoregression",
    "gan": "generative adversarial networks",
    "ddsp": "differentiable signal processing",
    "spectrogram": "spectrogram models",
    "diffusion": "waveform diffusion",
    "state-space": "state-space models",
    "embedding": "joint text-audio embeddings",
    "codec": "neural codecs",
    "token-lm": "language models over audio tokens",
    "latent-diffusion": "latent diffusion",
}


@dataclass(frozen=True)
class System:
    name: str
    year: int
    paper: str  # title
    authors: str  # first author et al.
    arxiv: str  # arXiv identifier of the paper
    family: str  # a key of FAMILIES
    introduced: str  # the one idea it added
    built_on: tuple[str, ...] = field(default_factory=tuple)
    zoo: str = ""  # name of the zoo entry implementing it, if any


SYSTEMS: list[System] = [
    System("WaveNet", 2016, "WaveNet: A Generative Model for Raw Audio", "van den Oord et al.",
           "1609.03499", "autoregressive",
           "dilated causal convolutions over mu-law samples, a softmax per sample", (), "wavenet"),
    System("SampleRNN", 2017, "SampleRNN: An Unconditional End-to-End Neural Audio Generation Model",
           "Mehri et al.", "1612.07837", "autoregressive",
           "a hierarchy of recurrent tiers running at different clock rates", ("WaveNet",), "samplernn"),
    System("NSynth", 2017, "Neural Audio Synthesis of Musical Notes with WaveNet Autoencoders",
           "Engel et al.", "1704.01279", "autoregressive",
           "a WaveNet autoencoder whose temporal embedding morphs timbre; the NSynth data set",
           ("WaveNet",), "nsynth"),
    System("WaveGAN", 2019, "Adversarial Audio Synthesis", "Donahue et al.", "1802.04208", "gan",
           "a DCGAN in 1-D with phase shuffle: a whole clip from one network pass", (), "wavegan"),
    System("GANSynth", 2019, "GANSynth: Adversarial Neural Audio Synthesis", "Engel et al.",
           "1902.08710", "gan",
           "GAN over log-magnitude and instantaneous-frequency spectrograms, pitch-conditioned",
           ("WaveGAN", "NSynth"), "gansynth"),
    System("MelNet", 2019, "MelNet: A Generative Model for Audio in the Frequency Domain",
           "Vasquez & Lewis", "1906.01083", "spectrogram",
           "autoregression over mel-spectrogram bins, multiscale in time and frequency", ("WaveNet",)),
    System("DDSP", 2020, "DDSP: Differentiable Digital Signal Processing", "Engel et al.",
           "2001.04643", "ddsp",
           "a network drives a classical harmonic-plus-noise synthesizer; trained through it", ("NSynth",),
           "ddsp"),
    System("Jukebox", 2020, "Jukebox: A Generative Model for Music", "Dhariwal et al.", "2005.00341",
           "token-lm", "hierarchical VQ-VAE codes of raw music modelled by transformers",
           ("WaveNet", "SampleRNN")),
    System("WaveGrad", 2020, "WaveGrad: Estimating Gradients for Waveform Generation", "Chen et al.",
           "2009.00713", "diffusion",
           "a mel-conditioned diffusion vocoder conditioned on the continuous noise level", (), "wavegrad"),
    System("DiffWave", 2021, "DiffWave: A Versatile Diffusion Model for Audio Synthesis", "Kong et al.",
           "2009.09761", "diffusion",
           "non-causal WaveNet-like denoiser; unconditional and vocoder diffusion, fast schedules",
           ("WaveNet", "WaveGrad"), "diffwave"),
    System("NU-Wave", 2021, "NU-Wave: A Diffusion Probabilistic Model for Neural Audio Upsampling",
           "Lee & Han", "2104.02321", "diffusion", "diffusion for audio super-resolution (upsampling)",
           ("DiffWave", "WaveGrad")),
    System("SaShiMi", 2022, "It's Raw! Audio Generation with State-Space Models", "Goel et al.",
           "2202.09729", "state-space",
           "a multiscale S4 state-space backbone: convolution to train, recurrence to generate",
           ("SampleRNN", "WaveNet", "DiffWave")),
    System("AudioGen", 2022, "AudioGen: Textually Guided Audio Generation", "Kreuk et al.",
           "2209.15352", "token-lm", "a text-conditioned transformer over discrete audio tokens",
           ("Jukebox",)),
    System("EnCodec", 2022, "High Fidelity Neural Audio Compression", "Défossez et al.",
           "2210.13438", "codec",
           "a convolutional codec with residual vector quantisation and adversarial losses", ()),
    System("CLAP", 2023, "Large-scale Contrastive Language-Audio Pretraining with Feature Fusion and "
           "Keyword-to-Caption Augmentation", "Wu et al.", "2211.06687", "embedding",
           "a contrastive joint embedding of text and audio", ()),
    System("MusicLM", 2023, "MusicLM: Generating Music From Text", "Agostinelli et al.", "2301.11325",
           "token-lm", "a cascade of semantic and acoustic token models for text-to-music",
           ("AudioGen", "Jukebox")),
    System("AudioLDM", 2023, "AudioLDM: Text-to-Audio Generation with Latent Diffusion Models",
           "Liu et al.", "2301.12503", "latent-diffusion",
           "diffusion in a VAE's mel latent space, conditioned through CLAP",
           ("CLAP", "DiffWave")),
    System("Mousai", 2023, "Mousai: Text-to-Music Generation with Long-Context Latent Diffusion",
           "Schneider et al.", "2301.11757", "latent-diffusion",
           "a two-stage cascade: a diffusion autoencoder, then text-conditioned latent diffusion",
           ("DiffWave",)),
    System("MusicGen", 2023, "Simple and Controllable Music Generation", "Copet et al.", "2306.05284",
           "token-lm", "one transformer over interleaved EnCodec codebooks (the delay pattern)",
           ("EnCodec", "AudioGen", "MusicLM")),
    System("MusicLDM", 2023, "MusicLDM: Enhancing Novelty in Text-to-Music Generation Using "
           "Beat-Synchronous Mixup Strategies", "Chen et al.", "2308.01546", "latent-diffusion",
           "music-specific latent diffusion with beat-synchronous mixup", ("AudioLDM", "CLAP")),
    System("AudioLDM 2", 2023, "AudioLDM 2: Learning Holistic Audio Generation with Self-supervised "
           "Pretraining", "Liu et al.", "2308.05734", "latent-diffusion",
           "a 'language of audio' shared by speech, music and sound effects", ("AudioLDM",)),
    System("Stable Audio", 2024, "Fast Timing-Conditioned Latent Audio Diffusion", "Evans et al.",
           "2402.04825", "latent-diffusion",
           "timing-conditioned latent diffusion for long, variable-length stereo audio",
           ("AudioLDM", "Mousai", "CLAP")),
    System("Stable Audio Open", 2024, "Stable Audio Open", "Evans et al.", "2407.14358",
           "latent-diffusion", "open weights trained on Creative Commons audio; a diffusion transformer",
           ("Stable Audio",)),
]


def get(name: str) -> System:
    for s in SYSTEMS:
        if s.name.lower() == name.lower():
            return s
    raise KeyError(f"unknown system {name!r}; known: {', '.join(s.name for s in SYSTEMS)}")


def check() -> None:
    """Every ``built_on`` names a system of the list, and every family is known."""
    names = {s.name for s in SYSTEMS}
    for s in SYSTEMS:
        if s.family not in FAMILIES:
            raise ValueError(f"{s.name}: unknown family {s.family!r}")
        for parent in s.built_on:
            if parent not in names:
                raise ValueError(f"{s.name}: built_on names unknown system {parent!r}")


def as_table() -> str:
    """The timeline as aligned text, one system a line, in order of year."""
    rows = [(str(s.year), s.name, s.family, s.zoo or "-", s.introduced)
            for s in sorted(SYSTEMS, key=lambda s: s.year)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("year".ljust(widths[0]), "system".ljust(widths[1]), "family".ljust(widths[2]),
            "zoo".ljust(widths[3]), "introduced")
    lines = ["  ".join(head)]
    lines += ["  ".join([*(c.ljust(w) for c, w in zip(r[:4], widths)), r[4]]) for r in rows]
    return "\n".join(lines)


def plot(ax=None):
    """Draw the lineage: one row per family, systems placed by year, arrows for ``built_on``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 8))
    families = [f for f in FAMILIES if any(s.family == f for s in SYSTEMS)]
    # systems of the same family and year are stacked vertically inside their family's row
    pos = {}
    for s in SYSTEMS:
        same = [t for t in SYSTEMS if t.family == s.family and t.year == s.year]
        offset = (same.index(s) - (len(same) - 1) / 2) * 0.24
        pos[s.name] = (s.year, families.index(s.family) + offset)
    for s in SYSTEMS:
        for parent in s.built_on:
            (x0, y0), (x1, y1) = pos[parent], pos[s.name]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops=dict(arrowstyle="->", color="0.7", lw=0.8,
                                        connectionstyle="arc3,rad=0.15"))
    for s in SYSTEMS:
        x, y = pos[s.name]
        style = dict(boxstyle="round,pad=0.3", fc="#cde4ff" if s.zoo else "white",
                     ec="#1f5fa8" if s.zoo else "0.5")
        ax.text(x, y, s.name, ha="center", va="center", fontsize=7.5, bbox=style)
    ax.set_yticks(range(len(families)), [FAMILIES[f] for f in families])
    ax.set_xticks(range(2016, 2025))
    ax.set_xlim(2015.4, 2024.8)
    ax.set_ylim(-0.7, len(families) - 0.3)
    ax.invert_yaxis()
    ax.grid(axis="x", color="0.92")
    ax.set_title("The lineage of neural audio generation (shaded: implemented in the zoo)")
    return ax
