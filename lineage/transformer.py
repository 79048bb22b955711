"""The transformer pieces the token models share (Vaswani et al. 2017, in the pre-norm form GPT-2 and
MusicGen use).

* :class:`Attention` - multi-head attention, ``softmax(Q K^T / sqrt(d)) V`` per head, over the sequence
  itself (causal or not) or over a *context* (cross-attention to a condition). For generation it keeps a
  **KV cache**: the keys and values of every position already seen, so one new step costs one query
  against the cache instead of the whole prefix again (a test checks both give the same tokens).
* :class:`Block` - ``x + SelfAttn(LN x)``, then ``x + CrossAttn(LN x, context)`` when the block listens to
  a condition, then ``x + MLP(LN x)`` with a 4x wide GELU MLP.
* :class:`TextEncoder` - caption tokens (:mod:`lineage.data.text`) to one vector per word, ``[B, L, D]``,
  by a small bidirectional stack: the shape of T5's encoder (pre-norm, every word sees every word), with
  learnt absolute positions instead of T5's bucketed relative biases.
* :func:`sinusoids` - the fixed positional code ``PE[p, 2i] = sin(p / 10000^(2i/D))``, ``PE[p, 2i+1] =
  cos(...)``, which needs no maximum length (MusicGen's decoder uses it).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoids(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``positions [L]`` -> ``[L, dim]``: sines in the first half, cosines in the second (the same code as
    interleaving them, up to a fixed permutation of the channels)."""
    i = torch.arange(dim // 2, device=positions.device, dtype=torch.float64)
    angle = positions.double()[:, None] / 10000 ** (2 * i / dim)  # p / 10000^(2i/D)
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.dim {dim} must be a multiple of model.heads {heads}")
        self.heads = heads
        self.q, self.kv, self.out = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, D] -> [B, H, L, D / H]
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                causal: bool = False, cache: dict | None = None) -> torch.Tensor:
        """``x [B, L, D]`` attends to ``context [B, M, D]`` (to itself when None); ``mask [B, M]`` is True
        where a context position may be seen. With ``cache`` (a dict, empty at the first step) ``x`` holds
        only the new positions, and the keys and values of the earlier ones are read from it."""
        B, L, D = x.shape
        q = self._split(self.q(x))  # [B, H, L, d]
        k, v = (self._split(t) for t in self.kv(x if context is None else context).chunk(2, dim=-1))
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        M = k.shape[2]
        allowed = None
        if causal:  # query i (position M - L + i) sees keys j <= M - L + i
            allowed = torch.ones(L, M, dtype=torch.bool, device=x.device).tril(diagonal=M - L)
        if mask is not None:
            allowed = mask[:, None, None, :] if allowed is None else allowed & mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # softmax(q k^T / sqrt d) v
        return self.out(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, cross: bool = False, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.cross = Attention(dim, heads) if cross else None
        self.norm2 = nn.LayerNorm(dim) if cross else None
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, causal: bool = False, mask: torch.Tensor | None = None,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None,
                cache: dict | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask=mask, causal=causal, cache=cache))
        if self.cross is not None:
            x = x + self.drop(self.cross(self.norm2(x), context=context, mask=context_mask))
        return x + self.drop(self.mlp(self.norm3(x)))


class TextEncoder(nn.Module):
    """Caption tokens ``[B, L]`` (0 = padding) -> ``(h [B, L, D], mask [B, L])``, mask True at real words."""

    def __init__(self, vocab: int, dim: int, heads: int, layers: int, max_words: int = 64):
        super().__init__()
        self.vocab, self.max_words = vocab, max_words
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(max_words, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.position.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = tokens.long()
        B, L = tokens.shape
        if L > self.max_words:
            raise ValueError(f"a caption of {L} words is longer than the text encoder's {self.max_words}; "
                             f"raise model.text_words")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab):
            raise ValueError(f"caption tokens must lie in 0..{self.vocab - 1} ; this data set's "
                             f"captions have {int(tokens.max()) + 1} or more words - raise the model's text table size")
        mask = tokens != 0
        x = self.embed(tokens) + self.position.weight[:L]
        for block in self.blocks:
            x = block(x, mask=mask | ~mask.any(dim=1, keepdim=True))  # an empty caption sees its padding
        return self.norm(x), mask

