"""The comparative listening page: every run's samples, spectrograms, card and figures on one HTML page.

The page is self-contained - audio and images are embedded as data URIs, the style is inline, there is
no script - so it opens from a file:// URL with no network, can be mailed to a class, and shows the same
thing everywhere. It holds, in order:

1. the comparison table per data set (from each run's ``metrics.json``, written by ``lineage eval``),
   with the real data's own rows first, and the speed figures with the machine they were measured on;
2. a reference row of real training clips;
3. one section per run: the system (paper, year, family, what it introduced), its training facts, and a
   grid of samples, each with a player and a spectrogram.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from lineage import timeline
from lineage.audio import load as load_audio
from lineage.files import write_atomic
from lineage.tables import COLUMNS, device_text, losses_text, table_rows

PAGE_RATE = 16000  # the open-weights clips are heard at one rate (their own: 16 to 44.1 kHz)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.clip { width: 250px; font-size: 0.8em; }
.clip img { width: 250px; height: 110px; display: block; }
.clip audio { width: 250px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
tr.real td { color: #555; font-style: italic; }
.warn { color: #a00; font-weight: bold; }
"""


def write_page(runs: list, output: Path, n_reference: int = 4, max_clips: int = 8, generated=()) -> Path:
    """Write the listening page for ``runs`` (run folders or :class:`~lineage.run.Run`) to ``output``;
    ``generated``: WAVs written by ``lineage generate`` (open-weights models), shown after the runs."""
    from lineage.run import Run

    runs = [r if isinstance(r, Run) else Run(r) for r in runs]
    sections, results = [], [r.metrics for r in runs if r.metrics]
    for run in runs:
        samples = run.samples()
        captions = json.loads((samples / "captions.json").read_text()) \
            if samples and (samples / "captions.json").is_file() else {}
        clips = [(load_audio(p)[0], captions.get(p.name, p.stem))
                 for p in sorted(samples.glob("*.wav"))[:max_clips]] if samples else []
        facts = run.facts
        shown = {"parameters": f"{facts['parameters']:,}" if facts["parameters"] else "-",
                 "data": facts["data"], "steps": facts["steps"],
                 "final loss": losses_text(facts["losses"]) if facts["losses"] else "-",
                 "train time": f"{facts['train_seconds']:.0f} s" if facts["train_seconds"] else "-",
                 "samples": f"{samples.name} ({len(clips)} shown)" if samples else "none yet"}
        sections.append(_section(timeline.get(run.entry.system), shown, clips, run.sample_rate))
    firsts: dict = {}  # one row of real clips per data set, from its first run
    for run in runs:
        firsts.setdefault(run.record["config"]["data"]["name"], run)
    body = _comparison(results) + _shipped_section(runs)
    body += "".join(_reference_section(r, n_reference) for r in firsts.values())
    body += "".join(sections) + _generated_section(generated)
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>audio-lineage: listening "
            f"page</title><style>{STYLE}</style></head><body><h1>audio-lineage: listening page</h1>"
            f"<p class='meta'>Each section: one system of the lineage, trained on the same data, heard side "
            f"by side. Spectrograms 0 to -80 dB. The table's metrics come from <code>lineage eval</code>."
            f"</p>{body}</body></html>")
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, page)
    return output


def _comparison(results: list[dict]) -> str:
    """One metrics table per data set, real rows first, then a speed table."""
    if not results:
        return ("<h2>Comparison</h2><p class='meta'>No metrics yet: run <code>lineage eval RUN</code> on "
                "each run, then write this page again.</p>")
    out = []
    # one table per data set *and judge*: presets filter a set differently (a timbre or an octave), so two
    # runs on `tones` may be judged by different classifiers, whose figures do not compare
    key = lambda r: (r["data"], r["sample_rate"], r["classifier"]["label"], tuple(r["classifier"]["classes"]))  # noqa: E731
    for k in sorted({key(r) for r in results}, key=str):
        group = [r for r in results if key(r) == k]
        data = k[0]
        rows = table_rows(group)
        cols = [c for c in COLUMNS if any(row.get(c[0]) is not None for _, row, _ in rows)]
        head = "".join(f"<th>{html.escape(c[1])}</th>" for c in cols)
        body = "".join(
            f"<tr{' class=real' if real else ''}><td>{html.escape(name)}</td>"
            + "".join(f"<td>{fmt.format(row[k]) if row.get(k) is not None else '-'}</td>" for k, _, fmt in cols)
            + "</tr>" for name, row, real in rows)
        judge = group[0]["classifier"]
        warn = "" if judge["reliable"] else \
            (f" <span class='warn'>below the floor {judge['floor']} or a single class: these metrics are "
             "unreliable</span>")
        out.append(f"<h2>Comparison on <code>{html.escape(data)}</code>: {', '.join(r['system'] for r in group)}"
                   f"</h2><table><tr><th></th>{head}</tr>"
                   f"{body}</table><p class='meta'>{group[0]['n']} clips of {group[0]['seconds']} s per row. "
                   f"Judge: a log-mel CNN classifying {html.escape(judge['label'])} "
                   f"({len(judge['classes'])} classes), held-out accuracy {judge['test_accuracy']:.3f}.{warn}"
                   f"</p>{_speed_table(group)}")
    return "".join(out)


