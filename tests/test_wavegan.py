"""WaveGAN: phase shuffle shifts and fills the edge by reflection; the generator upsamples by 4 per layer
to the stated length; the gradient penalty measures the critic's gradient norm; the WGAN-GP losses have
the right signs (a critic trained on them separates real from fake, a generator step raises its score);
the Trainer's two-optimizer step resumes exactly."""

import json

import pytest
import torch

import zoo.wavegan as wavegan
from lineage.config import make_config
from lineage.run import Run
from lineage.train import Trainer

SMALL = ["model.d=2", "model.layers=2", "model.start=8", "model.kernel=9", "model.latent=8"]


def small(extra=()):
    torch.manual_seed(0)
    return wavegan.build(make_config(wavegan.Config, None, SMALL + list(extra)))


def test_phase_shuffle_shifts_and_reflects_at_the_edges():
    x = torch.arange(10.0).repeat(3, 2, 1)  # [B=3, C=2, T=10], x[t] = t
    y = wavegan.phase_shuffle(x, torch.tensor([2, -2, 0]))
    # k = +2: y[t] = x[t - 2]; the two uncovered samples at the start mirror x around t = 0
    assert y[0, 0].tolist() == [2, 1, 0, 1, 2, 3, 4, 5, 6, 7]
    # k = -2: y[t] = x[t + 2]; at the end the mirror is around t = T - 1
    assert y[1, 0].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 8, 7]
    assert torch.equal(y[2], x[2])  # k = 0
    assert torch.equal(y[:, 0], y[:, 1])  # every channel of an example gets the same shift


def test_phase_shuffle_module_is_random_in_training_and_the_identity_in_eval():
    torch.manual_seed(0)
    layer = wavegan.model.PhaseShuffle(2)
    x = torch.randn(64, 1, 32)
    y = layer.train()(x)
    shifts = set()
    for b in range(64):  # every output is x shifted by some k in -2..2
        k = next(k for k in range(-2, 3) if torch.equal(y[b], wavegan.phase_shuffle(x[b:b + 1], torch.tensor([k]))[0]))
        shifts.add(k)
    assert shifts == {-2, -1, 0, 1, 2}
    assert torch.equal(layer.eval()(x), x)


def test_generator_upsamples_by_the_stride_per_layer_to_the_stated_length():
    model = small()
    assert model.cfg.length == 8 * 4 ** 2
    out = model.generator(model.latent(3, seed=0))
    assert out.shape == (3, 1, 128) and out.abs().max() < 1  # tanh
    assert len(model.generator.ups) == 2 and model.generator.ups[0].kernel_size == (9,)
    assert model.critic(out).shape == (3,)
    # the paper's configuration: d = 64, five layers, 16 frames -> 16,384 samples
    paper = wavegan.Config()
    assert paper.length == 16384 and paper.channels() == [1024, 512, 256, 128, 64]


def test_gradient_penalty_measures_the_critics_gradient_norm():
    real, fake = torch.randn(8, 1, 16), torch.randn(8, 1, 16)
    w = torch.randn(16)
    for norm, expected in [(1.0, 0.0), (3.0, 4.0)]:  # (||grad|| - 1)^2
        linear = lambda x, w=w * norm / w.norm(): (x[:, 0] * w).sum(1)  # noqa: E731 - D(x) = w.x
        assert wavegan.gradient_penalty(linear, real, fake).item() == pytest.approx(expected, abs=1e-5)


def test_wgan_gp_losses_push_the_critic_and_the_generator_the_right_way():
    model = small(["model.phase_shuffle=0"])
    real = {"audio": 0.5 * torch.sin(torch.arange(128.0) * 0.3).repeat(16, 1, 1)}
    opt = torch.optim.Adam(model.critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for _ in range(60):
        loss, logs = wavegan.critic_loss(model, real)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["W"] > 0.1  # the critic scores the real clips above the generated ones
    z = model.latent(16, seed=1)
    before = model.critic(model.generator(z)).mean().item()
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-3)
    model.zero_grad(set_to_none=True)
    loss, _ = wavegan.generator_loss(model, real)
    loss.backward()
    assert all(p.grad is None for p in model.critic.parameters())  # the critic, a fixed judge, is not touched
    g_opt.step()
    assert model.critic(model.generator(z)).mean().item() > before  # the generator climbs the critic


def test_steps_are_the_critic_several_times_then_the_generator_once():
    model = small(["model.critic_steps=3"])
    critic, generator = wavegan.steps(model)
    assert (critic.name, critic.repeats, critic.loss) == ("critic", 3, wavegan.critic_loss)
    assert (generator.name, generator.repeats, generator.loss) == ("generator", 1, wavegan.generator_loss)
    assert {id(p) for p in critic.params} == {id(p) for p in model.critic.parameters()}
    assert {id(p) for p in generator.params} == {id(p) for p in model.generator.parameters()}


def test_loss_and_sample_accept_any_length():
    model = small()
    loss, logs = wavegan.critic_loss(model, {"audio": torch.randn(2, 1, 256) * 0.1})  # cut to 128
    assert torch.isfinite(loss) and {"W", "gp"} <= set(logs)
    clips = wavegan.sample(model.eval(), 2, 0.05, seed=3)
    assert clips.shape == (2, 1, round(0.05 * 16000))  # 800 samples: the 128 generated, zero-padded
    assert clips[..., 128:].abs().max() == 0
    assert torch.equal(clips, wavegan.sample(model, 2, 0.05, seed=3))


def test_two_optimizer_training_resumes_exactly(tmp_path, tiny_overrides):
    shared = [o for o in tiny_overrides if not o.startswith("model.")]
    args = shared + ["train.betas=[0.5, 0.9]", "train.grad_clip=0"]
    SMALL_CFG = ["model.d=2", "model.layers=2", "model.start=8", "model.kernel=9", "model.critic_steps=2"]

    def trainer(out, extra=(), resume=False):
        from lineage import registry

        cfg = registry.load("wavegan").config("tiny", "tones", SMALL_CFG + args + list(extra))
        return Trainer("wavegan", cfg, out, resume=resume, progress=False)

    trainer(tmp_path / "whole").fit()
    trainer(tmp_path / "split", ["train.steps=4"]).fit()
    trainer(tmp_path / "split", resume=True).fit()
    rows = lambda run: [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]  # noqa: E731
    whole = rows(tmp_path / "whole")
    assert {"loss_critic", "loss_generator", "W", "gp"} <= set(whole[-1])
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(rows(tmp_path / "split")) == strip(whole)
    state = json.loads(sorted((tmp_path / "whole" / "checkpoints").glob("step_*"))[-1].joinpath("state.json").read_text())
    assert [k["str"] for k, _ in state["optimizers"]["dict"]] == ["critic", "generator"]
    a, b = Run(tmp_path / "whole").model(device="cpu").state_dict(), Run(tmp_path / "split").model(device="cpu").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
