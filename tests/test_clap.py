"""CLAP (lineage.clap): the symmetric InfoNCE loss against transformers' ClapModel, positives shared by a
repeated caption, the retrieval and zero-shot measures against their chance values, a tiny CLAP that
learns a fabricated captioned set, its cache, and the CLAP score of `lineage eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import require, shared_build
from lineage import data as D
from lineage.clap import CLAP, contrastive_loss, distinct, retrieval, zero_shot
from lineage.config import DataConfig
from lineage.data.clipset import ClipSet
from lineage.data.text import encode, vocabulary


def test_with_distinct_captions_the_loss_is_clap_s_own():
    """transformers' ClapModel: (CE over each text row + CE over each audio row) / 2 of the same logits."""
    require("transformers")
    from transformers.models.clap.modeling_clap import contrastive_loss as theirs

    logits = torch.randn(8, 8, generator=torch.Generator().manual_seed(0)) * 5  # [audio, text]
    expected = (theirs(logits.T) + theirs(logits)) / 2
    assert torch.allclose(contrastive_loss(logits), expected, atol=1e-6)
    assert torch.allclose(contrastive_loss(logits, torch.eye(8, dtype=torch.bool)), expected, atol=1e-6)


def test_a_repeated_caption_is_a_positive_not_a_negative():
    """Clips 0 and 1 carry the same caption: raising clip 0's similarity to column 1 must lower the loss
    (plain InfoNCE would push them apart), while a stranger's column still raises it."""
    same = torch.eye(4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    logits = torch.zeros(4, 4, requires_grad=True)
    contrastive_loss(logits, same).backward()
    assert logits.grad[0, 1] < 0 and logits.grad[0, 0] < 0  # both of its captions pull
    assert logits.grad[0, 2] > 0 and logits.grad[0, 3] > 0  # the others push
    # and the minimum is reached with the two positives tied: the loss is then the target's entropy
    tied = torch.full((4, 4), -30.0)
    tied[same] = 0.0
    assert contrastive_loss(tied, same).item() == pytest.approx((2 * np.log(2) + 2 * 0) / 4, abs=1e-4)


def test_retrieval_is_one_for_a_perfect_space_and_chance_for_a_random_one():
    rng = np.random.default_rng(0)
    which = np.repeat(np.arange(10), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])  # 30 clips, 10 captions, uneven
    text = rng.standard_normal((10, 16))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    perfect = retrieval(text[which], text, which)
    assert all(perfect[f"{d}_r{k}"] == 1.0 for d in ("audio_to_text", "text_to_audio") for k in (1, 5))
    draws = [retrieval(rng.standard_normal((30, 16)), text, which) for _ in range(400)]
    for key in ("audio_to_text_r1", "audio_to_text_r5", "text_to_audio_r1", "text_to_audio_r5"):
        mean = np.mean([d[key] for d in draws])
        assert mean == pytest.approx(perfect[f"{key}_chance"], abs=0.03), key
    assert perfect["text_to_audio_r1_chance"] == pytest.approx(1 / 10)  # mean of n_u / N over captions


def test_zero_shot_gives_each_clip_the_class_of_the_nearest_prompt():
    prompts = np.eye(3)
    clips = np.array([[0.9, 0.1, 0], [0.1, 0.2, 0.95], [0.2, 0.8, 0.1], [0.6, 0.5, 0]])
    out = zero_shot(clips, prompts, np.array([0, 2, 1, 1]))
    assert out["accuracy"] == 0.75 and out["chance"] == pytest.approx(1 / 3) and out["majority"] == 0.5


def captioned_tones(root) -> ClipSet:
    """150 `tones` clips at 8 kHz with fabricated captions: timbre and register ("a low saw tone")."""
    D.build("tones", size=150, seed=0, root=root)
    clips = D.load(DataConfig(name="tones", size=150, sample_rate=8000, seconds=0.5))
    names = clips.vocab["timbre"]
    captions = [f"a {'low' if p < 72 else 'high'} {names[t]} tone"
                for p, t in zip(clips.labels["pitch"], clips.labels["timbre"])]
    vocab = vocabulary(captions)
    return ClipSet("tones", 8000, clips.audio, {**clips.labels, "text": encode(captions, vocab)},
                   {**clips.vocab, "text": vocab}, "timbre")


def test_a_tiny_clap_learns_the_pairs_and_is_cached(tmp_path, monkeypatch):
    """Held-out retrieval far above chance after 150 steps (untrained: near chance); zero-shot timbre from
    prompts that leave the register out; the cache reloads the same model without training."""
    from lineage.eval import clap as judge_mod

    monkeypatch.setenv("LINEAGE_DATA", str(tmp_path))
    clips = captioned_tones(tmp_path)
    cfg = DataConfig(name="tones", size=150, sample_rate=8000, seconds=0.5)
    train, test = clips.split(cfg.holdout, seed=cfg.seed)
    untrained = judge_mod.held_out(CLAP(8000, clips.vocab["text"]).eval(), test)
    judge = judge_mod.get_clap(cfg, steps=150, dataset=clips)
    got = judge.info["retrieval"]
    assert got["audio_to_text_r1_chance"] == 1 / got["captions"] >= 1 / 10  # 15 held-out clips, 10 captions at most
    assert got["audio_to_text_r1"] >= 0.6 and got["text_to_audio_r1"] >= 0.5
    assert untrained["audio_to_text_r1"] <= 0.35
    names = clips.vocab["timbre"]
    prompts = judge.model.embed_captions(judge.model.tokens([f"a {n} tone" for n in names]))
    assert zero_shot(judge.model.embed_clips(test.audio), prompts, test.labels["timbre"])["accuracy"] >= 0.6

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(judge_mod, "train_clap", no_training)
    again = judge_mod.get_clap(cfg, steps=150, dataset=clips)
    assert again.info == json.loads(json.dumps(judge.info))
    np.testing.assert_allclose(again.model.embed_clips(test.audio[:8]), judge.model.embed_clips(test.audio[:8]),
                               atol=1e-6)
    captions, which = distinct(test.labels["text"])
    assert again.score(test.audio, test.labels["text"]) > again.score(test.audio, np.roll(test.labels["text"], 1, 0))


def test_lineage_eval_gives_a_captioned_model_a_clap_score_between_mismatched_and_real(tmp_path, monkeypatch):
    """The shipped codec LM on `drums`: its clips scored against their prompts, beside real clips with
    their own captions and with a neighbour's; the table shows the column."""
    import shutil

    from lineage import tables
    from lineage.eval import clap as judge_mod
    from lineage.eval.report import evaluate
    from lineage.run import Run

    shared_build("drums")
    monkeypatch.setenv("LINEAGE_DATA", str(shared_build("drums").parent))
    monkeypatch.setattr(judge_mod, "STEPS", 150)  # a quick CLAP (cached beside the data under its own key)
    run = tmp_path / "lm"
    shutil.copytree(Run.load("codec_lm").path, run)
    m = evaluate(run, n=16, speed=False, log=lambda *a: None)
    clap = m["clap"]
    assert clap["steps"] == 150 and clap["retrieval"]["audio_to_text_r1"] > 3 * clap["retrieval"]["audio_to_text_r1_chance"]
    assert clap["real"] > clap["mismatched"] + 0.1
    score = m["rows"]["codec_lm"]["clap_score"]
    assert clap["mismatched"] < score <= 1.0 and m["rows"]["real (test)"]["clap_score"] == clap["real"]
    assert "CLAP ↑" in tables.format_table([m])
