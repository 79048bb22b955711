"""Residual vector quantisation (SoundStream, Zeghidour et al. 2021; EnCodec, Défossez et al. 2022).

The idea. A vector quantiser replaces each latent frame ``z in R^D`` by the nearest of ``S`` learned
vectors (its *codebook*) and sends only the index: ``log2 S`` bits per frame. One codebook of 256 is 8 bits
a frame - far too coarse for audio. Making the codebook bigger does not scale (``S = 2^80`` codes for 80
bits). **Residual** VQ stacks ``K`` small quantisers instead, each coding what the previous ones missed:

    r_0 = z,    q_k = e^(k)_{i_k},  i_k = argmin_i || r_{k-1} - e^(k)_i ||^2,    r_k = r_{k-1} - q_k
    z_hat = q_1 + q_2 + ... + q_K                                                   (SoundStream, Alg. 1)

``K x log2 S`` bits per frame with only ``K x S`` vectors stored, and the first ``n < K`` codebooks alone
are already a coarser code of the same frame: one model, several bitrates.

How the codebooks learn (each trick is one method below):

* **k-means initialisation** - the first training batch's residuals are clustered, so no code starts far
  from the data (SoundStream, section 3.3);
* **EMA updates** instead of gradients (VQ-VAE-2): each code's usage ``N_i`` and the sum ``m_i`` of the
  vectors it won are running averages, and the code is their ratio, ``e_i = m_i / N_i`` - the k-means
  update, done online;
* **dead-code restarts** - a code whose running usage falls under a threshold is moved onto a random
  residual of the current batch, so no code is wasted (EnCodec's threshold of 2);
* **commitment loss** ``beta || r_{k-1} - sg(q_k) ||^2`` pulls the encoder towards its codes;
* **straight-through gradients** - ``argmin`` has no gradient, so the backward pass treats quantisation
  as the identity: ``z_hat_st = z + sg(z_hat - z)``;
* **quantiser dropout** (SoundStream) - each training example keeps only its first ``n ~ U{1..K}``
  codebooks, so every prefix of the stack is trained to be a good code on its own.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Codebook(nn.Module):
    """One vector quantiser: ``size`` vectors of ``dim``, learned by EMA (buffers, not parameters)."""

    def __init__(self, size: int, dim: int, decay: float = 0.99, dead_threshold: float = 2.0,
                 eps: float = 1e-5):
        super().__init__()
        self.size, self.decay, self.dead_threshold, self.eps = size, decay, dead_threshold, eps
        embed = torch.randn(size, dim)
        self.register_buffer("embed", embed)  # e_i, [S, D]
        self.register_buffer("embed_sum", embed.clone())  # m_i: EMA of the sum of the vectors code i won
        self.register_buffer("usage", torch.ones(size))  # N_i: EMA of how many vectors code i won per batch
        self.register_buffer("initted", torch.tensor(False))  # k-means has run

    def nearest(self, r: torch.Tensor) -> torch.Tensor:  # [N, D] -> indices [N]
        # ||r - e||^2 = ||r||^2 - 2 r.e + ||e||^2, for every pair at once
        d = r.pow(2).sum(1, keepdim=True) - 2 * r @ self.embed.T + self.embed.pow(2).sum(1)  # [N, S]
        return d.argmin(dim=1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:  # [...] -> [..., D]
        return F.embedding(idx, self.embed)

    @torch.no_grad()
    def kmeans_init(self, r: torch.Tensor, iters: int = 10) -> None:
        """Lloyd's k-means on the residuals ``r [N, D]``, from ``S`` of them drawn at random."""
        start = torch.randint(0, r.shape[0], (self.size,), device=r.device)
        centres = r[start].clone()  # [S, D]
        for _ in range(iters):
            self.embed.copy_(centres)
            onehot = F.one_hot(self.nearest(r), self.size).to(r.dtype)  # [N, S]
            counts = onehot.sum(0)  # [S]
            sums = onehot.T @ r  # [S, D]
            centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
        self.embed.copy_(centres)
        self.embed_sum.copy_(centres)
        self.usage.fill_(1.0)
        self.initted.fill_(True)

    @torch.no_grad()
    def ema_update(self, r: torch.Tensor, idx: torch.Tensor) -> None:
        """``N_i <- g N_i + (1 - g) n_i``, ``m_i <- g m_i + (1 - g) sum_{idx = i} r``, ``e_i = m_i / N_i``."""
        onehot = F.one_hot(idx, self.size).to(r.dtype)  # [N, S]
        self.usage.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.T @ r, alpha=1 - self.decay)
        # Laplace smoothing keeps an unused code's N_i above zero (then m_i / N_i stays finite)
        n = self.usage.sum()
        usage = (self.usage + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_sum / usage[:, None])

    @torch.no_grad()
    def restart_dead(self, r: torch.Tensor) -> int:
        """Codes whose usage ``N_i`` fell under the threshold move onto random residuals of ``r``; how many."""
        dead = self.usage < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = r[torch.randint(0, r.shape[0], (n_dead,), device=r.device)]
            self.embed[dead] = pick
            self.embed_sum[dead] = pick * self.dead_threshold
            self.usage[dead] = self.dead_threshold
        return n_dead


