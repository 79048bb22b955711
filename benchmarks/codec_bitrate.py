"""The codec's quality against its bitrate: held-out clips coded with the first n codebooks, n = 1..K.

    python benchmarks/codec_bitrate.py                 # the shipped codec (zoo/codec/pretrained)
    python benchmarks/codec_bitrate.py runs/codec-tiny # any trained codec run

For each n: the bitrate (frames/s x n x log2 S), the relative error the codes leave in the latent,
``||z - z_hat_n||^2 / ||z||^2``, and the reconstruction's MR-STFT distance, spectral convergence and
log-spectral distance through the same functions as ``lineage eval``. Two rows bound the curve: the
decoder fed the encoder's latent unquantised (infinite bitrate: what the decoder alone can do), and noise
shaped to the data set's mean spectrum (zero bits). Writes ``benchmarks/results/codec-bitrate.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def measure(run, k: int = 64, seed: int = 0) -> dict:
    from lineage.eval import metrics
    from lineage.eval.report import mean_spectrum_noise
    from lineage.eval.speed import machine
    from zoo.codec.model import bitrate_curve

    model = run.model(device="cpu").eval()
    ref = run.data()[1]  # the held-out split of the run's data set
    k = min(k, len(ref))
    audio = torch.from_numpy(ref.audio[:k])[:, None]  # [k, 1, T] held-out clips, whole
    curve = bitrate_curve(model, audio)
    noise = mean_spectrum_noise(ref.audio, k, audio.shape[-1], seed)
    sc, logmag = metrics.mrstft_terms(audio[:, 0].numpy(), noise)
    rows = [{"codebooks": n, "bitrate_bps": r["bitrate"], **{key: r[key] for key in ("latent_error", "mrstft", "sc", "lsd")}}
            for n, r in curve.items() if n != "unquantised"]
    return {"run": str(run.path.relative_to(ROOT)) if run.path.is_relative_to(ROOT) else str(run.path),
            "data": run.config.data.name, "clips": k, "seconds": audio.shape[-1] / run.config.data.sample_rate,
            "frame_rate": model.frame_rate, "codebook_size": model.cfg.codebook_size,
            "steps": run.facts.get("steps"), "machine": machine(), "rows": rows,
            "unquantised": curve["unquantised"],
            "noise": {"mrstft": float((sc + logmag).mean()), "sc": float(sc.mean()),
                      "lsd": metrics.log_spectral_distance(audio[:, 0].numpy(), noise)}}


def markdown(r: dict) -> str:
    lines = [f"{r['clips']} held-out `{r['data']}` clips of {r['seconds']:g} s, the codec of `{r['run']}` "
             f"({r['steps']:,} steps); {r['frame_rate']:g} frames per second, codebooks of {r['codebook_size']}.",
             "", "| codebooks | bitrate (b/s) | latent error | MR-STFT ↓ | SC ↓ | LSD (dB) ↓ |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['codebooks']} | {row['bitrate_bps']:,.0f} | {row['latent_error']:.3f} | "
                     f"{row['mrstft']:.3f} | {row['sc']:.3f} | {row['lsd']:.2f} |")
    u, noise = r["unquantised"], r["noise"]
    lines.append(f"| unquantised latent | ∞ | 0 | {u['mrstft']:.3f} | {u['sc']:.3f} | {u['lsd']:.2f} |")
    lines.append(f"| mean-spectrum noise | 0 | - | {noise['mrstft']:.3f} | {noise['sc']:.3f} | {noise['lsd']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", default="codec", help="a run folder, or a zoo entry's shipped weights")
    p.add_argument("-n", type=int, default=64, help="held-out clips (default 64)")
    p.add_argument("--out", type=Path, default=OUT, help="folder of the two files (default benchmarks/results)")
    args = p.parse_args(argv)
    from lineage.files import write_result
    from lineage.run import Run

    torch.set_num_threads(1)
    run = Run(args.run) if Path(args.run).is_dir() else Run.load(args.run)
    r = measure(run, args.n)
    write_result(args.out, "codec-bitrate", r, markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
