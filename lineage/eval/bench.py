"""``lineage bench table``: the whole zoo on one data set - the lineage's own miniature of the SC09 table
in the SaShiMi paper (Goel et al. 2022, Table 3), where every model is trained on the same data and judged
by the same classifier.

For each registered model (or the ones named): its preset on ``data``, trained or reused from
``OUT/runs/MODEL``, evaluated by ``lineage eval`` (reused when its ``metrics.json`` matches), then one
table (``table.md``, ``table.json``), a few clips per row (``clips/``) and the listening page
(``listening.html``). A model joins the table by being registered; nothing here names one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from lineage import registry
from lineage.files import write_atomic


def table(data: str, models: list[str] | None, preset: str, out: Path, n: int = 256,
          seconds: float | None = None, overrides=(), speed: bool = True, clips_per_row: int = 4,
          log=print) -> dict:
    from lineage import audio as A
    from lineage import listen, timeline
    from lineage.eval import report
    from lineage.train import latest_checkpoint, train_or_resume

    entries = registry.entries() if models is None else [registry.load(m) for m in models]
    order = [s.name for s in timeline.SYSTEMS]
    entries.sort(key=lambda e: order.index(e.system))  # rows in the order of the lineage
    configs = [entry.config(preset, data, list(overrides)) for entry in entries]
    rates = {e.name: c.data.sample_rate for e, c in zip(entries, configs)}
    if len(set(rates.values())) > 1:  # one judge, one rate: a table across rates would compare judges
        listed = ", ".join(f"{m} {r}" for m, r in rates.items())
        raise ValueError(f"bench table: the presets' sample rates differ ({listed}); one judge needs one "
                         f"rate - pass --set data.sample_rate=N")
    results, runs, times = [], [], {}
    for entry, cfg in zip(entries, configs):
        run = out / "runs" / entry.name
        t0 = time.perf_counter()
        train_or_resume(entry.name, cfg, run)
        times[entry.name] = {"train_s": round(time.perf_counter() - t0, 1)}
        metrics = _reusable_metrics(run, n, seconds, latest_checkpoint(run).name, speed)
        if metrics is None:
            t0 = time.perf_counter()
            metrics = report.evaluate(run, n=n, seconds=seconds, speed=speed, log=log)
            times[entry.name]["eval_s"] = round(time.perf_counter() - t0, 1)
        log(f"{entry.name}: done")
        results.append(metrics)
        runs.append(run)
    if not results:
        raise ValueError("bench table: no models registered")
    markdown = report.format_table(results, markdown=True)
    speeds = [report.format_speed(r) for r in results if r.get("speed")]
    if speeds:
        markdown += "\nSpeed:\n\n" + "\n".join(f"- {r['system']}: {s}" for r, s in zip(results, speeds)) + "\n"
    write_atomic(out / "table.md", markdown)
    write_atomic(out / "table.json", json.dumps({"data": data, "preset": preset, "n": n, "results": results,
                                                 "wall": times}, indent=2))
    # a few clips per row, small enough to keep beside the table: the real data's, then each model's
    for r, run in zip(results, runs):
        src = run / "samples" / "eval"
        for wav in sorted(src.glob("*.wav"))[:clips_per_row]:
            A.save(out / "clips" / r["model"] / wav.name, A.load(wav)[0], r["sample_rate"])
        write_atomic(out / "clips" / r["model"] / "captions.json", (src / "captions.json").read_text())
    _real_clips(runs[0], out / "clips" / "real", clips_per_row, report.fit_length, results[0])
    listen.write_page(runs, out / "listening.html")
    return {"results": results, "markdown": markdown}


def _reusable_metrics(run: Path, n: int, seconds, checkpoint: str, speed: bool) -> dict | None:
    path = run / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    same = m.get("n") == n and m.get("checkpoint") == checkpoint and (seconds is None or m["seconds"] == seconds)
    return m if same and (m.get("speed") is not None or not speed) else None


def _real_clips(run: Path, folder: Path, k: int, fit_length, result: dict) -> None:
    """``k`` real training clips of the run's data, at the evaluated length, with captions."""
    from lineage import audio as A
    from lineage import config as C
    from lineage import data as D

    record = json.loads((run / "config.json").read_text())
    cfg = C.from_dict(registry.load(record["model"]).Config, record["config"])
    trainset, _ = D.load(cfg.data).split(cfg.data.holdout, seed=cfg.data.seed)
    idx = np.random.default_rng(0).choice(len(trainset), min(k, len(trainset)), replace=False)
    labels = {key: v[idx] for key, v in trainset.labels.items()}
    audio = fit_length(trainset.audio[idx], int(round(result["seconds"] * result["sample_rate"])))
    captions = {}
    for i, a in enumerate(audio):
        A.save(folder / f"{i:02d}.wav", a, result["sample_rate"])
        captions[f"{i:02d}.wav"] = trainset.describe(labels, i)
    write_atomic(folder / "captions.json", json.dumps(captions, indent=2))
