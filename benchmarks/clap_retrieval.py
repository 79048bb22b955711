"""How well the CLAP judge of each captioned data set ties clips to their captions (Wu et al. 2023,
tables 2 and 4, in miniature): the CLAP that `lineage eval` trains for its CLAP score.

    python benchmarks/clap_retrieval.py                      # drums, notes, digits (+ chorales if built)
    python benchmarks/clap_retrieval.py --sets drums --steps 300

For each set, on its held-out pairs: recall@1 and @5 from audio to text (the clip's own caption among the
set's distinct held-out captions) and from text to audio (a clip with that caption among the nearest),
each beside what random ranking scores; zero-shot classification from one prompt per class; the CLAP
score of real clips with their own captions and with a neighbour's. Writes
``benchmarks/results/clap-retrieval.{json,md}``; the trained CLAPs stay cached beside the data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def measure(name: str, steps: int | None) -> dict:
    from lineage.config import DataConfig
    from lineage.data import load
    from lineage.eval.clap import get_clap, score_rows, zero_shot_accuracy

    cfg = DataConfig(name=name)
    dataset = load(cfg)
    judge = get_clap(cfg, steps=steps, dataset=dataset, progress=True)
    _, test = dataset.split(cfg.holdout, seed=cfg.seed)
    return {"data": name, "steps": judge.info["steps"], "train_seconds": judge.info["train_seconds"],
            "parameters": judge.info["parameters"], "n_train": judge.info["n_train"],
            "retrieval": judge.info["retrieval"], "zero_shot": zero_shot_accuracy(judge, test),
            "clap_score": score_rows(judge, test, test.audio.shape[1], len(test))}


def markdown(rows: list[dict]) -> str:
    head = ("| data | held-out pairs (captions) | audio→text R@1 | R@5 | text→audio R@1 | R@5 | zero-shot "
            "(classes) | CLAP score: own / neighbour's caption | train |\n|---|---|---|---|---|---|---|---|---|\n")

    def pair(r, key):
        return f"{r[key]:.2f} ({r[key + '_chance']:.3f})"

    lines = []
    for m in rows:
        r, z, c = m["retrieval"], m["zero_shot"], m["clap_score"]
        lines.append(f"| {m['data']} | {r['clips']} ({r['captions']}) | {pair(r, 'audio_to_text_r1')} | "
                     f"{pair(r, 'audio_to_text_r5')} | {pair(r, 'text_to_audio_r1')} | {pair(r, 'text_to_audio_r5')} | "
                     f"{z['accuracy']:.2f} of {z['classes']} {z['label']} (chance {z['chance']:.2f}, majority "
                     f"{z['majority']:.2f}) | {c['real']:.3f} / {c['mismatched']:.3f} | "
                     f"{m['steps']} steps, {m['train_seconds']:.0f} s |")
    prompts = "; ".join(f"{m['data']}: \"{m['zero_shot']['prompt']}\"" for m in rows)
    return (head + "\n".join(lines) + "\n\nChance in brackets (random ranking). Zero-shot prompts, one per "
            f"class: {prompts}. {rows[0]['parameters']:,} parameters (drums), one torch thread.\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=None, help="captioned data sets (default: every built one)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the judge's)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import torch

    from lineage.data import data_root
    from lineage.files import write_result

    torch.set_num_threads(1)
    sets = args.sets or [s for s in ("drums", "notes", "digits", "chorales") if (data_root() / s / "build.json").is_file()]
    rows = []
    for name in sets:
        rows.append(measure(name, args.steps))
        print(f"{name}: {rows[-1]['retrieval']}", flush=True)
    write_result(args.out, "clap-retrieval", {"rows": rows}, markdown(rows))
    print((args.out / "clap-retrieval.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
