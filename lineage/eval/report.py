"""``lineage eval RUN``: generate, judge, time, and write ``metrics.json`` beside the run.

One row per set of clips, all judged by the same classifier at the same clip length:

* ``real (train)`` - ``n`` clips drawn from the training split: the scores of the data itself. Its FID
  is not 0 because ``n`` clips estimate the statistics of the whole set only approximately; that floor
  is what a perfect model would score with ``n`` samples.
* ``real (test)`` - held-out clips: what "as good as new data" looks like.
* the model - ``n`` generated clips (conditioned on labels drawn from the training set when the model
  takes labels).

Reference statistics (FID's Gaussian, NDB's bins, AM's class marginal) come from every training clip.
Likelihood models (an entry with ``nll``) also report held-out negative log-likelihood in bits per sample.

Autoencoders (an entry with ``reconstruct(model, batch, seed)``) are also asked to reconstruct held-out
clips, scored by MR-STFT distance, its spectral-convergence half (SC) and log-spectral distance against
the originals, beside two baselines that need no model: noise shaped to the training set's mean
spectrum, and another training note of the same pitch. Their ``nll`` is the likelihood of a clip
*given its own embedding*, a different quantity from an unconditional model's, so it gets its own
column (``NLL given z``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from lineage.eval import metrics as M
from lineage.eval import speed as S
from lineage.eval.classifier import FLOOR, Judge, get_judge

COLUMNS = [("nll_bits", "NLL (bits)", "{:.3f}"), ("recon_nll_bits", "NLL given z (bits)", "{:.3f}"),
           ("mrstft", "MR-STFT ↓", "{:.3f}"), ("sc", "SC ↓", "{:.3f}"), ("lsd", "LSD (dB) ↓", "{:.2f}"),
           ("fid", "FID ↓", "{:.2f}"), ("is", "IS ↑", "{:.2f}"),
           ("mis", "mIS ↑", "{:.3g}"), ("am", "AM ↓", "{:.3f}"), ("ndb_k", "NDB/K ↓", "{:.2f}"),
           ("class_accuracy", "class acc", "{:.2f}"), ("pitch_accuracy", "pitch acc", "{:.2f}")]


def fit_length(clips: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad clips ``[N, T]`` to ``length`` samples."""
    out = np.zeros((len(clips), length), dtype=np.float32)
    n = min(length, clips.shape[1])
    out[:, :n] = clips[:, :n]
    return out


def quality(judge: Judge, clips: np.ndarray, ref: dict) -> tuple[dict, np.ndarray]:
    """The classifier metrics of ``clips`` against the reference statistics; also returns the probs."""
    probs, feats = judge.model.describe(clips)
    row = {"fid": M.fid(feats, ref["stats"]), "is": M.inception_score(probs),
           "mis": M.modified_inception_score(probs), "am": M.am_score(probs, ref["probs"])}
    row.update(M.ndb(feats, ref["features"], k=ref["k"], seed=0))
    return row, probs


def model_conditioning(cfg) -> list[str]:
    """The labels a model is conditioned on, by the zoo convention ``model.cond_keys`` (if any)."""
    return list(getattr(cfg.model, "cond_keys", None) or [])


