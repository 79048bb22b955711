"""DDSP: Differentiable Digital Signal Processing (Engel, Hantrakul, Gu & Roberts, ICLR 2020).

The idea. Every model so far had to learn from scratch what a sound *is*: WaveNet predicts 16,000
numbers a second, and a large part of its capacity goes on learning that notes are made of periodic
waves. DDSP keeps what acousticians already know - a note is a sum of harmonics plus some filtered noise,
heard in a room - as a fixed, differentiable synthesizer (``processors.py``), and lets a small network
learn only how to *play* it: from the pitch and loudness of a performance, frame by frame, predict

* the overall amplitude ``A(n)`` and the distribution ``c_k(n)`` of energy over ``K`` harmonics of f0,
* the magnitude response ``H(n)`` of a filter applied to white noise,

and convolve the sum with a learned impulse response (the room):

    x(n) = h * ( sum_k A(n) c_k(n) sin(phi_k(n))  +  FIR_{H(n)} * noise(n) )        (sections 3.1-3.4)

Training compares the output with the original by the multi-scale spectral loss (``features.py``),
which is possible only because every step - oscillators, filter design, convolution - passes
gradients. The result is a synthesizer by construction: it cannot produce a wrong pitch or a click
between frames, and it learns an instrument from minutes of audio.

**The decoder** (the paper's "RNN-FC" decoder, figure 2 and appendix B.1): f0 (as MIDI / 127) and
loudness (as dB / 80 + 1) each pass through an MLP (3 x [dense, layer norm, ReLU]); the two are
concatenated and run through a GRU; the GRU's output, concatenated with both MLP outputs, passes one
more MLP and a dense layer to ``1 + K + M`` raw controls (amplitude, harmonic distribution, noise
magnitudes). The paper's optional encoder of a residual latent ``z`` (from MFCCs) is not implemented:
the "supervised" DDSP autoencoder, f0 and loudness only, is what timbre transfer needs.

**Timbre transfer** falls out: measure f0 and loudness of *any* sound - a voice, another instrument - and
feed them to a decoder trained on a violin. The decoder only knows how a violin plays those controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from lineage.audio import fit_length, midi_to_hz
from lineage.nn import RunningMean
from lineage.protocol import Features, single_step
from zoo.ddsp import features, processors


@dataclass
class Config:
    hidden: int = field(default=128, metadata={"min": 1})  # MLP width (paper: 512)
    gru: int = field(default=128, metadata={"min": 1})  # GRU units (paper: 512)
    mlp_layers: int = field(default=3, metadata={"min": 1, "max": 64})
    n_harmonics: int = field(default=60, metadata={"min": 1})  # paper: 100 at 16 kHz
    noise_bands: int = field(default=65, metadata={"min": 2})  # paper: 65 magnitudes per frame
    reverb_seconds: float = field(default=0.25, metadata={"min": 0.0, "max": 10.0})  # paper: 3 s; 0 = no reverb
    frame_rate: int = field(default=250, metadata={"min": 1})  # paper: 250 Hz at 16 kHz (hop 64)
    fft_sizes: list[int] = field(default_factory=lambda: list(features.FFT_SIZES))
    cond_keys: list[str] = field(default_factory=lambda: ["pitch"])  # for `sample`: f0 from a MIDI label


def mlp(n_in: int, width: int, layers: int) -> nn.Sequential:
    """``layers`` x [dense, layer norm, ReLU], as in the paper's decoder."""
    mods = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else width, width), nn.LayerNorm(width), nn.ReLU()]
    return nn.Sequential(*mods)


