"""Shared fixtures: a miniature `tones` build in a temporary data root, a tiny WaveNet config, and
headless Chromium for the browser tests."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

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


CHECKOUT_DATA = Path(__file__).resolve().parents[1] / "datasets"


def shared_build(name: str) -> Path:
    """The default build of data set ``name`` in the checkout's ``datasets/``: the one `make data` builds
    once for the tests and the chapters (built here when missing), its files checked against its manifest."""
    folder = D.build(name, root=CHECKOUT_DATA)
    assert D.verify(folder) == [], f"{folder}: files differ from the manifest; rebuild with `lineage data build {name}`"
    return folder


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


def chromium_path() -> str | None:
    for name in (os.environ.get("LINEAGE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


NO_CHROMIUM = ("browser tests (listening page, book pages) need Chromium, which pip cannot install: "
               "apt-get install chromium (Debian/Ubuntu), brew install --cask chromium (macOS), "
               "or set LINEAGE_CHROMIUM to a Chromium or Chrome binary")


def skip_without_chromium():
    pytest.skip(NO_CHROMIUM)


@pytest.fixture
def browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the browser tests: apt-get install chromium")
        skip_without_chromium()
    sync_api = require("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Every browser test skipped for want of Chromium is reported at :func:`skip_without_chromium`, not at
    its own line, so that `pytest -ra` folds them into one summary line: what was skipped and how to install it."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2] == f"Skipped: {NO_CHROMIUM}":
        report.longrepr = (__file__, skip_without_chromium.__code__.co_firstlineno + 1, report.longrepr[2])
    return report
