"""Denoising diffusion (Ho, Jain & Abbeel 2020), the core that WaveGrad, DiffWave and the latent models share.

The idea. Destroy data slowly with Gaussian noise in ``T`` small steps, then learn to undo one step at a
time. The *forward process* adds noise with variances ``beta_1 .. beta_T``:

    q(x_t | x_(t-1)) = N( sqrt(1 - beta_t) x_(t-1),  beta_t I )                           (Ho et al., eq. 2)

and because a sum of Gaussians is Gaussian, any step can be reached from the data in one jump, with
``alpha_t = 1 - beta_t`` and ``abar_t = prod_(s<=t) alpha_s``:

    q(x_t | x_0) = N( sqrt(abar_t) x_0,  (1 - abar_t) I )   i.e.   x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps   (eq. 4)

A network ``eps_theta(x_t, t)`` is trained to recognise the noise in ``x_t`` - a plain regression,
``|| eps - eps_theta(x_t, t) ||^2`` at a random ``t`` (eq. 14, "the simple loss"). Generation starts from
pure noise ``x_T ~ N(0, I)`` and walks back with the *reverse* (ancestral) step

    x_(t-1) = 1/sqrt(alpha_t) ( x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t) ) + sigma_t z     (Algorithm 2)

with ``sigma_t^2`` the variance of the true posterior ``q(x_(t-1) | x_t, x_0)``,

    betatilde_t = (1 - abar_(t-1)) / (1 - abar_t) beta_t                                              (eq. 7)

A clip costs ``T`` network passes, not one per sample - and fewer still with a short schedule that
reaches the same noise level in bigger steps (WaveGrad's and DiffWave's 6-step schedules).

WaveGrad conditions its network on the *continuous* noise level ``sqrt(abar)`` instead of the integer
step; :meth:`Schedule.noise_level` draws it between two neighbouring levels, as the paper does.

Latent diffusion models train a different target, the velocity ``v`` of the v-parameterisation; it is at
the end of this file, written for any ``(alpha, sigma)`` pair of a schedule.

Everything here is checked against Hugging Face ``diffusers`` (``tests/test_diffusion.py``), and the
v-parameterisation against ``audio-diffusion-pytorch``'s v-objective and sampler.
"""

from __future__ import annotations

import math

import torch