class DDSP(nn.Module):
    def __init__(self, cfg: Config, sample_rate: int = 16000):
        super().__init__()
        if sample_rate % cfg.frame_rate:
            raise ValueError(f"model.frame_rate {cfg.frame_rate} must divide the sample rate {sample_rate}")
        self.cfg, self.sample_rate = cfg, sample_rate
        self.hop = sample_rate // cfg.frame_rate
        self.f0_mlp = mlp(1, cfg.hidden, cfg.mlp_layers)
        self.ld_mlp = mlp(1, cfg.hidden, cfg.mlp_layers)
        self.gru = nn.GRU(2 * cfg.hidden, cfg.gru, batch_first=True)
        self.out_mlp = mlp(cfg.gru + 2 * cfg.hidden, cfg.hidden, cfg.mlp_layers)
        self.out = nn.Linear(cfg.hidden, 1 + cfg.n_harmonics + cfg.noise_bands)
        self.reverb = processors.Reverb(int(cfg.reverb_seconds * sample_rate)) if cfg.reverb_seconds > 0 else None
        # the average loudness contour of the training notes' first second, for `sample` (not a parameter)
        self.mean_loudness = RunningMean(torch.full((cfg.frame_rate,), -features.DB_RANGE))  # [frame_rate] dB

    def controls(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> dict:
        """Frame-rate features ``[B, F]`` -> synthesizer controls (the decoder)."""
        f0_scaled = (12 * torch.log2(f0_hz.clamp(min=1e-3) / 440) + 69)[..., None] / 127  # MIDI / 127
        ld_scaled = loudness_db[..., None] / features.DB_RANGE + 1  # [-80, 0] dB -> [0, 1]
        f0_h, ld_h = self.f0_mlp(f0_scaled), self.ld_mlp(ld_scaled)  # [B, F, hidden] each
        h, _ = self.gru(torch.cat([f0_h, ld_h], dim=-1))  # [B, F, gru]
        raw = self.out(self.out_mlp(torch.cat([h, f0_h, ld_h], dim=-1)))  # [B, F, 1 + K + M]
        K = self.cfg.n_harmonics
        amplitude, distribution = processors.harmonic_controls(raw[..., :1], raw[..., 1:1 + K], f0_hz[..., None],
                                                               self.sample_rate)
        return {"f0_hz": f0_hz[..., None], "amplitude": amplitude, "distribution": distribution,
                "noise": processors.noise_controls(raw[..., 1 + K:])}

    def synthesize(self, c: dict, n_samples: int, generator: torch.Generator | None = None,
                   parts: bool = False):
        """Controls -> audio ``[B, n]`` (or the harmonic, noise and reverberated signals with ``parts``)."""
        harmonic = processors.harmonic_synthesis(c["f0_hz"], c["amplitude"], c["distribution"], n_samples,
                                                 self.sample_rate)
        noise = processors.filtered_noise(c["noise"], n_samples, generator=generator)
        dry = harmonic + noise
        wet = self.reverb(dry) if self.reverb is not None else dry
        return {"harmonic": harmonic, "noise": noise, "audio": wet} if parts else wet

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, n_samples: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Features ``[B, F]`` -> audio ``[B, n_samples]``: frame ``j`` plays samples ``[j hop, (j + 1) hop)``."""
        frames = min(-(-n_samples // self.hop), f0_hz.shape[1])  # the frames that cover n samples
        c = self.controls(f0_hz[:, :frames], loudness_db[:, :frames])
        return fit_length(self.synthesize(c, frames * self.hop, generator), n_samples)  # [B, n_samples]


# --- the zoo protocol (lineage.protocol) ------------------------------------------------------------

def build(cfg) -> DDSP:
    return DDSP(cfg.model, sample_rate=cfg.data.sample_rate)


def feature_tag(cfg) -> str:
    """What besides the clips decides the features: the hop, and the pYIN settings' version."""
    return f"{cfg.data.sample_rate // cfg.model.frame_rate}-pyin4-v1"


def prepare(cfg, clips) -> Features:
    """``f0_hz`` and ``loudness_db`` of every clip, one frame every ``hop`` samples (``[N, frames]``),
    computed once and cached beside the data (pYIN takes about a second per clip)."""
    from lineage.data.cache import cached_arrays

    hop = cfg.data.sample_rate // cfg.model.frame_rate

    def compute() -> dict:
        pitch = clips.labels.get("pitch")
        fallback = midi_to_hz(pitch) if pitch is not None else np.full(len(clips), 220.0)
        f0 = np.stack([features.f0_pyin(clip, clips.sample_rate, hop, fallback[i])
                       for i, clip in enumerate(clips.audio)])
        with torch.no_grad():
            ld = features.loudness(torch.from_numpy(clips.audio), clips.sample_rate, cfg.model.frame_rate).numpy()
        return {"f0_hz": f0, "loudness_db": ld}

    arrays = cached_arrays("ddsp", clips, feature_tag(cfg), compute)
    f0, ld = arrays["f0_hz"], arrays["loudness_db"]
    return Features(hop, {"f0_hz": f0.astype(np.float32), "loudness_db": ld.astype(np.float32)})


def loss(model: DDSP, batch: dict) -> tuple[torch.Tensor, dict]:
    """Multi-scale spectral loss between the clip and its resynthesis from its own f0 and loudness."""
    audio = batch["audio"][:, 0]  # [B, n]
    contour = batch["loudness_db"][:, :len(model.mean_loudness.value)].mean(0)  # [<= frame_rate] dB
    model.mean_loudness.track(contour)  # the average contour's first frames, for `sample` (training mode only)
    out = model(batch["f0_hz"], batch["loudness_db"], audio.shape[-1])  # [B, n]
    value = features.spectral_loss(audio, out, model.cfg.fft_sizes)
    return value, {}


steps = single_step(loss)


def reconstruct(model: DDSP, batch: dict, seed: int = 0) -> torch.Tensor:
    """Resynthesis ``[B, 1, n]`` from the batch's own ``f0_hz`` and ``loudness_db``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return model(batch["f0_hz"], batch["loudness_db"], batch["audio"].shape[-1], g)[:, None]


def sample(model: DDSP, n: int, seconds: float, seed: int = 0, cond: dict | None = None) -> torch.Tensor:
    """A note at each asked MIDI pitch (``cond["pitch"]``; middle C if none), played with the average
    loudness contour of the training notes: DDSP is a synthesizer, so 'sampling' means playing it."""
    device = next(model.parameters()).device
    n_samples = int(round(seconds * model.sample_rate))
    frames = n_samples // model.hop + 1
    pitch = torch.as_tensor((cond or {}).get("pitch", torch.full((n,), 60)))[:n]
    f0 = torch.as_tensor(midi_to_hz(pitch.cpu().numpy()), dtype=torch.float32, device=device)
    f0 = f0[:, None].expand(n, frames)  # [n, frames] Hz, held
    contour = model.mean_loudness.value.to(device)  # [frame_rate] dB; its last frame held beyond
    ld = torch.cat([contour, contour[-1:].expand(max(0, frames - contour.numel()))])[:frames]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return model(f0, ld[None].expand(n, -1), n_samples, g)[:, None]


def facts(model: DDSP) -> dict:
    return {"hop": model.hop, "frame_rate": model.cfg.frame_rate, "n_harmonics": model.cfg.n_harmonics,
            "noise_bands": model.cfg.noise_bands}
