"""Nothing lost, nothing trusted: corrupted checkpoints are skipped for the newest one that verifies, the
NaN guard's advice can be followed, a diverging loss is reported, a failed start does not block the next
one, a finished run always has its final samples, and a failed checkpoint write leaves the last one whole.
Each test here failed before the behaviour it checks was built."""

import json
import warnings

import pytest
import torch

from lineage import registry
from lineage.config import ConfigError, make_config
from lineage.protocol import Step
from lineage.checkpoint import verify as verify_checkpoint
from lineage.run import Run
from lineage.train import Trainer, TrainingDiverged


def trainer(out, overrides, resume=False):
    entry = registry.load("wavenet")
    return Trainer("wavenet", make_config(entry.Config, None, overrides), out, resume=resume, progress=False)


def losses(run):
    return {r["step"]: r["loss"] for r in Run(run).log}


@pytest.fixture
def three_checkpoints(tmp_path, tiny_overrides):
    """A finished 6-step run with checkpoints at steps 2, 4 and 6, and the same run's losses."""
    sets = tiny_overrides + ["train.keep_checkpoints=3", "train.ema=0.5"]
    trainer(tmp_path / "run", sets).fit()
    return tmp_path / "run", sets


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the last tensor, past the header: the file still loads
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, reason", [
    (lambda c: flip_a_byte(c / "model.safetensors"), "model.safetensors does not match its checksum"),
    (lambda c: (c / "ema.safetensors").unlink(), "ema.safetensors missing"),
    (lambda c: (c / "state.json").write_text((c / "state.json").read_text().replace('"step": 6', '"step": 8')),
     "state.json says step 8"),
    (lambda c: c.rename(c.with_name("step_0000008")), "missing"),
])
def test_a_damaged_latest_checkpoint_is_skipped_for_the_newest_that_verifies(three_checkpoints, damage, reason):
    run, sets = three_checkpoints
    reference = losses(run)
    damage(run / "checkpoints" / "step_0000006")
    with pytest.warns(UserWarning, match=f"skipped checkpoint step_000000[68] .*{reason}.*using step_0000004"):
        assert Run(run).latest.name == "step_0000004"
    with pytest.warns(UserWarning):
        trainer(run, sets, resume=True).fit()  # steps 5 and 6 again, exactly as before
    assert losses(run) == reference
    assert Run(run).latest.name == "step_0000006" and verify_checkpoint(Run(run).latest) is None


def test_a_state_json_edited_in_any_other_way_fails_its_digest(three_checkpoints):
    run, _ = three_checkpoints
    state = run / "checkpoints" / "step_0000006" / "state.json"
    text = state.read_text()
    assert '{"value": 0.001}' in text  # the learning rate, in the optimizer's saved param group
    state.write_text(text.replace('{"value": 0.001}', '{"value": 0.5}', 1))
    assert verify_checkpoint(state.parent) == "state.json was changed after it was written"


def test_when_no_checkpoint_verifies_resume_says_so_in_one_line(three_checkpoints):
    run, sets = three_checkpoints
    for ckpt in Run(run).checkpoints:
        flip_a_byte(ckpt / "state.safetensors")
    with pytest.warns(UserWarning, match="no usable checkpoint"), \
            pytest.raises(FileNotFoundError, match="no usable checkpoint"):
        trainer(run, sets, resume=True)


def test_the_nan_guards_advice_can_be_followed(tmp_path, tiny_overrides):
    """The guard says: resume with a lower train.lr or a train.grad_clip. Both are accepted on --resume,
    and the lower learning rate is the one the optimizer then uses (not the checkpoint's)."""
    t = trainer(tmp_path, tiny_overrides)
    (part,) = t.parts
    t.parts = [Step(part.name, part.params, part.repeats,
                    lambda model, batch: (part.loss(model, batch)[0] * (float("nan") if t.step == 4 else 1), {}))]
    with pytest.raises(TrainingDiverged, match="lowering train.lr or setting train.grad_clip"):
        t.fit()
    resumed = trainer(tmp_path, tiny_overrides + ["train.lr=1e-4", "train.grad_clip=0.5"], resume=True)
    assert resumed.step == 4
    assert [g["lr"] for opt in resumed.optimizers.values() for g in opt.param_groups] == [1e-4]
    resumed.fit()
    assert Run(tmp_path).config.train.lr == 1e-4 and Run(tmp_path).latest.name == "step_0000006"
    with pytest.raises(ValueError, match="config.model.channels.*only train.steps, train.lr"):
        trainer(tmp_path, tiny_overrides + ["model.channels=4"], resume=True)


