"""Orchestration, the top floor of the house: train, judge and show the whole zoo in one go.

* :func:`tour` - ``lineage tour`` (and ``make tour``): every entry's preset trained on its own data, and
  one listening page;
* :func:`table` - ``lineage bench table``: the whole zoo on one data set, the lineage's own miniature of
  the SC09 table in the SaShiMi paper (Goel et al. 2022, Table 3), where every model is trained on the
  same data and judged by the same classifier.

Nothing here trains, judges or draws by itself: it calls :mod:`lineage.train`, :mod:`lineage.eval` and
:mod:`lineage.listen`, which never import this module. A model joins both by being registered; nothing
here names one.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from lineage import listen, registry, timeline
from lineage.audio import fit_length, load as load_audio, save as save_audio
from lineage.eval import report
from lineage.files import write_atomic
from lineage.run import Run
from lineage.tables import format_speed, format_table
from lineage.train import train_or_resume


def tour(out: Path, preset: str = "tiny", n: int = 6, seconds: float = 0.5, log=print) -> Path:
    """Train (or reuse, or resume) every entry's ``preset`` in ``out/NAME`` and write
    ``out/listening.html``. One status line per entry, with the time left for the whole tour: estimated
    from the training times the shipped weights record (their first ``tiny`` steps), scaled by how this
    machine has compared with them so far."""
    from lineage import pretrained

    entries = registry.entries()
    expected = {e.name: _expected_seconds(pretrained.folder(e.name), e.config(preset).train.steps)
                for e in entries}
    known = [v for v in expected.values() if v]
    if known:
        log(f"tour: {len(entries)} entries to train; about {sum(known) / 60:.0f} min on the machine that trained "
            f"the shipped weights")
    runs, scale, done_expected, done_actual = [], 1.0, 0.0, 0.0
    for i, entry in enumerate(entries, 1):
        cfg = entry.config(preset, None, [f"train.sample_n={n}", f"train.sample_seconds={seconds}"])
        t0 = time.perf_counter()
        train_or_resume(entry.name, cfg, out / entry.name)  # a finished run is reused, a killed one resumed
        took = time.perf_counter() - t0
        if expected[entry.name] and took > 5:  # (a reused run says nothing of this machine's speed)
            done_expected, done_actual = done_expected + expected[entry.name], done_actual + took
            scale = done_actual / done_expected
        left = sum(v for e in entries[i:] if (v := expected[e.name])) * scale
        log(f"[{i}/{len(entries)}] {entry.system}: {took:.0f} s -> {out / entry.name}"
            + (f"; about {left / 60:.0f} min left" if i < len(entries) and known else ""))
        runs.append(Run(out / entry.name))
    return listen.write_page(runs, out / "listening.html")


def _expected_seconds(shipped: Path, steps: int) -> float | None:
    """How long ``steps`` steps took the run behind shipped weights (None without them)."""
    path = shipped / "provenance.json"
    if not path.is_file():
        return None
    p = json.loads(path.read_text())
    return p["train_seconds"] * min(steps, p["steps"]) / p["steps"]


def table(data: str, models: list[str] | None, preset: str, out: Path, n: int = 256,
          seconds: float | None = None, overrides=(), speed: bool = True, clips_per_row: int = 4,
          device: str | None = None, log=print) -> dict:
    """Each model's ``preset`` on ``data``, trained or reused from ``out/runs/MODEL``, evaluated (reused
    when its ``metrics.json`` matches), then ``table.md``, ``table.json``, a few clips per row
    (``clips/``) and the listening page. An override ``MODEL:section.key=value`` applies to that model
    only - e.g. ``codec_lm:model.codec=OUT/runs/codec``: the language model writes the tokens of the codec
    trained earlier in the same table (rows train in the order of the lineage)."""
    entries = registry.entries() if models is None else [registry.load(m) for m in models]
    if not entries:
        raise ValueError("bench table: no models registered")
    order = [s.name for s in timeline.SYSTEMS]
    entries.sort(key=lambda e: order.index(e.system))  # rows in the order of the lineage
    configs = [entry.config(preset, data, own_overrides(entry.name, overrides)) for entry in entries]
    rates = {e.name: c.data.sample_rate for e, c in zip(entries, configs)}
    if len(set(rates.values())) > 1:  # one judge, one rate: a table across rates would compare judges
        listed = ", ".join(f"{m} {r}" for m, r in rates.items())
        raise ValueError(f"bench table: the presets' sample rates differ ({listed}); one judge needs one "
                         f"rate - pass --set data.sample_rate=N")
    results, runs, wall = [], [], {}
    for entry, cfg in zip(entries, configs):
        t0 = time.perf_counter()
        train_or_resume(entry.name, cfg, out / "runs" / entry.name)
        wall[entry.name] = {"train_s": round(time.perf_counter() - t0, 1)}
        run = Run(out / "runs" / entry.name)
        metrics = _reusable_metrics(run, n, seconds, speed)
        if metrics is None:
            t0 = time.perf_counter()
            metrics = report.evaluate(run, n=n, seconds=seconds, speed=speed, device=device, log=log)
            wall[entry.name]["eval_s"] = round(time.perf_counter() - t0, 1)
        log(f"{entry.name}: done")
        results.append(metrics)
        runs.append(run)
    markdown = _write_table(out, {"data": data, "preset": preset, "n": n, "results": results, "wall": wall})
    # a few clips per row, small enough to keep beside the table: the real data's, then each model's
    for r, run in zip(results, runs):
        src = run.path / "samples" / "eval"
        for wav in sorted(src.glob("*.wav"))[:clips_per_row]:
            save_audio(out / "clips" / r["model"] / wav.name, load_audio(wav)[0], r["sample_rate"])
        write_atomic(out / "clips" / r["model"] / "captions.json", (src / "captions.json").read_text())
    _real_clips(runs[0], out / "clips" / "real", clips_per_row, results[0])
    listen.write_page(runs, out / "listening.html")
    return {"results": results, "markdown": markdown}


def own_overrides(model: str, overrides) -> list[str]:
    """The overrides for ``model``: every plain ``section.key=value``, and its own ``MODEL:section.key=value``
    without the prefix (a colon in the value - a path, a dict - is not a prefix)."""
    mine = []
    for item in overrides:
        key = item.split("=", 1)[0]
        if ":" not in key:
            mine.append(item)
        elif key.split(":", 1)[0] == model:
            mine.append(item.split(":", 1)[1])
    return mine


def _write_table(out: Path, table: dict) -> str:
    """``table.json`` and ``table.md`` (the metrics, then each row's speed) in ``out``; returns the Markdown."""
    results = table["results"]
    markdown = format_table(results, markdown=True)
    speeds = [(r, format_speed(r)) for r in results if r.get("speed")]
    if speeds:
        markdown += "\nSpeed:\n\n" + "\n".join(f"- {r['system']}: {s}" for r, s in speeds) + "\n"
    if table.get("added"):
        markdown += "\nRows added later, each trained and judged in a run of its own: " + ", ".join(
            f"{a['model']} ({a['when']}, on {a['machine']})" for a in table["added"]) + ".\n"
    write_atomic(out / "table.md", markdown)
    write_atomic(out / "table.json", json.dumps(table, indent=2))
    return markdown


def add_rows(table_dir: Path, added_dir: Path, when: str) -> dict:
    """Merge the rows of a ``bench table`` run over a few models (``added_dir``) into a whole-zoo table
    (``table_dir``): how a new entry joins without training the others again. Its rows replace any of the
    same model, in the order of the lineage; its clips are copied; the table says which rows were added."""
    table, added = (json.loads((d / "table.json").read_text()) for d in (table_dir, added_dir))
    if (added["data"], added["preset"], added["n"]) != (table["data"], table["preset"], table["n"]):
        raise ValueError(f"{added_dir}: {added['data']}/{added['preset']}/n={added['n']} cannot join "
                         f"{table_dir}'s {table['data']}/{table['preset']}/n={table['n']}")
    new = {r["model"] for r in added["results"]}
    order = [s.name for s in timeline.SYSTEMS]
    table["results"] = sorted([r for r in table["results"] if r["model"] not in new] + added["results"],
                              key=lambda r: order.index(r["system"]))
    table["wall"] = {**table.get("wall", {}), **added.get("wall", {})}
    machine = lambda r: (r.get("machine") or {}).get("cpu", "?")  # noqa: E731
    table["added"] = [a for a in table.get("added", []) if a["model"] not in new] + [
        {"model": r["model"], "when": when, "machine": machine(r)} for r in added["results"]]
    for name in new:
        shutil.rmtree(table_dir / "clips" / name, ignore_errors=True)
        shutil.copytree(added_dir / "clips" / name, table_dir / "clips" / name)
    _write_table(table_dir, table)
    return table


def _reusable_metrics(run: Run, n: int, seconds, speed: bool) -> dict | None:
    m = run.metrics
    if m is None or run.latest is None:
        return None
    same = m.get("n") == n and m.get("checkpoint") == run.latest.name and (seconds is None or m["seconds"] == seconds)
    return m if same and (m.get("speed") is not None or not speed) else None


def _real_clips(run: Run, folder: Path, k: int, result: dict) -> None:
    """``k`` real training clips of the run's data, at the evaluated length, with captions."""
    trainset, _ = run.data()
    idx = np.random.default_rng(0).choice(len(trainset), min(k, len(trainset)), replace=False)
    labels = {key: v[idx] for key, v in trainset.labels.items()}
    audio = fit_length(trainset.audio[idx], int(round(result["seconds"] * result["sample_rate"])))
    captions = {}
    for i, a in enumerate(audio):
        save_audio(folder / f"{i:02d}.wav", a, result["sample_rate"])
        captions[f"{i:02d}.wav"] = trainset.caption(labels, i)
    write_atomic(folder / "captions.json", json.dumps(captions, indent=2))
