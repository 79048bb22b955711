"""The metric ladder: do the numbers agree with the ear? Real held-out clips, clean and then degraded by a
graded series, scored by every metric ``lineage eval`` reports.

    python benchmarks/metric_ladder.py                       # tones, notes, drums, digits
    python benchmarks/metric_ladder.py --data tones -n 128

The rungs (:func:`lineage.eval.degrade.ladder`): white noise at -80, -60, -40, -30 and -20 dBFS; mu-law at
8, 6 and 4 bits; a low-pass at 1/2, 1/4 and 1/8 of Nyquist; the clip reversed; its 50 ms frames shuffled;
and clips of another data set. Every rung is the same held-out clips, with the same noise, so two rungs
differ only by the damage. A metric passes when, in each graded family, it never gets better as the
damage grows (by more than twice its sampling spread: :func:`spread`), no rung beats the clean clips, and the two
rungs a listener barely hears - 8-bit mu-law (WaveNet's own quantisation) and -60 dBFS noise - stay
within the bounds of :data:`MILD`: FID within 2% of the way from clean to another data set's clips,
class accuracy at least 0.95 of clean's. The field's own judges are measured the same way; where one
fails (DNSMOS, :data:`REPORTED_ONLY`) its blind spots are listed, since it is not ours to retrain.

Writes ``benchmarks/results/metric-ladder.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
SETS = ("tones", "notes", "drums", "digits")
OTHER = {"tones": "drums", "notes": "drums", "drums": "notes", "digits": "drums"}  # "another data set's clips"
# which way is better for each metric; a ladder asks each to get worse (or stay) as the damage grows
HIGHER = ("is", "mis", "class_accuracy", "pitch_accuracy", "crepe_pitch_accuracy", "periodicity", "dnsmos")
LOWER = ("fid", "am", "ndb_k")
# "no better" allows for sampling noise: twice the spread of the clean value, measured by resampling the
# clean clips (the judge's metrics) or, for the pitch columns, the binomial standard error; at least:
SLACK_FLOOR = {"periodicity": 0.02, "dnsmos": 0.05}
BOOTSTRAP = 30  # resamples of the clean clips
# the rungs a listener barely hears, and how near clean they must stay: FID may rise by at most 2% of the
# way from the clean clips to another data set's (a ratio to clean's FID alone is fragile where that floor
# is near 0, so the ratio is reported beside it), class accuracy keeps 95% of clean's
MILD = {"rungs": ("mu-law 8 bit", "noise -60 dBFS"), "fid_span": 0.02, "class_accuracy_ratio": 0.95}
# the damage that leaves a metric's quantity in place: a low-pass or a reversal keeps the pitch, so the
# pitch metrics are not asked to fall there (pYIN even finds more pitches once the upper partials are gone)
PITCH = ("pitch_accuracy", "crepe_pitch_accuracy", "periodicity")
KEEPS = {"low-pass": PITCH, "time-reversed": PITCH}
# a field-standard judge is not ours to retrain: where it fails the ladder, the failure is reported as that
# judge's blind spot (which rungs fool it) instead of failing the ladder of the metrics we build
REPORTED_ONLY = ("dnsmos",)


def measure(name: str, n: int = 200, n_pitch: int = 100, rungs: list[str] | None = None, cfg=None,
            degraded: bool = True, log=print) -> dict:
    """Every rung's metrics (or those of ``rungs`` and the clean clips) for the held-out clips of data
    set ``name``, in its default configuration or in ``cfg``; ``degraded=False`` asks a judge trained on
    clean clips only (the ablation)."""
    from lineage.audio import fit_length, resample
    from lineage.config import DataConfig
    from lineage.data import load
    from lineage.eval import metrics, standard
    from lineage.eval.classifier import get_judge
    from lineage.eval.degrade import ladder
    from lineage.eval.report import quality

    cfg = cfg or DataConfig(name=name, sample_rate=_rate(name))
    data = load(cfg)
    train, test = data.split(cfg.holdout, seed=cfg.seed)
    length = int(round(cfg.seconds * cfg.sample_rate))
    t0 = time.perf_counter()
    judge = get_judge(cfg, seed=0, dataset=data, degraded=degraded)
    log(f"{name}: judge ({judge.label}, {len(judge.classes)} classes) held-out accuracy "
        f"{judge.test_accuracy:.3f} ({time.perf_counter() - t0:.0f} s)")
    ref_probs, ref_feats = judge.model.classify(fit_length(train.audio, length))
    ref = {"probs": ref_probs, "features": ref_feats, "stats": metrics.gaussian_stats(ref_feats),
           "k": max(2, min(50, n // 10))}
    n = min(n, len(test))
    clean = torch.from_numpy(fit_length(test.audio[:n], length))
    want = judge.targets(test.labels[judge.label][:n])
    pitch = test.labels.get("pitch")

    def other_set(x, g):  # another data set's first n clips, at this set's rate and length
        other_cfg = DataConfig(name=OTHER[name], sample_rate=_rate(OTHER[name]))
        other = load(other_cfg).audio[:len(x)]
        if other_cfg.sample_rate != cfg.sample_rate:
            other = np.stack([resample(c, other_cfg.sample_rate, cfg.sample_rate) for c in other])
        return torch.from_numpy(fit_length(other, length))

    steps = [*ladder(cfg.sample_rate), ("wrong sound", f"{OTHER[name]} clips", 3.0, other_set)]
    noise = spread(judge, clean.numpy(), want, ref)
    rows = []
    for family, rung, severity, fn in steps:
        if rungs and rung not in rungs and family != "clean":
            continue
        t0 = time.perf_counter()
        x = fn(clean.clone(), torch.Generator().manual_seed(0)).clamp(-1, 1).numpy()  # the same noise every run
        row, probs = quality(judge, x, ref)
        row["class_accuracy"] = float((probs.argmax(1) == want).mean())
        if pitch is not None and n_pitch:
            k = min(n_pitch, n)
            row["pitch_accuracy"] = metrics.pitch_accuracy(x[:k], cfg.sample_rate, pitch[:k])["pitch_accuracy"]
            row.update(standard.crepe_pitch(x[:k], cfg.sample_rate, pitch[:k]))
        if standard.is_speech(name) and n_pitch:
            row.update(standard.dnsmos(x[:min(n_pitch, n)], cfg.sample_rate))
        row = {"family": family, "rung": rung, "severity": severity,
               **{k: v for k, v in row.items() if k in HIGHER + LOWER}}
        rows.append(row)
        log(f"  {rung:24s} " + " ".join(f"{k} {row[k]:.3g}" for k in HIGHER + LOWER if k in row)
            + f" ({time.perf_counter() - t0:.0f} s)")
    return {"data": name, "sample_rate": cfg.sample_rate, "seconds": cfg.seconds, "n": n,
            "n_pitch": min(n_pitch, n) if n_pitch else 0,
            "judge": {**{k: judge.info[k] for k in ("label", "test_accuracy", "steps", "version")},
                      "degraded": judge.info.get("degraded", True)},
            "spread": noise, "rows": rows, "checks": check(rows, noise, min(n_pitch, n))}


def _rate(name: str) -> int:
    from lineage.data import recipe

    return recipe(name).sample_rate


def spread(judge, clips: np.ndarray, want: np.ndarray, ref: dict, seed: int = 0) -> dict:
    """The sampling spread (standard deviation over :data:`BOOTSTRAP` resamples with replacement) of
    each of the judge's metrics of ``clips``: how far a metric moves with no damage at all."""
    from lineage.eval import metrics

    probs, feats = judge.model.classify(clips)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in ("fid", "is", "mis", "am", "ndb_k", "class_accuracy")}
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(clips), len(clips))
        draws["fid"].append(metrics.fid(feats[i], ref["stats"]))
        draws["is"].append(metrics.inception_score(probs[i]))
        draws["mis"].append(metrics.modified_inception_score(probs[i]))
        draws["am"].append(metrics.am_score(probs[i], ref["probs"]))
        draws["ndb_k"].append(metrics.ndb(feats[i], ref["features"], k=ref["k"], seed=0)["ndb_k"])
        draws["class_accuracy"].append(float((probs[i].argmax(1) == want[i]).mean()))
    return {k: float(np.std(v)) for k, v in draws.items()}


