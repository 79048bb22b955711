"""The Trainer and the run folder: exact resume (also after SIGKILL, with the log cut back and the RNG state
restored), atomic safetensors checkpoints, the EMA against its closed form, the NaN guard."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from lineage import registry
from lineage.config import make_config
from lineage.protocol import Step
from lineage.checkpoint import flatten, unflatten
from lineage.run import Run
from lineage.train import EMA, Trainer, TrainingDiverged


def trainer(out, overrides, resume=False, model="wavenet"):
    entry = registry.load(model)
    return Trainer(model, make_config(entry.Config, None, overrides), out, resume=resume, progress=False)


def losses(run):
    return {r["step"]: r["loss"] for r in Run(run).log}


def latest_checkpoint(run):
    return Run(run).latest


def test_resume_continues_exactly(tmp_path, tiny_overrides):
    trainer(tmp_path / "whole", tiny_overrides + ["train.ema=0.9"]).fit()
    first = trainer(tmp_path / "split", tiny_overrides + ["train.ema=0.9", "train.steps=4"])
    first.fit()
    # extending a run is allowed: same config except train.steps
    trainer(tmp_path / "split", tiny_overrides + ["train.ema=0.9"], resume=True).fit()
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")
    a = Run(tmp_path / "whole").model(device="cpu").state_dict()
    b = Run(tmp_path / "split").model(device="cpu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_are_safetensors_and_json_only(tmp_path, tiny_overrides):
    trainer(tmp_path, tiny_overrides + ["train.ema=0.5"]).fit()
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt.name == "step_0000006"
    assert sorted(p.name for p in ckpt.iterdir()) == ["ema.safetensors", "model.safetensors",
                                                      "state.json", "state.safetensors"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == \
        ["latest", "step_0000004", "step_0000006"]  # keep_checkpoints = 2, no temporaries left
    assert list((tmp_path / "samples" / "step_0000006").glob("*.wav"))


def test_resume_refuses_a_different_config(tmp_path, tiny_overrides):
    trainer(tmp_path, tiny_overrides + ["train.steps=2"]).fit()
    with pytest.raises(ValueError, match="config.model.channels"):
        trainer(tmp_path, tiny_overrides + ["model.channels=4"], resume=True)
    with pytest.raises(FileExistsError, match="--resume"):
        trainer(tmp_path, tiny_overrides)


def test_resume_accepts_a_run_saved_before_a_config_field_existed(tmp_path, tiny_overrides):
    trainer(tmp_path, tiny_overrides + ["train.steps=2"]).fit()
    saved = Run(tmp_path).record
    del saved["config"]["model"]["local_channels"]  # as written by a version without that field
    (tmp_path / "config.json").write_text(json.dumps(saved))
    trainer(tmp_path, tiny_overrides + ["train.steps=3"], resume=True).fit()
    assert latest_checkpoint(tmp_path).name == "step_0000003"


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_overrides, monkeypatch):
    t = trainer(tmp_path, tiny_overrides)
    (part,) = t.parts

    def poisoned(model, batch):
        loss, logs = part.loss(model, batch)
        return (loss * float("nan") if t.step == 3 else loss), logs

    t.parts = [Step(part.name, part.params, part.repeats, poisoned)]
    with pytest.raises(TrainingDiverged, match="loss became nan at step 4.*step_0000002"):
        t.fit()
    assert latest_checkpoint(tmp_path).name == "step_0000002"


def test_optimizer_state_round_trips_through_flatten():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, tree = flatten(opt.state_dict(), "optimizer")
    back = unflatten(json.loads(json.dumps(tree)), tensors)
    fresh = torch.optim.AdamW(model.parameters())
    fresh.load_state_dict(back)
    for p in model.parameters():
        assert torch.equal(fresh.state[p]["exp_avg"], opt.state[p]["exp_avg"])


def test_sigkill_then_resume_reaches_the_uninterrupted_loss(tmp_path, tiny_overrides, data_root):
    """The acceptance test: kill -9 mid-run, --resume, and the log matches an uninterrupted run."""
    sets = [o for o in tiny_overrides if not o.startswith(("train.steps", "train.checkpoint_every"))]
    sets += ["train.steps=60", "train.checkpoint_every=10", "data.segment=1024"]
    cmd = [sys.executable, "-m", "lineage.cli", "train", "wavenet", "--quiet", "--set", *sets]
    env = {**os.environ, "LINEAGE_DATA": str(data_root)}
    subprocess.run([*cmd, "--out", str(tmp_path / "whole")], env=env, check=True, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(run)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (latest_checkpoint(run) and latest_checkpoint(run).name >= "step_0000020"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest_checkpoint(run).name
    assert killed_at < "step_0000060", "the run finished before it could be killed"
    subprocess.run([*cmd, "--out", str(run), "--resume"], env=env, check=True, capture_output=True)
    assert losses(run) == losses(tmp_path / "whole")


def test_a_resumed_run_logs_each_step_once_and_ignores_a_torn_line(tmp_path, tiny_overrides):
    """A kill after step 6's log line but before its checkpoint: resuming from step 4 cuts the log back
    to step 4 and logs 5 and 6 again, exactly as an uninterrupted run. A line torn by a kill during an
    append does not stop the resume either."""
    trainer(tmp_path / "whole", tiny_overrides).fit()
    run = tmp_path / "killed"
    trainer(run, tiny_overrides).fit()
    for torn in ("", '{"step": 7, "lo'):
        (run / "checkpoints" / "latest").write_text("step_0000004")
        with open(run / "log.jsonl", "a") as f:
            f.write(torn)
        trainer(run, tiny_overrides, resume=True).fit()
        assert [r["step"] for r in Run(run).log] == [1, 2, 3, 4, 5, 6]
        assert losses(run) == losses(tmp_path / "whole")


def test_resume_restores_the_random_state(tmp_path):
    """DiffWave's loss draws its diffusion step and noise from torch's generator: resumed runs draw the
    same ones only if the checkpoint's RNG state comes back."""
    sets = ["model.channels=4", "model.layers=2", "model.dilation_cycle=2", "model.diffusion_steps=20",
            "model.cond_keys=[]", "model.cond_classes=[]", "data.size=40", "data.segment=128",
            "train.batch_size=2", "train.checkpoint_every=2", "train.log_every=1", "train.sample_n=1",
            "train.sample_seconds=0.01", "train.threads=1"]
    trainer(tmp_path / "whole", sets + ["train.steps=4"], model="diffwave").fit()
    trainer(tmp_path / "split", sets + ["train.steps=2"], model="diffwave").fit()
    trainer(tmp_path / "split", sets + ["train.steps=4"], resume=True, model="diffwave").fit()
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")


