"""Building blocks shared by several models of the lineage.

:class:`CausalConv1d` is the dilated causal convolution of WaveNet (and of every sample-level
autoregressive model after it). It runs two ways:

* ``forward(x)`` over a whole sequence (training, and "naive" generation), left-padded so that output
  ``t`` sees only inputs ``<= t``;
* ``step(x_t, queue)`` on one new time step, reading the few past inputs it needs from a ring buffer -
  the per-layer queues of Fast WaveNet (Paine et al. 2016), which make generation O(1) per sample
  instead of O(receptive field).

Both compute ``y_t = b + sum_{j=0}^{k-1} W_j x_{t - (k-1-j) d}``; a test checks they agree.

:class:`LabelEmbedding` is global conditioning on integer labels (pitch, a class, ...): one embedding
table per label, summed into one vector that the model adds wherever it listens to its condition.

:func:`draw` picks the next sample of an autoregressive model from its logits, with uniforms drawn in
advance - so two generation paths of one model can be checked to pick identical samples.

:class:`RunningMean` is an average a model keeps of what it saw in training (a vocoder's average
spectrogram frame, an autoencoder's average embedding) - state, not a parameter: updated in training mode
only, never by gradient, and saved with the model.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalConv1d(nn.Conv1d):
    """``Conv1d`` whose output at time t depends on inputs at t, t-d, ..., t-(k-1)d only."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 2, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.context = (kernel_size - 1) * dilation  # how far back this layer looks

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, T] -> [B, C_out, T]
        return super().forward(F.pad(x, (self.context, 0)))

    def new_queue(self, batch: int, device=None, dtype=None) -> "Queue":
        """An all-zero history, the same as the zero left-padding of ``forward``."""
        return Queue(torch.zeros(batch, self.in_channels, max(self.context, 1), device=device,
                                 dtype=dtype or self.weight.dtype))

    def step(self, x_t: torch.Tensor, queue: "Queue") -> torch.Tensor:  # [B, C_in] -> [B, C_out]
        """One time step: ``y_t = b + W_{k-1} x_t + sum_{j<k-1} W_j x_{t-(k-1-j)d}``."""
        k, d = self.kernel_size[0], self.dilation[0]
        y = F.linear(x_t, self.weight[:, :, k - 1], self.bias)
        for j in range(k - 1):
            y = y + F.linear(queue.read((k - 1 - j) * d), self.weight[:, :, j])
        queue.push(x_t)
        return y


class Queue:
    """A ring buffer holding the last ``length`` inputs of a layer: ``read(lag)`` gives ``x_{t-lag}``."""

    def __init__(self, buffer: torch.Tensor):
        self.buffer = buffer  # [B, C, length]
        self.length = buffer.shape[-1]
        self.t = 0  # index of the next time step

    def read(self, lag: int) -> torch.Tensor:  # x_{t - lag}, [B, C]
        return self.buffer[:, :, (self.t - lag) % self.length]

    def push(self, x_t: torch.Tensor) -> None:
        # x_t overwrites x_{t - length}, the oldest entry, which no read needs any more
        self.buffer[:, :, self.t % self.length] = x_t
        self.t += 1


class LabelEmbedding(nn.ModuleDict):
    """``h = sum_k Embed_k(label_k)``: one table per conditioning label (``model.cond_keys``)."""

    def __init__(self, cond_keys: list[str], cond_classes: list[int], dim: int):
        if len(cond_keys) != len(cond_classes):
            raise ValueError(f"model.cond_keys {cond_keys} and model.cond_classes {cond_classes} must "
                             f"have the same length")
        super().__init__({k: nn.Embedding(n, dim) for k, n in zip(cond_keys, cond_classes)})
        self.dim = dim
        self.register_buffer("zero", torch.zeros(()), persistent=False)  # follows .to() and .double()

    def forward(self, cond: dict | None, batch: int, device=None) -> torch.Tensor:  # -> [B, dim]
        h = self.zero.new_zeros(batch, self.dim)
        missing = [k for k in self if cond is None or k not in cond]
        if missing:
            raise ValueError(f"this model is conditioned on {list(self)} but got no {missing} (a data set "
                             f"without such labels needs model.cond_keys and model.cond_classes set to "
                             f"labels it has)")
        for k, table in self.items():
            labels = torch.as_tensor(cond[k], device=device).long().reshape(-1)
            if labels.min() < 0 or labels.max() >= table.num_embeddings:
                raise ValueError(f"cond[{k!r}] values must be in 0..{table.num_embeddings - 1}")
            h = h + table(labels.expand(batch) if labels.numel() == 1 else labels)
        return h


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Inverse-CDF sampling from ``softmax(logits / temperature)`` (``logits [n, Q]``) with given uniforms
    ``u [n, 1]``: the first class whose cumulative probability reaches ``u``. Temperature 0 is argmax."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    cdf = torch.softmax(logits.double() / temperature, dim=-1).cumsum(dim=-1)
    return torch.searchsorted(cdf, u).squeeze(1).clamp(max=logits.shape[-1] - 1)


class RunningMean(nn.Module):
    """An exponential moving average kept in a buffer: ``track(x)`` sets ``value <- value + rate (x - value)``
    in training mode, and does nothing in eval mode; no gradient flows through it.

    ``x`` may be shorter than ``value`` along the first axis: then only that prefix is updated (DDSP's
    average loudness contour, one second long, tracked from crops of any length)."""

    def __init__(self, initial: torch.Tensor, rate: float = 0.01):
        super().__init__()
        if not 0 < rate <= 1:
            raise ValueError(f"RunningMean rate must be in (0, 1], got {rate}")
        self.rate = rate
        self.register_buffer("value", initial.detach().clone())

    @torch.no_grad()
    def track(self, x: torch.Tensor) -> torch.Tensor:
        """Move ``value[:len(x)]`` a step ``rate`` towards ``x`` (in training mode); returns ``value``."""
        if x.shape[1:] != self.value.shape[1:] or x.shape[0] > self.value.shape[0]:
            raise ValueError(f"RunningMean of shape {tuple(self.value.shape)} cannot track a value of shape "
                             f"{tuple(x.shape)} (the same shape, or a shorter prefix along the first axis)")
        if self.training:
            prefix = self.value[: x.shape[0]]
            prefix.lerp_(x.detach().to(prefix), self.rate)  # value + rate (x - value)
        return self.value

    forward = track