def evaluate(run: str | Path, n: int = 256, seconds: float | None = None, seed: int = 0,
             speed: bool = True, batch: int = 64, n_recon: int = 16, log=print) -> dict:
    """Evaluate a run folder and write ``metrics.json`` into it; returns the metrics."""
    from lineage import data as D
    from lineage import timeline
    from lineage.train import latest_checkpoint, load_run

    run = Path(run)
    entry, cfg, model = load_run(run)
    dataset = entry.prepare(cfg, D.load(cfg.data))
    trainset, testset = dataset.split(cfg.data.holdout, seed=cfg.data.seed)
    sr = cfg.data.sample_rate
    seconds = seconds or cfg.data.seconds
    length = int(round(seconds * sr))
    t0 = time.perf_counter()
    judge = get_judge(cfg.data, seed=0, dataset=dataset)
    log(f"classifier ({judge.label}, {len(judge.classes)} classes): held-out accuracy "
        f"{judge.test_accuracy:.3f} ({time.perf_counter() - t0:.0f} s)")

    train_clips = fit_length(trainset.audio, length)
    ref_probs, ref_feats = judge.model.describe(train_clips)
    ref = {"probs": ref_probs, "features": ref_feats, "stats": M.gaussian_stats(ref_feats),
           "k": max(2, min(50, n // 10))}  # about 10 generated clips per bin at least
    rng = np.random.default_rng(seed)
    rows = {}
    real_sets = {"real (train)": (trainset, rng.choice(len(trainset), min(n, len(trainset)), replace=False)),
                 "real (test)": (testset, np.arange(min(n, len(testset))))}
    for name, (clips, idx) in real_sets.items():
        if not len(idx):
            continue
        audio = fit_length(clips.audio[idx], length)
        row, probs = quality(judge, audio, ref)
        row["class_accuracy"] = float((probs.argmax(1) == judge.targets(clips.labels[judge.label][idx])).mean())
        if "pitch" in clips.labels:
            row.update(M.pitch_accuracy(audio, sr, clips.labels["pitch"][idx]))
        row["n"] = len(idx)
        rows[name] = row

    # -- the model's samples -------------------------------------------------------------------------
    cond = trainset.label_batch(n, seed=seed)
    keys = model_conditioning(cfg)
    t0 = time.perf_counter()
    chunks = []
    with torch.no_grad():
        for i in range(0, n, batch):
            part = {k: v[i:i + batch] for k, v in cond.items()}
            chunks.append(entry.sample(model, min(batch, n - i), seconds, seed=seed + i, cond=part))
    gen_wall = time.perf_counter() - t0
    audio = fit_length(torch.cat(chunks).reshape(n, -1).float().numpy(), length)
    log(f"generated {n} x {seconds} s in {gen_wall:.1f} s")
    # caption each clip with what the model was told ("class" is the set's class label under another name)
    told = {trainset.class_label if k == "class" else k for k in keys}
    asked = {k: v for k, v in cond.items() if k in told}
    save_samples(run / "samples" / "eval", audio[:8], sr,
                 [trainset.describe(asked, i) or "unconditional" for i in range(min(n, 8))])
    row, probs = quality(judge, audio, ref)
    if "class" in keys or judge.label in keys:  # asked for a class: did the judge hear that class?
        row["class_accuracy"] = float((probs.argmax(1) == judge.targets(cond[judge.label].numpy())).mean())
    if "pitch" in keys and "pitch" in cond:
        row.update(M.pitch_accuracy(audio, sr, cond["pitch"].numpy()))
    reconstructs = getattr(entry.module, "reconstructs", lambda model: True)  # e.g. vocoder mode only
    autoencoder = hasattr(entry.module, "reconstruct") and reconstructs(model)
    if hasattr(entry.module, "nll"):
        row["recon_nll_bits" if autoencoder else "nll_bits"] = held_out_bits(entry, model, testset)
    row["n"] = n
    rows[entry.name] = row
    if autoencoder and len(testset):
        t0 = time.perf_counter()
        rows.update(reconstruction_rows(entry, model, trainset, testset, min(n_recon, len(testset)), length,
                                        seed, run / "samples" / "recon"))
        rows[entry.name].update(rows.pop("reconstruction"))
        log(f"reconstructed {min(n_recon, len(testset))} held-out clips in {time.perf_counter() - t0:.1f} s")

    result = {
        "run": run.name, "model": entry.name, "system": entry.system,
        "year": timeline.get(entry.system).year, "family": timeline.get(entry.system).family,
        "data": cfg.data.name, "sample_rate": sr, "seconds": seconds, "n": n, "seed": seed,
        "conditioning": keys, "checkpoint": (latest_checkpoint(run) or Path("-")).name,
        "classifier": {**{k: judge.info[k] for k in ("label", "classes", "test_accuracy", "n_train",
                                                     "n_test", "parameters")},
                       "floor": FLOOR, "reliable": judge.reliable},
        "ndb_bins": ref["k"], "rows": rows,
        "generation_batch": {"n": n, "wall_s": round(gen_wall, 2), "rtf": gen_wall / (n * seconds)},
    }
    if speed:
        log("timing generation and training ...")
        result["speed"] = {"generation": S.generation_speed(entry, model, cond, min(seconds, 1.0)),
                           "training": S.training_speed(entry, cfg, trainset)}
        result["machine"] = S.machine()
    clean = _json_safe(result)
    from lineage.files import write_atomic

    write_atomic(run / "metrics.json", json.dumps(clean, indent=2))
    return clean


def save_samples(folder: Path, audio: np.ndarray, sample_rate: int, captions: list[str]) -> None:
    """The first generated clips, for the listening page (``samples/eval/``, with ``captions.json``)."""
    from lineage import audio as A
    from lineage.files import write_atomic

    paths = [A.save(folder / f"{i:02d}.wav", a, sample_rate) for i, a in enumerate(audio)]
    write_atomic(folder / "captions.json", json.dumps({p.name: c for p, c in zip(paths, captions)}, indent=2))


def mean_spectrum_noise(clips: np.ndarray, n: int, length: int, seed: int = 0, n_fft: int = 512,
                        hop: int = 128) -> np.ndarray:
    """``n`` clips of noise whose STFT magnitude is the mean magnitude of ``clips`` ``[N, T]`` at every
    frame, with uniformly random phase: the average note, with nothing of any particular one."""
    x = torch.from_numpy(fit_length(clips, length))
    window = torch.hann_window(n_fft)
    mean_mag = torch.stft(x, n_fft, hop, window=window, return_complex=True).abs().mean(0)  # [F, frames]
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand((n, *mean_mag.shape), generator=g) * 2 * math.pi
    spec = torch.polar(mean_mag.expand(n, -1, -1).contiguous(), phase)
    return torch.istft(spec, n_fft, hop, window=window, length=length).numpy().astype(np.float32)


def same_pitch_other_note(trainset, pitches: np.ndarray, length: int, seed: int = 0) -> np.ndarray:
    """For each held-out pitch, a random training clip of the nearest pitch: right note, wrong sound."""
    rng = np.random.default_rng(seed)
    train_pitch = trainset.labels["pitch"]
    out = []
    for p in pitches:
        gap = np.abs(train_pitch - p)
        out.append(rng.choice(np.flatnonzero(gap == gap.min())))
    return fit_length(trainset.audio[np.array(out)], length)


def reconstruction_rows(entry, model, trainset, testset, k: int, length: int, seed: int,
                        folder: Path) -> dict:
    """MR-STFT and log-spectral distance of the model's reconstructions of ``k`` held-out clips, and of
    the two baselines; the first four originals and reconstructions are saved in ``folder``."""
    idx = np.arange(k)
    original = fit_length(testset.audio[idx], length)
    batch = {"audio": torch.from_numpy(original)[:, None]}
    batch.update({key: torch.from_numpy(v[idx]) for key, v in testset.labels.items()})
    batch.update({key: torch.from_numpy(v[idx]) for key, v in testset.frames.items()})
    with torch.no_grad():
        recon = entry.module.reconstruct(model, batch, seed=seed).reshape(k, -1).float().numpy()
    recon = fit_length(recon, length)
    candidates = {"reconstruction": recon,
                  "baseline: mean-spectrum noise": mean_spectrum_noise(trainset.audio, k, length, seed)}
    if "pitch" in testset.labels:
        candidates["baseline: same pitch, other note"] = same_pitch_other_note(
            trainset, testset.labels["pitch"][idx], length, seed)
    rows = {}
    for name, clips in candidates.items():
        sc, logmag = M.mrstft_terms(original, clips)  # the two halves of MR-STFT, per clip
        rows[name] = {"mrstft": float((sc + logmag).mean()), "sc": float(sc.mean()),
                      "lsd": M.log_spectral_distance(original, clips), "n": k}
    pairs = [x for i in range(min(4, k)) for x in (original[i], recon[i])]
    captions = [f"{kind} {testset.describe({key: v[idx] for key, v in testset.labels.items()}, i)}"
                for i in range(min(4, k)) for kind in ("original", "reconstruction")]
    save_samples(folder, np.stack(pairs), trainset.sample_rate, captions)
    return rows


def held_out_bits(entry, model, testset, batch: int = 16) -> float | None:
    """Mean negative log-likelihood of the held-out clips (whole clips), in bits per sample (None when
    nothing is held out)."""
    if not len(testset):
        return None
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(testset), batch):
            idx = np.arange(i, min(i + batch, len(testset)))
            b = {"audio": torch.from_numpy(testset.audio[idx])[:, None]}
            b.update({k: torch.from_numpy(v[idx]) for k, v in testset.labels.items()})
            nats = float(entry.module.nll(model, b))  # mean nats per sample over the batch
            total += nats * len(idx)
            count += len(idx)
    return total / max(count, 1) / math.log(2)


def _json_safe(x):
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


def table_rows(results: list[dict]) -> list[tuple[str, dict, bool]]:
    """``(name, row, is_reference)`` for a comparison table: the real rows of the first result, the
    baselines of the first result that has them, then every model's row."""
    rows = [(name, r, True) for name, r in results[0]["rows"].items() if name.startswith("real")]
    for m in results:
        base = [(name, r, True) for name, r in m["rows"].items() if name.startswith("baseline")]
        if base:
            rows += base
            break
    return rows + [(f"{m['system']} ({m['year']})", m["rows"][m["model"]], False) for m in results]


def format_table(results: list[dict], markdown: bool = False) -> str:
    """The comparison table: the real rows of the first result, then every model's row."""
    if not results:
        return ""
    rows = [(name, r) for name, r, _ in table_rows(results)]
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for _, r in rows)]
    header = ["", *[c[1] for c in cols]]
    body = [[name, *[(fmt.format(r[k]) if r.get(k) is not None else "-") for k, _, fmt in cols]]
            for name, r in rows]
    judge = results[0]["classifier"]
    note = (f"classifier: {judge['label']} ({len(judge['classes'])} classes), held-out accuracy "
            f"{judge['test_accuracy']:.3f}" + ("" if judge["reliable"] else
                                               f" - below the floor {judge['floor']} or a single class: "
                                               "its metrics are unreliable"))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + f"\n\n{note}; {results[0]['n']} clips of {results[0]['seconds']} s per row.\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt_row = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths))  # noqa: E731
    return "\n".join([fmt_row(header), *map(fmt_row, body), note])


def format_speed(result: dict) -> str:
    s = result.get("speed")
    if not s:
        return ""
    g, t, m = s["generation"], s["training"], result["machine"]
    return (f"generation: RTF {g['rtf']:.3g} for one {g['seconds']} s clip (median of {len(g['times'])}), "
            f"RTF {result['generation_batch']['rtf']:.3g} for a batch of {result['n']}; training: "
            f"{t['steps_per_s']:.2f} steps/s = {t['samples_per_s']:,.0f} samples/s "
            f"(batch {t['batch_size']} x {t['segment']}); on {m['cpu']}, {m['torch_threads']} torch threads")
