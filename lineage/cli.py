"""The ``lineage`` command: list, timeline, data, train, sample, eval, listen, bench, tour.

Every failure the user can fix (a bad config key or value, a missing run, an unknown model) ends in
one line on stderr starting with ``lineage: error:`` and exit status 2; a diverged training run ends
the same way with status 1. Anything else is a bug and keeps its traceback (as do all errors when
``LINEAGE_DEBUG=1`` is set).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from lineage.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from lineage.train import TrainingDiverged

    # a warning is one line, like an error (a skipped checkpoint, a diverging loss, a restarted run)
    warnings.formatwarning = lambda message, category, *rest, **kw: f"lineage: warning: {message}\n"
    try:
        return args.func(args) or 0
    except (ConfigError, ValueError, KeyError, OSError) as err:  # OSError: missing files, a full disk, ...
        if os.environ.get("LINEAGE_DEBUG"):
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"lineage: error: {msg}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"lineage: error: {err}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lineage", description="The lineage of neural audio generation.")
    sub = p.add_subparsers(metavar="COMMAND")

    s = sub.add_parser("list", help="zoo entries with year and family")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("timeline", help="the lineage, system by system")
    s.set_defaults(func=cmd_timeline)

    s = sub.add_parser("data", help="build and inspect data sets")
    dsub = s.add_subparsers(metavar="ACTION", required=True)
    d = dsub.add_parser("list", help="data sets that can be built")
    d.set_defaults(func=cmd_data_list)
    d = dsub.add_parser("build", help="build (or finish building) a data set")
    d.add_argument("name")
    d.add_argument("--size", type=int, default=None)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_data_build)
    d = dsub.add_parser("info", help="what a built data set holds")
    d.add_argument("name")
    d.set_defaults(func=cmd_data_info)

    s = sub.add_parser("train", help="train a zoo entry")
    s.add_argument("model")
    s.add_argument("--preset", default="tiny", help="tiny, gpu, or a path to a .toml file")
    s.add_argument("--data", default=None, help="data set (same as --set data.name=...)")
    s.add_argument("--out", default=None, help="run folder (default runs/MODEL-PRESET)")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   nargs="+", help="override config values, e.g. --set train.steps=100 model.channels=64")
    s.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate WAVs from a trained run")
    s.add_argument("run", help="a run folder, or a Hugging Face Hub repository id holding one")
    s.add_argument("-n", type=int, default=8)
    s.add_argument("--seconds", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cond", action="append", default=[], metavar="LABEL=VALUE",
                   help="conditioning label, e.g. --cond pitch=60 --cond timbre=saw (default: labels of real clips)")
    s.add_argument("--out", default=None, help="folder for the WAVs (default RUN/samples/cli)")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: what training would pick)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("eval", help="judge a run: classifier metrics, likelihood, pitch, speed -> metrics.json")
    s.add_argument("run")
    s.add_argument("--n", type=int, default=256, help="clips to generate (and real clips per real row)")
    s.add_argument("--seconds", type=float, default=None, help="clip length (default: the data's clip length)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-speed", dest="speed", action="store_false", help="skip the RTF and training timings")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: what training would pick)")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("listen", help="write the comparative listening page for runs")
    s.add_argument("runs", nargs="+")
    s.add_argument("-o", "--output", default="listening.html")
    s.set_defaults(func=cmd_listen)

    s = sub.add_parser("bench", help="benchmarks: the comparison table of the whole zoo")
    bsub = s.add_subparsers(metavar="ACTION", required=True)
    b = bsub.add_parser("table", help="train (or reuse), evaluate and tabulate every model on one data set")
    b.add_argument("--data", default="digits")
    b.add_argument("--models", nargs="+", default=["all"], help="model names, or all (default)")
    b.add_argument("--preset", default="tiny")
    b.add_argument("--out", default=None, help="folder for runs and results (default runs/bench/DATA-PRESET)")
    b.add_argument("--n", type=int, default=256)
    b.add_argument("--seconds", type=float, default=None)
    b.add_argument("--no-speed", dest="speed", action="store_false")
    b.add_argument("--device", default=None, help="where models are evaluated (default: what training would pick)")
    b.add_argument("--set", dest="overrides", action="append", default=[], nargs="+",
                   metavar="SECTION.KEY=VALUE", help="overrides applied to every model's config")
    b.set_defaults(func=cmd_bench_table)

    s = sub.add_parser("tour", help="train every zoo entry's tiny preset and write a listening page")
    s.add_argument("--out", default="runs/tour")
    s.add_argument("--preset", default="tiny")
    s.add_argument("-n", type=int, default=6)
    s.add_argument("--seconds", type=float, default=0.5)
    s.set_defaults(func=cmd_tour)
    return p


def cmd_list(args) -> None:
    """The zoo's entries in the order of the lineage: by year, then as `lineage.timeline.SYSTEMS` lists
    them; an entry whose system the timeline does not know (one of your own) comes last."""
    from lineage import registry, timeline

    order = {s.name: (s.year, i) for i, s in enumerate(timeline.SYSTEMS)}
    for entry in sorted(registry.entries(), key=lambda e: (order.get(e.system, (float("inf"), 0)), e.name)):
        s = timeline.SYSTEMS[order[entry.system][1]] if entry.system in order else None
        year, family, name, what = ((s.year, s.family, s.name, s.introduced) if s else
                                    ("?", "-", entry.system, "not in lineage.timeline"))
        print(f"{entry.name:<12} {year:<4}  {family:<18} {name}: {what}  (presets: {', '.join(entry.presets())})")


def cmd_timeline(args) -> None:
    from lineage import timeline

    print(timeline.as_table())


def cmd_data_list(args) -> None:
    from lineage import data

    for r in data.RECIPES.values():
        built = data.read_build_info(data.data_root() / r.name)
        state = f"built, {built['size']} clips" if built else "not built"
        print(f"{r.name:<10} {r.description} [{state}]")
    for name, description in data.loaders.DESCRIPTIONS.items():
        print(f"{name:<10} {description} [yours: --set data.path=FOLDER]")


def cmd_data_build(args) -> None:
    from lineage import data

    t0 = time.perf_counter()
    folder = data.build(args.name, size=args.size, seed=args.seed, progress=True)
    bad = data.verify(folder)
    if bad:
        raise ValueError(f"{folder}: {len(bad)} file(s) do not match the manifest, e.g. {bad[0]}")
    print(f"{folder}: {data.read_build_info(folder)['size']} clips, verified "
          f"({time.perf_counter() - t0:.1f} s)")


def cmd_data_info(args) -> None:
    from lineage import data

    folder = data.data_root() / args.name
    info = data.read_build_info(folder)
    if info is None:
        raise FileNotFoundError(f"{folder}: not built; run `lineage data build {args.name}`")
    print(json.dumps(info, indent=2))


def cmd_train(args) -> None:
    from lineage import registry
    from lineage.tables import losses_text
    from lineage.train import Trainer

    entry = registry.load(args.model)
    cfg = entry.config(args.preset, args.data, [item for group in args.overrides for item in group])
    out = Path(args.out or f"runs/{args.model}-{Path(args.preset).stem}")
    t0 = time.perf_counter()
    trainer = Trainer(args.model, cfg, out, resume=args.resume, progress=not args.quiet)
    facts = entry.facts(trainer.accelerator.unwrap_model(trainer.model))
    rf = facts.get("receptive_field")
    print(f"{args.model}: {facts['parameters']:,} parameters" + (f", receptive field {rf} samples "
          f"({1000 * rf / cfg.data.sample_rate:.1f} ms)" if rf else "") +
          f", {len(trainer.trainset)} training clips, device {trainer.device}, from step {trainer.step}")
    last = trainer.fit()
    print(f"done: step {last.get('step', trainer.step)}, {losses_text(last)}, "
          f"{time.perf_counter() - t0:.1f} s -> {out}")


def cmd_sample(args) -> None:
    import torch

    from lineage.audio import save
    from lineage.run import Run

    run = Run.load(args.run)
    dataset = run.data()[0]
    cond = dataset.label_batch(args.n, seed=args.seed)
    for item in args.cond:
        key, _, value = item.partition("=")
        if key not in cond or key == "class":
            raise ValueError(f"--cond {item}: unknown label {key!r}; this data set has "
                             f"{[k for k in cond if k != 'class']}")
        vocab = dataset.vocab.get(key)
        if vocab:
            if value not in vocab:
                raise ValueError(f"--cond {item}: {key} must be one of {vocab}")
            cond[key] = torch.full((args.n,), vocab.index(value))
        else:
            cond[key] = torch.full((args.n,), int(value))
        if key == dataset.class_label:
            cond["class"] = cond[key]  # models condition on the set's class label under this name
    t0 = time.perf_counter()
    audio = run.sample(args.n, args.seconds, seed=args.seed, cond=cond, device=args.device)
    wall = time.perf_counter() - t0
    out = Path(args.out or run.path / "samples" / "cli")
    for i, a in enumerate(audio):
        save(out / f"{i:02d}.wav", a, run.sample_rate)
        print(f"{out / f'{i:02d}.wav'}  ({dataset.caption(cond, i)})")
    print(f"{args.n} x {args.seconds} s in {wall:.1f} s (real-time factor {wall / (args.n * args.seconds):.2f})")


def cmd_eval(args) -> None:
    from lineage.eval import report
    from lineage.tables import format_speed, format_table

    if args.n < 2:
        raise ValueError(f"--n {args.n}: need at least 2 clips for the set statistics")
    result = report.evaluate(args.run, n=args.n, seconds=args.seconds, seed=args.seed, speed=args.speed,
                             device=args.device)
    print(format_table([result]))
    if result.get("speed"):
        print(format_speed(result))
    print(f"wrote {Path(args.run) / 'metrics.json'}")


def cmd_listen(args) -> None:
    from lineage import listen

    page = listen.write_page([Path(r) for r in args.runs], Path(args.output))
    print(f"wrote {page}")


def cmd_tour(args) -> None:
    from lineage import bench

    page = bench.tour(Path(args.out), args.preset, args.n, args.seconds)
    print(f"listening page: {page}")


def cmd_bench_table(args) -> None:
    from lineage import bench

    models = None if args.models == ["all"] else [m for group in args.models for m in group.split(",")]
    out = Path(args.out or f"runs/bench/{args.data}-{Path(args.preset).stem}")
    result = bench.table(args.data, models, args.preset, out, n=args.n, seconds=args.seconds,
                         overrides=[item for group in args.overrides for item in group], speed=args.speed,
                         device=args.device)
    print(result["markdown"])
    print(f"wrote {out / 'table.md'}, {out / 'table.json'}, {out / 'listening.html'}")


if __name__ == "__main__":
    sys.exit(main())
