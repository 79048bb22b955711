"""A language model over codec tokens: AudioGen (Kreuk et al., 2022) and MusicGen (Copet et al., 2023).

The idea. A codec (chapter 10) has turned audio into K streams of integers at 50 frames a second. Audio
generation is then *text generation*: one decoder-only transformer predicts the next tokens given the
earlier ones, ``p(c) = prod_s p(c_s | c_<s, condition)``, and the codec's decoder turns the tokens back
into sound. Two choices make it work:

* **How the K x T grid becomes one sequence** (``pattern.py``). MusicGen's **delay pattern** shifts
  codebook k by k steps, so one step predicts one token of every codebook at once - ``T + K - 1`` steps
  instead of flattening's ``K T`` - while codebook k of a frame still comes after codebooks 0..k-1 of it.
  The K tokens of a step enter as the *sum* of K embeddings, ``x_s = sum_k E_k[c_{k, s}]``, and leave
  through K output heads, ``p(c_{k, s+1} | ...) = softmax(W_k h_s)``.
* **The condition enters by cross-attention.** Every block attends to a small *memory*: the caption's
  words through a text encoder (MusicGen's T5, here a tiny one trained with the model,
  :class:`lineage.transformer.TextEncoder`), one vector per label where a model is conditioned on labels,
  and a learnt **null** vector that is always there. **Classifier-free guidance**: in training a
  condition is dropped (only the null vector is left) with probability ``cond_dropout``, so one model
  learns ``p(c | text)`` and ``p(c)``; generation mixes their logits,
  ``l = l_uncond + gamma (l_cond - l_uncond)`` (MusicGen: gamma = 3).

Sampling is top-k / temperature, one step at a time with a **KV cache** (``lineage.transformer``).
AudioGen is this machine on sound effects, MusicGen on music; only the data and the captions differ.

The model reads tokens, not audio: ``prepare`` encodes every clip of the data set once with the frozen
codec (the ``codec`` entry's shipped weights by default, ``model.codec``), and ``sample`` decodes what
the transformer writes with the same codec. Differences from the papers, stated once: a tiny transformer
(MusicGen small: 24 layers, width 1024, 300M parameters) and a text encoder trained from scratch on the
data set's own templated captions instead of a frozen pretrained T5; sinusoidal positions as MusicGen,
pre-norm blocks with LayerNorm; no melody conditioning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.nn import draw
from lineage.protocol import Features, single_step
from lineage.transformer import Block, TextEncoder, sinusoids
from zoo.codec_lm import pattern as P


@dataclass
class Config:
    codec: str = "codec"  # the codec: a zoo entry's shipped weights (its name) or a run folder
    n_codebooks: int = field(default=4, metadata={"min": 1, "max": 64})  # K: the codec's first K codebooks
    codebook_size: int = field(default=64, metadata={"min": 2})  # S: must be the codec's
    pattern: Literal["delay", "flatten"] = "delay"
    dim: int = field(default=128, metadata={"min": 8})
    layers: int = field(default=4, metadata={"min": 1, "max": 64})
    heads: int = field(default=4, metadata={"min": 1})
    dropout: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    cond_keys: list[str] = field(default_factory=lambda: ["text"])  # "text": the caption; others: labels
    cond_classes: list[int] = field(default_factory=lambda: [256])  # each key's table size ("text": words)
    text_words: int = field(default=32, metadata={"min": 1})  # the longest caption it reads
    text_layers: int = field(default=2, metadata={"min": 1})
    cond_dropout: float = field(default=0.2, metadata={"min": 0.0, "max": 1.0})  # CFG's training-time drop
    guidance: float = field(default=3.0, metadata={"min": 0.0})  # gamma; 1 = the conditional model alone
    temperature: float = field(default=1.0, metadata={"min": 0.0})
    top_k: int = field(default=0, metadata={"min": 0})  # 0 = every token (MusicGen: 250 of 2048)


class CodecLM(nn.Module):
    """The transformer over tokens. It never sees audio: ``codec`` (loaded on first use) does that."""

    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        self.cfg, self.sample_rate = cfg, sample_rate
        K, S, D = cfg.n_codebooks, cfg.codebook_size, cfg.dim
        self.special = S  # one extra token per codebook: the start of the sequence and the delay's padding
        self.embed = nn.ModuleList(nn.Embedding(S + 1, D) for _ in range(K))  # E_k
        self.heads = nn.ModuleList(nn.Linear(D, S) for _ in range(K))  # W_k
        self.blocks = nn.ModuleList(Block(D, cfg.heads, cross=True, dropout=cfg.dropout) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(D)
        if len(cfg.cond_keys) != len(cfg.cond_classes):
            raise ValueError(f"model.cond_keys {cfg.cond_keys} and model.cond_classes {cfg.cond_classes} must "
                             f"have the same length (for 'text', the words its encoder knows)")
        tables = dict(zip(cfg.cond_keys, cfg.cond_classes))
        self.text = (TextEncoder(tables.pop("text"), D, cfg.heads, cfg.text_layers, cfg.text_words)
                     if "text" in tables else None)
        self.labels = nn.ModuleDict({k: nn.Embedding(n, D) for k, n in tables.items()})
        self.null = nn.Parameter(torch.randn(1, 1, D) * 0.02)  # the memory of "no condition"
        for e in self.embed:
            nn.init.normal_(e.weight, std=0.02)

    # -- the condition: a memory of vectors the blocks cross-attend to --------------------------------
    def memory(self, cond: dict | None, batch: int, drop: torch.Tensor | None = None):
        """``(memory [B, 1 + M, D], visible [B, 1 + M])``: the null vector, then the caption's words and
        one vector per label. ``drop [B]`` (True = unconditional) hides all but the null vector."""
        parts, visible = [self.null.expand(batch, 1, -1)], [torch.ones(batch, 1, dtype=torch.bool, device=self.null.device)]
        missing = [k for k in self.cfg.cond_keys if cond is None or k not in cond]
        if missing and (drop is None or not bool(drop.all())):  # only a wholly dropped condition may be absent
            raise ValueError(f"this model is conditioned on {self.cfg.cond_keys} but got no {missing}; pass "
                             f"them in cond (or guidance with every condition dropped)")
        if not missing:
            if self.text is not None:
                h, words = self.text(cond["text"].to(self.null.device))
                parts.append(h), visible.append(words)
            for k, table in self.labels.items():
                parts.append(table(cond[k].to(self.null.device).long().reshape(batch, 1)))
                visible.append(torch.ones(batch, 1, dtype=torch.bool, device=self.null.device))
        memory, visible = torch.cat(parts, dim=1), torch.cat(visible, dim=1)
        if drop is not None:
            visible = visible & ~drop[:, None].to(visible.device)
            visible[:, 0] = True
        return memory, visible

    # -- the transformer over a sequence of token embeddings -------------------------------------------
    def hidden(self, x: torch.Tensor, offset: int, memory, visible, caches=None) -> torch.Tensor:
        """``x [B, L, D]`` (positions ``offset .. offset + L - 1``) -> ``h [B, L, D]``, causal; with
        ``caches`` (one dict per block) only the new positions are given."""
        position = sinusoids(torch.arange(offset, offset + x.shape[1], device=x.device), x.shape[-1])
        x = x + position.to(x.dtype)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, context=memory, context_mask=visible,
                      cache=None if caches is None else caches[i])
        return self.norm(x)

    def embed_delayed(self, columns: torch.Tensor) -> torch.Tensor:
        """``columns [B, K, L]`` -> ``sum_k E_k[columns[:, k]]`` ``[B, L, D]``."""
        return sum(e(columns[:, k]) for k, e in enumerate(self.embed))

    def embed_flat(self, tokens: torch.Tensor, offset: int) -> torch.Tensor:
        """``tokens [B, L]`` at positions ``offset ..``: position 0 is the start token, position p >= 1
        holds codebook ``(p - 1) mod K`` and goes through that codebook's table."""
        K = len(self.embed)
        table = torch.stack([e.weight for e in self.embed])  # [K, S + 1, D]
        book = (torch.arange(offset, offset + tokens.shape[1], device=tokens.device) - 1) % K  # the start uses E_{K-1}
        return table[book[None, :], tokens]  # [B, L, D]

    def logits(self, codes: torch.Tensor, cond: dict | None, drop: torch.Tensor | None = None):
        """Teacher forcing on ``codes [B, K, T]``: ``(logits [B, K, L, S], targets [B, K, L])``, targets
        -100 where the delay pattern holds padding (nothing to predict)."""
        B, K, T = codes.shape
        memory, visible = self.memory(cond, B, drop)
        start = torch.full((B, K, 1), self.special, dtype=codes.dtype, device=codes.device)
        if self.cfg.pattern == "delay":
            target = P.delay(codes, self.special)  # [B, K, T + K - 1]
            h = self.hidden(self.embed_delayed(torch.cat([start, target[..., :-1]], dim=-1)), 0, memory, visible)
            logits = torch.stack([head(h) for head in self.heads], dim=1)  # [B, K, L, S]
            return logits, target.masked_fill(target == self.special, -100)
        flat = P.flatten(codes)  # [B, K T]: position p predicts token p, of codebook p mod K
        h = self.hidden(self.embed_flat(torch.cat([start[:, 0], flat[:, :-1]], dim=-1), 0), 0, memory, visible)
        h = h.view(B, T, K, -1)
        return torch.stack([head(h[:, :, k]) for k, head in enumerate(self.heads)], dim=1), codes  # [B, K, T, S]

    # -- generation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, n: int, frames: int, cond: dict | None = None, seed: int = 0, cache: bool = True,
                 guidance: float | None = None, temperature: float | None = None, top_k: int | None = None):
        """``codes [n, K, frames]``, one step at a time (``T + K - 1`` steps delayed, ``K T`` flattened),
        with classifier-free guidance when the model has a condition and ``guidance != 1``. Without ``cond``
        a conditioned model writes unconditionally: its memory is the null vector alone."""
        cfg, K, special = self.cfg, len(self.embed), self.special
        guidance = cfg.guidance if guidance is None else guidance
        temperature = cfg.temperature if temperature is None else temperature
        top_k = cfg.top_k if top_k is None else top_k
        device = self.null.device
        conditioned = bool(self.cfg.cond_keys) and cond is not None and all(k in cond for k in cfg.cond_keys)
        guided = conditioned and guidance != 1
        if guided:  # the batch twice: conditional rows, then unconditional ones
            cond2 = {k: torch.cat([v, v]) for k, v in cond.items() if k in cfg.cond_keys}
            memory, visible = self.memory(cond2, 2 * n, torch.arange(2 * n, device=device) >= n)
        else:
            memory, visible = self.memory(cond if conditioned else None, n,
                                          None if conditioned else torch.ones(n, dtype=torch.bool, device=device))
        rows = memory.shape[0]
        caches = [{} for _ in self.blocks] if cache else None
        gen = torch.Generator().manual_seed(seed)
        delayed = cfg.pattern == "delay"
        total = P.steps(frames, K, cfg.pattern)
        seq = torch.full((rows, K, 1) if delayed else (rows, 1), special, dtype=torch.long, device=device)
        for s in range(total):
            new = seq[..., -1:] if cache else seq  # the newest column only, when the cache holds the rest
            offset = s if cache else 0
            x = self.embed_delayed(new) if delayed else self.embed_flat(new, offset)
            h = self.hidden(x, offset, memory, visible, caches)[:, -1]  # [rows, D]
            books = range(K) if delayed else [s % K]
            logits = torch.stack([self.heads[k](h) for k in books], dim=1).double()  # [rows, k, S]
            if guided:
                logits = logits[n:] + guidance * (logits[:n] - logits[n:])  # l_u + gamma (l_c - l_u)
            if top_k:
                kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            u = torch.rand(n * len(books), 1, generator=gen, dtype=torch.float64).to(device)
            token = draw(logits.reshape(n * len(books), -1), u, temperature).view(n, len(books))
            if delayed:  # codebook k has a frame at step s only for k <= s < k + frames
                k = torch.arange(K, device=device)
                token = token.masked_fill((s < k) | (s - k >= frames), special)
            token = torch.cat([token, token]) if guided else token
            seq = torch.cat([seq, token[..., None] if delayed else token], dim=-1)
        seq = seq[:n, ..., 1:]
        return P.undelay(seq) if delayed else P.unflatten(seq, K)

    # -- the codec, frozen and outside the state dict (it ships with its own entry) ----------------------
    @cached_property
    def codec(self):
        return load_codec(self.cfg, self.sample_rate)