class ResidualVQ(nn.Module):
    """``K`` codebooks of ``size`` vectors of ``dim``, each quantising what the previous ones left."""

    def __init__(self, n_codebooks: int, size: int, dim: int, decay: float = 0.99,
                 dead_threshold: float = 2.0):
        super().__init__()
        self.codebooks = nn.ModuleList(Codebook(size, dim, decay, dead_threshold) for _ in range(n_codebooks))

    @property
    def n_codebooks(self) -> int:
        return len(self.codebooks)

    def bits_per_frame(self, n: int | None = None) -> float:
        """``n x log2 S``: the bits one frame costs with the first ``n`` codebooks (all by default)."""
        return (n or self.n_codebooks) * math.log2(self.codebooks[0].size)

    def forward(self, z: torch.Tensor, n_q: torch.Tensor | int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Quantise ``z [B, D, F]`` with the first ``n_q`` codebooks (an int, or one per example ``[B]``).

        Returns ``(z_hat [B, D, F]`` with straight-through gradients, ``codes [B, K, F]`` (every codebook's
        choice, used or not), the commitment loss, logs)``. In training mode the codebooks learn (k-means
        on first use, EMA, dead-code restarts) from the examples that use them.
        """
        B, D, Fr = z.shape
        n_q = self.n_codebooks if n_q is None else n_q
        n_q = torch.as_tensor(n_q, device=z.device).expand(B)  # [B]
        residual = z.detach().transpose(1, 2).reshape(B * Fr, D)  # r_0 = z, frames as rows [B F, D]
        keep_rows = n_q.repeat_interleave(Fr)  # [B F]: how many codebooks each row's example keeps
        z_hat = torch.zeros_like(residual)
        codes, commit, restarted = [], z.new_zeros(()), 0
        z_rows = z.transpose(1, 2).reshape(B * Fr, D)  # the same rows, with the encoder's gradient
        for k, cb in enumerate(self.codebooks):
            active = keep_rows > k  # [B F] rows whose example uses codebook k
            learn = self.training and bool(active.any())
            if learn and not bool(cb.initted):
                cb.kmeans_init(residual[active])
            idx = cb.nearest(residual)  # i_k, [B F]
            q = cb.lookup(idx)  # q_k, [B F, D]
            if learn:
                cb.ema_update(residual[active], idx[active])
                restarted += cb.restart_dead(residual[active])
            if active.any():
                # beta || r_{k-1} - sg(q_k) ||^2 with r_{k-1} = z - sum_{j<k} sg(q_j): the gradient reaches z
                r_grad = z_rows - z_hat  # z_hat is detached: the sum of the earlier codes
                commit = commit + F.mse_loss(r_grad[active], q[active].detach())
            z_hat = z_hat + q * active[:, None]  # codebooks beyond an example's n_q add nothing
            residual = residual - q  # r_k = r_{k-1} - q_k
            codes.append(idx.view(B, Fr))
        z_hat = z_hat.view(B, Fr, D).transpose(1, 2)  # [B, D, F]
        z_hat = z + (z_hat - z).detach()  # straight-through: forward z_hat, backward identity
        return z_hat, torch.stack(codes, dim=1), commit / self.n_codebooks, {"dead_restarts": float(restarted)}

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes [B, n, F]`` (the first ``n <= K`` codebooks) -> ``z_hat [B, D, F] = sum_k e^(k)[codes_k]``."""
        z_hat = sum(cb.lookup(codes[:, k]) for k, cb in enumerate(self.codebooks[:codes.shape[1]]))
        return z_hat.transpose(1, 2)
