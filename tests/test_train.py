"""The Trainer: exact resume (also after SIGKILL), atomic safetensors checkpoints, the NaN guard."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lineage import registry
from lineage.config import make_config
from lineage.train import Trainer, TrainingDiverged, flatten, latest_checkpoint, load_run, unflatten


def trainer(out, overrides, resume=False):
    entry = registry.load("wavenet")
    return Trainer("wavenet", make_config(entry.Config, None, overrides), out, resume=resume, progress=False)


def losses(run):
    return {r["step"]: r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())}


def test_resume_continues_exactly(tmp_path, tiny_overrides):
    trainer(tmp_path / "whole", tiny_overrides + ["train.ema=0.9"]).fit()
    first = trainer(tmp_path / "split", tiny_overrides + ["train.ema=0.9", "train.steps=4"])
    first.fit()
    # extending a run is allowed: same config except train.steps
    trainer(tmp_path / "split", tiny_overrides + ["train.ema=0.9"], resume=True).fit()
    assert losses(tmp_path / "split") == losses(tmp_path / "whole")
    a = load_run(tmp_path / "whole")[2].state_dict()
    b = load_run(tmp_path / "split")[2].state_dict()
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
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["config"]["model"]["local_channels"]  # as written by a version without that field
    (tmp_path / "config.json").write_text(json.dumps(saved))
    trainer(tmp_path, tiny_overrides + ["train.steps=3"], resume=True).fit()
    assert latest_checkpoint(tmp_path).name == "step_0000003"


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_overrides, monkeypatch):
    t = trainer(tmp_path, tiny_overrides)
    real_loss = t.entry.module.loss

    def poisoned(model, batch):
        loss, logs = real_loss(model, batch)
        return (loss * float("nan") if t.step == 3 else loss), logs

    monkeypatch.setattr(t.entry.module, "loss", poisoned)
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