def _shipped_section(runs) -> str:
    """For shipped weights: what the small preset's longer training bought over tiny, on each main metric."""
    from lineage.pretrained import summary

    rows = summary([r.path for r in runs])
    if not rows:
        return ""
    fmt = lambda x: "-" if x is None else f"{x:.3g}"  # noqa: E731
    body = "".join(f"<tr><td>{html.escape(r['system'])}</td><td>{html.escape(r['data'])}</td><td>"
                   f"{html.escape(r['metric'])} ({r['better']} is better)</td><td>{fmt(r['tiny'])}</td><td>"
                   f"{fmt(r['small'])}</td><td>{fmt(r['real'])}</td><td>{r['tiny_steps']:,} -&gt; {r['steps']:,}"
                   f"</td></tr>" for r in rows)
    return ("<h2>Shipped weights: tiny against small</h2><table><tr><th>system</th><th>data</th><th>main "
            "metric</th><th>tiny</th><th>small (shipped)</th><th>real held-out</th><th>steps</th></tr>"
            f"{body}</table><p class='meta'>Each entry's small preset is its tiny preset trained longer; both "
            "rows from <code>lineage eval</code> (<code>provenance.json</code> beside the weights).</p>")


def _speed_table(results: list[dict]) -> str:
    timed = [r for r in results if r.get("speed")]
    if not timed:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(r['system'])}</td><td>{r['speed']['generation']['rtf']:.3g}</td>"
        f"<td>{r['generation_batch']['rtf']:.3g} (batch of {r['generation_batch']['n']})</td>"
        f"<td>{r['speed']['training']['samples_per_s']:,.0f}</td></tr>" for r in timed)
    return (f"<table><tr><th>speed</th><th>RTF, one clip</th><th>RTF, batch</th>"
            f"<th>training samples/s</th></tr>{rows}</table><p class='meta'>Real-time factor = wall time / "
            f"seconds of audio (below 1 is faster than real time); medians after a warm-up. Measured on "
            f"{html.escape(device_text(timed[0]['machine']))}.</p>")


def _reference_section(run, n: int) -> str:
    """A row of real clips, so every model can be judged against the data it learned: drawn from the
    data set, or - shipped weights with the data set not built - the held-out clips kept beside them."""
    if run.data_built() or not (run.path / "labels.json").is_file():
        dataset = run.dataset()
    else:
        from lineage.pretrained import reference_clips

        dataset = reference_clips(run)
    idx = np.random.default_rng(0).integers(0, len(dataset), n)
    labels = {k: v[idx] for k, v in dataset.labels.items()}
    clips = [(dataset.audio[i], dataset.caption(labels, k)) for k, i in enumerate(idx)]
    return (f"<h2>Reference: real clips of <code>{html.escape(dataset.name)}</code></h2>"
            f"<div class='grid'>{''.join(_clip(a, c, run.sample_rate) for a, c in clips)}</div>")


def _section(system, facts: dict, clips, sample_rate: int) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in facts.items())
    return (f"<h2>{html.escape(system.name)} ({system.year}) - {html.escape(system.family)}</h2>"
            f"<p class='meta'><i>{html.escape(system.paper)}</i>, {html.escape(system.authors)} "
            f"(arXiv:{system.arxiv}). Introduced: {html.escape(system.introduced)}.</p><table>{rows}</table>"
            f"<div class='grid'>{''.join(_clip(a, c, sample_rate) for a, c in clips)}</div>")


def _generated_section(wavs) -> str:
    """The open-weights clips: resampled to :data:`PAGE_RATE` for the page (the WAV on disk keeps the
    model's own rate), each with its prompt, settings, device and real-time factor."""
    from lineage.audio import resample
    from lineage.generate import read

    if not wavs:
        return ""
    rows, clips = [], []
    for wav in wavs:
        audio, rate, r = read(wav)
        page_audio = np.stack([resample(ch, rate, PAGE_RATE) for ch in audio]) if rate != PAGE_RATE else audio
        clips.append(_clip(page_audio, f"{r['model']}: {r['prompt']}", PAGE_RATE))
        rows.append(f"<tr><td>{html.escape(r['system'])}</td><td>{html.escape(r['checkpoint'])}</td>"
                    f"<td>{html.escape(r['prompt'])}</td><td>{r['seconds']:.2f} s, seed {r['seed']}, "
                    f"{r['steps'] or 'autoregressive'} steps, guidance {r['guidance']:g}</td>"
                    f"<td>{r['sample_rate']} Hz x {r['channels']}</td><td>{r['rtf']:.2f} on {html.escape(r['device'])}"
                    f" ({html.escape(r['dtype'])})</td></tr>")
    return ("<h2>Open-weights models</h2><p class='meta'>Published checkpoints run through "
            "<code>lineage generate</code>; heard here at "
            f"{PAGE_RATE} Hz, the files keep each model's own rate.</p><table><tr><th>system</th>"
            "<th>checkpoint</th><th>prompt</th><th>settings</th><th>native</th><th>RTF on</th></tr>"
            f"{''.join(rows)}</table><div class='grid'>{''.join(clips)}</div>")


def _clip(audio: np.ndarray, caption: str, sample_rate: int) -> str:
    return (f"<div class='clip'><img alt='spectrogram: {html.escape(caption)}' "
            f"src='{_spectrogram_png(audio.reshape(-1, audio.shape[-1]).mean(0), sample_rate)}'>"
            f"<audio controls preload='auto' src='{_wav_data_uri(audio, sample_rate)}'></audio>"
            f"<div>{html.escape(caption)}</div></div>")


def _wav_data_uri(audio: np.ndarray, sample_rate: int) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    audio = audio.reshape(-1, audio.shape[-1]).T  # [samples, channels]: stereo stays stereo
    sf.write(buf, np.clip(audio, -1, 1), sample_rate, format="WAV", subtype="PCM_16")
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
