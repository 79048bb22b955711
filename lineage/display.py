"""Notebook helpers: hear it, see it, compare it.

``play`` embeds a clip as an inline audio player (16-bit WAV, so a second of 16 kHz audio is ~43 kB in
the notebook), ``specplot`` draws a dB spectrogram, ``compare`` puts several clips side by side with a
player and a spectrogram each.
"""

from __future__ import annotations

import numpy as np

from lineage.audio import _as_numpy, stft_db


def play(audio, sample_rate: int = 16000, title: str | None = None):
    """An inline player for ``[samples]`` or ``[channels, samples]`` audio (not re-normalised,
    so quiet stays quiet)."""
    from IPython.display import HTML, Audio, display

    x = _as_numpy(audio)
    x = x.reshape(-1) if x.ndim == 1 or x.shape[0] == 1 else x
    if title:
        display(HTML(f"<b>{title}</b>"))
    return Audio(np.clip(x, -1, 1), rate=sample_rate, normalize=False)


def specplot(audio, sample_rate: int = 16000, ax=None, title: str | None = None, n_fft: int = 512,
             hop_length: int = 128):
    """A dB spectrogram (0 to -80 dB) with time in seconds and frequency in kHz."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.5))
    x = _as_numpy(audio).reshape(-1)
    n_fft = min(n_fft, 2 ** int(np.log2(max(len(x), 16))))  # a very short clip gets a shorter window
    db = stft_db(x, n_fft=n_fft, hop_length=min(hop_length, n_fft // 4))
    seconds = x.size / sample_rate
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0,
              extent=[0, seconds, 0, sample_rate / 2000])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("kHz")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def compare(clips: dict, sample_rate: int = 16000):
    """Show several clips side by side: ``{title: audio}`` -> a row of spectrograms and players."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display

    fig, axes = plt.subplots(1, len(clips), figsize=(3.2 * len(clips), 2.4), squeeze=False)
    for ax, (title, clip) in zip(axes[0], clips.items()):
        specplot(clip, sample_rate, ax=ax, title=title)
    fig.tight_layout()
    plt.show()
    players = "".join(
        f"<div style='display:inline-block;margin:4px 8px'><div style='font-size:12px'>{title}</div>"
        f"{play(clip, sample_rate)._repr_html_()}</div>" for title, clip in clips.items())
    display(HTML(players))
