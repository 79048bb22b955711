"""``lineage eval RUN``: generate, judge, time, and write ``metrics.json`` beside the run.

One row per set of clips, all judged by the same classifier at the same clip length:

* ``real (train)`` - ``n`` clips drawn from the training split: the scores of the data itself. Its FID
  is not 0 because ``n`` clips estimate the statistics of the whole set only approximately; that floor
  is what a perfect model would score with ``n`` samples.
* ``real (test)`` - held-out clips: what "as good as new data" looks like.
* the model - ``n`` generated clips (conditioned on labels drawn from the training set when the model
  takes labels).

A model prompted by captions (``text``) also gets a **CLAP score** (:mod:`lineage.eval.clap`): the
cosine of each clip to its caption in a CLAP trained on the data set, beside real held-out clips with
their own captions and with a stranger's (``clap`` in the result).

The field's own judges stand beside ours (:mod:`lineage.eval.standard`): CREPE's pitch accuracy and
periodicity on pitched sets and DNSMOS on speech - on the real rows too, so every model's figure has the
data's own beside it - and PESQ and STOI for the reconstructions of speech, beside the baselines'.

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

import math
import time
from pathlib import Path

import numpy as np
import torch

from lineage.audio import fit_length
from lineage.eval import metrics, standard
from lineage.eval.speed import generation_speed, machine, training_speed
from lineage.eval.clap import get_clap, score_rows
from lineage.eval.classifier import FLOOR, Judge, get_judge


def quality(judge: Judge, clips: np.ndarray, ref: dict) -> tuple[dict, np.ndarray]:
    """The classifier metrics of ``clips`` against the reference statistics; also returns the probs."""
    probs, feats = judge.model.classify(clips)
    row = {"fid": metrics.fid(feats, ref["stats"]), "is": metrics.inception_score(probs),
           "mis": metrics.modified_inception_score(probs), "am": metrics.am_score(probs, ref["probs"])}
    row.update(metrics.ndb(feats, ref["features"], k=ref["k"], seed=0))
    return row, probs


def evaluate(run, n: int = 256, seconds: float | None = None, seed: int = 0, speed: bool = True,
             batch: int = 64, n_recon: int = 16, device: str | None = None, log=print) -> dict:
    """Evaluate a run folder (a path or a :class:`~lineage.run.Run`) and write its ``metrics.json``;
    returns the metrics. The model runs on ``device`` (default: what the Trainer would pick); the judge
    on the CPU."""
    from lineage import timeline
    from lineage.run import Run

    run = run if isinstance(run, Run) else Run(run)
    entry, cfg = run.entry, run.config
    model = run.model(device=device)
    device = next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")  # JAX: numpy at the boundary
    trainset, testset = run.data()
    sr = cfg.data.sample_rate
    seconds = seconds or cfg.data.seconds
    length = int(round(seconds * sr))
    t0 = time.perf_counter()
    judge = get_judge(cfg.data, seed=0, dataset=run.dataset())
    log(f"classifier ({judge.label}, {len(judge.classes)} classes): held-out accuracy "
        f"{judge.test_accuracy:.3f} ({time.perf_counter() - t0:.0f} s)")

    ref_probs, ref_feats = judge.model.classify(fit_length(trainset.audio, length))
    ref = {"probs": ref_probs, "features": ref_feats, "stats": metrics.gaussian_stats(ref_feats),
           "k": max(2, min(50, n // 10))}  # about 10 generated clips per bin at least
    rng = np.random.default_rng(seed)
    pitched = "pitch" in trainset.labels  # CREPE's columns apply; DNSMOS's where the set is speech
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
            row.update(metrics.pitch_accuracy(audio, sr, clips.labels["pitch"][idx]))
        row.update(standard.judged(audio, sr, cfg.data.name, pitched,
                                   clips.labels["pitch"][idx] if pitched else None))
        row["n"] = len(idx)
        rows[name] = row

    # -- the model's samples -------------------------------------------------------------------------
    cond = trainset.label_batch(n, seed=seed)
    keys = entry.cond_keys(cfg)
    t0 = time.perf_counter()
    chunks = []
    with torch.no_grad():
        for i in range(0, n, batch):
            part = {k: v[i:i + batch].to(device) for k, v in cond.items()}
            chunks.append(entry.sample(model, min(batch, n - i), seconds, seed=seed + i, cond=part))
    gen_wall = time.perf_counter() - t0
    audio = fit_length(np.concatenate(chunks).reshape(n, -1), length)
    log(f"generated {n} x {seconds} s in {gen_wall:.1f} s on {device}")
    # caption each clip with what the model was told ("class" is the set's class label under another name)
    told = {trainset.class_label if k == "class" else k for k in keys}
    asked = {k: v for k, v in cond.items() if k in told}
    run.write_samples("eval", audio[:8], [trainset.caption(asked, i) or "unconditional" for i in range(min(n, 8))])
    row, probs = quality(judge, audio, ref)
    # asked for a class - by its label, or by a caption, which names it - did the judge hear that class?
    if "class" in keys or judge.label in keys or "text" in keys:
        row["class_accuracy"] = float((probs.argmax(1) == judge.targets(cond[judge.label].numpy())).mean())
    if "pitch" in keys and "pitch" in cond:
        row.update(metrics.pitch_accuracy(audio, sr, cond["pitch"].numpy()))
    row.update(standard.judged(audio, sr, cfg.data.name, pitched,
                               cond["pitch"].numpy() if "pitch" in keys and "pitch" in cond else None))
    autoencoder = entry.has("reconstruct", model)
    nll = entry.capability("nll", model)
    if nll is not None:
        row["recon_nll_bits" if autoencoder else "nll_bits"] = held_out_bits(nll, testset, device)
    token_nll = entry.capability("token_nll", model)
    if token_nll is not None:  # a token model: the held-out cost of its codes, per token (not per sample)
        row["token_bits"] = held_out_bits(token_nll, testset, device)
    row["n"] = n
    rows[entry.name] = row
    clap = None
    if "text" in keys and "text" in cond:  # a captioned prompt: how near is each clip to its words?
        t0 = time.perf_counter()
        clap_judge = get_clap(cfg.data, dataset=run.dataset())
        row["clap_score"] = clap_judge.score(audio, cond["text"].numpy())
        clap = {**score_rows(clap_judge, testset, length, n), "retrieval": clap_judge.info["retrieval"],
                "steps": clap_judge.info["steps"]}
        if "real (test)" in rows:
            rows["real (test)"]["clap_score"] = clap["real"]
        log(f"CLAP score {row['clap_score']:.3f} (real {clap['real']:.3f}, mismatched captions "
            f"{clap['mismatched']:.3f}; {time.perf_counter() - t0:.0f} s)")
    if autoencoder and len(testset):
        t0 = time.perf_counter()
        rows.update(reconstruction_rows(run, model, min(n_recon, len(testset)), length, seed, device))
        rows[entry.name].update(rows.pop("reconstruction"))
        log(f"reconstructed {min(n_recon, len(testset))} held-out clips in {time.perf_counter() - t0:.1f} s")

    system = timeline.get(entry.system)
    result = {
        "run": run.path.name, "model": entry.name, "system": entry.system, "year": system.year,
        "family": system.family, "data": cfg.data.name, "sample_rate": sr, "seconds": seconds, "n": n,
        "seed": seed, "conditioning": keys, "checkpoint": (run.latest or Path("-")).name,
        "classifier": {**{k: judge.info[k] for k in ("label", "classes", "test_accuracy", "n_train",
                                                     "n_test", "parameters")},
                       "floor": FLOOR, "reliable": judge.reliable, "version": judge.info.get("version")},
        "ndb_bins": ref["k"], "rows": rows, **({"clap": clap} if clap else {}),
        "generation_batch": {"n": n, "wall_s": round(gen_wall, 2), "rtf": gen_wall / (n * seconds)},
    }
    if speed:
        log("timing generation and training ...")
        result["speed"] = {"generation": generation_speed(entry, model, cond, min(seconds, 1.0), device=device),
                           "training": training_speed(entry, cfg, trainset, device)}
        result["machine"] = machine(device)
    clean = _json_safe(result)
    run.write_metrics(clean)
    return clean


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


def reconstruction_rows(run, model, k: int, length: int, seed: int, device) -> dict:
    """MR-STFT and log-spectral distance of the model's reconstructions of ``k`` held-out clips, and of
    the two baselines; the first four originals and reconstructions are saved in ``samples/recon/``."""
    trainset, testset = run.data()
    batch = testset.take(np.arange(k), length)
    original = batch["audio"][:, 0].numpy()
    with torch.no_grad():
        recon = run.entry.reconstruct(model, {key: v.to(device) for key, v in batch.items()}, seed=seed)
    recon = fit_length(recon.reshape(k, -1), length)
    candidates = {"reconstruction": recon,
                  "baseline: mean-spectrum noise": mean_spectrum_noise(trainset.audio, k, length, seed)}
    if "pitch" in testset.labels:
        candidates["baseline: same pitch, other note"] = same_pitch_other_note(
            trainset, testset.labels["pitch"][:k], length, seed)
    rows = {}
    for name, clips in candidates.items():
        sc, logmag = metrics.mrstft_terms(original, clips)  # the two halves of MR-STFT, per clip
        rows[name] = {"mrstft": float((sc + logmag).mean()), "sc": float(sc.mean()),
                      "lsd": metrics.log_spectral_distance(original, clips), "n": k}
        if standard.is_speech(testset.name):  # the speech judges that compare with the original
            rows[name].update(standard.pesq_stoi(original, clips, testset.sample_rate))
    pairs = [x for i in range(min(4, k)) for x in (original[i], recon[i])]
    labels = {key: batch[key] for key in testset.labels}
    captions = [f"{kind} {testset.caption(labels, i)}" for i in range(min(4, k))
                for kind in ("original", "reconstruction")]
    run.write_samples("recon", np.stack(pairs), captions)
    return rows


def held_out_bits(nll, testset, device, batch: int = 16, length: int | None = None) -> float | None:
    """Mean negative log-likelihood of the held-out clips (whole clips, or their first ``length``
    samples) in bits per sample, from the bound capability ``nll(batch) -> nats per sample`` (None when
    nothing is held out)."""
    if not len(testset):
        return None
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(testset), batch):
            idx = np.arange(i, min(i + batch, len(testset)))
            nats = float(nll({k: v.to(device) for k, v in testset.take(idx, length).items()}))  # batch mean
            total += nats * len(idx)
    return total / len(testset) / math.log(2)


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
