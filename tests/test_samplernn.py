"""SampleRNN's lessons as tests: tiers tick at their own rates, generation reuses their outputs, and
gradients - not values - are what truncated BPTT cuts."""

import pytest
import torch

import zoo.samplernn as samplernn
from lineage.config import make_config


def small(frames=(8, 2, 2), **overrides):
    sets = [f"model.frame_sizes={list(frames)}", "model.rnn_dim=12", "model.mlp_dim=16", "model.embed_dim=4",
            "model.quantization=32", "model.cond_classes=[128, 8]",
            *[f"model.{k}={v}" for k, v in overrides.items()]]
    torch.manual_seed(0)
    model = samplernn.build(make_config(samplernn.Config, None, sets)).double()
    for p in model.parameters():  # non-trivial initial states too
        torch.nn.init.normal_(p, std=0.3)
    return model.eval()


COND = {"pitch": torch.tensor([60, 64]), "class": torch.tensor([1, 5])}


@pytest.mark.parametrize("frames", [(8, 2, 2), (16, 4, 4), (4, 4, 3)])
def test_stepwise_generation_gives_the_teacher_forced_logits(frames):
    model = small(frames)
    T = 48
    seq = torch.randint(0, 32, (2, T))
    h = model.condition(COND, 2, "cpu")
    with torch.no_grad():
        padded = torch.cat([torch.full((2, model.lookback), model.start_token()), seq], dim=1)
        forced, _ = model(padded, h, model.initial_state(2))  # [2, Q, T], all positions at once
    out, stepped = model.generate(2, T, h, force=seq, return_logits=True)  # tier by tier, tick by tick
    assert torch.equal(out, seq)
    torch.testing.assert_close(stepped, forced, rtol=1e-10, atol=1e-10)


def test_logits_depend_on_the_past_only():
    model = small()
    seq = torch.randint(0, 32, (1, 40))
    h = model.condition({"pitch": torch.tensor([60]), "class": torch.tensor([1])}, 1, "cpu")
    pad = torch.full((1, model.lookback), model.start_token())
    with torch.no_grad():
        a, _ = model(torch.cat([pad, seq], 1), h, model.initial_state(1))
        changed = seq.clone()
        changed[0, 21] = (changed[0, 21] + 7) % 32
        b, _ = model(torch.cat([pad, changed], 1), h, model.initial_state(1))
    assert torch.equal(a[..., :22], b[..., :22])  # logits up to and including sample 21's own prediction
    assert not torch.allclose(a[..., 22], b[..., 22])  # the very next sample sees it (the MLP window)


def test_truncated_bptt_changes_the_gradient_not_the_loss():
    batch = {"audio": torch.rand(2, 1, 64, dtype=torch.float64) * 2 - 1, **COND}
    grads, losses = [], []
    for tbptt in (16, 64):
        model = small(tbptt=tbptt)
        loss, _ = samplernn.loss(model, batch)
        loss.backward()
        losses.append(loss.item())
        grads.append(model.tiers[0].rnn.weight_hh_l0.grad.clone())
    assert losses[0] == pytest.approx(losses[1], rel=1e-12)  # states flow across chunks either way
    assert not torch.allclose(grads[0], grads[1])  # but the chunked gradient stops at the boundaries


def test_frame_sizes_must_nest():
    with pytest.raises(ValueError, match="multiple"):
        small((8, 3, 2))


def test_sampling_shape_and_range():
    model = small().float()
    audio = samplernn.sample(model, 2, 0.005, seed=1, cond=COND)  # 80 samples at 16 kHz
    assert audio.shape == (2, 1, 80) and audio.abs().max() <= 1
    assert torch.equal(audio, samplernn.sample(model, 2, 0.005, seed=1, cond=COND))