def test_a_diverging_loss_is_reported_and_a_healthy_one_is_not(tmp_path, tiny_overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the healthy run
        trainer(tmp_path / "healthy", tiny_overrides).fit()
    t = trainer(tmp_path / "exploding", tiny_overrides)
    (part,) = t.parts
    t.parts = [Step(part.name, part.params, part.repeats,
                    lambda model, batch: (part.loss(model, batch)[0] * (1e7 if t.step >= 3 else 1), {}))]
    with pytest.warns(UserWarning, match=r"loss is diverging - .* at step 4, over 100 times its best"):
        t.fit()


def test_a_failed_start_does_not_block_the_next_run(tmp_path, tiny_overrides, monkeypatch):
    """The run folder gets its config.json first; if the start then fails (here the data cannot be read),
    neither a fresh start nor --resume may be refused for the folder it left."""
    def broken(self):
        raise FileNotFoundError("no data")

    with monkeypatch.context() as m:
        m.setattr(Run, "data", broken)
        with pytest.raises(FileNotFoundError):
            trainer(tmp_path / "a", tiny_overrides)
    assert (tmp_path / "a" / "config.json").is_file()
    with pytest.warns(UserWarning, match="wrote no checkpoint; starting it afresh"):
        trainer(tmp_path / "a", tiny_overrides).fit()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text(json.dumps(Run(tmp_path / "a").record))
    (tmp_path / "b" / "log.jsonl").write_text('{"step": 1, "loss": 9.0}\n')  # a kill before the first checkpoint
    with pytest.warns(UserWarning, match="starting it afresh"):
        trainer(tmp_path / "b", tiny_overrides, resume=True).fit()
    assert losses(tmp_path / "b") == losses(tmp_path / "a")


def test_a_finished_run_always_has_its_final_samples(three_checkpoints):
    """A kill while the final samples are written leaves the last checkpoint at the last step: resuming
    writes the samples instead of calling the run done without them."""
    run, sets = three_checkpoints
    final = run / "samples" / "step_0000006"
    (final / "captions.json").unlink()  # the captions are written last
    trainer(run, sets, resume=True).fit()
    assert Run(run).has_samples("step_0000006") and list(final.glob("*.wav"))


def test_a_failed_checkpoint_write_leaves_the_last_one_whole(three_checkpoints, monkeypatch):
    """A full disk (injected: the weights' write fails with ENOSPC) ends in one line naming the checkpoint
    and the last good one; nothing partial is left, and the last good one still verifies."""
    import errno

    import lineage.checkpoint as run_module

    run, _ = three_checkpoints
    before = sorted(p.name for p in (run / "checkpoints").iterdir())

    def full(tensors, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_module, "save_file", full)
    with pytest.raises(OSError, match=r"step_0000008: could not write the checkpoint \(No space left on device\); "
                                      r"the last good one is step_0000006") as err:
        Run(run).write_checkpoint(8, {"w": torch.zeros(2)}, None, {}, {}, keep=3)
    assert "\n" not in str(err.value)
    # the oldest checkpoint made room before the write (keep = 3: the new one and the two newest before it)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [n for n in before if n != "step_0000002"]
    assert verify_checkpoint(Run(run).latest) is None


def test_a_really_full_disk_ends_in_one_line_and_keeps_the_last_checkpoint(tmp_path, tiny_overrides, capsys):
    """The same on a real full disk: a 4 MiB tmpfs (skipped where mounting one is not allowed), filled
    after the first checkpoint to 16 KiB short of full, so the next checkpoint cannot be written."""
    import os
    import subprocess

    from lineage.cli import main

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        sets = [o for o in tiny_overrides if not o.startswith("train.steps")]
        argv = ["train", "wavenet", "--quiet", "--out", str(disk / "run"), "--set", *sets]
        assert main([*argv, "train.steps=2"]) == 0
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * (free - 16 * 1024))
        capsys.readouterr()
        assert main([*argv, "train.steps=6", "--resume"]) != 0
        err = capsys.readouterr().err.strip()
        assert err.startswith("lineage: error:") and "\n" not in err and "No space left on device" in err, err
        assert "the last good one is step_0000002" in err
        run = Run(disk / "run")
        assert run.latest.name == "step_0000002" and verify_checkpoint(run.latest) is None
        assert not list((disk / "run" / "checkpoints").glob(".tmp*"))
        # with two checkpoints kept, the older one makes room for the next: the same full disk takes it
        (disk / "filler").unlink()
        assert main([*argv, "train.steps=4", "--resume"]) == 0, capsys.readouterr().err
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(b"\0" * (free - 16 * 1024))
        assert main([*argv, "train.steps=6", "--resume"]) == 0
        assert [c.name for c in Run(disk / "run").checkpoints] == ["step_0000004", "step_0000006"]
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)  # the weights may still be mapped


