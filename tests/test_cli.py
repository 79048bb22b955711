import re
import subprocess
import sys

from lineage.cli import main
from lineage.run import Run


def test_a_bad_value_fails_in_one_line(capsys):
    """`lineage train wavenet --preset tiny --set model.channels=banana`"""
    assert main(["train", "wavenet", "--preset", "tiny", "--set", "model.channels=banana"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model.channels" in err and "banana" in err and "integer" in err


def test_the_console_script_reports_the_same_way():
    out = subprocess.run([sys.executable, "-m", "lineage.cli", "train", "nosuchmodel"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "wavenet" in out.stderr


def test_list_and_timeline(capsys):
    assert main(["list"]) == 0
    assert re.search(r"^wavenet\s+2016\s+autoregressive", capsys.readouterr().out, re.M)
    assert main(["timeline"]) == 0
    out = capsys.readouterr().out
    assert "Stable Audio Open" in out and "SaShiMi" in out


def test_list_follows_the_lineage(capsys):
    """`lineage list` prints the zoo in timeline order - by year, then as lineage.timeline.SYSTEMS lists
    them - not alphabetically: WaveNet (2016) first, DiffWave (2021) last."""
    from lineage import registry, timeline

    assert main(["list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    names, years = [r[0] for r in rows], [int(r[1]) for r in rows]
    order = {s.zoo: (s.year, i) for i, s in enumerate(timeline.SYSTEMS) if s.zoo}
    assert sorted(names) == sorted(registry.names())
    assert names == sorted(names, key=lambda n: order[n])
    assert years == sorted(years)
    assert names[0] == "wavenet" and names != sorted(names)


def test_train_sample_listen(tmp_path, tiny_overrides, capsys):
    run = tmp_path / "run"
    assert main(["train", "wavenet", "--quiet", "--out", str(run), "--set", *tiny_overrides]) == 0
    assert main(["sample", str(run), "-n", "2", "--seconds", "0.02", "--cond", "pitch=64",
                 "--cond", "timbre=saw"]) == 0
    out = capsys.readouterr().out
    assert out.count("pitch 64, timbre saw") == 2
    assert len(list((run / "samples" / "cli").glob("*.wav"))) == 2
    assert main(["sample", str(run), "--cond", "timbre=flute"]) == 2
    page = tmp_path / "page.html"
    assert main(["listen", str(run), "-o", str(page)]) == 0
    html = page.read_text()
    assert html.count("<audio") == 1 + 4  # the run's sample + four reference clips
    assert "WaveNet (2016)" in html and "http" not in html.replace("http-equiv", "")
    assert Run(run).record["model"] == "wavenet"


def test_the_tiny_preset_trains_on_other_data_sets(tmp_path, tiny_overrides, capsys):
    """`--data notes` swaps the data set (dropping the preset's tones-only filters and onset crop);
    drums have no pitch, so the WaveNet keeps only the labels drums have; asking for pitch explicitly
    there fails in one line that names the setting to change."""
    sets = [o for o in tiny_overrides if not o.startswith("train.steps")] + ["train.steps=2"]
    assert main(["train", "wavenet", "--data", "notes", "--quiet", "--out", str(tmp_path / "n"),
                 "--set", *sets]) == 0
    record = Run(tmp_path / "n").record["config"]
    assert record["data"]["name"] == "notes" and record["data"]["select"] == {}
    assert record["data"]["sample_rate"] == 8000 and record["data"]["crop"] == "random"
    assert record["model"]["cond_keys"] == ["pitch", "class"]
    assert main(["train", "wavenet", "--data", "drums", "--quiet", "--out", str(tmp_path / "d"),
                 "--set", *sets]) == 0
    record = Run(tmp_path / "d").record["config"]
    assert record["model"]["cond_keys"] == ["class"] and record["model"]["cond_classes"] == [16]
    assert main(["train", "wavenet", "--data", "drums", "--quiet", "--out", str(tmp_path / "d2"),
                 "--set", *sets, "model.cond_keys=['pitch']", "model.cond_classes=[128]"]) == 2
    assert "model.cond_keys" in capsys.readouterr().err


def test_help_and_list_import_no_torch():
    """`lineage --help` and `lineage list` answer at once: they import neither torch nor a zoo module
    (torch alone takes seconds to import). Checked by what is imported, not by a clock."""
    code = ("import sys, contextlib, io\nfrom lineage.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['list'])\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('zoo.')]\nassert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_torch_still_flushes_denormals_when_imported_later():
    code = ("import sys\nimport lineage\nassert 'torch' not in sys.modules\nimport torch\n"
            "assert float(torch.tensor([1e-39]) * 1.0) == 0.0\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_version_help_defaults_and_wrong_invocations(capsys):
    import pytest

    from lineage import __version__
    from lineage.cli import build_parser

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"lineage {__version__}"
    parser = build_parser()
    subs = parser._subparsers._group_actions[0].choices
    for name, sub in subs.items():
        text = sub.format_help()
        assert "examples:" in text, name
        for action in sub._actions:
            if action.option_strings and action.default not in (None, False, [], "==SUPPRESS=="):
                assert "default" in (sub._get_formatter()._get_help_string(action) or ""), (name, action.dest)
            if action.option_strings and action.dest != "help":
                assert action.help, (name, action.dest)
    # the same flag for the same thing: a count is -n, a destination -o/--out
    for name, sub in subs.items():
        flags = {f for a in sub._actions for f in a.option_strings}
        assert "--output" not in flags or "-o" in flags, name
        if "--out" in flags:
            assert "-o" in flags, name
    for argv in (["train", "wavenet", "--bogus"], ["frob"], ["sample"], ["eval", "x", "-n", "many"], ["data"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and "error:" in err, (argv, err)
