"""Continuous latents against discrete codes at the same frame rate: the latent diffusion model's VAE and
the codec, both built on the same encoder and decoder at 50 frames a second, rebuilding held-out clips.

    python benchmarks/latent_vs_codec.py                          # the two entries' shipped weights
    python benchmarks/latent_vs_codec.py --vae runs/vae --codec runs/codec -n 32

For the VAE (its posterior mean, decoded) and for the codec with its first n codebooks, n = 1, 2, 4, ...,
K: numbers sent per second (latent channels or codebooks x frames/s), bits per second where the numbers
are codes (frames/s x n x log2 S; a continuous latent has no bitrate until it is quantised, so its row
gives what float16 would cost), the MR-STFT distance through ``lineage eval``'s function, and how often
the data set's judge (the shared classifier) recognises the class of the rebuilt clip - beside the real
clips'. Writes ``benchmarks/results/latent-vs-codec.{json,md}``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def _load(source: str):
    from lineage.run import Run

    return Run(source) if Path(source).is_dir() else Run.load(source)


def _name(run) -> str:
    return str(run.path.relative_to(ROOT)) if run.path.is_relative_to(ROOT) else str(run.path)


def measure(vae_run, codec_run, n: int = 128) -> dict:
    from lineage.eval import metrics
    from lineage.eval.classifier import get_judge
    from lineage.eval.speed import machine
    from zoo.codec.model import reconstruct as codec_reconstruct

    vae_model, codec = vae_run.model(device="cpu").eval(), codec_run.model(device="cpu").eval()
    if (vae_run.config.data.name, vae_run.config.data.sample_rate) != \
            (codec_run.config.data.name, codec_run.config.data.sample_rate):
        raise ValueError(f"latent_vs_codec: the VAE of {_name(vae_run)} and the codec of {_name(codec_run)} "
                         f"were trained on different data or rates; compare the two on one data set")
    ref = vae_run.data()[1]  # the held-out split of the VAE's data set
    n = min(n, len(ref))
    audio = torch.from_numpy(ref.audio[:n])[:, None]  # [n, 1, T]
    judge = get_judge(vae_run.config.data, seed=0)  # the shared judge of the data set (trained on its training split)
    want = judge.targets(ref.labels[judge.label][:n])

    def row(rebuilt: torch.Tensor) -> dict:
        x = rebuilt[:, 0, :audio.shape[-1]].numpy()
        heard = judge.model.classify(x)[0].argmax(1)
        return {"mrstft": float(metrics.mrstft_distance(audio[:, 0].numpy(), x)),
                "class_accuracy": float((heard == want).mean())}

    vae = vae_model.vae
    with torch.no_grad():
        mu, _ = vae.posterior(audio)
        rows = [{"what": "VAE", "numbers_per_second": vae.frame_rate * vae.latent,
                 "bits_per_second_float16": vae.frame_rate * vae.latent * 16,
                 **row(vae.decode(mu))}]
        K, S = codec.cfg.n_codebooks, codec.cfg.codebook_size
        for k in sorted({2 ** i for i in range(int(math.log2(K)) + 1)} | {K}):
            rows.append({"what": "codec", "codebooks": k, "numbers_per_second": codec.frame_rate * k,
                         "bits_per_second": codec.frame_rate * k * math.log2(S),
                         **row(codec_reconstruct(codec, {"audio": audio}, n=k))})
    real = judge.model.classify(audio[:, 0].numpy())[0].argmax(1)
    return {"vae": _name(vae_run), "codec": _name(codec_run), "data": vae_run.config.data.name, "clips": n,
            "seconds": audio.shape[-1] / vae_run.config.data.sample_rate, "frame_rate": vae.frame_rate,
            "vae_frame_rate": vae.frame_rate, "codec_frame_rate": codec.frame_rate,
            "vae_steps": vae_run.facts.get("steps"), "codec_steps": codec_run.facts.get("steps"),
            "chance": 1 / len(judge.classes), "real_class_accuracy": float((real == want).mean()),
            "machine": machine(), "rows": rows}


def markdown(r: dict) -> str:
    lines = [f"{r['clips']} held-out `{r['data']}` clips of {r['seconds']:g} s, rebuilt by the VAE inside "
             f"`{r['vae']}` and by the codec of `{r['codec']}`, both at {r['frame_rate']:g} frames per second. "
             f"The judge recognises the class of {r['real_class_accuracy']:.0%} of the real clips; chance "
             f"{r['chance']:.0%}.", "",
             "| representation | numbers per second | bits per second | MR-STFT ↓ | class accuracy ↑ |",
             "|---|---|---|---|---|"]
    for row in r["rows"]:
        if row["what"] == "VAE":
            what, bits = "VAE latent (continuous)", f"({row['bits_per_second_float16']:,.0f} as float16)"
        else:
            what, bits = f"codec, {row['codebooks']} codebook{'s' * (row['codebooks'] > 1)}", f"{row['bits_per_second']:,.0f}"
        lines.append(f"| {what} | {row['numbers_per_second']:,.0f} | {bits} | {row['mrstft']:.3f} | "
                     f"{row['class_accuracy']:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vae", default="latent_diffusion",
                   help="a latent diffusion run (either stage) or entry whose VAE to measure (default: shipped)")
    p.add_argument("--codec", default="codec", help="a codec run folder or entry (default: the shipped codec)")
    p.add_argument("-n", type=int, default=128, help="held-out clips (default 128)")
    p.add_argument("--out", type=Path, default=OUT, help="folder of the two files (default benchmarks/results)")
    args = p.parse_args(argv)
    from lineage.files import write_result

    torch.set_num_threads(1)
    r = measure(_load(args.vae), _load(args.codec), args.n)
    write_result(args.out, "latent-vs-codec", r, markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