def test_a_symlink_planted_at_a_temporary_checkpoint_name_is_never_followed(tmp_path, tiny_overrides):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    for step in (2, 4, 6):
        (tmp_path / "run" / "checkpoints" / f".tmp_step_{step:07d}").symlink_to(victim)
    trainer(tmp_path / "run", tiny_overrides).fit()
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"] and (victim / "keep.txt").read_text() == "precious"
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp*"))


@pytest.mark.parametrize("item", ["train.lr=nan", "train.grad_clip=inf", "train.ema=nan", "model.temperature=-inf"])
def test_non_finite_numbers_are_refused_in_one_line(item):
    entry = registry.load("wavenet")
    key = item.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key} = .* is not valid: expected a finite number"):
        make_config(entry.Config, None, [item])


# -- audio that lies in its header or holds what audio cannot -----------------------------------------

def _wav(path, audio, sr=8000, subtype="FLOAT"):
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(audio, dtype=np.float32).T, sr, subtype=subtype)
    return path


def _declare_rate(path, rate):
    """Rewrite a WAV header's sample rate (bytes 24-27 of the fmt chunk) without touching the samples."""
    data = bytearray(path.read_bytes())
    data[24:28] = rate.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def test_broken_audio_is_refused_in_one_line_before_it_can_reach_a_batch(tmp_path, monkeypatch):
    import numpy as np

    import lineage.audio as A

    ok = 0.5 * np.sin(np.linspace(0, 200, 8000))[None]
    cases = {
        "non-finite samples": _wav(tmp_path / "nan.wav", np.where(np.arange(8000) == 100, np.nan, ok)),
        "peaks at 1e\\+06": _wav(tmp_path / "loud.wav", ok * 2e6),
        "declares 1 Hz": _declare_rate(_wav(tmp_path / "slow.wav", ok, subtype="PCM_16"), 1),
        "declares 2000000000 Hz": _declare_rate(_wav(tmp_path / "fast.wav", ok, subtype="PCM_16"), 2_000_000_000),
        "declares 65 channels": _wav(tmp_path / "wide.wav", np.repeat(ok[:, :100], 65, axis=0), subtype="PCM_16"),
    }
    for reason, path in cases.items():
        with pytest.raises(ValueError, match=f"{path.name}: .*{reason}") as err:
            A.load(path, sample_rate=16000)
        assert "\n" not in str(err.value)
    monkeypatch.setattr(A, "MAX_SECONDS", 0.5)
    with pytest.raises(ValueError, match="declares 1 s; read at most 0 s"):
        A.load(tmp_path / "nan.wav")
    assert A.load(tmp_path / "nan.wav", seconds=0.01).shape == (1, 80)  # the start of it is fine


def test_a_folder_data_set_skips_broken_files_and_hidden_folders(tmp_path):
    import numpy as np

    from lineage import data as D
    from lineage.config import DataConfig

    ok = 0.5 * np.sin(np.linspace(0, 200, 8000))[None]
    for label in ("a", "b"):
        for i in range(2):
            _wav(tmp_path / "set" / label / f"{i}.wav", ok)
    _wav(tmp_path / "set" / "a" / "nan.wav", ok * np.nan)
    _declare_rate(_wav(tmp_path / "set" / "b" / "fast.wav", ok, subtype="PCM_16"), 2_000_000_000)
    _wav(tmp_path / "set" / ".ipynb_checkpoints" / "0.wav", ok)
    _wav(tmp_path / "set" / "a" / ".hidden" / "0.wav", ok)
    with pytest.warns(UserWarning, match="skipped 2 unreadable, empty or broken file"):
        clips = D.load(DataConfig(name="folder", path=str(tmp_path / "set"), seconds=0.5))
    assert clips.vocab["label"] == ["a", "b"] and len(clips) == 4
    assert np.isfinite(clips.audio).all()


def test_the_readmes_own_folder_example_works(tmp_path):
    """`--data folder --set data.path=...`: the labels of a set read from disk are looked up only once
    data.path is known."""
    import numpy as np

    ok = 0.5 * np.sin(np.linspace(0, 200, 8000))[None]
    for label in ("a", "b"):
        for i in range(2):
            _wav(tmp_path / label / f"{i}.wav", ok)
    cfg = registry.load("wavenet").config("tiny", "folder", [f"data.path={str(tmp_path)!r}"])
    assert cfg.data.path == str(tmp_path)
    assert registry.load("wavenet").config("tiny").model.cond_keys == ["pitch", "class"]
    assert cfg.model.cond_keys == ["class"]  # a folder's clips carry no pitch; their class is the folder


# -- several processes: `accelerate launch` -----------------------------------------------------------

