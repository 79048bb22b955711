"""Why do the diffusion entries hiss? WaveGrad's and DiffWave's shipped weights, taken apart step by step.

    python benchmarks/diffusion_hiss.py            # both entries' shipped weights, 16 held-out notes

Three measurements, each on held-out notes of the entry's own data set:

1. **The network at every diffusion step.** For each step ``t`` of the schedule the sampler walks (and
   a few of the training schedule), real clips are noised to that step (eq. 4) and the network asked for
   the noise: the relative error ``|| eps_theta - eps ||^2 / || eps ||^2`` (0 perfect, 1 no better than
   answering zero). The last steps decide the hiss: the final update leaves ``sqrt(beta_1) / sqrt(alpha_1)``
   times the error of the last estimate in the clip.
2. **The sampler's variants.** Clips generated at the fast (6-step) and the full training schedule, with
   the noise each step adds at full scale and with none (``noise_scale`` 0: the means alone; the last step
   never adds any), the fraction of samples the final clip to [-1, 1] cuts, and a 6-step geometric
   schedule whose noisiest level is the training schedule's last (:func:`matched_betas`): where the
   sampler's unit white noise is what the network is told it is.
3. **How loud the hiss is.** Each set's *noise floor*: per STFT frame the 20th percentile of the bins'
   power - what lies between the partials - as a median over frames, in dB. The same floor is measured
   on the real clips with white noise added at -80 .. -20 dBFS, so each variant's floor reads as "as if
   noise at L dBFS had been added" (interpolated on that calibration). CREPE's periodicity, the judge's
   class accuracy (DiffWave; WaveGrad is a vocoder and is asked for the clip it rebuilds) and pitch
   accuracy stand beside it.

The shipped folders hold only the EMA weights (no raw weights, no earlier checkpoints), so EMA on/off
and the course over training are not measured here; chapter 8's own short training gives the course.
Writes ``benchmarks/results/diffusion-hiss.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
LEVELS = (-80, -60, -40, -30, -20)  # dBFS of the calibration noise


def noise_floor_db(clips: np.ndarray, n_fft: int = 512) -> float:
    """The level between the partials: per frame the 20th percentile of the bins' power, median over
    frames whose peak is within 40 dB of the loudest frame's (the note, not the silence after it), dB."""
    x = torch.as_tensor(np.asarray(clips), dtype=torch.float32).reshape(len(clips), -1)
    power = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs() ** 2
    peak = power.amax(dim=1)  # [N, frames]
    active = peak > peak.amax(dim=1, keepdim=True) * 1e-4
    floor = torch.quantile(power, 0.2, dim=1)  # [N, frames]
    return float(10 * torch.log10(floor[active].median() + 1e-20))


def equivalent_dbfs(floor: float, calibration: list[tuple[float, float]]) -> float | None:
    """The white-noise level (dBFS) whose floor on the real clips matches ``floor`` (None below the
    quietest calibration level: cleaner than -80 dBFS of noise)."""
    levels, floors = zip(*calibration)
    if floor < floors[0]:
        return None
    return float(np.interp(floor, floors, levels))


def matched_betas(train_alpha_bar_end: float, steps: int = 6, first: float = 1e-6) -> list[float]:
    """A geometric schedule of ``steps`` betas from ``first`` whose last level ``sqrt(abar)`` is the
    training schedule's last, ``sqrt(train_alpha_bar_end)``: the sampler's white noise then matches the
    noise level the network is told it starts from (found by bisection on the last beta)."""
    lo, hi = first, 1 - 1e-9
    for _ in range(200):
        mid = (lo + hi) / 2
        abar = float(np.prod(1 - np.geomspace(first, mid, steps)))
        lo, hi = (mid, hi) if abar > train_alpha_bar_end else (lo, mid)
    return np.geomspace(first, (lo + hi) / 2, steps).tolist()


def step_errors(entry_name: str, model, batch: dict, steps: list[float]) -> list[dict]:
    """The relative noise-prediction error at each (possibly fractional) step of the training schedule."""
    sched = model.schedule
    x0 = batch["audio"]
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(x0.shape, generator=g)
    rows = []
    with torch.no_grad():
        for t in steps:
            lo = int(np.floor(t))
            hi = min(lo + 1, len(sched) - 1)
            a = sched.alpha_bar.sqrt()
            level = float(a[lo] + (t - lo) * (a[hi] - a[lo]))  # sqrt(abar) at the fractional step
            xt = level * x0 + (1 - level ** 2) ** 0.5 * eps  # eq. 4
            if entry_name == "diffwave":
                pred = model(xt, torch.full((len(x0),), float(t)), batch)
            else:
                pred = model(xt, model.log_mel.of_crop(x0), torch.full((len(x0),), level))
            rows.append({"t": round(float(t), 3), "level": level,
                         "error": float(((pred - eps) ** 2).sum() / (eps ** 2).sum())})
    return rows


