"""What the diffusion vocoders (WaveGrad, DiffWave) share: the spectrogram they listen to.

A vocoder turns a log-mel spectrogram back into a waveform. Both of ours compute it on the fly from each
training crop - the clean audio, before any noise is added - one frame every ``hop`` samples:

    S[m, k] = log( sum_f M[m, f] |STFT(x)[f, k]|^2 )          frame k centred on sample k * hop
    mel[m, k] = clamp((10 log10(e) S[m, k] - 20 + 100) / 100, 0, 1)     dB, less 20 dB, 100 dB -> [0, 1]

(the mapping of the DiffWave authors' code: silence at 0, loud frames near 1). A crop of ``T`` samples
has ``T / hop`` frames, and the network stretches them back to ``T`` samples, so in training ``T`` must
be a whole number of frames; clips of any other length are vocoded by cutting them to whole frames and
padding the result back with zeros (:meth:`LogMel.vocode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from lineage.audio import fit_length, log_mel_frames, mel_unit_range


@dataclass(frozen=True)
class LogMel:
    """A vocoder's conditioning: ``log_mel(audio [B, 1, T]) -> [B, mel_bins, T // hop]`` in ``[0, 1]``.

    ``hop_from`` names where the hop comes from in the config, for the error a bad crop gets."""

    sample_rate: int
    mel_bins: int
    n_fft: int
    hop: int
    hop_from: str = "model.hop"

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:  # [B, 1, T] -> [B, M, T // hop]
        ln_mel = log_mel_frames(audio, self.sample_rate, self.mel_bins, self.n_fft, self.hop)  # natural log
        return mel_unit_range(ln_mel)  # dB, minus 20 dB, a 100 dB range -> [0, 1]

    def of_crop(self, audio: torch.Tensor) -> torch.Tensor:
        """The spectrogram of a training crop ``[B, 1, T]``, which must hold whole frames."""
        if audio.shape[-1] % self.hop:
            raise ValueError(f"data.segment must be a multiple of the hop {self.hop} ({self.hop_from}), "
                             f"got {audio.shape[-1]}")
        return self(audio)

    def frames(self, length: int) -> int:
        """Frames that cover ``length`` samples: ``ceil(length / hop)``."""
        return -(-length // self.hop)

    def vocode(self, audio: torch.Tensor, generate: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Clips ``[B, 1, T]`` of any length rebuilt from their own spectrograms by ``generate(mel) ->
        [B, 1, frames * hop]``: cut to whole frames, vocoded, zero-padded back to ``T``."""
        whole = audio.shape[-1] - audio.shape[-1] % self.hop
        return fit_length(generate(self(audio[..., :whole])), audio.shape[-1])
