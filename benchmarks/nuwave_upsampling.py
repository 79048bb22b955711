"""NU-Wave against plain resampling: spoken digits from 8 kHz to 16 kHz, judged where the band was missing.

    python benchmarks/nuwave_upsampling.py          # the shipped weights (and the tiny run, if kept)

Held-out digits (the shipped run's own test split) are taken down to the low rate and brought back up
by three resamplers and by NU-Wave (:mod:`zoo.nuwave.compare`): linear interpolation, windowed sinc
(the network's own condition) and soxr; NU-Wave upsamples in its 8-step schedule, the shipped weights
and - where ``runs/pretrain/nuwave-tiny`` is still on disk - the same run after its first 2,000 steps,
and an untrained network of the same configuration as the floor. Each row: LSD over the whole band,
LSD-HF over the missing band, LSD-LF over the band that was there (all over the frames that hold
sound), SNR, the level of what each puts in the digital silence between words, and NU-Wave's real-time
factor. Writes ``benchmarks/results/nuwave-upsampling.{json,md}``.
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
TINY = ROOT / "runs" / "pretrain" / "nuwave-tiny"


def upsampled(model, clips: torch.Tensor, batch: int = 8) -> tuple[np.ndarray, float]:
    """NU-Wave's 8-step upsampling of ``clips [N, 1, T]`` (in batches), and the seconds it took."""
    import zoo.nuwave as nuwave

    t0, out = time.perf_counter(), []
    with torch.no_grad():
        for i in range(0, len(clips), batch):
            out.append(nuwave.reconstruct(model, {"audio": clips[i:i + batch]}, seed=i)[:, 0].numpy())
    return np.concatenate(out), time.perf_counter() - t0


def measure(n: int, tiny: bool = True) -> dict:
    import zoo.nuwave as nuwave
    from lineage.run import Run
    from zoo.nuwave.compare import band_report, resampled

    shipped = Run.load("nuwave")
    cfg = shipped.config
    sr, ratio = cfg.data.sample_rate, cfg.model.ratio
    _, testset = shipped.data()
    k = min(n, len(testset))
    clips = testset.take(np.arange(k))["audio"]  # [k, 1, T], whole clips
    original = clips[:, 0].numpy()
    candidates = resampled(original, sr, ratio)
    models = {"NU-Wave, shipped": shipped.model(device="cpu").eval()}
    if tiny and TINY.is_dir():
        models["NU-Wave, tiny (first 2,000 steps)"] = Run(TINY).model(device="cpu").eval()
    torch.manual_seed(0)
    models["NU-Wave, untrained"] = nuwave.build(cfg).eval()
    rtf = {}
    for name, model in models.items():
        candidates[name], seconds = upsampled(model, clips)
        rtf[name] = seconds / (k * original.shape[-1] / sr)
        print(f"{name}: {seconds:.0f} s", flush=True)
    rows = band_report(original, candidates, ratio)
    for name, r in rows.items():
        r["rtf"] = rtf.get(name)
    steps = json.loads((shipped.path / "provenance.json").read_text()).get("steps")
    return {"data": cfg.data.name, "sample_rate": sr, "low_rate": sr // ratio, "n": k,
            "seconds": original.shape[-1] / sr, "shipped_steps": steps, "threads": torch.get_num_threads(),
            "rows": rows}


def markdown(result: dict) -> str:
    lines = [f"{result['n']} held-out clips of `{result['data']}` ({result['seconds']:.1f} s each), taken down to "
             f"{result['low_rate']:,} Hz and brought back to {result['sample_rate']:,} Hz. LSD in dB over the frames "
             f"that hold sound (lower is better): the whole band, the missing band above {result['low_rate'] // 2:,} Hz "
             f"(LSD-HF) and the band below it (LSD-LF); SNR in dB (higher is better); the RMS of what each row "
             f"puts in the digital silence between words (dBFS, lower is quieter); NU-Wave's real-time factor on "
             f"{result['threads']} torch thread(s), 8 steps.", "",
             "| upsampled by | LSD | LSD-HF | LSD-LF | SNR | in the silences (dBFS) | RTF |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result["rows"].items():
        quiet = "-" if r["silence_dbfs"] is None else f"{r['silence_dbfs']:.0f}"
        rtf = "-" if r["rtf"] is None else f"{r['rtf']:.2f}"
        lines.append(f"| {name} | {r['lsd']:.2f} | {r['lsd_hf']:.2f} | {r['lsd_lf']:.2f} | {r['snr']:.2f} | "
                     f"{quiet} | {rtf} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=64, help="held-out clips (default 64)")
    p.add_argument("--no-tiny", action="store_true", help="leave out the tiny run even where it is on disk")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    result = measure(args.n, tiny=not args.no_tiny)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nuwave-upsampling.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "nuwave-upsampling.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
