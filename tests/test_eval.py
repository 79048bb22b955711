"""The judge (evaluation classifier), `lineage eval` and the comparison table on a miniature data set."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lineage import config as cfgmod
from lineage import data
from lineage.cli import main
from lineage.eval import metrics
from lineage.registry import Entry
from lineage.run import Run
from lineage.eval.classifier import FLOOR, get_judge

# the miniature: 150 `tones` clips (five timbres) at 8 kHz, half a second each
ROOT = Path(__file__).resolve().parents[1]
DATA = {"name": "tones", "size": 150, "sample_rate": 8000, "seconds": 0.5}
SET_DATA = ["data.size=150", "data.sample_rate=8000", "data.seconds=0.5", "data.select={}",
            "data.pitch_range=[0, 127]"]


@pytest.fixture(scope="module")
def eval_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-data")
    data.build("tones", size=150, seed=0, root=root)
    return root


@pytest.fixture
def judge(eval_root, monkeypatch):
    monkeypatch.setenv("LINEAGE_DATA", str(eval_root))
    return get_judge(cfgmod.DataConfig(**DATA))


def test_judge_is_strong_enough_and_real_data_scores_near_the_number_of_classes(judge, eval_root):
    assert judge.classes == ["sine", "saw", "square", "bell", "pluck"]
    assert judge.test_accuracy >= FLOOR and judge.reliable
    clips = data.load(cfgmod.DataConfig(**DATA))
    probs, feats = judge.model.classify(clips.audio)
    assert metrics.inception_score(probs) > 0.8 * len(judge.classes)  # balanced, confidently classified
    repeated = np.tile(clips.audio[:1], (64, 1))  # one clip, 64 times: no diversity at all
    assert metrics.inception_score(judge.model.classify(repeated)[0]) == pytest.approx(1.0, abs=1e-3)
    # FID in the judge's feature space: half the set vs the other half is far closer than noise vs set
    noise = np.random.default_rng(0).normal(0, 0.3, clips.audio.shape).astype(np.float32)
    assert metrics.fid(feats[::2], feats[1::2]) < 0.2 * metrics.fid(judge.model.classify(noise)[1], feats)


def test_judge_is_cached_and_reloaded_identically(judge, eval_root):
    again = get_judge(cfgmod.DataConfig(**DATA))
    assert again is not judge and again.info == judge.info
    x = data.load(cfgmod.DataConfig(**DATA)).audio[:8]
    np.testing.assert_allclose(again.model.classify(x)[0], judge.model.classify(x)[0], atol=1e-6)


def test_lineage_eval_writes_metrics_with_the_real_data_rows(judge, eval_root, tiny_overrides, tmp_path,
                                                             capsys):
    run = tmp_path / "run"
    assert main(["train", "wavenet", "--out", str(run), "--quiet", "--set", *tiny_overrides, *SET_DATA]) == 0
    assert main(["eval", str(run), "--n", "16", "--no-speed"]) == 0
    out = capsys.readouterr().out
    assert "real (train)" in out and "real (test)" in out and "WaveNet (2016)" in out
    m = json.loads((run / "metrics.json").read_text())
    assert set(m["rows"]) == {"real (train)", "real (test)", "wavenet"}
    assert m["classifier"]["test_accuracy"] == pytest.approx(judge.test_accuracy, abs=1e-6)
    real, model = m["rows"]["real (train)"], m["rows"]["wavenet"]
    assert real["class_accuracy"] >= FLOOR and real["pitch_accuracy"] >= 0.5
    # six steps of training: the samples are noise, and the metrics say so
    assert model["fid"] > 5 * real["fid"] and model["is"] < real["is"]
    assert 5 < model["nll_bits"] <= 8.5  # barely better than uniform over 256 classes (8 bits)


def test_lineage_eval_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lineage: error:") and err.count("\n") == 1


def test_bench_table_tabulates_every_registered_model_and_reuses_its_work(judge, eval_root, tiny_overrides,
                                                                          tmp_path):
    from lineage import registry

    out = tmp_path / "bench"
    # `--set` applies to every model, so only data and train keys here: each model keeps its tiny preset
    shared = [o for o in tiny_overrides if not o.startswith("model.")]
    args = ["bench", "table", "--data", "tones", "--out", str(out), "--n", "16", "--no-speed",
            "--set", *shared, *SET_DATA, f"codec_lm:model.codec={out / 'runs' / 'codec'}",  # this table's codec
            "codec_lm:data.segment=0"]  # whole clips: the shared 256-sample crop is under one codec frame
    assert main(args) == 0
    table = json.loads((out / "table.json").read_text())
    assert sorted(r["model"] for r in table["results"]) == registry.names()
    years = [r["year"] for r in table["results"]]
    assert years == sorted(years)  # rows in the order of the lineage
    md = (out / "table.md").read_text()
    assert "| real (train) |" in md and "| real (test) |" in md and "WaveNet (2016)" in md
    assert len(list((out / "clips" / "real").glob("*.wav"))) == 4
    assert all(len(list((out / "clips" / m).glob("*.wav"))) == 4 for m in registry.names())
    assert "audio controls" in (out / "listening.html").read_text()
    # a second call trains and evaluates nothing: the runs are finished and their metrics current
    assert main(args) == 0
    again = json.loads((out / "table.json").read_text())
    assert all("eval_s" not in w for w in again["wall"].values())
    assert again["results"] == table["results"]


# -- the reconstruction protocol (autoencoders) ----------------------------------------------------------

def _tone_set(pitches, seconds=0.25, sr=8000, seed=0):
    """Sawtooth-ish notes (three partials) at MIDI ``pitches``, random amplitudes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 440.0 * 2 ** ((np.asarray(pitches)[:, None] - 69) / 12)
    audio = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3)) * rng.uniform(0.2, 0.5, (len(pitches), 1))
    return data.ClipSet("mini", sr, audio.astype(np.float32), {"pitch": np.asarray(pitches)}, {}, None)