def measure(name: str, n: int = 16, n_full: int = 4, log=print) -> dict:
    """Everything above for entry ``name``'s shipped weights: ``n`` held-out notes, the first ``n_full``
    of them also through the full training schedule (WaveGrad's 1,000 passes a clip are slow on a CPU)."""
    from lineage import pretrained
    from lineage.eval import metrics, standard
    from lineage.eval.classifier import get_judge
    from lineage.eval.degrade import noise_floor
    from lineage.run import Run
    import zoo.diffwave.model as diffwave
    import zoo.wavegrad.model as wavegrad

    run = Run(pretrained.folder(name))
    model = run.model(device="cpu").eval()
    cfg = run.config
    sr = cfg.data.sample_rate
    _, test = run.data()
    n = min(n, len(test))
    length = int(cfg.data.seconds * sr)
    if name == "wavegrad":
        length -= length % model.cfg.hop  # whole frames
    batch = test.take(np.arange(n), length)
    real = batch["audio"][:, 0].numpy()
    calibration = [(L, noise_floor_db(noise_floor(torch.from_numpy(real), L, torch.Generator().manual_seed(0)).numpy()))
                   for L in LEVELS]
    judge = get_judge(cfg.data, seed=0)
    want = judge.targets(test.labels[judge.label][:n])
    pitch = test.labels["pitch"][:n]

    def judged(clips: np.ndarray, **extra) -> dict:
        k = len(clips)  # the first k notes
        floor = noise_floor_db(clips)
        row = {**extra, "n": k, "noise_floor_db": floor, "as_if_dbfs": equivalent_dbfs(floor, calibration),
               "class_accuracy": float((judge.model.classify(clips)[0].argmax(1) == want[:k]).mean()),
               "pitch_accuracy": metrics.pitch_accuracy(clips, sr, pitch[:k])["pitch_accuracy"],
               **standard.crepe_pitch(clips, sr)}
        log(f"  {name} {extra}: floor {floor:.1f} dB (as if {row['as_if_dbfs']}), class {row['class_accuracy']:.2f}, "
            f"periodicity {row['periodicity']:.3f}")
        return row

    rows = [judged(real, variant="real held-out clips")]
    for L in (-60, -40):
        noisy = noise_floor(torch.from_numpy(real), L, torch.Generator().manual_seed(1)).numpy()
        rows.append(judged(noisy, variant=f"real + noise at {L} dBFS"))
    with torch.no_grad():
        for fast in (True, False):
            k = n if fast else min(n_full, n)
            part = {key: v[:k] for key, v in batch.items()}
            for scale in (1.0, 0.0):
                if name == "diffwave":
                    raw = diffwave.generate(model, k, length, 0, part, fast=fast, noise_scale=scale)
                else:
                    raw = wavegrad.generate(model, model.log_mel(part["audio"]), 0, fast=fast, noise_scale=scale)
                steps = len(model.cfg.fast_betas) if fast else len(model.schedule)
                clips = raw[:, 0].numpy()
                rows.append(judged(clips, variant=f"{steps} steps, noise scale {scale:g}",
                                   clipped=float((np.abs(clips) >= 1).mean())))
        # the hypothesis the rows above test: a fast schedule that starts where the training schedule ends
        shipped = list(model.cfg.fast_betas)
        model.cfg.fast_betas = matched_betas(float(model.schedule.alpha_bar[-1]), len(shipped))
        if name == "diffwave":
            raw = diffwave.generate(model, n, length, 0, batch, fast=True)
        else:
            raw = wavegrad.generate(model, model.log_mel(batch["audio"]), 0, fast=True)
        clips = raw[:, 0].numpy()
        rows.append(judged(clips, variant=f"{len(shipped)} geometric steps ending at the training schedule's "
                                          f"last level ({float(model.schedule.alpha_bar[-1].sqrt()):.3f})",
                           clipped=float((np.abs(clips) >= 1).mean()), betas=model.cfg.fast_betas))
        model.cfg.fast_betas = shipped
        if name == "diffwave":  # the embedding before its fix: the sinusoids evaluated between the steps
            fixed = diffwave.diffusion_step_embedding
            diffwave.diffusion_step_embedding = diffwave.sinusoids
            try:
                clips = diffwave.generate(model, n, length, 0, batch, fast=True)[:, 0].numpy()
                rows.append(judged(clips, variant="6 steps, the sinusoids evaluated between the steps "
                                                  "(before the interpolated embedding)"))
                unfixed_errors = step_errors(name, model, batch, sorted({*diffwave.aligned_steps(
                    model.schedule, type(model.schedule)(shipped))}))
            finally:
                diffwave.diffusion_step_embedding = fixed
    fast_sched = type(model.schedule)(model.cfg.fast_betas)
    if name == "diffwave":
        walked = diffwave.aligned_steps(model.schedule, fast_sched)
    else:  # WaveGrad is told a level, not a step: the step of the training schedule with the same level
        a = model.schedule.alpha_bar.sqrt().numpy()
        walked = [float(np.interp(-g, -a, np.arange(len(a)))) for g in fast_sched.alpha_bar.sqrt().tolist()]
    T = len(model.schedule)
    probe = sorted({*walked, 0.0, T // 4, T // 2, T - 1})
    fast_level = float(type(model.schedule)(model.cfg.fast_betas).alpha_bar[-1].sqrt())
    extra = {"step_errors_sinusoids": unfixed_errors} if name == "diffwave" else {}
    return {**extra, "model": name, "data": cfg.data.name, "sample_rate": sr, "n": n, "calibration": calibration,
            "fast_last_level": fast_level, "train_last_level": float(model.schedule.alpha_bar[-1].sqrt()),
            "fast_steps": walked, "step_errors": step_errors(name, model, batch, probe), "rows": rows,
            "last_step_gain": float((fast_sched.betas[0] / fast_sched.alphas[0]).sqrt())}


def markdown(results: list[dict]) -> str:
    out = ["# Why the diffusion entries hiss", "",
           "Written by `benchmarks/diffusion_hiss.py` from the shipped weights. *Floor*: the level between "
           "the partials (20th percentile of each frame's bins, median over the note's frames); *as if*: the "
           "white-noise level that gives the real clips the same floor.", ""]
    for r in results:
        out += [f"## {r['model']} ({r['data']} at {r['sample_rate']} Hz, {r['n']} held-out notes)", "",
                "| clips | notes | floor (dB) | as if noise at | class acc | pitch acc | periodicity | clipped |",
                "|---|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            as_if = "below -80 dBFS" if row["as_if_dbfs"] is None else f"{row['as_if_dbfs']:.0f} dBFS"
            out.append(f"| {row['variant']} | {row['n']} | {row['noise_floor_db']:.1f} | {as_if} | {row['class_accuracy']:.2f} | "
                       f"{row['pitch_accuracy']:.2f} | {row['periodicity']:.3f} | "
                       f"{row.get('clipped', 0):.2%} |")
        out += ["", "The network's noise estimate on real clips, by step (relative error; 1 = no better than "
                    "zero). Steps the 6-step sampler visits: "
                    + ", ".join(f"{t:.2f}" for t in r["fast_steps"]) + ".", "",
                "| step t | sqrt(abar_t) | relative error |", "|---|---|---|"]
        before = {e["t"]: e["error"] for e in r.get("step_errors_sinusoids", [])}
        if before:
            out[-2:] = ["| step t | sqrt(abar_t) | relative error | with the sinusoids evaluated between the steps |",
                        "|---|---|---|---|"]
        out += [f"| {e['t']:g} | {e['level']:.4f} | {e['error']:.3f} |"
                + (f" {before[e['t']]:.3f} |" if e["t"] in before else (" - |" if before else ""))
                for e in r["step_errors"]]
        out += ["", f"The last update scales the last estimate's error by sqrt(beta_1 / alpha_1) = "
                    f"{r['last_step_gain']:.4f}. The shipped fast schedule starts sampling at the noise level "
                    f"sqrt(abar) = {r['fast_last_level']:.3f}, the training schedule ends at "
                    f"{r['train_last_level']:.3f}: both begin from white noise of unit variance.", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", default=["wavegrad", "diffwave"])
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--n-full", type=int, default=4, help="notes also sampled with the full training schedule")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = [measure(name, args.n, args.n_full) for name in args.names]
    saved = args.out / "diffusion-hiss.json"
    if saved.is_file():  # entries measured before and not now keep their rows, in their place
        fresh = {r["model"]: r for r in results}
        kept = [fresh.pop(r["model"], r) for r in json.loads(saved.read_text())]
        results = kept + list(fresh.values())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diffusion-hiss.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "diffusion-hiss.md").write_text(markdown(results))
    print(f"wrote {args.out / 'diffusion-hiss.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
