"""Shared fixtures: a miniature `tones` build in a temporary data root, and a tiny WaveNet config."""

from __future__ import annotations

import importlib
import os

import pytest
import torch

from lineage import data as D

TINY_RUN = [
    "model.channels=8", "model.skip_channels=8", "model.dilation_cycle=4", "model.stacks=1",
    "model.cond_channels=4",
    "data.size=40", "data.segment=256",
    "train.steps=6", "train.batch_size=2", "train.checkpoint_every=2", "train.log_every=1",
    "train.sample_n=1", "train.sample_seconds=0.01", "train.threads=1",
]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A data root holding a 40-clip `tones` build, shared by the whole session."""
    root = tmp_path_factory.mktemp("datasets")
    D.build("tones", size=40, seed=0, root=root)
    return root


@pytest.fixture(autouse=True)
def _isolated(data_root, monkeypatch):
    monkeypatch.setenv("LINEAGE_DATA", str(data_root))
    torch.set_num_threads(1)


@pytest.fixture
def tiny_overrides():
    return list(TINY_RUN)


def require(module: str):
    """A library a cross-check needs (diffusers, auraloss, playwright): the test is skipped where it is
    missing - but under ``CI=true`` a missing library is a failure, so a lost install cannot pass."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)
