"""Every benchmark script runs, at a tiny size, on the 40-clip `tones` set: none can silently stop working.

The figures of a tiny run mean nothing; what is checked is that each script runs as ``make bench*`` runs
it (a subprocess from the repository root) and writes its table with the expected rows - plus the one
claim a benchmark makes that holds at any size: WaveNet's cached path draws the naive path's samples,
and a diffusion model given its training betas as its sampling schedule samples as ``fast=False`` does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo.diffwave as diffwave
import zoo.wavegrad as wavegrad
from lineage.cli import main as lineage_main
from lineage.run import Run

ROOT = Path(__file__).resolve().parents[1]

# training knobs shared by every tiny run: two steps on the miniature set, whole pitch range, no filter
TINY_TRAIN = ["data.size=40", "data.select={}", "data.pitch_range=[0,127]", "data.segment=256",
              "train.steps=2", "train.batch_size=2", "train.checkpoint_every=2", "train.log_every=1",
              "train.sample_n=1", "train.sample_seconds=0.01", "train.threads=1"]
TINY_DIFFWAVE = ["model.channels=4", "model.layers=2", "model.dilation_cycle=2", "model.diffusion_steps=10"]
# the runs `make bench-diffusion` compares, each as (model, preset, its tiny size)
DIFFUSION_RUNS = {
    "wavenet-tiny": ("wavenet", "tiny", ["model.channels=4", "model.skip_channels=4", "model.dilation_cycle=2",
                                         "model.stacks=1", "model.cond_channels=4"]),
    "diffwave-tiny": ("diffwave", "tiny", TINY_DIFFWAVE),
    "wavegrad-tiny": ("wavegrad", "tiny", ["model.mel_bins=8", "model.mel_channels=8", "model.up_channels=[8,8,4,4]",
                                           "model.down_channels=[4,4,4,4]", "model.diffusion_steps=10"]),
    "diffwave-vocoder": ("diffwave", "vocoder", TINY_DIFFWAVE + ["model.mel_bins=8"]),
}


def run_script(script: str, *args, data_root: Path) -> None:
    """``python benchmarks/SCRIPT args`` from the repository root, on one thread and the miniature data."""
    env = {**os.environ, "LINEAGE_DATA": str(data_root), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([sys.executable, f"benchmarks/{script}", *map(str, args)], cwd=ROOT, env=env, check=True)


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the first markdown table in ``markdown``, as lists of cells."""
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]


def test_wavenet_generation_reports_identical_paths(tmp_path, data_root):
    out = tmp_path / "wavenet.json"
    run_script("wavenet_generation.py", "--channels", 4, "--skip", 4, "--cycle", 3, "--seconds", 0.005,
               "--repeats", 1, "--threads", 1, "--out", out, data_root=data_root)
    result = json.loads(out.read_text())
    assert result["same_samples"] is True
    assert result["model"]["layers"] == 3 and result["model"]["receptive_field"] == 8  # 1 + (1 + 2 + 4)
    for path in ("naive", "cached"):
        assert result[path]["wall_s"] > 0 and result[path]["rtf"] > 0
    assert result["speedup"] > 0 and result["machine"]["torch_threads"] == 1


@pytest.fixture(scope="module")
def diffusion_runs(data_root, tmp_path_factory):
    """The four runs of `make bench-diffusion`, trained by `lineage train` for two steps at a tiny size."""
    folder = tmp_path_factory.mktemp("diffusion-runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LINEAGE_DATA", str(data_root))
        for name, (model, preset, size) in DIFFUSION_RUNS.items():
            assert lineage_main(["train", model, "--preset", preset, "--out", str(folder / name), "--quiet",
                                 "--set", *size, *TINY_TRAIN]) == 0
    return [folder / name for name in DIFFUSION_RUNS]


def test_diffusion_speed_tabulates_every_run_and_schedule(diffusion_runs, tmp_path, data_root):
    out = tmp_path / "diffusion-speed.md"
    run_script("diffusion_speed.py", *diffusion_runs, "--n", 2, "--seconds", 0.25, "--repeats", 1, "--out", out,
               data_root=data_root)
    rows = table_rows(out.read_text())
    assert [row[:2] for row in rows] == [
        ["WaveNet (wavenet-tiny)", "one network pass per sample"],
        ["DiffWave (diffwave-tiny)", "10 steps (training schedule)"],
        ["DiffWave (diffwave-tiny)", "6 steps (fast schedule)"],
        ["WaveGrad (wavegrad-tiny)", "10 steps (training schedule)"],
        ["WaveGrad (wavegrad-tiny)", "6 steps (fast schedule)"],
        ["baseline: mean-spectrum noise (wavegrad-tiny)", "-"],
        ["DiffWave (diffwave-vocoder)", "10 steps (training schedule)"],
        ["DiffWave (diffwave-vocoder)", "6 steps (fast schedule)"],
        ["baseline: mean-spectrum noise (diffwave-vocoder)", "-"],
    ]
    for model, _, rtf, mrstft, pitch in rows:
        vocoded = "wavegrad" in model or "vocoder" in model
        assert (rtf == "-") == model.startswith("baseline")
        assert (mrstft != "-") == vocoded and (pitch != "-") == (not vocoded)
    assert "0.25 s clips; quality on 2 held-out clips" in out.read_text()