def _slack(metric: str, clean: dict, noise: dict, n_pitch: int) -> float:
    if metric in noise:
        return 2 * noise[metric]
    if metric in ("pitch_accuracy", "crepe_pitch_accuracy"):  # a share of n_pitch clips
        p = clean[metric]
        return 2 * max(np.sqrt(p * (1 - p) / n_pitch), 1 / n_pitch)
    return SLACK_FLOOR.get(metric, 0.0)


def check(rows: list[dict], noise: dict | None = None, n_pitch: int = 100) -> dict:
    """Which metrics the ladder finds blind: ``{"failures": [...], "mild": {...}}``. A failure names the
    metric and the two rungs where it improved with more damage (or beat the clean clips) by more than
    twice its sampling spread ``noise`` (from :func:`spread`)."""
    clean = next(r for r in rows if r["family"] == "clean")
    noise = noise or {}
    failures, blind = [], []  # our metrics' failures; the field-standard judges' (REPORTED_ONLY)

    def _worse_or_equal(metric: str, before: float, after: float) -> bool:  # within the sampling noise
        slack = _slack(metric, clean, noise, n_pitch)
        return after <= before + slack if metric in HIGHER else after >= before - slack

    for metric in HIGHER + LOWER:
        if metric not in clean:
            continue
        found = blind if metric in REPORTED_ONLY else failures
        families: dict[str, list[dict]] = {}
        for r in rows[1:]:
            if metric in KEEPS.get(r["family"], ()) or metric in KEEPS.get(r["rung"], ()):
                continue
            families.setdefault(r["family"], []).append(r)
            if not _worse_or_equal(metric, clean[metric], r[metric]):
                found.append(f"{metric}: {r['rung']} ({r[metric]:.3g}) beats clean ({clean[metric]:.3g})")
        for family, series in families.items():
            if family == "wrong sound":  # not a graded series: each is only asked not to beat clean
                continue
            series = sorted(series, key=lambda r: r["severity"])
            for a, b in zip(series, series[1:]):
                if not _worse_or_equal(metric, a[metric], b[metric]):
                    found.append(f"{metric}: {b['rung']} ({b[metric]:.3g}) beats {a['rung']} ({a[metric]:.3g})")
    mild = {}
    far = max(r["fid"] for r in rows)  # the worst rung: another data set's clips
    for r in rows:
        if r["rung"] in MILD["rungs"]:
            mild[r["rung"]] = {"fid_ratio": r["fid"] / max(clean["fid"], 1e-9),
                               "fid_span": (r["fid"] - clean["fid"]) / max(far - clean["fid"], 1e-9),
                               "class_accuracy_ratio": r["class_accuracy"] / max(clean["class_accuracy"], 1e-9)}
            if mild[r["rung"]]["fid_span"] > MILD["fid_span"]:
                failures.append(f"mild: {r['rung']} FID {r['fid']:.3g} rose more than {MILD['fid_span']:.0%} of "
                                f"the way from clean ({clean['fid']:.3g}) to the worst rung ({far:.3g})")
            if mild[r["rung"]]["class_accuracy_ratio"] < MILD["class_accuracy_ratio"]:
                failures.append(f"mild: {r['rung']} class accuracy {r['class_accuracy']:.3g} is under "
                                f"{MILD['class_accuracy_ratio']} of clean's")
    return {"failures": failures, "blind_spots": blind, "mild": mild}


