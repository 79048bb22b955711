"""What every GAN of the zoo shares: the WGAN-GP gradient penalty (Gulrajani et al. 2017), and the training
step of a critic and a generator.

A Wasserstein critic ``D`` must be 1-Lipschitz for ``E[D(real)] - E[D(fake)]`` to estimate the
Wasserstein-1 distance. WGAN-GP asks for it softly: the penalty ``E[(||grad D(x_hat)||_2 - 1)^2]`` at
random points ``x_hat = u real + (1 - u) fake`` on the lines between real and generated examples, one
``u ~ U(0, 1)`` per example, added to the critic's loss with a weight ``lambda`` (10 in the paper).

One training step (:func:`wgan_steps`) updates the critic ``critic_steps`` times, each on a fresh batch,
then the generator once, each part with its own optimizer; while the generator learns, the critic is a
fixed judge (:func:`frozen`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch
import torch.nn as nn

from lineage.protocol import Loss, Step


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """``E[(||grad D(x_hat)||_2 - 1)^2]`` for a critic mapping ``[B, ...]`` to scores ``[B]``; the graph
    is kept (``create_graph``) because the penalty is itself a loss term to differentiate."""
    u = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (u * real.detach() + (1 - u) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@contextmanager
def frozen(module: nn.Module):
    """Inside the block no gradient is computed for ``module``'s weights (the graph records none), though
    gradients still flow *through* it: the generator learns from a critic it does not change."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def wgan_steps(model: nn.Module, critic_loss: Loss, generator_loss: Loss) -> list[Step]:
    """The protocol's ``steps`` of a GAN with ``model.critic``, ``model.generator`` and
    ``model.cfg.critic_steps``: the critic ``critic_steps`` times, then the generator once (WGAN-GP's
    Algorithm 1), each loss ``(model, batch) -> (loss, logs)``."""
    return [Step("critic", tuple(model.critic.parameters()), model.cfg.critic_steps, critic_loss),
            Step("generator", tuple(model.generator.parameters()), 1, generator_loss)]
