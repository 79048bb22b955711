"""WaveNet's lessons as tests: causality, the receptive field, and cached == naive generation."""

import math

import pytest
import torch

import zoo.wavenet as wavenet
from lineage.config import make_config


def small(**overrides):
    sets = ["model.channels=8", "model.skip_channels=8", "model.dilation_cycle=4", "model.stacks=2",
            "model.cond_channels=4", *[f"model.{k}={v}" for k, v in overrides.items()]]
    torch.manual_seed(0)
    return wavenet.build(make_config(wavenet.Config, None, sets))


def test_receptive_field_is_what_the_gradient_sees():
    model = small().double()
    assert model.receptive_field == (2 - 1) * 2 * (1 + 2 + 4 + 8) + 1 == 31
    # random non-zero weights everywhere, so every dependency shows up in the gradient
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    T = 80
    emb = torch.randn(1, T, 8, dtype=torch.float64, requires_grad=True)
    x = emb.transpose(1, 2)
    h = model.condition({"pitch": torch.tensor([60]), "class": torch.tensor([1])}, 1, "cpu").double()
    skips = 0
    for layer in model.layers:
        x, s = layer(x, layer.cond(h))
        skips = skips + s
    model.head(skips)[0, :, T - 1].sum().backward()
    seen = (emb.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    assert seen.min() == T - model.receptive_field and seen.max() == T - 1


def test_cached_generation_is_identical_to_naive():
    model = small().double().eval()
    cond = {"pitch": torch.tensor([60, 67, 72]), "class": torch.tensor([0, 1, 2])}
    h = model.condition(cond, 3, "cpu").double()
    naive = model.generate(3, 200, h, seed=5, cached=False)
    cached = model.generate(3, 200, h, seed=5, cached=True)
    assert torch.equal(naive, cached)
    assert len(naive.unique()) > 10  # really sampled, not stuck on one value


def test_local_conditioning_reaches_every_output_and_both_generation_paths():
    """A sequence y given at the audio rate (the NSynth embedding, upsampled): cached == naive, and
    changing y at time t changes the logits at t only through that position's projection."""
    model = small(local_channels=3).double().eval()
    for p in model.local.parameters():
        torch.nn.init.normal_(p, std=0.5)
    h = model.condition({"pitch": torch.tensor([60, 67]), "class": torch.tensor([0, 1])}, 2, "cpu").double()
    y = torch.randn(2, 3, 120, dtype=torch.float64)
    naive = model.generate(2, 120, h, seed=3, cached=False, local=y)
    cached = model.generate(2, 120, h, seed=3, cached=True, local=y)
    assert torch.equal(naive, cached)
    assert not torch.equal(cached, model.generate(2, 120, h, seed=3, local=torch.zeros_like(y)))
    q = torch.randint(0, 256, (2, 40))
    y2 = y[:, :, :40].clone()
    y2[:, :, 20] += 1.0
    a, b = model(q, h, y[:, :, :40]), model(q, h, y2)
    assert torch.equal(a[..., :20], b[..., :20]) and not torch.allclose(a[..., 20], b[..., 20])


def test_cached_step_logits_equal_teacher_forced_logits():
    """Feeding a known sequence through the queues reproduces the parallel training pass."""
    model = small().double().eval()
    q = torch.randint(0, 256, (2, 50))
    h = model.condition({"pitch": torch.tensor([60, 61]), "class": torch.tensor([0, 3])}, 2, "cpu").double()
    full = model(q, h)  # [2, 256, 50]
    queues = [layer.dilated.new_queue(2, dtype=torch.float64) for layer in model.layers]
    conds = [layer.cond(h) for layer in model.layers]
    for t in range(50):
        x, skips = model.embed(q[:, t]), 0
        for layer, queue, c in zip(model.layers, queues, conds):
            x, s = layer.step(x, c, queue)
            skips = skips + s
        torch.testing.assert_close(wavenet.model._pointwise_seq(model.head, skips), full[:, :, t],
                                   rtol=0, atol=1e-10)


def test_loss_is_next_sample_cross_entropy_and_learns():
    torch.manual_seed(0)
    model = small()
    t = torch.arange(512) / 16000
    audio = (0.6 * torch.sin(2 * math.pi * 440 * t))[None, None].repeat(2, 1, 1)
    batch = {"audio": audio, "pitch": torch.tensor([69, 69]), "class": torch.tensor([0, 0])}
    first, logs = wavenet.loss(model, batch)
    assert first.item() == pytest.approx(math.log(256), rel=0.05)  # untrained: near uniform
    assert logs["bits"] == pytest.approx(first.item() / math.log(2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(200):
        loss, _ = wavenet.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first.item()


def test_protocol_one_step_over_every_parameter_and_the_receptive_field_as_a_fact():
    model = small()
    (step,) = wavenet.steps(model)
    assert step.repeats == 1 and step.loss is wavenet.loss
    assert {id(p) for p in step.params} == {id(p) for p in model.parameters()}
    assert wavenet.facts(model)["receptive_field"] == model.receptive_field == 31


def test_conditioning_is_required_and_checked():
    model = small()
    with pytest.raises(ValueError, match="pitch"):
        wavenet.sample(model, 1, 0.001)
    with pytest.raises(ValueError, match="0..127"):
        wavenet.sample(model, 1, 0.001, cond={"pitch": torch.tensor([200]), "class": torch.tensor([0])})
    out = wavenet.sample(model, 2, 0.002, cond={"pitch": torch.tensor([60, 62]), "class": torch.tensor([0, 1])})
    assert out.shape == (2, 1, 32) and out.abs().max() <= 1