LABELS = {"fid": "FID ↓", "is": "IS ↑", "mis": "mIS ↑", "am": "AM ↓", "ndb_k": "NDB/K ↓",
          "class_accuracy": "class acc ↑", "pitch_accuracy": "pitch acc (pYIN) ↑",
          "crepe_pitch_accuracy": "pitch acc (CREPE) ↑", "periodicity": "periodicity (CREPE) ↑",
          "dnsmos": "DNSMOS ↑"}


def markdown(results: list[dict]) -> str:
    out = ["# The metric ladder: held-out clips, clean and degraded", "",
           "Written by `benchmarks/metric_ladder.py`. Every rung is the same held-out clips of the data "
           "set, with the same noise; FID, IS, mIS, AM and NDB/K are the judge's (the per-data-set "
           "classifier of `lineage eval`), against the training clips' statistics. A metric passes when it "
           "never improves as the damage grows within a family, no rung beats clean (by more than twice "
           "the metric's spread over resamples of the clean clips), and the mild rungs "
           f"(8-bit mu-law, -60 dBFS noise) keep FID within {MILD['fid_span']:.0%} of the way from clean to the "
           f"worst rung (another data set's clips) and class accuracy at least {MILD['class_accuracy_ratio']:g} "
           "of clean's. A low-pass and a reversal keep the pitch, so the pitch columns are not asked to fall "
           "there. The field's own judges are held to the same ladder; where one fails, its blind spots are "
           "listed under its table (it is not ours to retrain).", ""]
    for res in results:
        rows = res["rows"]
        cols = [k for k in LABELS if k in rows[0]]
        j = res["judge"]
        title = (f"## {res['data']} ({res['n']} held-out clips of {res['seconds']:g} s at {res['sample_rate']} Hz"
                 + (f"; pitch and DNSMOS on the first {res['n_pitch']})" if res["n_pitch"] else ")"))
        if not j["degraded"]:
            title = (f"## Ablation: {res['data']} judged by a classifier trained on clean clips only "
                     f"({res['n']} held-out clips)")
        out += [title, "",
                f"Judge: {j['label']}, held-out accuracy {j['test_accuracy']:.3f} (cache version {j['version']}, "
                + ("trained on degraded clips" if j["degraded"] else "trained on clean clips with a gain and a "
                   "shift only") + ").", "",
                "| rung | " + " | ".join(LABELS[c] for c in cols) + " |", "|---|" + "---|" * len(cols)]
        out += ["| " + r["rung"] + " | " + " | ".join(f"{r[c]:.3g}" for c in cols) + " |" for r in rows]
        fails = res["checks"]["failures"]
        mild = "; ".join(f"{k}: FID {v['fid_ratio']:.2f}x clean ({v['fid_span']:.1%} of the way to the worst rung), "
                         f"class accuracy {v['class_accuracy_ratio']:.2f} of clean's"
                         for k, v in res["checks"]["mild"].items())
        blind = res["checks"].get("blind_spots", [])
        out += ["", f"Mild rungs: {mild}.", "",
                ("Every metric of ours monotone; the mild rungs within their bounds." if not fails else
                 "**Not monotone:** " + "; ".join(fails) + "."), ""]
        if blind:
            out += ["Blind spots of the field's judges (reported, not ours to retrain): " + "; ".join(blind) + ".", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=list(SETS))
    p.add_argument("-n", type=int, default=200, help="held-out clips per rung")
    p.add_argument("--n-pitch", type=int, default=100, help="clips per rung for pitch and DNSMOS (slower)")
    p.add_argument("--ablation", nargs="*", default=["tones"],
                   help="sets also judged by a classifier trained on clean clips only (the metrics it gets wrong)")
    p.add_argument("--tables-only", action="store_true",
                   help="check and tabulate the measured ladders of OUT/metric-ladder.json again, measuring nothing")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.tables_only:
        saved = json.loads((args.out / "metric-ladder.json").read_text())
        results, ablation = saved["ladders"], saved["ablation"]
        for res in results + ablation:
            res["checks"] = check(res["rows"], res["spread"], res["n_pitch"] or 1)
    else:
        results = [measure(name, args.n, args.n_pitch) for name in args.data]
        ablation = [measure(name, args.n, 0, degraded=False) for name in args.ablation]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metric-ladder.json").write_text(json.dumps({"ladders": results, "ablation": ablation}, indent=2) + "\n")
    (args.out / "metric-ladder.md").write_text(markdown(results + ablation))
    bad = [f"{r['data']}: {f}" for r in results for f in r["checks"]["failures"]]
    print("\n".join(bad) if bad else "every metric monotone on every data set")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
