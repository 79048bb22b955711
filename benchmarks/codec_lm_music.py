"""MusicGen in miniature: the codec language model on music, trained and measured.

    python benchmarks/codec_lm_music.py            # trains both chorales presets if needed (about 15 min, one core)
    python benchmarks/codec_lm_music.py --runs /tmp/music --codec-set train.steps=200 --set train.steps=200

Trains (or resumes, or reuses) the codec's ``chorales`` preset, then the codec language model's
``chorales`` preset on that codec's tokens, and measures on the held-out chorales:

* the codec - the MR-STFT distance of held-out clips through its first K codebooks, beside noise shaped to
  the set's mean spectrum, and beside the shipped drum codec on the same clips (why music needs its own);
* the language model - held-out bits per token against the unigram floor (each codebook's token
  frequencies), and how often the shared judge (the ``chorales`` ensemble classifier) hears the captioned
  ensemble in clips written for held-out captions, without guidance and at the preset's, against chance and
  against real clips passed through the codec (the ceiling).

Writes ``benchmarks/results/codec-lm-music.{json,md}``; the runs stay in ``--runs``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def accuracy(model, judge, cond: dict, frames: int, guidance: float, batch: int = 48) -> float:
    n = len(next(iter(cond.values())))
    with torch.no_grad():
        audio = torch.cat([model.codec.decode(model.generate(min(batch, n - i), frames, {k: v[i:i + batch] for k, v in cond.items()},
                                                             seed=i, guidance=guidance))[:, 0] for i in range(0, n, batch)])
    return float((judge.model.classify(audio.numpy())[0].argmax(1) == judge.targets(cond[judge.label].numpy())).mean())


def measure(lm_run, n: int) -> dict:
    from lineage.eval import metrics
    from lineage.eval.classifier import get_judge
    from lineage.eval.report import held_out_bits, mean_spectrum_noise
    from lineage.run import Run
    from zoo.codec.model import bitrate_curve
    from zoo.codec_lm.model import codes_of, token_nll

    cfg = lm_run.config
    K = cfg.model.n_codebooks
    model = lm_run.model(device="cpu").eval()
    trainset, testset = lm_run.data()
    k = min(64, len(testset))
    audio = torch.from_numpy(testset.audio[:k])[:, None]  # [k, 1, T] held-out chorales
    noise = mean_spectrum_noise(trainset.audio, k, audio.shape[-1], seed=0)
    sc, logmag = metrics.mrstft_terms(audio[:, 0].numpy(), noise)
    drum_codec = Run.load("codec").model(device="cpu").eval()
    codec = {"music": bitrate_curve(model.codec, audio, ns=[K])[K]["mrstft"],
             "drums": bitrate_curve(drum_codec, audio, ns=[K])[K]["mrstft"], "noise": float((sc + logmag).mean())}

    bits = held_out_bits(lambda batch: token_nll(model, batch), testset, "cpu")
    unigram = []
    for b in range(K):
        counts = np.bincount(trainset.features[f"code{b}"].ravel(), minlength=cfg.model.codebook_size) + 1
        unigram.append(float(-np.log2(counts / counts.sum())[testset.features[f"code{b}"].ravel()].mean()))

    judge = get_judge(cfg.data, seed=0, dataset=lm_run.dataset())
    idx = np.arange(n) % len(testset)
    cond = {key: torch.from_numpy(v[idx]) for key, v in testset.labels.items()}
    frames = testset.features["code0"].shape[1]
    with torch.no_grad():
        real = model.codec.decode(codes_of(testset.take(idx), K))[:, 0].numpy()
    ceiling = float((judge.model.classify(real)[0].argmax(1) == judge.targets(cond[judge.label].numpy())).mean())
    return {"codec_mrstft": codec, "bits_per_token": bits, "unigram_bits": float(np.mean(unigram)),
            "class_accuracy": {"0": accuracy(model, judge, cond, frames, 0.0),
                               str(cfg.model.guidance): accuracy(model, judge, cond, frames, cfg.model.guidance)},
            "ceiling": ceiling, "chance": 1 / len(judge.classes), "judge_label": judge.label,
            "judge_accuracy": judge.test_accuracy, "n": n, "held_out": len(testset), "k": k, "codebooks": K,
            "seconds": cfg.data.seconds, "lm_steps": lm_run.facts.get("steps"),
            "guidance": cfg.model.guidance}


def markdown(r: dict) -> str:
    c, acc = r["codec_mrstft"], r["class_accuracy"]
    g = str(r["guidance"])
    return "\n".join([
        f"`chorales`, the first {r['seconds']:g} s of each; the codec's `chorales` preset ({r['codec_steps']:,} steps), "
        f"the language model's ({r['lm_steps']:,} steps) on its first {r['codebooks']} codebooks; one thread.", "",
        f"| the codec, on {r['k']} held-out chorales | MR-STFT ↓ |", "|---|---|",
        f"| trained on chorales, {r['codebooks']} codebooks | {c['music']:.3f} |",
        f"| the shipped drum codec, {r['codebooks']} codebooks | {c['drums']:.3f} |",
        f"| noise shaped to the mean spectrum | {c['noise']:.3f} |", "",
        f"| the language model | value |", "|---|---|",
        f"| held-out bits per token ↓ | {r['bits_per_token']:.2f} |",
        f"| unigram floor, bits per token | {r['unigram_bits']:.2f} |",
        f"| {r['judge_label']} heard as captioned, guidance 0 ({r['n']} clips) | {acc['0']:.3f} |",
        f"| {r['judge_label']} heard as captioned, guidance {r['guidance']:g} | {acc[g]:.3f} |",
        f"| ceiling: real clips through the codec | {r['ceiling']:.3f} |",
        f"| chance | {r['chance']:.3f} |",
        f"| judge on real held-out clips | {r['judge_accuracy']:.3f} |"]) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench" / "codec-lm-music")
    p.add_argument("-n", type=int, default=140, help="clips written per guidance (default 140)")
    p.add_argument("--out", type=Path, default=OUT, help="folder of the two files (default benchmarks/results)")
    p.add_argument("--codec-set", nargs="*", default=[], help="overrides for the codec's run")
    p.add_argument("--set", nargs="*", default=[], help="overrides for the language model's run")
    args = p.parse_args(argv)
    from lineage import registry
    from lineage.eval.speed import machine
    from lineage.files import write_result
    from lineage.run import Run
    from lineage.train import train_or_resume

    torch.set_num_threads(1)
    codec_cfg = registry.load("codec").config("chorales", None, ["train.threads=1", *args.codec_set])
    train_or_resume("codec", codec_cfg, args.runs / "codec", progress=False)
    lm_cfg = registry.load("codec_lm").config("chorales", None, [f"model.codec={args.runs / 'codec'}",
                                                                  "train.threads=1", *args.set])
    train_or_resume("codec_lm", lm_cfg, args.runs / "lm", progress=False)
    r = measure(Run(args.runs / "lm"), args.n)
    r.update({"codec_steps": Run(args.runs / "codec").facts.get("steps"), "machine": machine()})
    write_result(args.out, "codec-lm-music", r, markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