def load_codec(cfg, sample_rate: int):
    """The frozen codec ``cfg.codec`` names, checked against the LM's config, in eval mode."""
    from lineage.config import ConfigError
    from lineage.run import Run

    run = Run.load(cfg.codec)
    codec = run.model(device="cpu").eval().requires_grad_(False)
    have = (codec.cfg.n_codebooks, codec.cfg.codebook_size, codec.sample_rate)
    if cfg.n_codebooks > have[0] or cfg.codebook_size != have[1] or sample_rate != have[2]:
        raise ConfigError(f"model.codec {cfg.codec!r} has {have[0]} codebooks of {have[1]} at {have[2]} Hz; "
                          f"model.n_codebooks must be at most {have[0]}, model.codebook_size {have[1]} and "
                          f"data.sample_rate {have[2]}")
    return codec


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> CodecLM:
    return CodecLM(cfg.model, sample_rate=cfg.data.sample_rate)


def prepare(cfg, clips) -> Features:
    """Every clip's tokens, computed once by the frozen codec (and cached beside the data, keyed by the
    codec's weights): ``code0 .. code{K-1}`` ``[N, frames]`` (int64), one frame every ``hop`` samples,
    cropped with the audio like any per-frame feature."""
    from lineage.data.cache import cached_arrays
    from lineage.files import sha256
    from lineage.run import Run

    from lineage.config import ConfigError

    K = cfg.model.n_codebooks
    codec = load_codec(cfg.model, cfg.data.sample_rate)
    if 0 < cfg.data.segment < codec.hop:
        raise ConfigError(f"data.segment {cfg.data.segment} is shorter than one frame of the codec ({codec.hop} "
                          f"samples): set it to 0 (whole clips) or a multiple of {codec.hop}")
    weights = sha256(Run.load(cfg.model.codec).latest / "model.safetensors")[:16]

    def compute() -> dict:
        codes = torch.cat([codec.encode(torch.from_numpy(clips.audio[i:i + 64])[:, None], K)  # [b, K, F]
                           for i in range(0, len(clips), 64)]).numpy()
        return {f"code{k}": codes[:, k] for k in range(K)}

    return Features(codec.hop, cached_arrays("codec_lm", clips, f"{weights}-{K}", compute))


