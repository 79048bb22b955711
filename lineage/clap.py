"""CLAP: contrastive language-audio pretraining (Elizalde et al. 2022; Wu et al. 2023, LAION-CLAP).

The idea. Two encoders, one space. An audio encoder turns a clip into a vector, a text encoder turns a
caption into a vector, and both are trained so that a clip lands near its own caption and away from the
others of the batch. Nothing is labelled: (clip, caption) pairs are the only supervision. With unit
vectors ``a_i`` (audio) and ``w_j`` (text) and a learnt temperature ``tau``, the batch's similarities are

    s_ij = <a_i, w_j> / tau                                                        (CLIP, Radford et al. 2021)

and the loss is **symmetric InfoNCE**: a softmax over each row picks clip i's caption among the B
captions (audio -> text), a softmax over each column picks caption j's clip (text -> audio),

    L = 1/2 [ -1/B sum_i log softmax_j(s_ij)[i]  -  1/B sum_j log softmax_i(s_ij)[j] ]

``1/tau`` is learnt through ``log(1/tau)`` (CLIP's start: tau = 0.07) and capped at 100. Once trained,
the space answers three questions, each measured here:

* **retrieval** - which caption fits this clip, which clip fits this caption (recall@k);
* **zero-shot classification** - write one prompt per class ("a snare drum") and give each clip the
  class whose prompt is nearest, with no classifier ever trained on the labels;
* **the CLAP score** - the cosine of a generated clip to the prompt it was made from (the metric of
  text-to-audio papers since AudioLDM). Latent diffusion models also *condition* on this space.

One departure from CLIP, forced by templated captions: two clips of a batch may share a caption ("a loud
snare drum"), and plain InfoNCE would push a clip away from its own words because they sit in another
column. Here every column with the same caption is a positive, the target spread evenly over them
(:func:`contrastive_loss`); with distinct captions this is exactly CLIP's loss (checked against
transformers' ``ClapModel`` loss in the tests).

Towers, small on purpose: the audio tower is the judge's log-mel CNN shape (four conv blocks, mean and max
pooling; LAION-CLAP uses HTSAT, a Swin transformer over the mel image), the text tower the shared
:class:`lineage.transformer.TextEncoder`, mean-pooled over the words (LAION-CLAP: RoBERTa), each followed
by a linear projection into the joint space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.eval.classifier import LogMel, mel_convs
from lineage.transformer import TextEncoder


@dataclass
class ClapConfig:
    embed: int = 64  # the joint space
    width: int = 16  # audio tower: channels of the first conv block
    dim: int = 64  # text tower: width
    text_layers: int = 2
    heads: int = 4
    max_words: int = 32


class AudioTower(nn.Module):
    """``audio [B, T] -> [B, 4 width]``: log-mel, four conv blocks, global mean and max pooling."""

    def __init__(self, sample_rate: int, width: int):
        super().__init__()
        self.frontend = LogMel(sample_rate)
        self.convs = mel_convs(width)  # the judge's four conv blocks
        self.out_dim = 4 * width  # mean and max of 2 width channels

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.frontend(audio))  # [B, C, mels / 16, frames / 16]
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)  # [B, 2C]


class CLAP(nn.Module):
    """The two towers and the temperature. ``vocab`` is the caption vocabulary the text tower reads."""

    def __init__(self, sample_rate: int, vocab: list[str], cfg: ClapConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ClapConfig()
        self.sample_rate, self.vocab = sample_rate, list(vocab)
        self.audio = AudioTower(sample_rate, cfg.width)
        self.text = TextEncoder(len(vocab), cfg.dim, cfg.heads, cfg.text_layers, cfg.max_words)
        self.audio_proj = nn.Sequential(nn.Linear(self.audio.out_dim, cfg.embed), nn.ReLU(),
                                        nn.Linear(cfg.embed, cfg.embed))
        self.text_proj = nn.Sequential(nn.Linear(cfg.dim, cfg.embed), nn.ReLU(), nn.Linear(cfg.embed, cfg.embed))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # log(1/tau)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio [B, T]`` (or ``[B, 1, T]``) -> unit vectors ``[B, embed]``."""
        return F.normalize(self.audio_proj(self.audio(audio.reshape(len(audio), -1))), dim=-1)

    def embed_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """caption tokens ``[B, L]`` -> unit vectors ``[B, embed]``: the words' mean, projected."""
        h, mask = self.text(tokens)  # [B, L, D], [B, L]
        m = mask.unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)  # mean over the real words
        return F.normalize(self.text_proj(pooled), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=100.0)  # 1/tau, capped as CLIP caps it

    def loss(self, audio: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Symmetric InfoNCE over one batch of (clip, caption) pairs; ``(loss, logs)``."""
        a, w = self.embed_audio(audio), self.embed_text(tokens)
        logits = self.scale() * a @ w.T  # s_ij, [B, B]
        same = (tokens[:, None, :] == tokens[None, :, :]).all(-1)  # [B, B]: clips i and j share a caption
        loss = contrastive_loss(logits, same)
        with torch.no_grad():
            hit = same[torch.arange(len(a)), logits.argmax(1)].float().mean()  # batch audio -> text top-1
        return loss, {"loss": loss.item(), "top1": hit.item(), "1/tau": self.scale().item()}

    @torch.no_grad()
    def embed_clips(self, audio: np.ndarray, batch: int = 64) -> np.ndarray:
        """``audio [N, T]`` (numpy) -> ``float32 [N, embed]`` in eval mode."""
        self.eval()
        x = np.asarray(audio, dtype=np.float32).reshape(len(audio), -1)
        return np.concatenate([self.embed_audio(torch.from_numpy(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)] or [np.zeros((0, self.cfg.embed), np.float32)])

    @torch.no_grad()
    def embed_captions(self, tokens: np.ndarray) -> np.ndarray:
        """caption tokens ``[N, L]`` -> ``float32 [N, embed]``."""
        self.eval()
        return self.embed_text(torch.as_tensor(np.asarray(tokens), dtype=torch.long)).numpy()

    def tokens(self, captions: list[str]) -> np.ndarray:
        """Captions (strings) -> tokens of this model's vocabulary; an unknown word becomes ``<unk>``."""
        from lineage.data.text import encode

        return encode(captions, self.vocab)


def contrastive_loss(logits: torch.Tensor, same: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of ``logits [B, B]`` (row i: clip i against every caption). ``same [B, B]`` marks
    pairs that share a caption; each row's (and column's) target is spread evenly over them. Without
    ``same`` the positives are the diagonal: CLIP's loss."""
    if same is None:
        same = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
    target = same.float() / same.float().sum(1, keepdim=True)  # [B, B], rows sum to 1 (same is symmetric)
    audio_to_text = F.cross_entropy(logits, target)  # softmax over captions, per clip
    text_to_audio = F.cross_entropy(logits.T, target)  # softmax over clips, per caption
    return (audio_to_text + text_to_audio) / 2


# -- what the space is measured by -------------------------------------------------------------------


def distinct(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(captions [U, L], which [N])``: the distinct rows of ``tokens`` and each clip's row among them."""
    captions, which = np.unique(np.asarray(tokens), axis=0, return_inverse=True)
    return captions, which.reshape(-1)


def retrieval(audio_emb: np.ndarray, text_emb: np.ndarray, which: np.ndarray, ks=(1, 5)) -> dict:
    """Recall@k in both directions over ``N`` clips and their ``U`` distinct captions (``text_emb [U, E]``,
    ``which [N]``: clip i's caption), with what random ranking scores.

    * audio -> text: clip i's own caption among the ``k`` nearest of ``U``; chance ``k / U``.
    * text -> audio: caption u finds at least one of its clips among the ``k`` nearest of ``N``; chance
      ``1 - C(N - n_u, k) / C(N, k)`` for a caption carried by ``n_u`` clips, averaged over captions.
    """
    sim = audio_emb @ text_emb.T  # [N, U]
    N, U = sim.shape
    counts = np.bincount(which, minlength=U)
    out = {"clips": N, "captions": U}
    a2t_rank = (sim > sim[np.arange(N), which][:, None]).sum(1)  # how many captions beat the right one
    order = np.argsort(-sim, axis=0, kind="stable")  # [N, U]: clips ranked per caption
    for k in ks:
        out[f"audio_to_text_r{k}"] = float((a2t_rank < k).mean())
        out[f"audio_to_text_r{k}_chance"] = min(1.0, k / U)
        hits = (which[order[:k]] == np.arange(U)[None, :]).any(0)  # [U]
        out[f"text_to_audio_r{k}"] = float(hits.mean())
        out[f"text_to_audio_r{k}_chance"] = float(np.mean([1 - _none_chosen(N, n, k) for n in counts]))
    return out


def _none_chosen(N: int, n: int, k: int) -> float:
    """``C(N - n, k) / C(N, k)``: a random k-subset of N misses all n marked items."""
    return math.comb(N - n, k) / math.comb(N, k) if k <= N - n else 0.0


def zero_shot(audio_emb: np.ndarray, prompt_emb: np.ndarray, labels: np.ndarray) -> dict:
    """Each clip gets the class whose prompt is nearest (``prompt_emb [C, E]``, class c's prompt in row
    c; ``labels [N]`` in 0..C-1). Beside the accuracy: 1/C, and the best constant guess (the most
    common class's share)."""
    guess = (audio_emb @ prompt_emb.T).argmax(1)
    C = len(prompt_emb)
    return {"accuracy": float((guess == labels).mean()), "classes": C, "chance": 1 / C,
            "majority": float(np.bincount(labels, minlength=C).max() / max(len(labels), 1))}


def clap_score(audio_emb: np.ndarray, text_emb: np.ndarray) -> float:
    """Mean cosine of each clip to its own prompt (row i to row i; both unit vectors)."""
    return float(np.mean(np.sum(audio_emb * text_emb, axis=1)))
