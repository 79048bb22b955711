"""The field's own judges, beside ours: CREPE for pitch, DNSMOS for speech quality, PESQ and STOI for
reconstructions of speech. Each installs from PyPI with its weights inside the wheel, so nothing is
downloaded; each is the published model or reference algorithm, not a copy of it written here.

* **CREPE** (Kim et al. 2018, ``torchcrepe``): a convolutional pitch tracker over 1024-sample frames
  at 16 kHz, trained on real recordings. Per clip: the median f0 of its frames and the mean
  *periodicity* (the network's voicing confidence, 0..1): a clean note scores near 1, hiss near 0.
  We use CREPE's ``tiny`` capacity (both ship in the wheel; ``full`` is 18x slower on a CPU) at a 25 ms
  hop, and read it against :func:`lineage.eval.metrics.pitch_accuracy` (pYIN), which it cross-checks.
* **DNSMOS** (Reddy et al. 2022, ``speechmos``): a non-intrusive estimate of the mean opinion score a
  listening panel would give a clip of speech (1..5, ITU-T P.835 overall quality), trained on human
  ratings of noisy and processed speech. Needs no reference, so it scores a generator's clips.
* **PESQ** (ITU-T P.862, ``pesq``) and **STOI** (Taal et al. 2011, ``pystoi``): intrusive - each compares
  a reconstruction with its original. PESQ predicts the MOS of the degradation (-0.5..4.64, wideband at
  16 kHz, narrowband at 8 kHz); STOI the intelligibility (0..1). They score reconstruction rows only.

The speech judges apply to speech sets (:data:`SPEECH_SETS`); CREPE to sets with a ``pitch`` label.
"""

from __future__ import annotations

import numpy as np

SPEECH_SETS = ("digits", "sc09", "ljspeech")  # data sets of speech: DNSMOS, PESQ and STOI apply
CREPE_MODEL, CREPE_HOP_S = "tiny", 0.025
CREPE_RATE = 16000  # CREPE's own rate: torchcrepe resamples to it
LIMIT = 128  # clips per row for CREPE and DNSMOS in `lineage eval`