def test_ema_matches_its_closed_form_over_the_trained_weights(tmp_path, tiny_overrides):
    """``ema_K = b^K w_0 + sum_i (1 - b) b^(K - i) w_i`` over the weights after every step (one checkpoint
    per step), ``w_0`` the freshly built model's: the Trainer updates the EMA once per step, after it."""
    b, k = 0.6, 5
    sets = tiny_overrides + [f"train.ema={b}", f"train.steps={k}", "train.checkpoint_every=1",
                             "train.keep_checkpoints=10"]
    trainer(tmp_path, sets).fit()
    run = Run(tmp_path)
    torch.manual_seed(run.config.train.seed)
    expected = {n: b ** k * w.double() for n, w in run.entry.build(run.config).state_dict().items()}
    for i, ckpt in enumerate(run.checkpoints, start=1):
        weights = load_file(ckpt / "model.safetensors")
        for n in expected:
            expected[n] += (1 - b) * b ** (k - i) * weights[n].double()
    ema = load_file(run.latest / "ema.safetensors")
    assert len(run.checkpoints) == k
    for n, w in expected.items():
        torch.testing.assert_close(ema[n].double(), w, rtol=1e-5, atol=1e-6)


def test_ema_agrees_with_torch_swa_utils():
    """The same average as ``torch.optim.swa_utils`` with its EMA rule, over random weight updates."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    ours = EMA(model, 0.8)
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.8))
    reference.update_parameters(model)  # its first update copies the weights, as our constructor does
    for _ in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ours.update(model)
        reference.update_parameters(model)
    for name, p in reference.module.named_parameters():
        torch.testing.assert_close(ours.shadow[name], p.detach())


def test_hub_ids_fail_in_one_line_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="someone/no-such-run.*could not be fetched"):
        Run.load("someone/no-such-run")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        Run.load(tmp_path)


def test_an_entry_with_its_own_framework_writes_and_reads_the_same_run_folder(tmp_path, tiny_overrides):
    """The boundary a JAX entry meets: its own loop writes numpy arrays through ``Run.write_checkpoint``
    (the same atomic layout), and ``Run.model`` hands them back through the entry's ``load_weights``."""
    from types import SimpleNamespace

    import numpy as np

    from lineage.registry import Entry

    entry = registry.load("wavenet")
    run = Run.start(tmp_path, "wavenet", make_config(entry.Config, None, tiny_overrides))
    loaded = {}
    run.config  # noqa: B018 - read with the real entry's Config, before the stand-in replaces it
    run.__dict__["entry"] = Entry("numpy-entry", SimpleNamespace(
        build=lambda cfg: {}, load_weights=lambda model, arrays: loaded.update(arrays) or arrays))
    weights = {"layer.w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    run.write_checkpoint(3, weights, None, {}, {})
    assert run.latest.name == "step_0000003" and run.read_checkpoint()["step"] == 3
    model = run.model()
    assert isinstance(model["layer.w"], np.ndarray) and np.array_equal(loaded["layer.w"], weights["layer.w"])
