"""How a language model reads K streams of codec tokens (MusicGen, Copet et al. 2023, section 2.2).

A codec (chapter 10) turns each frame of audio into K integers, one per codebook, and codebook k refines
what codebooks 1..k-1 left. A language model over these tokens has to predict, for every frame t, the
whole column ``c[:, t]``. Two ways to lay the K x T grid out as one sequence:

* **flattening** - frame after frame, codebook after codebook: ``c[0, 0], c[1, 0], ..., c[K-1, 0],
  c[0, 1], ...``. Every token sees every earlier one, the exact factorisation of ``p(c)``, but the
  model takes ``K T`` steps: 200 a second for 4 codebooks at 50 Hz.
* **the delay pattern** - codebook k shifted k steps to the right, then one step predicts one token of
  every codebook at once:

      step s holds (c[0, s], c[1, s - 1], ..., c[K-1, s - K + 1])        (MusicGen, figure 1)

  so codebook k of frame t is predicted at step ``t + k``, after codebooks 0..k-1 of the same frame
  (steps ``t .. t + k - 1``) - the dependency residual quantisation creates - but not after codebook k+1.
  ``T + K - 1`` steps: 53 a second's worth for 50 frames and 4 codebooks. The K - 1 steps the shift adds
  at the start and end hold a padding token.
"""

from __future__ import annotations

import torch


def delay(codes: torch.Tensor, pad: int) -> torch.Tensor:
    """``codes [B, K, T]`` -> ``[B, K, T + K - 1]`` with ``out[:, k, t + k] = codes[:, k, t]`` and ``pad``
    where codebook k has no frame (its first k steps and its last K - 1 - k)."""
    B, K, T = codes.shape
    out = torch.full((B, K, T + K - 1), pad, dtype=codes.dtype, device=codes.device)
    for k in range(K):
        out[:, k, k:k + T] = codes[:, k]
    return out


def undelay(delayed: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`delay`: ``[B, K, S]`` -> ``[B, K, S - K + 1]``, ``codes[:, k, t] = delayed[:, k, t + k]``."""
    B, K, S = delayed.shape
    T = S - K + 1
    return torch.stack([delayed[:, k, k:k + T] for k in range(K)], dim=1)


def flatten(codes: torch.Tensor) -> torch.Tensor:
    """``codes [B, K, T]`` -> ``[B, K T]``, frame after frame: ``out[:, t K + k] = codes[:, k, t]``."""
    return codes.transpose(1, 2).reshape(codes.shape[0], -1)


def unflatten(tokens: torch.Tensor, K: int) -> torch.Tensor:
    """The inverse of :func:`flatten`: ``[B, K T]`` -> ``[B, K, T]``."""
    return tokens.reshape(tokens.shape[0], -1, K).transpose(1, 2)


def steps(frames: int, K: int, pattern: str) -> int:
    """Autoregressive steps to write ``frames`` frames of ``K`` codebooks: ``K T`` flattened, ``T + K - 1`` delayed."""
    if pattern == "flatten":
        return frames * K
    if pattern == "delay":
        return frames + K - 1
    raise ValueError(f"pattern: {pattern!r} is not one of 'flatten', 'delay'")
