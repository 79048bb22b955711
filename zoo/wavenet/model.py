"""WaveNet: A Generative Model for Raw Audio (van den Oord et al., 2016).

The idea. Model a waveform one sample at a time, each sample conditioned on all the samples before it:

    p(x) = prod_t p(x_t | x_1, ..., x_{t-1})                                             (eq. 1)

Three choices make this trainable on raw 16 kHz audio:

1. **A softmax over mu-law classes.** Each sample is companded, ``f(x) = sign(x) ln(1 + mu|x|) /
   ln(1 + mu)`` (eq. 2), and quantised to 256 values, so ``p(x_t | x_<t)`` is a 256-way categorical
   trained with cross-entropy - no assumption about the shape of the distribution.
2. **Stacks of dilated causal convolutions.** A causal convolution only looks back; doubling the dilation
   layer by layer (1, 2, 4, ..., 512) grows the receptive field exponentially with depth, so a few dozen
   layers see thousands of samples. Training is parallel: every position is predicted at once from the
   true past (teacher forcing).
3. **Gated activation units with residual and skip connections.**
   ``z = tanh(W_f * x + V_f h) ⊙ sigmoid(W_g * x + V_g h)`` (eq. 2-3), where ``h`` is a global
   conditioning vector (here: embeddings of the note's pitch and class labels - a timbre, an
   instrument family). Each layer adds ``z``
   back to its input (residual) and sends it to a shared output (skip); the summed skips go through
   ReLU - 1x1 - ReLU - 1x1 to the 256 logits.

Generation is sequential: sample ``x_t``, feed it back, repeat. Done naively, every new sample re-runs
the whole network over the last receptive-field's worth of samples. Fast WaveNet (Paine et al. 2016)
notices that each layer only needs its own past inputs at lag ``d``: keep them in a per-layer queue and
each new sample costs one step per layer. Both paths are here (``generate(..., cached=False/True)``) and
a test checks they produce identical samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lineage.audio import mu_law_decode, mu_law_encode
from lineage.nn import CausalConv1d, LabelEmbedding, draw
from lineage.protocol import single_step


@dataclass
class Config:
    channels: int = field(default=32, metadata={"min": 1})  # residual channels C
    skip_channels: int = field(default=64, metadata={"min": 1})  # skip / output channels S
    kernel_size: int = field(default=2, metadata={"min": 2, "max": 64})
    dilation_cycle: int = field(default=8, metadata={"min": 1, "max": 16})  # dilations 1, 2, ..., 2^(cycle-1)
    stacks: int = field(default=2, metadata={"min": 1, "max": 64})  # how many times the cycle repeats
    quantization: int = field(default=256, metadata={"min": 2})  # mu-law classes (mu + 1)
    # labels to condition on: MIDI pitch, and "class" - the data set's own category (timbre for tones,
    # instrument family for notes, ...); drums have no pitch: cond_keys = ["class"], cond_classes = [16]
    cond_keys: list[str] = field(default_factory=lambda: ["pitch", "class"])
    cond_classes: list[int] = field(default_factory=lambda: [128, 16])  # number of values of each
    cond_channels: int = field(default=32, metadata={"min": 1})  # size of the conditioning vector h
    # local conditioning: channels of a sequence y given at the audio rate (0 = none); each layer adds
    # a 1x1 projection of it inside the gate (section 2.5; the NSynth autoencoder feeds its embedding here)
    local_channels: int = field(default=0, metadata={"min": 0})
    temperature: float = field(default=1.0, metadata={"min": 0.0})  # sampling temperature


class ResidualLayer(nn.Module):
    """One gated, dilated layer with its residual and skip outputs."""

    def __init__(self, channels: int, skip_channels: int, kernel_size: int, dilation: int,
                 cond_channels: int):
        super().__init__()
        self.dilated = CausalConv1d(channels, 2 * channels, kernel_size, dilation)  # W_f and W_g
        self.cond = nn.Linear(cond_channels, 2 * channels, bias=False)  # V_f and V_g
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def gate(self, filt_gate: torch.Tensor) -> torch.Tensor:
        filt, gate = filt_gate.chunk(2, dim=1)
        # z = tanh(W_f * x + V_f h) ⊙ sigmoid(W_g * x + V_g h)
        return torch.tanh(filt) * torch.sigmoid(gate)

    def forward(self, x: torch.Tensor, cond: torch.Tensor):  # x [B, C, T], cond [B, 2C] or [B, 2C, T]
        z = self.gate(self.dilated(x) + (cond if cond.dim() == 3 else cond[:, :, None]))  # [B, C, T]
        return x + self.residual(z), self.skip(z)  # ([B, C, T], [B, S, T])

    def step(self, x_t: torch.Tensor, cond: torch.Tensor, queue):  # x_t [B, C], cond [B, 2C]
        z = self.gate(self.dilated.step(x_t, queue) + cond)  # [B, C]
        return x_t + _pointwise(self.residual, z), _pointwise(self.skip, z)


class WaveNet(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        self.cfg = cfg
        self.sample_rate = sample_rate
        Q, C, S = cfg.quantization, cfg.channels, cfg.skip_channels
        # one-hot input followed by a 1x1 convolution == an embedding table: class -> C channels
        self.embed = nn.Embedding(Q, C)
        self.cond_embed = LabelEmbedding(cfg.cond_keys, cfg.cond_classes, cfg.cond_channels)
        self.dilations = [2 ** i for i in range(cfg.dilation_cycle)] * cfg.stacks
        self.layers = nn.ModuleList(ResidualLayer(C, S, cfg.kernel_size, d, cfg.cond_channels)
                                    for d in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(S, S, 1), nn.ReLU(), nn.Conv1d(S, Q, 1))
        # local conditioning: z = tanh(W_f * x + V_f h + V'_f * y) ⊙ sigmoid(...) with y [B, L, T]
        self.local = nn.ModuleList(nn.Conv1d(cfg.local_channels, 2 * C, 1) for _ in self.dilations) \
            if cfg.local_channels else None

    @property
    def receptive_field(self) -> int:
        """Samples that one output sees: ``(k - 1) * sum(dilations) + 1``."""
        return (self.cfg.kernel_size - 1) * sum(self.dilations) + 1

    def condition(self, cond: dict | None, batch: int, device) -> torch.Tensor:
        """The global conditioning vector ``h = sum_k Embed_k(label_k)``, ``[B, cond_channels]``."""
        return self.cond_embed(cond, batch, device)

    def forward(self, inputs: torch.Tensor, h: torch.Tensor, local: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced pass: ``inputs [B, T]`` classes (the signal shifted right by one),
        ``h [B, E]`` (and ``local [B, L, T]``, the local condition of each output) -> logits ``[B, Q, T]``
        where output t predicts the sample after input t."""
        x = self.embed(inputs).transpose(1, 2)  # [B, C, T]
        skips = 0
        for i, layer in enumerate(self.layers):
            c = layer.cond(h)  # [B, 2C]
            if local is not None:
                c = c[:, :, None] + self.local[i](local)  # [B, 2C, T]
            x, s = layer(x, c)
            skips = skips + s  # sum of skip connections, [B, S, T]
        return self.head(skips)  # [B, Q, T]

    def start_token(self) -> int:
        """The class of a silent sample, 0.0 - what 'the sample before the first' is taken to be."""
        return int(mu_law_encode(torch.zeros(1), self.cfg.quantization - 1))

    @torch.inference_mode()
    def generate(self, n: int, length: int, h: torch.Tensor, seed: int = 0,
                 cached: bool = True, local: torch.Tensor | None = None) -> torch.Tensor:
        """Draw ``n`` sequences of ``length`` classes, ``[n, length]``.

        The uniform numbers that drive sampling are drawn up front from ``seed``, so the naive and the
        cached path see the same randomness and, computing the same logits, pick the same samples.
        """
        device = h.device
        gen = torch.Generator().manual_seed(seed)
        uniforms = torch.rand(length, n, 1, generator=gen, dtype=torch.float64).to(device)
        out = torch.empty(n, length, dtype=torch.long, device=device)
        prev = torch.full((n,), self.start_token(), dtype=torch.long, device=device)
        if cached:
            queues = [layer.dilated.new_queue(n, device, self.embed.weight.dtype) for layer in self.layers]
            conds = [layer.cond(h) for layer in self.layers]  # constant over time: compute once
            locs = [proj(local) for proj in self.local] if local is not None else None  # [n, 2C, length]
            for t in range(length):
                x = self.embed(prev)  # [n, C]
                skips = 0
                for i, (layer, queue, c) in enumerate(zip(self.layers, queues, conds)):
                    x, s = layer.step(x, c if locs is None else c + locs[i][:, :, t], queue)
                    skips = skips + s
                logits = _pointwise_seq(self.head, skips)  # [n, Q]
                prev = out[:, t] = draw(logits, uniforms[t], self.cfg.temperature)
        else:
            history = torch.full((n, 1), self.start_token(), dtype=torch.long, device=device)
            for t in range(length):
                window = history[:, -self.receptive_field:]  # all that output t can see
                y = local[:, :, t + 1 - window.shape[1]: t + 1] if local is not None else None
                logits = self.forward(window, h, y)[:, :, -1]  # [n, Q]: re-run the whole window
                out[:, t] = draw(logits, uniforms[t], self.cfg.temperature)
                history = torch.cat([history, out[:, t:t + 1]], dim=1)
        return out


