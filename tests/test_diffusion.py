"""The shared diffusion core, checked against Hugging Face diffusers' DDPMScheduler, and its lesson:
the closed-form jump q(x_t | x_0) is the same distribution as t single noising steps."""

from __future__ import annotations

import pytest
import torch

from lineage.diffusion import Schedule, linear_betas
from conftest import require

diffusers = require("diffusers")

WAVEGRAD_6 = [1e-6, 1.89e-5, 1.19e-4, 1e-3, 1.11e-2, 0.06]  # WaveGrad's 6-iteration schedule
DIFFWAVE_BASE = linear_betas(50, 1e-4, 0.05)  # DiffWave BASE training schedule


def theirs(betas):
    return diffusers.DDPMScheduler(num_train_timesteps=len(betas), trained_betas=list(map(float, betas)),
                                   variance_type="fixed_small", clip_sample=False, prediction_type="epsilon")


@pytest.mark.parametrize("betas", [WAVEGRAD_6, DIFFWAVE_BASE, linear_betas(1000)])
def test_alphas_cumprod_and_posterior_variance_equal_diffusers(betas):
    ours, ref = Schedule(betas), theirs(betas)
    torch.testing.assert_close(ours.alpha_bar.float(), ref.alphas_cumprod, rtol=1e-5, atol=1e-7)
    for t in range(1, len(ours)):
        # diffusers works in float32, where 1 - abar cancels badly for WaveGrad's betas of 1e-6: abs 1e-7
        assert float(ours.posterior_variance[t]) == pytest.approx(float(ref._get_variance(t)), rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("betas", [WAVEGRAD_6, DIFFWAVE_BASE])
def test_forward_jump_and_one_reverse_step_equal_diffusers(betas):
    ours, ref = Schedule(betas), theirs(betas)
    g = torch.Generator().manual_seed(0)
    x0, eps, eps_hat = (torch.randn(3, 1, 64, generator=g) for _ in range(3))
    for t in range(len(ours)):
        tt = torch.full((3,), t)
        torch.testing.assert_close(ours.q_sample(x0, tt, eps), ref.add_noise(x0, eps, tt), rtol=1e-5, atol=1e-6)
        xt = ours.q_sample(x0, tt, eps)
        out = ref.step(eps_hat, t, xt, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(ours.predict_x0(xt, t, eps_hat), out.pred_original_sample, rtol=1e-4, atol=1e-4)
        z = torch.randn(xt.shape, generator=torch.Generator().manual_seed(t))  # the noise diffusers drew
        torch.testing.assert_close(ours.p_step(xt, t, eps_hat, z), out.prev_sample, rtol=1e-4, atol=1e-4)


def test_posterior_mean_is_the_reverse_step_with_the_true_noise():
    """With the true noise, Algorithm 2's mean is exactly the posterior mean of eq. 7."""
    s = Schedule(DIFFWAVE_BASE)
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 100, generator=g, dtype=torch.float64), torch.randn(4, 100, generator=g, dtype=torch.float64)
    for t in (1, 10, 49):
        xt = s.q_sample(x0, t, eps)
        mean, _ = s.posterior(x0, xt, t)
        torch.testing.assert_close(s.p_step(xt, t, eps), mean)


def test_closed_form_noising_equals_t_single_steps_in_distribution():
    """The lesson of eq. 4: iterating q(x_t | x_(t-1)) t times from x_0 gives mean sqrt(abar_t) x_0 and
    variance 1 - abar_t - the one-jump formula. Checked on 200,000 draws from a fixed x_0."""
    s = Schedule(DIFFWAVE_BASE)
    g = torch.Generator().manual_seed(2)
    x0 = torch.tensor([0.8, -0.3, 0.0], dtype=torch.float64)[None].expand(200_000, -1)
    x = x0.clone()
    for t in range(30):
        x = s.q_step(x, t, torch.randn(x.shape, generator=g, dtype=torch.float64))
    ab = s.alpha_bar[29]
    torch.testing.assert_close(x.mean(0), ab.sqrt() * x0[0], atol=5e-3, rtol=0)
    torch.testing.assert_close(x.var(0), (1 - ab).expand(3), atol=5e-3, rtol=0)
    jump = s.q_sample(x0, 29, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    torch.testing.assert_close(jump.var(0), x.var(0), atol=1e-2, rtol=0)
    # and the check can fail: one step fewer moves the variance by more than twice the tolerance
    assert abs(float(s.alpha_bar[28]) - float(ab)) > 2 * 5e-3


def test_wavegrad_noise_levels_lie_between_neighbouring_steps():
    s = Schedule(WAVEGRAD_6)
    t = torch.tensor([0, 3, 5] * 1000)
    level = s.noise_level(t, torch.Generator().manual_seed(3))
    hi, lo = s.alpha_bar_prev.sqrt()[t], s.alpha_bar.sqrt()[t]
    assert ((level <= hi) & (level >= lo)).all()
    assert level[t == 5].std() > 0  # continuous, not the step's fixed level


def test_bad_betas_are_refused_in_one_line():
    with pytest.raises(ValueError, match="betas must be"):
        Schedule([0.1, 1.5])


# -- the v-parameterisation against audio-diffusion-pytorch --------------------------------------------

class _Recorder(torch.nn.Module):
    """A stand-in network: remembers what it was given and answers a fixed function of it."""

    def forward(self, x, sigmas, **kwargs):
        self.seen = (x.clone(), sigmas.clone())
        return torch.tanh(x) * (1 + sigmas.reshape(-1, 1, 1))  # any function of both will do


def test_the_v_objective_equals_audio_diffusion_pytorch():
    """Its VDiffusion draws a noise level and noise, mixes them with x, and regresses the net on v: the
    same x_t and the same loss from lineage.diffusion, given the same draws."""
    adp = require("audio_diffusion_pytorch")
    from lineage.diffusion import angle_alpha_sigma, v_target

    net, x = _Recorder(), torch.randn(3, 4, 16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    theirs = adp.VDiffusion(net=net)(x)
    torch.manual_seed(0)  # the same draws, in its order: the levels, then the noise
    s = torch.rand(3)
    noise = torch.randn_like(x)
    alpha, sigma = (a.reshape(-1, 1, 1) for a in angle_alpha_sigma(s))
    xt = alpha * x + sigma * noise
    assert torch.allclose(net.seen[0], xt, atol=1e-6) and torch.allclose(net.seen[1], s)
    ours = torch.nn.functional.mse_loss(net(xt, s), v_target(x, noise, alpha, sigma))
    assert torch.allclose(theirs, ours, atol=1e-6)


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_v_steps_equal_audio_diffusion_pytorch_s_sampler(steps):
    """Its VSampler walks noise levels 1 -> 0 in equal steps; so do `v_step`s on the same network."""
    adp = require("audio_diffusion_pytorch")
    from lineage.diffusion import angle_alpha_sigma, v_step

    net, start = _Recorder(), torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(2))
    theirs = adp.VSampler(net=net)(start, num_steps=steps)
    levels = torch.linspace(1, 0, steps + 1)
    x = start
    for i in range(steps):
        x = v_step(x, net(x, levels[i].repeat(2)), angle_alpha_sigma(levels[i]), angle_alpha_sigma(levels[i + 1]))
    assert torch.allclose(theirs, x, atol=1e-5)


def test_v_recovers_data_and_noise_exactly():
    """x_t and v are a rotation of (x_0, eps): rotating back gives both, at every noise level."""
    from lineage.diffusion import angle_alpha_sigma, from_v, v_target

    g = torch.Generator().manual_seed(3)
    x0, eps = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    alpha, sigma = (a[:, None] for a in angle_alpha_sigma(torch.linspace(0, 1, 5)))
    xt = alpha * x0 + sigma * eps
    back_x0, back_eps = from_v(xt, v_target(x0, eps, alpha, sigma), alpha, sigma)
    assert torch.allclose(back_x0, x0, atol=1e-6) and torch.allclose(back_eps, eps, atol=1e-6)