def _need(module: str, pip_name: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{pip_name} is not installed: `pip install {pip_name}` (part of `make setup`)") from None


def is_speech(data_name: str) -> bool:
    return data_name in SPEECH_SETS


def crepe(clips: np.ndarray, sample_rate: int, fmin: float = 32.7, fmax: float = 1975.5,
          batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """CREPE's ``(f0 [N] Hz, periodicity [N])`` of clips ``[N, T]``: the median f0 over the frames it
    hears as voiced (periodicity above 0.5; NaN where none is) and the mean periodicity of all frames."""
    import torch

    torchcrepe = _need("torchcrepe", "torchcrepe")
    from lineage.audio import resample

    x = np.asarray(clips, dtype=np.float32).reshape(len(clips), -1)
    if sample_rate != CREPE_RATE:
        x = np.stack([resample(c, sample_rate, CREPE_RATE) for c in x])
    hop = int(CREPE_HOP_S * CREPE_RATE)
    f0s, periods = [], []
    with torch.no_grad():
        for clip in x:
            f0, period = torchcrepe.predict(torch.from_numpy(clip)[None], CREPE_RATE, hop, fmin, fmax,
                                            CREPE_MODEL, return_periodicity=True, batch_size=batch,
                                            device="cpu", pad=True)
            f0, period = f0[0].numpy(), period[0].numpy()  # [frames]
            voiced = period > 0.5
            f0s.append(float(np.median(f0[voiced])) if voiced.any() else float("nan"))
            periods.append(float(period.mean()))
    return np.array(f0s), np.array(periods)


def crepe_pitch(clips: np.ndarray, sample_rate: int, midi: np.ndarray | None = None) -> dict:
    """``periodicity`` of clips ``[N, T]``, and, given the MIDI notes they should be, the share CREPE
    hears at that note (``crepe_pitch_accuracy``: rounds to it; ``crepe_within_1``: within a semitone)."""
    from lineage.audio import hz_to_midi

    f0, period = crepe(clips, sample_rate)
    row = {"periodicity": float(period.mean())}
    if midi is not None:
        with np.errstate(invalid="ignore"):
            err = np.abs(hz_to_midi(f0) - np.asarray(midi, dtype=np.float64))
        ok = np.isfinite(err)
        row.update(crepe_pitch_accuracy=float(np.mean(ok & (err < 0.5))),
                   crepe_within_1=float(np.mean(ok & (err < 1.5))))
    return row


def dnsmos(clips: np.ndarray, sample_rate: int) -> dict:
    """DNSMOS P.835 of clips ``[N, T]``, averaged: ``dnsmos`` (overall), ``dnsmos_sig`` (the speech),
    ``dnsmos_bak`` (the background). Clips are resampled to 16 kHz and scaled into [-1, 1] if they
    leave it; a clip shorter than DNSMOS's 9 s window is tiled, as its authors' script does."""
    _need("onnxruntime", "onnxruntime")
    dns = _need("speechmos.dnsmos", "speechmos")
    from lineage.audio import resample

    rows = []
    for clip in np.asarray(clips, dtype=np.float32).reshape(len(clips), -1):
        clip = resample(clip, sample_rate, 16000) if sample_rate != 16000 else clip
        peak = float(np.abs(clip).max())
        clip = clip / peak if peak > 1 else clip
        if peak == 0:  # digital silence: DNSMOS's log-mel is undefined; the lowest score
            rows.append((1.0, 1.0, 1.0))
            continue
        # tiled to 10 s, so DNSMOS's 9.01 s window fits exactly once (its own doubling would score the
        # same repeated clip in several windows, for the same answer at several times the cost)
        clip = np.tile(clip, int(np.ceil(10 * 16000 / len(clip))))[:10 * 16000]
        r = dns.run(clip.astype(np.float32), 16000)
        rows.append((r["ovrl_mos"], r["sig_mos"], r["bak_mos"]))
    ovrl, sig, bak = np.array(rows, dtype=np.float64).mean(axis=0)
    return {"dnsmos": float(ovrl), "dnsmos_sig": float(sig), "dnsmos_bak": float(bak)}


def pesq_stoi(reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> dict:
    """Mean PESQ and STOI of ``degraded [N, T]`` against ``reference [N, T]``. PESQ runs wideband at
    16 kHz and narrowband at 8 kHz (the two rates ITU-T P.862 defines; other rates are resampled to the
    nearer), clip by clip; a clip PESQ cannot score (no speech found) is left out and counted in
    ``pesq_failed``; where the ``pesq`` package is not installed, ``pesq`` is None. STOI needs 30 frames (384 ms) of speech after its silent frames are dropped, more
    than a one-second digit often has, so it scores the clips joined end to end."""
    stoi_lib = _need("pystoi", "pystoi")
    try:
        import pesq as pesq_lib
    except ImportError:  # PESQ compiles from source at install; `make setup` skips it without a C compiler
        pesq_lib = None
    from lineage.audio import resample

    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    deg = np.asarray(degraded, dtype=np.float64).reshape(len(degraded), -1)
    rate = 16000 if sample_rate >= 12000 else 8000
    pesqs, failed = [], 0
    stoi = float(stoi_lib.stoi(ref.reshape(-1), deg.reshape(-1), sample_rate, extended=False))
    if pesq_lib is not None:
        for r, d in zip(ref, deg):
            if sample_rate != rate:
                r, d = resample(r, sample_rate, rate), resample(d, sample_rate, rate)
            score = pesq_lib.pesq(rate, r, d, "wb" if rate == 16000 else "nb",
                                  on_error=pesq_lib.PesqError.RETURN_VALUES)
            if score < -0.5:  # the library's error value (-1): no utterance found
                failed += 1
            else:
                pesqs.append(score)
    return {"pesq": float(np.mean(pesqs)) if pesqs else None, "stoi": stoi, "pesq_failed": failed}


def judged(clips: np.ndarray, sample_rate: int, data_name: str, pitched: bool, midi: np.ndarray | None = None,
           limit: int = LIMIT) -> dict:
    """The field-standard columns of one row of ``lineage eval``: CREPE's periodicity on a pitched set
    (and its pitch accuracy when the clips were asked for ``midi`` notes), DNSMOS on a speech set; on
    the first ``limit`` clips, since both cost far more than the classifier."""
    clips = np.asarray(clips)[:limit]
    row = {}
    if pitched:
        row.update(crepe_pitch(clips, sample_rate, None if midi is None else np.asarray(midi)[:limit]))
    if is_speech(data_name):
        row.update(dnsmos(clips, sample_rate))
    return row
