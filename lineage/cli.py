"""The ``lineage`` command: list, timeline, data, train, sample, eval, listen, bench, tour, generate, serve, loops.

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

from lineage import generate, loops, serve
from lineage.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
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
    except Exception as err:
        train = sys.modules.get("lineage.train")  # a diverged run comes from there (imported only to train)
        if train is None or not isinstance(err, train.TrainingDiverged) or os.environ.get("LINEAGE_DEBUG"):
            raise
        print(f"lineage: error: {err}", file=sys.stderr)
        return 1


class _Parser(argparse.ArgumentParser):
    """Wrong invocations end like every other user error: one line, naming what to fix, status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _sub(sub, name: str, help: str, examples: str, func) -> argparse.ArgumentParser:
    """A subcommand whose help shows every default and ends with examples."""
    s = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                       epilog="examples:\n" + "\n".join(f"  {line}" for line in examples.strip().splitlines()),
                       formatter_class=_Formatter)
    s.set_defaults(func=func)
    return s


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written; every option's default shown, unless its help already tells it."""

    def _get_help_string(self, action):
        help = action.help or ""
        unset = action.default is None or action.default is False or action.default == [] \
            or action.default == argparse.SUPPRESS
        if "default" in help or unset or not action.option_strings:
            return help
        return f"{help} (default: {action.default})"