def linear_betas(steps: int, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """The DDPM schedule: ``beta_t`` rising linearly from ``start`` to ``end`` over ``steps`` steps
    (DiffWave's BASE model: 50 steps from 1e-4 to 0.05; WaveGrad trained with 1,000)."""
    return torch.linspace(start, end, steps, dtype=torch.float64, device="cpu")


class Schedule:
    """A noise schedule and every quantity derived from it (float64, indexed by ``t = 0 .. T-1``, so
    ``betas[0]`` is the paper's ``beta_1``)."""

    def __init__(self, betas):
        self.betas = torch.as_tensor(betas, dtype=torch.float64, device="cpu")  # moved where used (`_at`)
        if self.betas.dim() != 1 or not ((self.betas > 0) & (self.betas < 1)).all():
            raise ValueError(f"betas must be a 1-D sequence in (0, 1), got {self.betas.tolist()}")
        self.alphas = 1 - self.betas  # alpha_t = 1 - beta_t
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)  # abar_t = prod_(s<=t) alpha_s
        self.alpha_bar_prev = torch.cat([self.alpha_bar.new_ones(1), self.alpha_bar[:-1]])  # abar_(t-1), abar_0 = 1
        # posterior q(x_(t-1) | x_t, x_0) = N(c0 x_0 + ct x_t, betatilde_t)                      (eq. 6-7)
        self.posterior_variance = (1 - self.alpha_bar_prev) / (1 - self.alpha_bar) * self.betas
        self.posterior_c0 = self.alpha_bar_prev.sqrt() * self.betas / (1 - self.alpha_bar)
        self.posterior_ct = self.alphas.sqrt() * (1 - self.alpha_bar_prev) / (1 - self.alpha_bar)

    def __len__(self) -> int:
        return len(self.betas)

    def _at(self, values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
        """``values[t]`` shaped to broadcast against ``like`` ``[B, ...]`` (``t`` an int or ``[B]``)."""
        v = values.to(like.device)[torch.as_tensor(t, device=like.device)]
        return v.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype) if v.dim() else v.to(like.dtype)

    # -- the forward process ----------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` - any step in one jump (eq. 4)."""
        ab = self._at(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def q_step(self, x_prev: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """One step of the forward process: ``x_t = sqrt(1 - beta_t) x_(t-1) + sqrt(beta_t) eps`` (eq. 2)."""
        b = self._at(self.betas, t, x_prev)
        return (1 - b).sqrt() * x_prev + b.sqrt() * noise

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(x_(t-1) | x_t, x_0)`` (eq. 6-7)."""
        mean = self._at(self.posterior_c0, t, xt) * x0 + self._at(self.posterior_ct, t, xt) * xt
        return mean, self._at(self.posterior_variance, t, xt)

    # -- the reverse process ----------------------------------------------------------------------
    def predict_x0(self, xt: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
        """Invert eq. 4 with the predicted noise: ``x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``."""
        ab = self._at(self.alpha_bar, t, xt)
        return (xt - (1 - ab).sqrt() * eps) / ab.sqrt()

    def p_step(self, xt: torch.Tensor, t: int, eps: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """One ancestral step ``x_t -> x_(t-1)`` given the predicted noise (Algorithm 2); no noise is added
        at the last step (``t = 0``)."""
        a, b, ab = (self._at(v, t, xt) for v in (self.alphas, self.betas, self.alpha_bar))
        mean = (xt - b / (1 - ab).sqrt() * eps) / a.sqrt()
        if t == 0 or noise is None:
            return mean
        return mean + self._at(self.posterior_variance, t, xt).sqrt() * noise

    # -- training ---------------------------------------------------------------------------------
    def training_pair(self, x0: torch.Tensor, generator: torch.Generator | None = None):
        """A random step per example and its noisy input: ``(t [B], noise, x_t)`` for the simple loss
        ``|| noise - eps_theta(x_t, t) ||``."""
        t = torch.randint(0, len(self), (x0.shape[0],), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
        return t, noise, self.q_sample(x0, t, noise)

    def noise_level(self, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """WaveGrad's continuous conditioning: ``sqrt(abar)`` drawn uniformly between the levels of
        steps ``t - 1`` and ``t`` (Chen et al. 2020, section 3), one value per example ``[B]``."""
        hi = self.alpha_bar_prev.sqrt()[t.cpu()]
        lo = self.alpha_bar.sqrt()[t.cpu()]
        u = torch.rand(t.shape, generator=generator, dtype=torch.float64)
        return (lo + (hi - lo) * u).to(t.device)


def level_encoding(level: torch.Tensor, dim: int, scale: float) -> torch.Tensor:
    """``[B] -> [B, dim]``: a continuous noise level ``sqrt(abar)`` as ``dim / 2`` sines and cosines,
    ``sin(scale * level * 10^(-4 i / (dim / 2)))`` and its cosine - the encoding of the networks that are
    told the level rather than the step (WaveGrad: ``scale = 5000``; NU-Wave: ``50000``). The scale makes
    neighbouring levels of a 1,000-step schedule, about 1e-4 apart near the data, differ in the fastest
    sinusoid by a usable angle."""
    half = dim // 2
    freqs = torch.exp(-math.log(1e4) * torch.arange(half, device=level.device) / half)  # 10^(-4 i / half)
    arg = scale * level.float()[:, None] * freqs[None]  # [B, dim/2]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)



@torch.no_grad()
def sample_by_level(eps, shape: tuple, sched: Schedule, seed: int = 0, device=None, trace: list | None = None,
                    noise_scale: float = 1.0) -> torch.Tensor:
    """Ancestral sampling (Algorithm 2) for a network told the continuous noise level rather than the step
    (WaveGrad, NU-Wave): ``y_T ~ N(0, I)`` of ``shape``, then one step per beta of ``sched``, with
    ``eps(y_t, sqrt(abar_t) [B]) -> eps_theta`` the network given that step's level. ``trace`` receives
    ``y_t`` before each step; ``noise_scale`` multiplies the noise each step adds (0: the means alone).
    Returns the clip clamped to [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    levels = sched.alpha_bar.sqrt().float()  # sqrt(abar_t) of the schedule walked
    y = torch.randn(shape, generator=g).to(device)  # y_T ~ N(0, I)
    for t in reversed(range(len(sched))):
        if trace is not None:
            trace.append(y.cpu())
        e = eps(y, levels[t].to(device).expand(shape[0]))  # eps_theta(y_t, ..., sqrt(abar_t))
        z = noise_scale * torch.randn(shape, generator=g).to(device) if t > 0 else None
        y = sched.p_step(y, t, e, z)  # y_(t-1)
    return y.clamp(-1, 1)

# -- the v-parameterisation (Salimans & Ho 2022), what latent diffusion models train -------------------
# Write a noisy example as a rotation of data and noise, x_t = alpha x_0 + sigma eps with
# alpha^2 + sigma^2 = 1 (DDPM: alpha = sqrt(abar_t); audio-diffusion-pytorch: alpha = cos(phi),
# sigma = sin(phi), phi = s pi / 2 for a noise level s in [0, 1]). The network predicts the *velocity*
#     v = d x_t / d phi = alpha eps - sigma x_0,
# the other axis of the same rotation. Given x_t and v, both ends follow by rotating back:
#     x_0 = alpha x_t - sigma v,        eps = sigma x_t + alpha v.
# Unlike eps, v stays a useful target at both ends of the schedule: at alpha -> 0 predicting eps says
# nothing about x_0, while v -> -x_0 does.


def angle_alpha_sigma(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise level ``s`` in [0, 1] -> ``(alpha, sigma) = (cos(s pi / 2), sin(s pi / 2))``."""
    phi = s * torch.pi / 2
    return torch.cos(phi), torch.sin(phi)


def v_target(x0: torch.Tensor, noise: torch.Tensor, alpha, sigma) -> torch.Tensor:
    """``v = alpha eps - sigma x_0``: the v-objective's regression target."""
    return alpha * noise - sigma * x0


def from_v(xt: torch.Tensor, v: torch.Tensor, alpha, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_0, eps)`` from a noisy example and its predicted velocity (the rotation undone)."""
    return alpha * xt - sigma * v, sigma * xt + alpha * v


def v_step(xt: torch.Tensor, v: torch.Tensor, now: tuple, then: tuple) -> torch.Tensor:
    """One deterministic (DDIM, Song et al. 2021) step from noise level ``now = (alpha, sigma)`` to a
    lower one ``then``: predict ``x_0`` and ``eps``, then re-noise ``x_0`` to the new level with the same
    ``eps``: ``x_then = alpha' x_0 + sigma' eps``."""
    x0, eps = from_v(xt, v, *now)
    return then[0] * x0 + then[1] * eps