def test_the_full_schedule_is_the_training_betas_given_to_the_sampler(diffusion_runs, monkeypatch):
    """The benchmark asks for all T steps through the config (``model.fast_betas`` = the training betas),
    never through an argument outside the protocol: that must be exactly the entry's ``fast=False``."""
    spec = importlib.util.spec_from_file_location("diffusion_speed", ROOT / "benchmarks" / "diffusion_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for path, module in [(diffusion_runs[1], diffwave), (diffusion_runs[2], wavegrad)]:
        run = Run(path)
        (_, full), (_, fast) = bench.generators(run, "cpu")
        cond = {"pitch": torch.tensor([60, 64]), "class": torch.tensor([0, 1])}
        reference = module.sample(fast, 2, 0.02, seed=3, cond=cond, fast=False)
        assert torch.equal(module.sample(full, 2, 0.02, seed=3, cond=cond), reference)
        assert not torch.equal(module.sample(fast, 2, 0.02, seed=3, cond=cond), reference)


def test_gan_stability_checks_every_model_and_seed(tmp_path, data_root):
    out = tmp_path / "gan-stability.md"
    run_script("gan_stability.py", "--models", "wavegan", "gansynth", "--seeds", 0, "--data", "tones", "--n", 4,
               "--judge-steps", 5, "--threads", 1, "--runs", tmp_path / "runs", "--out", out,
               "--set", *[o for o in TINY_TRAIN if not o.startswith("data.")], "data.size=40",
               data_root=data_root)
    rows = table_rows(out.read_text())
    assert [row[:4] for row in rows] == [["wavegan", "0", "2", "no"], ["gansynth", "0", "2", "no"]]
    assert rows[0][10] == "-" and rows[1][10] != "-"  # pitch accuracy: of the pitch-conditioned GANSynth only
    records = json.loads(out.with_suffix(".json").read_text())
    for record in records:
        assert {"rms_ratio", "classes_heard", "is", "fid", "W", "gp", "train_s"} <= set(record)
        assert record["classes"] == 5  # the judge of `tones` hears its five timbres
    assert (tmp_path / "runs" / "gansynth-seed0" / "config.json").is_file()


def test_upstream_speed_names_a_path_that_is_not_a_checkout(tmp_path):
    """The upstream comparison needs checkouts of the original code, which this project never keeps: a
    wrong path is refused in one line naming the flag (the comparison itself runs by hand)."""
    done = subprocess.run([sys.executable, "benchmarks/upstream_speed.py", "--diffwave", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("--diffwave ") and "checkout" in lines[0], lines


def test_reliability_kills_a_run_mid_checkpoint_and_it_resumes_bit_for_bit(tmp_path, data_root):
    """Two of the benchmark's kill points: between a checkpoint's rename and the `latest` pointer's
    (the 5th atomic rename), and inside a checkpoint's second safetensors file."""
    out = tmp_path / "reliability.md"
    run_script("reliability.py", "--sections", "kill", "--at", "replace:5", "save_file:2",
               "--work", tmp_path / "runs", "--out", out, data_root=data_root)
    kills = json.loads(out.with_suffix(".json").read_text())["kill_resume"]
    assert kills["kills"] == 2 and kills["identical"] == 2
    assert kills["partial_latest"] == 0 and kills["missing_samples"] == 0
    assert "2 resumed to the uninterrupted run's losses and weights, bit for bit" in out.read_text()


def test_codec_bitrate_has_a_row_per_codebook_between_its_two_bounds(tmp_path, data_root):
    run = tmp_path / "codec"
    assert lineage_main(["train", "codec", "--quiet", "--out", str(run), "--data", "tones", "--set", *TINY_TRAIN,
                         "model.channels=4", "model.dim=4", "model.n_codebooks=3", "model.codebook_size=8"]) == 0
    run_script("codec_bitrate.py", run, "-n", "4", "--out", tmp_path, data_root=data_root)
    r = json.loads((tmp_path / "codec-bitrate.json").read_text())
    assert [row["codebooks"] for row in r["rows"]] == [1, 2, 3]
    rates = [row["bitrate_bps"] for row in r["rows"]]
    assert rates == sorted(rates) and rates[0] == r["frame_rate"] * 3  # log2 8 = 3 bits per code
    rows = table_rows((tmp_path / "codec-bitrate.md").read_text())
    assert [row[0] for row in rows] == ["1", "2", "3", "unquantised latent", "mean-spectrum noise"]


def test_codec_lm_patterns_compares_the_two_layouts_on_the_same_budget(tmp_path, data_root):
    """Both layouts trained on a few drums for two steps: one row each, MusicGen's step counts (200 a
    second flattened, 53 delayed, for 4 codebooks at 50 Hz), finite likelihoods and accuracies."""
    run_script("codec_lm_patterns.py", "--steps", 2, "-n", 4, "--runs", tmp_path / "runs", "--out", tmp_path,
               "--set", "data.size=36", "model.dim=16", "model.layers=1", "model.heads=2", "train.batch_size=2",
               "train.sample_n=1", "train.sample_seconds=0.05", data_root=data_root)
    r = json.loads((tmp_path / "codec-lm-patterns.json").read_text())
    rows = {row["pattern"]: row for row in r["rows"]}
    assert set(rows) == {"flatten", "delay"} and r["steps"] == 2
    assert rows["flatten"]["steps_per_second_of_audio"] == 200 and rows["delay"]["steps_per_second_of_audio"] == 53
    assert all(0 < row["bits_per_token"] < 12 and 0 <= row["class_accuracy"] <= 1 for row in rows.values())
    assert [row[0] for row in table_rows((tmp_path / "codec-lm-patterns.md").read_text())] == ["flatten", "delay"]


def test_codec_lm_music_trains_a_codec_then_a_language_model_on_its_tokens(tmp_path, data_root):
    """Both chorales presets for a few steps on a few chorales: the language model is built on the codec
    trained first; the codec row sits beside the drum codec's and shaped noise; the ensemble judge's chance
    is one in seven."""
    run_script("codec_lm_music.py", "--runs", tmp_path / "runs", "--out", tmp_path, "-n", 7,
               "--codec-set", "train.steps=3", "data.size=28", "train.sample_n=1",
               "--set", "train.steps=3", "data.size=28", "model.dim=16", "model.layers=1", "model.heads=2",
               "train.sample_n=1", data_root=data_root)
    r = json.loads((tmp_path / "codec-lm-music.json").read_text())
    assert r["codec_steps"] == 3 and r["lm_steps"] == 3 and r["judge_label"] == "ensemble"
    assert abs(r["chance"] - 1 / 7) < 1e-9 and set(r["class_accuracy"]) == {"0", "3.0"}
    assert json.loads((tmp_path / "runs" / "lm" / "config.json").read_text())["config"]["model"]["codec"] \
        == str(tmp_path / "runs" / "codec")
    assert set(r["codec_mrstft"]) == {"music", "drums", "noise"} and 0 < r["bits_per_token"] < 12
    rows = table_rows((tmp_path / "codec-lm-music.md").read_text())  # the codec's table, then the model's
    assert [row[0] for row in rows[:3]] == ["trained on chorales, 4 codebooks", "the shipped drum codec, 4 codebooks",
                                            "noise shaped to the mean spectrum"]


def test_clap_retrieval_measures_a_judge_per_set_against_chance(tmp_path):
    """A CLAP of a few steps on the shared `drums`: one row, with its retrieval beside the chance values
    of 62 held-out captions, and zero-shot over the 12 drums from their prompts."""
    from conftest import shared_build

    run_script("clap_retrieval.py", "--sets", "drums", "--steps", 20, "--out", tmp_path,
               data_root=shared_build("drums").parent)
    (row,) = json.loads((tmp_path / "clap-retrieval.json").read_text())["rows"]
    r, z = row["retrieval"], row["zero_shot"]
    assert row["steps"] == 20 and r["audio_to_text_r1_chance"] == 1 / r["captions"]
    assert z["classes"] == 12 and z["label"] == "drum" and abs(z["chance"] - 1 / 12) < 1e-12
    assert all(0 <= r[k] <= 1 for k in ("audio_to_text_r1", "text_to_audio_r5"))
    assert [cells[0] for cells in table_rows((tmp_path / "clap-retrieval.md").read_text())] == ["drums"]


def test_latent_vs_codec_sets_the_shipped_vae_beside_each_number_of_codebooks(tmp_path):
    """The two entries' shipped weights on a few held-out drums: a VAE row at 400 numbers a second, then
    the codec at 1, 2, 4, 8 codebooks with 6 bits per code; the VAE rebuilds the drums closer than the
    codec's first codebook alone (what its measured table says, checked on 16 clips)."""
    from conftest import shared_build

    run_script("latent_vs_codec.py", "-n", 16, "--out", tmp_path, data_root=shared_build("drums").parent)
    r = json.loads((tmp_path / "latent-vs-codec.json").read_text())
    vae, *codec = r["rows"]
    assert vae["what"] == "VAE" and vae["numbers_per_second"] == 400 and r["clips"] == 16
    assert [row["codebooks"] for row in codec] == [1, 2, 4, 8]
    assert [row["bits_per_second"] for row in codec] == [50 * k * 6 for k in (1, 2, 4, 8)]
    assert all(0 <= row["class_accuracy"] <= 1 for row in r["rows"]) and r["real_class_accuracy"] > 0.8
    assert vae["mrstft"] < codec[0]["mrstft"]
    assert len(table_rows((tmp_path / "latent-vs-codec.md").read_text())) == 5


def test_serve_load_measures_a_real_server_under_a_bounded_loop(tmp_path, data_root):
    """Two clients against a loopback server of WaveGAN's shipped weights for a few seconds: every request
    served or refused, throughput and ordered latency percentiles in the table."""
    run_script("serve_load.py", "--models", "wavegan", "--clients", 2, "--seconds", 0.25, "--duration", 3,
               "--out", tmp_path, data_root=data_root)
    r = json.loads((tmp_path / "serve-load.json").read_text())
    row = r["rows"][0]
    assert row["model"] == "wavegan" and row["served"] >= 2 and row["per_minute"] > 0
    assert 0 < row["p50"] <= row["p90"] <= row["p99"] and row["wall_seconds"] >= 3
    assert len(table_rows((tmp_path / "serve-load.md").read_text())) == 1


def _benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_judged_puts_entries_of_one_data_configuration_in_one_table(tmp_path):
    # tables only: the committed metrics.json of the shipped weights, tabulated as `--tables-only` does
    assert _benchmark("shipped_judged").main(["--tables-only", "--out", str(tmp_path)]) == 0
    groups = json.loads((tmp_path / "shipped-judged.json").read_text())
    models = {r["model"]: i for i, g in enumerate(groups) for r in g["results"]}
    assert set(models) >= {"wavenet", "samplernn", "diffwave", "sashimi", "nsynth"}
    # trained on the same clips (however training cut them), judged by one judge: one table
    assert models["wavenet"] == models["diffwave"] == models["samplernn"] == models["nsynth"]
    md = (tmp_path / "shipped-judged.md").read_text()
    assert md.index("WaveNet (2016)") < md.index("SampleRNN (2017)") < md.index("DiffWave (2021)")


def test_the_hiss_meter_reads_white_noise_back_at_its_level():
    hiss = _benchmark("diffusion_hiss")
    from lineage.eval.degrade import noise_floor

    t = torch.arange(8000) / 8000
    notes = torch.stack([0.5 * torch.sin(2 * torch.pi * f * t) for f in (220.0, 330.0, 440.0, 550.0)])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    calibration = [(L, hiss.noise_floor_db(noise_floor(notes, L, g()).numpy())) for L in hiss.LEVELS]
    floors = [f for _, f in calibration]
    assert all(a < b for a, b in zip(floors, floors[1:]))  # louder noise, higher floor
    assert floors[-1] - floors[0] > 40  # 60 dB of noise level read as far more than a wobble
    assert hiss.equivalent_dbfs(hiss.noise_floor_db(notes.numpy()), calibration) is None  # clean: below -80
    other = noise_floor(notes, -50, torch.Generator().manual_seed(1)).numpy()  # another draw, between two levels
    assert abs(hiss.equivalent_dbfs(hiss.noise_floor_db(other), calibration) - -50) < 4


def test_nuwave_upsampling_sets_the_shipped_weights_beside_the_resamplers(tmp_path):
    """NU-Wave's shipped weights on four held-out digits: the three resamplers, the shipped network and an
    untrained one in one table; the resamplers leave the missing band empty, so they all trail the
    shipped network in it (what the measured table says, here on four clips)."""
    from conftest import shared_build

    run_script("nuwave_upsampling.py", "-n", 4, "--no-tiny", "--out", tmp_path, data_root=shared_build("digits").parent)
    r = json.loads((tmp_path / "nuwave-upsampling.json").read_text())
    rows = r["rows"]
    assert r["n"] == 4 and r["low_rate"] == r["sample_rate"] // 2
    assert list(rows) == ["linear", "sinc", "soxr", "NU-Wave, shipped", "NU-Wave, untrained"]
    for name in ("linear", "sinc", "soxr"):
        assert rows[name]["rtf"] is None and rows[name]["lsd_lf"] < rows[name]["lsd_hf"], name
        assert rows["NU-Wave, shipped"]["lsd_hf"] < rows[name]["lsd_hf"], name
    assert rows["NU-Wave, shipped"]["snr"] > rows["NU-Wave, untrained"]["snr"] + 10
    assert rows["NU-Wave, shipped"]["rtf"] > 0
    assert len(table_rows((tmp_path / "nuwave-upsampling.md").read_text())) == 5