def build_parser() -> argparse.ArgumentParser:
    from lineage import __version__

    p = _Parser(prog="lineage", description="The lineage of neural audio generation: train, sample, judge and "
                "hear the zoo's models.", formatter_class=_Formatter,
                epilog="examples:\n  lineage demo                      # every entry's shipped weights, heard at "
                       "once\n  lineage sample wavenet -n 4       # four notes from WaveNet's shipped weights\n"
                       "  lineage train wavenet             # train the tiny preset (a few CPU minutes)\n\n"
                       "`lineage COMMAND --help` tells more of each command.")
    p.add_argument("--version", action="version", version=f"lineage {__version__}")
    sub = p.add_subparsers(metavar="COMMAND", parser_class=_Parser)

    _sub(sub, "list", "zoo entries with year, family and presets", "lineage list", cmd_list)
    _sub(sub, "timeline", "the lineage, system by system", "lineage timeline", cmd_timeline)

    s = _sub(sub, "data", "build and inspect data sets", "lineage data list\nlineage data build tones\n"
             "lineage data info tones", None)
    dsub = s.add_subparsers(metavar="ACTION", required=True, parser_class=_Parser)
    _sub(dsub, "list", "data sets that can be built", "lineage data list", cmd_data_list)
    d = _sub(dsub, "build", "build (or finish building) a data set", "lineage data build tones\n"
             "lineage data build digits --size 500", cmd_data_build)
    d.add_argument("name", help="tones, notes, drums, digits or chorales (`lineage data list`)")
    d.add_argument("--size", type=int, default=None, help="clips to build (default: the recipe's size)")
    d.add_argument("--seed", type=int, default=0, help="seed of the build")
    d = _sub(dsub, "info", "what a built data set holds", "lineage data info tones", cmd_data_info)
    d.add_argument("name", help="a built data set")

    s = _sub(sub, "train", "train a zoo entry", "lineage train wavenet\nlineage train wavenet --preset small -o "
             "runs/wn\nlineage train wavenet -o runs/wn --resume --set train.steps=3000\n"
             "lineage train diffwave --data digits --set train.lr=5e-4 model.channels=64", cmd_train)
    s.add_argument("model", help="a zoo entry (`lineage list`)")
    s.add_argument("--preset", default="tiny", help="tiny, small, gpu (`lineage list`), or a path to a .toml file")
    s.add_argument("--data", default=None, help="another data set (same as --set data.name=...)")
    s.add_argument("-o", "--out", default=None, help="run folder (default: runs/MODEL-PRESET)")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   nargs="+", help="override config values, e.g. --set train.steps=100 model.channels=64")
    s.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    s = _sub(sub, "sample", "generate WAVs from a trained run or an entry's shipped weights",
             "lineage sample wavenet -n 4                 # shipped weights: no training\n"
             "lineage sample runs/wavenet-tiny -n 4 --seconds 1 --cond pitch=60 --cond timbre=saw\n"
             "lineage sample owner/name --device cuda      # a run folder on the Hugging Face Hub", cmd_sample)
    s.add_argument("run", help="a run folder, a zoo entry's name (its shipped weights), or a Hugging Face Hub "
                   "repository id holding a run folder")
    s.add_argument("-n", "--n", type=int, default=8, help="clips to generate")
    s.add_argument("--seconds", type=float, default=1.0, help="length of each clip")
    s.add_argument("--seed", type=int, default=0, help="seed of the noise and of the drawn labels")
    s.add_argument("--cond", action="append", default=[], metavar="LABEL=VALUE",
                   help="conditioning label, e.g. --cond pitch=60 --cond timbre=saw (default: labels of real clips)")
    s.add_argument("-o", "--out", default=None, help="folder for the WAVs (default: RUN/samples/cli, or "
                   "runs/samples/NAME for shipped weights)")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: what training would pick)")

    s = _sub(sub, "eval", "judge a run: classifier metrics, likelihood, pitch, speed -> metrics.json",
             "lineage eval runs/wavenet-tiny\nlineage eval runs/wavenet-tiny -n 64 --no-speed", cmd_eval)
    s.add_argument("run", help="a run folder")
    s.add_argument("-n", "--n", type=int, default=256, help="clips to generate (and real clips per real row)")
    s.add_argument("--seconds", type=float, default=None, help="clip length (default: the data's clip length)")
    s.add_argument("--seed", type=int, default=0, help="seed of the generated clips")
    s.add_argument("--no-speed", dest="speed", action="store_false", help="skip the RTF and training timings")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: what training would pick)")

    s = _sub(sub, "listen", "write the comparative listening page for runs",
             "lineage listen runs/wavenet-tiny runs/diffwave-tiny -o listening.html\n"
             "lineage listen runs/codec_lm-small --generated piano.wav rain.wav", cmd_listen)
    s.add_argument("runs", nargs="*", help="run folders")
    s.add_argument("--generated", nargs="+", default=[], metavar="WAV",
                   help="clips written by `lineage generate` (each with its .json), shown beside the runs")
    s.add_argument("-o", "--out", "--output", dest="out", default="listening.html", help="the page to write")

    s = _sub(sub, "bench", "benchmarks: the comparison table of the whole zoo",
             "lineage bench table --data digits --preset tiny --set data.sample_rate=8000", None)
    bsub = s.add_subparsers(metavar="ACTION", required=True, parser_class=_Parser)
    b = _sub(bsub, "table", "train (or reuse), evaluate and tabulate every model on one data set",
             "lineage bench table --data digits --preset tiny --set data.sample_rate=8000\n"
             "lineage bench table --data tones --models wavenet,diffwave -n 64", cmd_bench_table)
    b.add_argument("--data", default="digits", help="the one data set every model trains on")
    b.add_argument("--models", nargs="+", default=["all"], help="model names, or all")
    b.add_argument("--preset", default="tiny", help="the preset every model trains")
    b.add_argument("-o", "--out", default=None, help="folder for runs and results (default: runs/bench/DATA-PRESET)")
    b.add_argument("-n", "--n", type=int, default=256, help="clips per evaluation")
    b.add_argument("--seconds", type=float, default=None, help="clip length (default: the data's clip length)")
    b.add_argument("--no-speed", dest="speed", action="store_false", help="skip the RTF and training timings")
    b.add_argument("--device", default=None, help="where models are evaluated (default: what training would pick)")
    b.add_argument("--set", dest="overrides", action="append", default=[], nargs="+",
                   metavar="SECTION.KEY=VALUE", help="overrides applied to every model's config; "
                   "MODEL:SECTION.KEY=VALUE to one model's only")

    generate.add_command(sub, _sub)
    serve.add_command(sub, _sub)
    loops.add_command(sub, _sub)

    s = _sub(sub, "demo", "hear every entry's shipped weights on one page, no training (a few minutes)",
             "lineage demo\nlineage demo -o runs/demo -n 2 --seconds 0.5", cmd_demo)
    s.add_argument("-o", "--out", default="runs/demo", help="folder for the WAVs and listening.html")
    s.add_argument("-n", "--n", type=int, default=4, help="clips per generating entry")
    s.add_argument("--seconds", type=float, default=1.0, help="length of each generated clip")

    s = _sub(sub, "tour", "train every zoo entry's tiny preset and write a listening page (about an hour on "
             "2 CPU cores)", "lineage tour\nlineage tour -o runs/tour --preset tiny", cmd_tour)
    s.add_argument("-o", "--out", default="runs/tour", help="folder for the runs and listening.html")
    s.add_argument("--preset", default="tiny", help="the preset every entry trains")
    s.add_argument("-n", "--n", type=int, default=6, help="clips per entry")
    s.add_argument("--seconds", type=float, default=0.5, help="length of each clip")
    return p


