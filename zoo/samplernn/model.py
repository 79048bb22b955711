"""SampleRNN: An Unconditional End-to-End Neural Audio Generation Model (Mehri et al., 2017).

The idea. Like WaveNet, model the waveform one sample at a time, ``p(x) = prod_t p(x_t | x_<t)``, with a
256-way softmax per sample. Unlike WaveNet, reach far into the past not with a wide convolution but with
**recurrence at several clock rates**:

* The **top tier** is an RNN that ticks once per frame of ``F_1`` samples (say 8). Its input at a tick is
  the previous frame of samples; its state summarises everything before. It runs ``T / F_1`` steps for
  ``T`` samples - the long-range memory is cheap.
* Each **lower frame tier** ticks faster (frames of ``F_k`` samples, ``F_k`` dividing ``F_(k-1)``). Its
  input is its own previous frame *plus* a conditioning vector from the tier above. A tier hands its
  output down by **learned upsampling**: one linear map produces ``r = F_k / F_(k+1)`` vectors, one
  for each tick of the tier below that falls inside the tier's frame,

      c^(k)_{j r + i} = W_i o^(k)_j + b_i,     i = 0 .. r-1                     (section 2.1)

* The **sample-level tier** at the bottom is an MLP - no recurrence - over the embeddings of the last
  ``w`` samples and the conditioning vector for the sample's position; it outputs the 256 logits
  (section 2.2).

Training is teacher-forced and parallel within each tier (the RNNs run over whole frame sequences);
gradients are **truncated** every ``tbptt`` samples - the recurrent states flow on, their gradients
stop - which is how the paper trained on long sequences (truncated backpropagation through time, 2.3).

Generation is sample by sample. Each tier runs only when its clock ticks (every ``F_k`` samples) and
keeps its upsampled outputs until the tier below has used them, so nothing is recomputed: per sample
the cost is the bottom MLP plus a ``1/F_k`` share of each RNN step. A test checks that stepping this
way gives exactly the teacher-forced logits.

Differences from the paper, stated once: samples are mu-law companded (as in WaveNet, so the two
models' likelihoods are comparable; the paper's default was linear quantisation); one GRU layer per
tier; every segment is read as if preceded by silence (the start of generation); global label
conditioning (pitch, class) is added to every frame tier's input, as WaveNet adds it to every gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.audio import mu_law_decode, mu_law_encode
from lineage.nn import LabelEmbedding, draw
from lineage.protocol import single_step


@dataclass
class Config:
    # frame sizes of the tiers, top first; the last is the sample-level MLP's window of past samples.
    # Each frame tier's size must be a multiple of the next one's: [8, 2, 2] is the paper's 3-tier model
    frame_sizes: list[int] = field(default_factory=lambda: [8, 2, 2])
    rnn_dim: int = field(default=128, metadata={"min": 1})  # GRU state per frame tier
    mlp_dim: int = field(default=128, metadata={"min": 1})  # hidden width of the sample-level MLP
    embed_dim: int = field(default=32, metadata={"min": 1})  # sample embedding for the MLP input
    quantization: int = field(default=256, metadata={"min": 2})  # mu-law classes
    tbptt: int = field(default=512, metadata={"min": 1})  # samples per truncated-BPTT chunk
    cond_keys: list[str] = field(default_factory=lambda: ["pitch", "class"])
    cond_classes: list[int] = field(default_factory=lambda: [128, 16])
    temperature: float = field(default=1.0, metadata={"min": 0.0})


class FrameTier(nn.Module):
    """One frame-level tier: a GRU over frames, then learned upsampling to the tier below."""

    def __init__(self, frame: int, ratio: int, dim: int, below_dim: int, cond_dim: int):
        super().__init__()
        self.frame, self.ratio = frame, ratio
        self.inp = nn.Linear(frame, dim)  # the previous frame's samples -> dim
        self.cond = nn.Linear(cond_dim, dim, bias=False)  # global labels -> dim
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.h0 = nn.Parameter(torch.zeros(1, 1, dim))  # learned initial state
        self.up = nn.Linear(dim, ratio * below_dim)  # r vectors for the r ticks of the tier below

    def forward(self, frames, above, h, state):
        """``frames [B, J, F]`` (sample values in [-1, 1]), ``above [B, J, dim]`` from the tier above
        (or None), ``h [B, cond_dim]``, ``state [1, B, dim]`` -> ``([B, J * r, below_dim], state)``."""
        # inp_j = W_x f_j + V h (+ c^(k-1)_j, the vector the tier above handed down for this tick)
        x = self.inp(frames) + self.cond(h)[:, None, :]
        if above is not None:
            x = x + above
        out, state = self.rnn(x, state)  # o_j = GRU(o_{j-1}, inp_j), [B, J, dim]
        B, J, _ = out.shape
        # c^(k)_{j r + i} = W_i o_j + b_i: one linear map gives all r vectors, then they are laid out in time
        return self.up(out).reshape(B, J * self.ratio, -1), state


class SampleRNN(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        fs = cfg.frame_sizes
        if len(fs) < 2:
            raise ValueError(f"model.frame_sizes {fs}: need at least one frame tier and the sample window")
        for coarse, fine in zip(fs[:-2], fs[1:-1]):
            if coarse % fine:
                raise ValueError(f"model.frame_sizes {fs}: each frame tier's size must be a multiple of the "
                                 f"next one's ({coarse} is not a multiple of {fine})")
        if fs[-1] > fs[0]:
            raise ValueError(f"model.frame_sizes {fs}: the sample window ({fs[-1]}) cannot exceed the top "
                             f"frame ({fs[0]})")
        self.cfg, self.sample_rate = cfg, sample_rate
        self.frames = fs[:-1]  # frame tiers, top first
        self.window = fs[-1]  # samples the MLP sees
        Q, H = cfg.quantization, cfg.rnn_dim
        self.cond_embed = LabelEmbedding(cfg.cond_keys, cfg.cond_classes, H)
        ratios = [coarse // fine for coarse, fine in zip(self.frames[:-1], self.frames[1:])] + [self.frames[-1]]
        below = [H] * (len(self.frames) - 1) + [cfg.mlp_dim]
        self.tiers = nn.ModuleList(FrameTier(f, r, H, d, H) for f, r, d in zip(self.frames, ratios, below))
        self.embed = nn.Embedding(Q, cfg.embed_dim)
        self.mlp_in = nn.Linear(self.window * cfg.embed_dim, cfg.mlp_dim)
        self.mlp = nn.Sequential(nn.ReLU(), nn.Linear(cfg.mlp_dim, cfg.mlp_dim), nn.ReLU(),
                                 nn.Linear(cfg.mlp_dim, Q))

    @property
    def lookback(self) -> int:
        return self.frames[0]  # the top tier's first input frame precedes the first predicted sample

    def condition(self, cond: dict | None, batch: int, device) -> torch.Tensor:
        return self.cond_embed(cond, batch, device)

    def start_token(self) -> int:
        return int(mu_law_encode(torch.zeros(1), self.cfg.quantization - 1))

    def to_value(self, q: torch.Tensor) -> torch.Tensor:
        """Class -> a real input for the frame tiers: the class scaled to [-1, 1] (companded domain)."""
        return 2 * q.to(self.mlp_in.weight.dtype) / (self.cfg.quantization - 1) - 1

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        return [t.h0.expand(1, batch, -1).contiguous() for t in self.tiers]

    def forward(self, seq: torch.Tensor, h: torch.Tensor, states: list[torch.Tensor]):
        """Teacher-forced pass over ``seq [B, L + T]`` classes: ``L = lookback`` samples of context and
        ``T`` (a multiple of the top frame) samples to predict. Returns logits ``[B, Q, T]`` for
        ``seq[:, L:]`` and the tiers' states after the last frame."""
        L = self.lookback
        T = seq.shape[1] - L
        values = self.to_value(seq)
        above, new_states = None, []
        for tier, state in zip(self.tiers, states):
            f = tier.frame
            # step j of this tier predicts samples [j f, (j+1) f) of the target; its input is the frame
            # just before: seq[L + j f - f : L + j f]
            frames = values[:, L - f: L - f + T].reshape(values.shape[0], T // f, f)  # [B, T/f, f]
            above, state = tier(frames, above, h, state)  # -> [B, T/f * r, below]
            new_states.append(state)
        # sample level: target t sees the last w samples seq[L + t - w : L + t] and its vector c_t:
        # logits_t = MLP(W [e(x_{t-w}); ...; e(x_{t-1})] + c_t), e an embedding table
        w = self.window
        windows = seq[:, L - w: L - w + T + w - 1].unfold(1, w, 1)[:, :T]  # [B, T, w]
        x = self.mlp_in(self.embed(windows).flatten(2)) + above  # [B, T, mlp_dim]
        return self.mlp(x).transpose(1, 2), new_states  # [B, Q, T]

    @torch.inference_mode()
    def generate(self, n: int, length: int, h: torch.Tensor, seed: int = 0, force: torch.Tensor | None = None,
                 return_logits: bool = False):
        """Draw ``n`` sequences of ``length`` classes sample by sample; each tier runs only on its ticks.

        With ``force [n, length]`` the given samples are fed back instead of drawn (teacher forcing
        through the generation path - how the test compares it with :meth:`forward`)."""
        device = h.device
        gen = torch.Generator().manual_seed(seed)
        uniforms = torch.rand(length, n, 1, generator=gen, dtype=torch.float64).to(device)
        L = self.lookback
        hist = torch.full((n, L + length), self.start_token(), dtype=torch.long, device=device)
        states = self.initial_state(n)
        pending = [None] * len(self.tiers)  # each tier's upsampled outputs for the current frame
        logits_all = []
        for t in range(length):
            above = None
            for k, tier in enumerate(self.tiers):
                f = tier.frame
                if t % f == 0:  # this tier's clock ticks: one GRU step on the frame just completed
                    frame = self.to_value(hist[:, L + t - f: L + t])[:, None, :]  # [n, 1, f]
                    from_above = None if k == 0 else above
                    pending[k], states[k] = tier(frame, from_above, h, states[k])  # [n, r, below]
                # the vector handed to the tier below for its tick at t (or to the MLP for sample t)
                below_step = self.tiers[k + 1].frame if k + 1 < len(self.tiers) else 1
                above = pending[k][:, (t % f) // below_step][:, None, :]  # [n, 1, below]
            window = hist[:, L + t - self.window: L + t]  # [n, w]
            x = self.mlp_in(self.embed(window).flatten(1)) + above[:, 0]
            logits = self.mlp(x)  # [n, Q]
            if return_logits:
                logits_all.append(logits)
            drawn = draw(logits, uniforms[t], self.cfg.temperature) if force is None else force[:, t]
            hist[:, L + t] = drawn
        out = hist[:, L:]
        return (out, torch.stack(logits_all, dim=2)) if return_logits else out


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> SampleRNN:
    return SampleRNN(cfg.model, sample_rate=cfg.data.sample_rate)


def _padded_targets(model: SampleRNN, audio: torch.Tensor) -> torch.Tensor:
    """``audio [B, 1, T]`` -> classes ``[B, L + T']``: silence as context, T cut to whole top frames."""
    target = mu_law_encode(audio[:, 0], model.cfg.quantization - 1)
    T = target.shape[1] - target.shape[1] % model.frames[0]
    if T == 0:
        raise ValueError(f"segment of {target.shape[1]} samples is shorter than the top frame "
                         f"({model.frames[0]}); raise data.segment")
    start = torch.full_like(target[:, :model.lookback], model.start_token())
    return torch.cat([start, target[:, :T]], dim=1)


def loss(model: SampleRNN, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of every sample, over chunks of ``tbptt`` samples with the recurrent states carried
    from chunk to chunk and their gradients cut at each boundary (truncated BPTT)."""
    seq = _padded_targets(model, batch["audio"])
    L, T = model.lookback, seq.shape[1] - model.lookback
    h = model.condition(batch, seq.shape[0], seq.device)
    chunk = max(model.frames[0], model.cfg.tbptt - model.cfg.tbptt % model.frames[0])
    states = model.initial_state(seq.shape[0])
    total = 0.0
    for s in range(0, T, chunk):
        e = min(T, s + chunk)
        logits, states = model(seq[:, s: L + e], h, states)  # this chunk with its L samples of context
        total = total + F.cross_entropy(logits, seq[:, L + s: L + e], reduction="sum")
        states = [st.detach() for st in states]  # truncate: gradients stop at the chunk boundary
    nll = total / (seq.shape[0] * T)  # nats per sample
    return nll, {"bits": nll.item() / math.log(2)}


steps = single_step(loss)


def nll(model: SampleRNN, batch: dict) -> torch.Tensor:
    """Mean negative log-likelihood in nats per sample (``lineage eval`` reports bits)."""
    return loss(model, batch)[0]


def sample(model: SampleRNN, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    device = next(model.parameters()).device
    length = int(round(seconds * model.sample_rate))
    h = model.condition(cond, n, device)
    classes = model.generate(n, length, h, seed=seed)
    return mu_law_decode(classes, model.cfg.quantization - 1).float()[:, None, :]


def facts(model: SampleRNN) -> dict:
    return {"tiers": len(model.tiers) + 1, "top_frame": model.frames[0], "sample_window": model.window}