class _Run(Run):
    """A run folder holding given train and held-out clips, whose entry's `reconstruct` is a given function
    of the batch (nothing trained)."""

    def __init__(self, path, train, test, fn):
        super().__init__(path)
        self._split = (train, test)
        self.__dict__["entry"] = Entry("stand-in", SimpleNamespace(reconstruct=lambda model, batch, seed=0: fn(batch)))
        self.__dict__["record"] = {"config": {"data": {"sample_rate": train.sample_rate}}}


def test_mean_spectrum_noise_has_the_sets_average_spectrum():
    from lineage.eval.report import mean_spectrum_noise

    clips = _tone_set([69] * 8).audio  # every clip: 440, 880, 1320 Hz
    noise = mean_spectrum_noise(clips, 4, clips.shape[1], seed=0)
    assert noise.shape == (4, clips.shape[1])
    spec = np.abs(np.fft.rfft(noise, axis=1)).mean(0)
    hz = np.fft.rfftfreq(clips.shape[1], 1 / 8000)
    at = lambda f: spec[np.abs(hz - f) < 20].mean()  # noqa: E731
    assert at(440) > 20 * at(3000) and at(880) > 20 * at(3000)  # energy where the set's partials are
    assert not np.allclose(noise[0], noise[1])  # random phase: different clips, same spectrum


