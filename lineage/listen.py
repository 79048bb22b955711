"""The comparative listening page: every run's samples, spectrograms and card, on one HTML page.

The page is self-contained - audio and images are embedded as data URIs - so it opens from a file://
URL with no network, can be mailed to a class, and shows the same thing everywhere.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from lineage import audio as A
from lineage import registry, timeline

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.clip { width: 250px; font-size: 0.8em; }
.clip img { width: 250px; height: 110px; display: block; }
.clip audio { width: 250px; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { padding: 2px 10px; text-align: left; }
"""


def write_page(runs: list[Path], output: Path, n_reference: int = 4) -> Path:
    """Write the listening page for ``runs`` (run folders with samples) to ``output``."""
    sections = []
    reference = None
    for run in runs:
        record = json.loads((run / "config.json").read_text())
        entry = registry.load(record["model"])
        system = timeline.get(entry.system)
        samples = _latest_samples(run)
        captions = json.loads((samples / "captions.json").read_text()) if samples else {}
        clips = [(A.load(p)[0], captions.get(p.name, p.stem)) for p in sorted(samples.glob("*.wav"))] \
            if samples else []
        sr = record["config"]["data"]["sample_rate"]
        log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()] \
            if (run / "log.jsonl").is_file() else []
        facts = {"steps": log[-1]["step"] if log else 0,
                 "final loss": f"{log[-1]['loss']:.4f}" if log else "-",
                 "train time": f"{log[-1]['time']:.0f} s" if log and "time" in log[-1] else "-",
                 "data": record["config"]["data"]["name"]}
        sections.append(_section(f"{system.name} ({system.year})", system, facts, clips, sr))
        reference = reference or (record["config"]["data"], sr)
    body = "".join(sections)
    if reference:
        body = _reference_section(*reference, n_reference) + body
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>audio-lineage: listening page"
            f"</title><style>{STYLE}</style></head><body><h1>audio-lineage: listening page</h1>"
            f"<p class='meta'>Each row: one system of the lineage, trained on the same data, heard side by "
            f"side. Spectrograms 0 to -80 dB.</p>{body}</body></html>")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    return output


def _reference_section(data_cfg: dict, sample_rate: int, n: int) -> str:
    """A row of real training clips, so every model can be judged against the data it learned."""
    from lineage import config as C
    from lineage import data as D

    cfg = C.DataConfig()
    C.apply_dict(C.RunConfig(model=None, data=cfg), {"data": data_cfg}, source="config.json")
    dataset = D.load(cfg)
    idx = np.random.default_rng(0).integers(0, len(dataset), n)
    labels = {k: v[idx] for k, v in dataset.labels.items()}
    clips = [(dataset.audio[i], dataset.describe(labels, k)) for k, i in enumerate(idx)]
    return (f"<h2>Reference: real clips of <code>{html.escape(cfg.name)}</code></h2>"
            f"<div class='grid'>{''.join(_clip(a, c, sample_rate) for a, c in clips)}</div>")


def _section(title: str, system, facts: dict, clips, sample_rate: int) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in facts.items())
    return (f"<h2>{html.escape(title)}</h2><p class='meta'><i>{html.escape(system.paper)}</i>, "
            f"{html.escape(system.authors)} (arXiv:{system.arxiv}) - {html.escape(system.family)}: "
            f"{html.escape(system.introduced)}.</p><table>{rows}</table>"
            f"<div class='grid'>{''.join(_clip(a, c, sample_rate) for a, c in clips)}</div>")


def _clip(audio: np.ndarray, caption: str, sample_rate: int) -> str:
    return (f"<div class='clip'><img alt='spectrogram' src='{_spectrogram_png(audio, sample_rate)}'>"
            f"<audio controls preload='auto' src='{_wav_data_uri(audio, sample_rate)}'></audio>"
            f"<div>{html.escape(caption)}</div></div>")


def _wav_data_uri(audio: np.ndarray, sample_rate: int) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio.reshape(-1), -1, 1), sample_rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def _spectrogram_png(audio: np.ndarray, sample_rate: int) -> str:
    from matplotlib.figure import Figure  # no pyplot: leaves a notebook's backend alone

    from lineage.display import specplot

    fig = Figure(figsize=(2.5, 1.1), dpi=100)
    ax = fig.add_subplot()
    specplot(audio, sample_rate, ax=ax)
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _latest_samples(run: Path) -> Path | None:
    folders = sorted((run / "samples").glob("step_*"))
    return folders[-1] if folders else None