def cmd_list(args) -> None:
    """The zoo's entries in the order of the lineage: by year, then as `lineage.timeline.SYSTEMS` lists
    them; an entry whose system the timeline does not know (one of your own) comes last. Read from the
    entries' files, nothing imported: it answers at once."""
    from lineage import registry, timeline

    order = {s.name: (s.year, i) for i, s in enumerate(timeline.SYSTEMS)}
    listed = [registry.listing(name) for name in registry.names()]
    for entry in sorted(listed, key=lambda e: (order.get(e.system, (float("inf"), 0)), e.name)):
        s = timeline.SYSTEMS[order[entry.system][1]] if entry.system in order else None
        year, family, name, what = ((s.year, s.family, s.name, s.introduced) if s else
                                    ("?", "-", entry.system, "not in lineage.timeline"))
        shipped = "; shipped weights: small" if entry.shipped else ""
        print(f"{entry.name:<12} {year:<4}  {family:<18} {name}: {what}  (presets: {', '.join(entry.presets())}"
              f"{shipped})")


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
    if entry.capability("train") is not None:  # an entry with its own loop (JAX): same run folder, same end
        from lineage.train import train

        print(f"{args.model}: trained by its own loop ({entry.system}), {cfg.train.steps} steps -> {out}")
        last = train(args.model, cfg, out, resume=args.resume, progress=not args.quiet)
        print(f"done: step {last.get('step', cfg.train.steps)}, {losses_text(last)}, "
              f"{time.perf_counter() - t0:.1f} s -> {out}")
        return
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
    from lineage.audio import save
    from lineage.backend import conditioning
    from lineage.run import Run

    run = Run.load(args.run)
    dataset = run.labels()  # the training split, or the labels shipped weights keep
    try:
        cond = conditioning(dataset, args.n, args.seed, dict(item.partition("=")[::2] for item in args.cond))
    except ValueError as err:
        raise ValueError(f"--cond {err}") from None
    t0 = time.perf_counter()
    audio = run.sample(args.n, args.seconds, seed=args.seed, cond=cond, device=args.device)
    wall = time.perf_counter() - t0
    shipped = (run.path / "provenance.json").is_file()  # weights kept beside the code: write elsewhere
    out = Path(args.out or (Path("runs/samples") / run.entry.name if shipped else run.path / "samples" / "cli"))
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

    if not args.runs and not args.generated:
        raise ValueError("listen: give run folders, --generated WAVs, or both")
    page = listen.write_page([Path(r) for r in args.runs], Path(args.out), generated=args.generated)
    print(f"wrote {page}")


def cmd_demo(args) -> None:
    from lineage.demo import demo

    demo(Path(args.out), n=args.n, seconds=args.seconds)


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