def test_reconstruction_rows_rank_a_perfect_copy_above_both_baselines_and_silence_below(tmp_path):
    from lineage.eval.report import reconstruction_rows

    train, test = _tone_set([60, 62, 64, 65, 67] * 4, seed=1), _tone_set([60, 64, 67, 62], seed=2)
    length = train.audio.shape[1]
    perfect = reconstruction_rows(_Run(tmp_path / "a", train, test, lambda b: b["audio"]), None, 4, length, 0, "cpu")
    assert perfect["reconstruction"]["mrstft"] < 1e-4 and perfect["reconstruction"]["lsd"] < 1e-3
    other = perfect["baseline: same pitch, other note"]["mrstft"]
    noise = perfect["baseline: mean-spectrum noise"]["mrstft"]
    assert 0.05 < other < noise  # right pitch and timbre, wrong loudness; noise is further still
    quiet = reconstruction_rows(_Run(tmp_path / "b", train, test, lambda b: 1e-4 * b["audio"]), None, 4, length, 0, "cpu")
    assert quiet["reconstruction"]["mrstft"] > other  # a scaled-down copy is not a reconstruction
    assert len(list((tmp_path / "a" / "samples" / "recon").glob("*.wav"))) == 8  # originals and reconstructions, in pairs


def test_a_judge_with_one_class_is_never_reliable():
    from lineage.eval.classifier import Judge

    assert Judge(None, "instrument", ["violin", "flute"], 0.9, {}).reliable
    assert not Judge(None, "instrument", ["violin", "flute"], 0.7, {}).reliable  # below the floor
    assert not Judge(None, "instrument", ["violin"], 1.0, {}).reliable  # nothing to tell apart


def test_bench_table_refuses_to_judge_models_at_different_sample_rates(tmp_path):
    from lineage.bench import table

    # the tiny presets: WaveNet at 8 kHz, DDSP at 16 kHz - refused before anything trains
    with pytest.raises(ValueError, match="sample rates differ.*--set data.sample_rate=N"):
        table("tones", ["wavenet", "ddsp"], "tiny", tmp_path)
    assert not (tmp_path / "runs").exists()


def test_a_bench_row_added_later_joins_the_table_in_lineage_order(tmp_path):
    """`make bench-add`: a run over one model merges into the whole-zoo table - its row replaces the old
    one of that model, in the lineage's order, its clips are copied, and the table says it was added."""
    import copy
    import shutil

    from lineage import bench

    committed = json.loads((ROOT / "benchmarks" / "results" / "digits-tiny" / "table.json").read_text())
    table, added = tmp_path / "table", tmp_path / "added"
    for folder in (table, added):
        (folder / "clips").mkdir(parents=True)
    rest = copy.deepcopy(committed)
    first = rest["results"].pop(0)  # the table without its first row, which comes back "later"
    (table / "table.json").write_text(json.dumps(rest))
    again = copy.deepcopy(first)
    again["rows"][again["model"]]["fid"] = 123.0
    (added / "table.json").write_text(json.dumps({**committed, "results": [again], "wall": {}}))
    shutil.copytree(ROOT / "benchmarks" / "results" / "digits-tiny" / "clips" / first["model"],
                    added / "clips" / first["model"])
    merged = bench.add_rows(table, added, "today")
    assert [r["model"] for r in merged["results"]] == [r["model"] for r in committed["results"]]
    text = (table / "table.md").read_text()
    assert "| 123.00 |" in text and f"{first['model']} (today, on " in text
    assert len(list((table / "clips" / first["model"]).glob("*.wav"))) == 4
    (added / "table.json").write_text(json.dumps({**committed, "n": 7, "results": [again]}))
    with pytest.raises(ValueError, match="n=7 cannot join"):
        bench.add_rows(table, added, "today")


def test_a_model_prefixed_override_reaches_that_model_only():
    from lineage.bench import own_overrides

    items = ["data.size=40", "codec_lm:model.codec=/runs/b:c", "data.path=C:/x", "wavenet:model.channels=8"]
    assert own_overrides("codec_lm", items) == ["data.size=40", "model.codec=/runs/b:c", "data.path=C:/x"]
    assert own_overrides("wavenet", items) == ["data.size=40", "data.path=C:/x", "model.channels=8"]
    assert own_overrides("ddsp", items) == ["data.size=40", "data.path=C:/x"]