def codes_of(batch: dict, K: int) -> torch.Tensor:
    return torch.stack([batch[f"code{k}"] for k in range(K)], dim=1).long()  # [B, K, F]


def loss(model: CodecLM, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of every token given the earlier ones (teacher forcing), averaged over the tokens,
    with each example's condition dropped with probability ``cond_dropout``."""
    codes = codes_of(batch, model.cfg.n_codebooks)
    drop = None
    if model.cfg.cond_keys:
        p = model.cfg.cond_dropout if model.training else 0.0
        drop = torch.rand(codes.shape[0], device=codes.device) < p
    logits, target = model.logits(codes, batch, drop)
    ce = F.cross_entropy(logits.flatten(0, 2), target.flatten(), ignore_index=-100)
    with torch.no_grad():  # each codebook's own cross-entropy, in bits per token
        per_book = [F.cross_entropy(logits[:, k].flatten(0, 1), target[:, k].flatten(), ignore_index=-100)
                    for k in range(logits.shape[1])]
    logs = {"ce": float(ce.detach()), **{f"bits{k}": float(c) / np.log(2) for k, c in enumerate(per_book)}}
    return ce, logs


steps = single_step(loss)


def token_nll(model: CodecLM, batch: dict) -> torch.Tensor:
    """Mean cross-entropy per token of the batch's codes (nats), every condition given: the likelihood a
    token model has - of the codec's codes, not of the audio's samples."""
    logits, target = model.logits(codes_of(batch, model.cfg.n_codebooks), batch)
    return F.cross_entropy(logits.flatten(0, 2), target.flatten(), ignore_index=-100)


def sample(model: CodecLM, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """``n`` clips of ``seconds``: tokens written by the transformer (guided by ``cond`` where the model
    is conditioned), decoded by the codec."""
    codec = model.codec.to(model.null.device)
    length = int(round(seconds * model.sample_rate))
    codes = model.generate(n, -(-length // codec.hop), cond, seed=seed)
    return codec.decode(codes)[..., :length]


def facts(model: CodecLM) -> dict:
    """The layout and its cost; the frame rate and steps per second of audio need the codec's hop, so they
    are left out where the codec has not been trained yet (the gpu preset's)."""
    cfg = model.cfg
    out = {"codec": cfg.codec, "codebooks": cfg.n_codebooks, "pattern": cfg.pattern,
           "conditioning": ", ".join(cfg.cond_keys) or "none", "guidance": cfg.guidance}
    try:
        frame_rate = model.sample_rate / model.codec.hop
    except FileNotFoundError:
        return out
    return {**out, "frame_rate": frame_rate,
            "steps_per_second": P.steps(int(round(frame_rate)), cfg.n_codebooks, cfg.pattern)}
