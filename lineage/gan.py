"""What every GAN of the zoo shares: the WGAN-GP gradient penalty (Gulrajani et al. 2017).

A Wasserstein critic ``D`` must be 1-Lipschitz for ``E[D(real)] - E[D(fake)]`` to estimate the
Wasserstein-1 distance. WGAN-GP asks for it softly: the penalty ``E[(||grad D(x_hat)||_2 - 1)^2]`` at
random points ``x_hat = u real + (1 - u) fake`` on the lines between real and generated examples, one
``u ~ U(0, 1)`` per example, added to the critic's loss with a weight ``lambda`` (10 in the paper).
"""

from __future__ import annotations

from typing import Callable

import torch


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """``E[(||grad D(x_hat)||_2 - 1)^2]`` for a critic mapping ``[B, ...]`` to scores ``[B]``; the graph
    is kept (``create_graph``) because the penalty is itself a loss term to differentiate."""
    u = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (u * real.detach() + (1 - u) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