def _pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied to one time step ``[B, C_in] -> [B, C_out]``."""
    return F.linear(x, conv.weight[:, :, 0], conv.bias)


def _pointwise_seq(head: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The output head (ReLU, 1x1, ReLU, 1x1) on one time step."""
    for m in head:
        x = _pointwise(m, x) if isinstance(m, nn.Conv1d) else m(x)
    return x


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> WaveNet:
    """``cfg`` is the run's :class:`lineage.config.RunConfig`."""
    return WaveNet(cfg.model, sample_rate=cfg.data.sample_rate)


def loss(model: WaveNet, batch: dict, local: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of every next sample given the true past (teacher forcing), and the local
    condition ``local [B, L, T]`` of every sample when the model has one (the NSynth decoder)."""
    mu = model.cfg.quantization - 1
    target = mu_law_encode(batch["audio"][:, 0], mu)  # [B, T] classes
    # inputs are the targets shifted right by one: output t sees samples < t only
    start = torch.full_like(target[:, :1], model.start_token())
    inputs = torch.cat([start, target[:, :-1]], dim=1)  # [B, T]
    h = model.condition(batch, target.shape[0], target.device)
    logits = model(inputs, h, local)  # [B, Q, T]
    nll = F.cross_entropy(logits, target)  # nats per sample
    return nll, {"bits": nll.item() / math.log(2)}


steps = single_step(loss)


def nll(model: WaveNet, batch: dict) -> torch.Tensor:
    """Mean negative log-likelihood of the batch's audio, in nats per sample (``lineage eval`` reports it
    in bits: divided by ln 2)."""
    return loss(model, batch)[0]


def sample(model: WaveNet, n: int, seconds: float, seed: int = 0, cond: dict | None = None,
           cached: bool = True) -> torch.Tensor:
    """``n`` waveforms ``[n, 1, seconds * sample_rate]`` in [-1, 1]."""
    device = next(model.parameters()).device
    length = int(round(seconds * model.sample_rate))
    h = model.condition(cond, n, device)
    classes = model.generate(n, length, h, seed=seed, cached=cached)
    return mu_law_decode(classes, model.cfg.quantization - 1).float()[:, None, :]


def facts(model: WaveNet) -> dict:
    return {"receptive_field": model.receptive_field, "layers": len(model.layers)}
