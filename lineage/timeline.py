"""The lineage as data: who built what on what, and which zoo entry implements it.

Each :class:`System` records a year (of the paper's publication at a venue, or of its preprint where
that is how the field met it), the paper, its family, the one thing it introduced, and the systems it
built on. ``zoo`` names the zoo entry that implements the system here, or is empty while none does -
``lineage timeline`` and chapter 0 draw the whole family tree from this list.

The book's bibliography is written from the same data: :func:`bibtex` renders one BibTeX entry per
system, plus :data:`OTHER_WORKS` - the papers the chapters cite that are not systems of the lineage
(the tricks, losses and metrics the systems borrowed) - and ``scripts/references.py`` writes it to
``book/references.bib``, where a test checks it is current.
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
           ("DiffWave", "WaveGrad"), "nuwave"),
    System("SoundStream", 2021, "SoundStream: An End-to-End Neural Audio Codec", "Zeghidour et al.",
           "2107.03312", "codec",
           "a learned codec: convolutional encoder and decoder around residual vector quantisation, "
           "quantiser dropout for several bitrates in one model", ()),
    System("SaShiMi", 2022, "It's Raw! Audio Generation with State-Space Models", "Goel et al.",
           "2202.09729", "state-space",
           "a multiscale S4 state-space backbone: convolution to train, recurrence to generate",
           ("SampleRNN", "WaveNet", "DiffWave"), "sashimi"),
    System("AudioGen", 2022, "AudioGen: Textually Guided Audio Generation", "Kreuk et al.",
           "2209.15352", "token-lm", "a text-conditioned transformer over discrete audio tokens",
           ("Jukebox",)),
    System("DAG", 2022, "Full-band General Audio Synthesis with Score-based Diffusion", "Pascual et al.",
           "2210.14661", "diffusion",
           "label-conditioned score-based diffusion on full-band 48 kHz waveforms, end to end: no latent "
           "encoder, no cascade", ("DiffWave",)),
    System("EnCodec", 2022, "High Fidelity Neural Audio Compression", "Défossez et al.",
           "2210.13438", "codec",
           "a convolutional codec with residual vector quantisation and adversarial losses", ("SoundStream",),
           "codec"),
    System("CLAP", 2023, "Large-scale Contrastive Language-Audio Pretraining with Feature Fusion and "
           "Keyword-to-Caption Augmentation", "Wu et al.", "2211.06687", "embedding",
           "a contrastive joint embedding of text and audio", ()),
    System("MusicLM", 2023, "MusicLM: Generating Music From Text", "Agostinelli et al.", "2301.11325",
           "token-lm", "a cascade of semantic and acoustic token models for text-to-music",
           ("AudioGen", "Jukebox")),
    System("AudioLDM", 2023, "AudioLDM: Text-to-Audio Generation with Latent Diffusion Models",
           "Liu et al.", "2301.12503", "latent-diffusion",
           "diffusion in a VAE's mel latent space, conditioned through CLAP",
           ("CLAP", "DiffWave"), "latent_diffusion"),
    System("Mousai", 2023, "Mousai: Text-to-Music Generation with Long-Context Latent Diffusion",
           "Schneider et al.", "2301.11757", "latent-diffusion",
           "a two-stage cascade: a diffusion autoencoder, then text-conditioned latent diffusion",
           ("DiffWave",)),
    System("MusicGen", 2023, "Simple and Controllable Music Generation", "Copet et al.", "2306.05284",
           "token-lm", "one transformer over interleaved EnCodec codebooks (the delay pattern)",
           ("EnCodec", "AudioGen", "MusicLM"), "codec_lm"),
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


@dataclass(frozen=True)
class Work:
    """A work the chapters cite that is not a system of the lineage: a trick, a loss, a metric, an
    overview. ``year`` is the year of its arXiv preprint (of publication where it has none)."""

    name: str  # what the chapters call it; the citation key is made from it (see `cite_key`)
    year: int
    paper: str  # title
    authors: str  # first author et al., or "A & B"
    arxiv: str = ""  # arXiv identifier, if any
    url: str = ""  # where to read it; https://arxiv.org/abs/<arxiv> when empty
    note: str = ""  # what kind of work it is, when not a paper (a blog post)


OTHER_WORKS: list[Work] = [
    Work("PESQ", 2001, "Perceptual Evaluation of Speech Quality (PESQ): A New Method for Speech Quality "
         "Assessment of Telephone Networks and Codecs", "Rix et al.", url="https://www.itu.int/rec/T-REC-P.862",
         note="ITU-T Recommendation P.862"),
    Work("STOI", 2011, "An Algorithm for Intelligibility Prediction of Time-Frequency Weighted Noisy Speech",
         "Taal et al.", url="https://doi.org/10.1109/TASL.2011.2114881"),
    Work("VAE", 2013, "Auto-Encoding Variational Bayes", "Kingma & Welling", "1312.6114"),
    Work("GAN", 2014, "Generative Adversarial Networks", "Goodfellow et al.", "1406.2661"),
    Work("DCGAN", 2015, "Unsupervised Representation Learning with Deep Convolutional Generative "
         "Adversarial Networks", "Radford et al.", "1511.06434"),
    Work("PixelCNN", 2016, "Conditional Image Generation with PixelCNN Decoders", "van den Oord et al.",
         "1606.05328"),
    Work("Inception score", 2016, "Improved Techniques for Training GANs", "Salimans et al.", "1606.03498"),
    Work("AC-GAN", 2016, "Conditional Image Synthesis With Auxiliary Classifier GANs", "Odena et al.",
         "1610.09585"),
    Work("Fast WaveNet", 2016, "Fast Wavenet Generation Algorithm", "Paine et al.", "1611.09482"),
    Work("WGAN", 2017, "Wasserstein GAN", "Arjovsky et al.", "1701.07875"),
    Work("AM-GAN", 2017, "Activation Maximization Generative Adversarial Nets", "Zhou et al.", "1703.02000"),
    Work("WGAN-GP", 2017, "Improved Training of Wasserstein GANs", "Gulrajani et al.", "1704.00028"),
    Work("DeLiGAN", 2017, "DeLiGAN: Generative Adversarial Networks for Diverse and Limited Data",
         "Gurumurthy et al.", "1706.02071"),
    Work("FID", 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
         "Heusel et al.", "1706.08500"),
    Work("FiLM", 2017, "FiLM: Visual Reasoning with a General Conditioning Layer", "Perez et al.",
         "1709.07871"),
    Work("Progressive GAN", 2017, "Progressive Growing of GANs for Improved Quality, Stability, and "
         "Variation", "Karras et al.", "1710.10196"),
    Work("Parallel WaveNet", 2017, "Parallel WaveNet: Fast High-Fidelity Speech Synthesis",
         "van den Oord et al.", "1711.10433"),
    Work("VQ-VAE", 2017, "Neural Discrete Representation Learning", "van den Oord et al.", "1711.00937"),
    Work("CREPE", 2018, "CREPE: A Convolutional Representation for Pitch Estimation", "Kim et al.",
         "1802.06182"),
    Work("Speech Commands", 2018, "Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition",
         "Warden", "1804.03209"),
    Work("NDB", 2018, "On GANs and GMMs", "Richardson & Weiss", "1805.12462"),
    Work("Parallel WaveGAN", 2019, "Parallel WaveGAN: A Fast Waveform Generation Model Based on "
         "Generative Adversarial Networks with Multi-Resolution Spectrogram", "Yamamoto et al.",
         "1910.11480"),
    Work("CPC", 2018, "Representation Learning with Contrastive Predictive Coding", "van den Oord et al.",
         "1807.03748"),
    Work("DDIM", 2020, "Denoising Diffusion Implicit Models", "Song et al.", "2010.02502"),
    Work("Dieleman", 2020, "Generating Music in the Waveform Domain", "Dieleman",
         url="https://sander.ai/2020/03/24/audio-generation.html", note="Blog post"),
    Work("DDPM", 2020, "Denoising Diffusion Probabilistic Models", "Ho et al.", "2006.11239"),
    Work("HiPPO", 2020, "HiPPO: Recurrent Memory with Optimal Polynomial Projections", "Gu et al.",
         "2008.07669"),
    Work("DNSMOS", 2021, "DNSMOS P.835: A Non-Intrusive Perceptual Objective Speech Quality Metric to "
         "Evaluate Noise Suppressors", "Reddy et al.", "2110.01763"),
    Work("CLIP", 2021, "Learning Transferable Visual Models From Natural Language Supervision",
         "Radford et al.", "2103.00020"),
    Work("S4", 2021, "Efficiently Modeling Long Sequences with Structured State Spaces", "Gu et al.",
         "2111.00396"),
    Work("Latent diffusion", 2022, "High-Resolution Image Synthesis with Latent Diffusion Models",
         "Rombach et al.", "2112.10752"),
    Work("Progressive distillation", 2022, "Progressive Distillation for Fast Sampling of Diffusion Models",
         "Salimans & Ho", "2202.00512"),
    Work("S4D", 2022, "On the Parameterization and Initialization of Diagonal State Space Models",
         "Gu et al.", "2206.11893"),
    Work("MS-CLAP", 2022, "CLAP: Learning Audio Concepts From Natural Language Supervision", "Elizalde et al.",
         "2206.04769"),
    Work("Annotated S4", 2022, "The Annotated S4", "Rush & Karamcheti",
         url="https://srush.github.io/annotated-s4/", note="Blog post"),
    Work("Classifier-free guidance", 2022, "Classifier-Free Diffusion Guidance", "Ho & Salimans",
         "2207.12598"),
    Work("Vocos", 2023, "Vocos: Closing the Gap between Time-Domain and Fourier-Based Neural Vocoders for "
         "High-Quality Audio Synthesis", "Siuzdak", "2306.00814"),
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


# -- the bibliography ----------------------------------------------------------------------------------

def cite_key(work: System | Work) -> str:
    """The citation key of a system or work: its name in lowercase letters and digits, then its year
    (``wavenet2016``, ``audioldm22023``, ``wgangp2017``)."""
    return "".join(c for c in work.name.lower() if c.isascii() and c.isalnum()) + str(work.year)


def _bibtex_authors(authors: str) -> str:
    """Each author as one name in braces: ``"First et al."`` -> ``"{First et al.}"``, ``"A & B"`` ->
    ``"{A} and {B}"``. BibTeX would print ``First and others`` as "First et al.", but pybtex - which
    renders the book through sphinxcontrib-bibtex - prints "First and others"; a braced name is printed
    as written, and sorts with the others (by its first letter) when every name is braced."""
    return " and ".join("{" + name + "}" for name in authors.split(" & "))


def _bibtex_entry(work: System | Work) -> str:
    arxiv = work.arxiv
    url = getattr(work, "url", "") or f"https://arxiv.org/abs/{arxiv}"
    fields = [("title", "{" + work.paper + "}"),  # double braces: styles must not change its case
              ("author", _bibtex_authors(work.authors)),
              ("year", str(work.year))]
    if arxiv:
        fields += [("eprint", arxiv), ("archivePrefix", "arXiv")]
    if getattr(work, "note", ""):
        fields.append(("howpublished", work.note))
    fields.append(("url", url))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{cite_key(work)},\n{body}\n}}\n"


def bibtex() -> str:
    """The book's ``references.bib``: every system of :data:`SYSTEMS` in timeline order, then every work of
    :data:`OTHER_WORKS`, one ``@misc`` entry each. Deterministic; ``scripts/references.py`` writes it."""
    works = [*SYSTEMS, *OTHER_WORKS]
    keys = [cite_key(w) for w in works]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"citation keys must be unique; repeated: {', '.join(duplicates)}")
    head = ("% The book's bibliography, written by scripts/references.py from lineage/timeline.py\n"
            "% (SYSTEMS, then OTHER_WORKS). Edit the timeline and rerun the script; do not edit by hand.\n")
    return head + "\n".join(_bibtex_entry(w) for w in works)
