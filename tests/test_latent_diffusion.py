"""Latent diffusion (zoo/latent_diffusion): the VAE's KL term and shapes, AudioLDM's trick (the audio tower
in training, the text tower in sampling), condition dropout to the null embedding, and guidance."""

from __future__ import annotations

import pytest
import torch

from conftest import require
from lineage.config import make_config

require("audio_diffusion_pytorch")
from zoo.latent_diffusion import model as M  # noqa: E402
from zoo.latent_diffusion.vae import AudioVAE, kl_divergence  # noqa: E402

SMALL_UNET = ["model.unet_channels=[8, 8]", "model.factors=[1, 2]", "model.items=[1, 1]", "model.attentions=[0, 1]",
              "model.cross_attentions=[0, 1]", "model.attention_heads=2", "model.attention_features=4",
              "model.modulation_features=8", "model.channels=2", "model.latent=4", "model.sampling_steps=3"]


def small(stage: str = "diffusion", extra=()) -> M.LatentDiffusion:
    """A tiny model; the U-Net's weights drawn at random, since the library starts its output layers at
    zero (the embedding would change nothing yet)."""
    torch.manual_seed(0)
    model = M.build(make_config(M.Config, overrides=[f"model.stage={stage}", *SMALL_UNET, *extra])).eval()
    for p in model.unet.parameters() if stage == "diffusion" else ():
        torch.nn.init.normal_(p, std=0.2)
    return model


def test_the_kl_term_is_the_divergence_from_a_standard_normal():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 4, 5, generator=g), torch.randn(2, 4, 5, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean()
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-6)
    assert kl_divergence(torch.zeros(3), torch.zeros(3)) == 0  # the prior itself


def test_the_vae_makes_50_frames_a_second_of_c_channels_and_rebuilds_the_length():
    vae = AudioVAE(channels=4, strides=[2, 4, 5, 8], latent=8)
    audio = torch.randn(2, 1, 8000) * 0.1
    mu, logvar = vae.posterior(audio)
    assert mu.shape == logvar.shape == (2, 8, 25) and vae.frame_rate == 50 and vae.hop / vae.latent == 40
    x_hat, kl = vae(audio)
    assert x_hat.shape == audio.shape and kl > 0
    assert vae.posterior(audio[..., :7990])[0].shape == (2, 8, 25)  # padded to whole frames


def test_training_reads_the_audio_tower_and_sampling_the_text_tower(monkeypatch):
    """AudioLDM's trick: captions never enter the diffusion loss; prompts enter generation through the
    text tower only."""
    model = small()
    batch = {"audio": torch.randn(2, 1, 8000) * 0.1, "text": torch.ones(2, 4, dtype=torch.long)}

    def refuse(*args, **kwargs):
        raise AssertionError("the wrong tower")

    with monkeypatch.context() as m:
        m.setattr(model.clap, "embed_text", refuse)
        loss, _ = M.diffusion_loss(model, batch)
    assert torch.isfinite(loss)
    with monkeypatch.context() as m:
        m.setattr(model.clap, "embed_audio", refuse)
        audio = M.generate(model, 2, 0.5, tokens=batch["text"])
    assert audio.shape == (2, 1, 8000) and torch.isfinite(audio).all()


def test_a_dropped_condition_leaves_only_the_null_embedding(monkeypatch):
    """With cond_dropout 1 every clip sees the learnt null embedding: the loss no longer depends on the
    clip's CLAP embedding; with 0 it does - unless the data set has no captions (``cond_keys`` empty):
    then it trains on the null embedding, the one unconditional sampling uses."""
    batch = {"audio": torch.randn(4, 1, 8000) * 0.1}
    found = {}
    for extra, same in ((["model.cond_dropout=1.0"], True), (["model.cond_dropout=0.0"], False),
                        (["model.cond_dropout=0.0", "model.cond_keys=[]"], True)):
        model = small(extra=extra).train()
        losses = []
        for seed in (1, 2):  # two different embeddings for the same clips
            emb = torch.nn.functional.normalize(torch.randn(4, 64, generator=torch.Generator().manual_seed(seed)), dim=-1)
            monkeypatch.setattr(model.clap, "embed_audio", lambda a, e=emb: e)
            torch.manual_seed(1)
            losses.append(M.diffusion_loss(model, batch)[0].item())
        assert (losses[0] == pytest.approx(losses[1], abs=1e-6)) is same, (extra, losses)
        found[len(found)] = losses[0]
    assert found[2] == pytest.approx(found[0], abs=1e-6)  # no captions: exactly the all-dropped loss


def test_guidance_zero_is_the_unconditional_model_and_one_the_conditional_alone():
    """``v = v_null + gamma (v_cond - v_null)``: gamma 0 writes what no prompt writes, with the same noise."""
    model = small()
    tokens = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0]])
    unconditional = M.generate(model, 2, 0.5, seed=3)
    assert torch.allclose(M.generate(model, 2, 0.5, seed=3, tokens=tokens, guidance=0.0), unconditional, atol=1e-5)
    one = M.generate(model, 2, 0.5, seed=3, tokens=tokens, guidance=1.0)
    three = M.generate(model, 2, 0.5, seed=3, tokens=tokens, guidance=3.0)
    assert not torch.allclose(one, unconditional, atol=1e-4) and not torch.allclose(three, one, atol=1e-4)


def test_only_the_autoencoder_stage_reconstructs_and_it_samples_its_prior():
    vae_stage, diffusion = small("autoencoder"), small()
    assert M.capabilities(vae_stage) == {"facts", "reconstruct"} and M.capabilities(diffusion) == {"facts"}
    batch = {"audio": torch.randn(2, 1, 8000) * 0.1}
    assert M.reconstruct(vae_stage, batch).shape == (2, 1, 8000)
    assert M.sample(vae_stage, 3, 0.25).shape == (3, 1, 4000)
    assert not hasattr(vae_stage, "unet") and M.facts(vae_stage)["compression"] == 320 / 4
    parts = M.steps(vae_stage)
    assert len(parts) == 1 and set(map(id, parts[0].params)) == set(map(id, vae_stage.vae.parameters()))