def test_two_processes_train_as_one_and_resume_exactly(tmp_path, tiny_overrides, data_root):
    """`accelerate launch` with two CPU processes (gloo): each process trains on its own batches and
    every update uses their averaged gradient, so the weights differ from one process's run; killed
    after its step-4 checkpoint and resumed, the pair reproduces its uninterrupted log and weights."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    launch = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
              "-m", "lineage.cli", "train", "wavenet", "--quiet"]
    env = {**os.environ, "LINEAGE_DATA": str(data_root), "OMP_NUM_THREADS": "1"}

    def run(out, steps, *extra):
        sets = [o for o in tiny_overrides if not o.startswith("train.steps")] + [f"train.steps={steps}"]
        done = subprocess.run([*launch, "--out", str(tmp_path / out), *extra, "--set", *sets], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, [line for line in done.stderr.splitlines() if "lineage" in line or "Error" in line]
        return done.stdout

    printed = run("pair", 6)
    assert printed.count("done: step 6") == 2  # both processes trained to the end
    run("split", 4)
    run("split", 6, "--resume")
    assert losses(tmp_path / "split") == losses(tmp_path / "pair")
    pair, split = (Run(tmp_path / p).model(device="cpu").state_dict() for p in ("pair", "split"))
    assert all(torch.equal(pair[k], split[k]) for k in pair)
    trainer(tmp_path / "alone", tiny_overrides).fit()
    alone = Run(tmp_path / "alone").model(device="cpu").state_dict()
    assert not all(torch.equal(pair[k], alone[k]) for k in pair), "the second process's batches were not used"


@pytest.mark.parametrize("text, message", [
    ("[model]\nchannels = " + "[" * 3000 + "]" * 3000 + "\n", "arrays nested too deeply to be a preset"),
    (b"[model]\nchannels = 3\n\xff\xfe", "not UTF-8 text"),
])
def test_a_malformed_preset_is_one_line_naming_the_file(tmp_path, text, message):
    preset = tmp_path / "bad.toml"
    preset.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=f"{preset}: {message}") as err:
        registry.load("wavenet").config(str(preset))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--set model.channels: arrays nested too deeply"):
        registry.load("wavenet").config("tiny", None, ["model.channels=" + "[" * 3000 + "]" * 3000])


# -- hostile files --------------------------------------------------------------------------------------

class _Payload:
    """Unpickling this writes a marker file: the proof that a planted pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        from pathlib import Path

        return (Path.write_text, (Path(self.marker), "ran"))


def test_pickles_planted_where_files_are_read_never_run(tmp_path, tiny_overrides, data_root):
    """A pickle payload in the DDSP feature cache (an .npz holding an object array), and payloads under
    the names other tools give their checkpoints in a run folder: training, resuming and loading read
    around them, and none runs. (The music21 scratch folder: tests/test_chorales_data.py.)"""
    import pickle

    import numpy as np

    from lineage.data.cache import cache_path
    from lineage.data.clipset import ClipSet
    from zoo.ddsp import model as ddsp

    marker = tmp_path / "payload-ran"
    payload = np.array([_Payload(marker)], dtype=object)
    # the DDSP features of two short notes, with a payload planted at the cache's own name
    cfg = registry.load("ddsp").config("tiny")
    t = np.arange(3200) / 16000
    clips = ClipSet("planted", 16000, np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in (220, 330)]).astype(np.float32),
                    {}, {})
    cache = cache_path("ddsp", clips, ddsp.feature_tag(cfg))
    assert cache.parent == data_root / ".features"
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, f0_hz=payload, loudness_db=payload)  # np.savez pickles object arrays
    features = ddsp.prepare(cfg, clips)
    assert not marker.exists() and np.isfinite(features.values["f0_hz"]).all()
    # a run folder with payloads under the names other trainers use
    run = tmp_path / "run"
    trainer(run, tiny_overrides + ["train.steps=2"]).fit()
    for name in ("checkpoints/step_0000002/model.pt", "checkpoints/step_0000002/optimizer.pkl", "checkpoint.pt",
                 "samples/step_0000002/state.pkl"):
        (run / name).write_bytes(pickle.dumps(_Payload(marker)))
    trainer(run, tiny_overrides, resume=True).fit()
    Run(run).model(device="cpu")
    assert not marker.exists()


def test_a_weight_shared_by_two_modules_is_written_and_read_back(tmp_path):
    """A layer applied twice (as audio-diffusion-pytorch's time embedding does) has two names and one
    storage; the checkpoint holds both names, and loading gives the one weight its value again."""
    from lineage import checkpoint

    layer = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(layer, torch.nn.ReLU(), layer)
    ckpt = checkpoint.write(tmp_path, 1, model.state_dict(), None, {}, {}, keep=1)
    weights = checkpoint.read(ckpt)["weights"]
    assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    fresh = torch.nn.Sequential(shared := torch.nn.Linear(3, 3), torch.nn.ReLU(), shared)
    fresh.load_state_dict(weights)
    x = torch.randn(2, 3)
    assert torch.equal(fresh(x), model(x))
