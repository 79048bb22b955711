"""Notebook helpers: hear it, see it, compare it.

``play`` embeds a clip as an inline audio player (16-bit FLAC: lossless, so what you hear is what the
model made, and about half the size of a WAV for tonal sound - a second of 16 kHz audio is at most
~43 kB in the notebook), ``specplot`` draws a dB spectrogram, ``compare`` puts several clips side by side with a
player and a spectrogram each.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from lineage.audio import _as_numpy, stft_db


class Clip:
    """An inline audio player whose sound is stored in the page as lossless 16-bit FLAC."""

    def __init__(self, audio: np.ndarray, sample_rate: int):
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, np.clip(audio, -1, 1).T, sample_rate, format="FLAC", subtype="PCM_16")
        self.data = base64.b64encode(buffer.getvalue()).decode("ascii")
        self.seconds, self.sample_rate = audio.shape[-1] / sample_rate, sample_rate

    def __repr__(self) -> str:
        return f"Clip({self.seconds:.2f} s at {self.sample_rate} Hz)"

    def _repr_html_(self) -> str:
        return f'<audio controls><source src="data:audio/flac;base64,{self.data}" type="audio/flac"></audio>'


def play(audio, sample_rate: int = 16000, title: str | None = None) -> Clip:
    """An inline player for ``[samples]`` or ``[channels, samples]`` audio (not re-normalised,
    so quiet stays quiet)."""
    from IPython.display import HTML, display

    x = _as_numpy(audio)
    x = x.reshape(-1) if x.ndim == 1 or x.shape[0] == 1 else x
    if title:
        display(HTML(f"<b>{title}</b>"))
    return Clip(x, sample_rate)


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


def figures(model: str, values: dict) -> None:
    """Show what a chapter measured as a small table, and keep the same figures machine-readable in the
    cell's output metadata: each model card's measured block is generated from them (``make cards``),
    so a card never states a figure that no executed chapter produced. ``values``: ``{what: number or
    text}``; the machine the chapter ran on is added."""
    from IPython.display import Markdown, display

    from lineage.eval.speed import machine
    from lineage.tables import device_text

    record = {"model": model, "figures": {k: _plain(v) for k, v in values.items()}, "machine": device_text(machine())}
    rows = "".join(f"| {k} | {format_figure(v)} |\n" for k, v in record["figures"].items())
    display(Markdown(f"| measured | value |\n|---|---|\n{rows}"), metadata={"lineage_figures": record})


def format_figure(value) -> str:
    """A figure as a card shows it: integers with thousands separators, other numbers to 3 significant
    digits, text as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.3g}"


def _plain(value):
    """numpy and torch scalars as plain Python numbers (JSON in the notebook)."""
    if hasattr(value, "item"):
        return value.item()
    return value
