"""The lesson both diffusion vocoders must learn: the spectrogram decides the sound. Each is trained for a
few hundred steps on sines at two pitches (500 and 1500 Hz), then asked to vocode one clip of each from its log-mel
spectrogram in the 6-step fast schedule; its loudest partial must sit near the clip's own pitch. A
model that ignored its spectrogram, or a sampler that left noise in, would put both at one frequency or
at none."""

import numpy as np
import pytest
import torch

import zoo.diffwave as DW
import zoo.wavegrad as WG
from lineage.audio import dominant_frequency
from lineage.config import make_config

SR = 8000
SMALL = {  # module, its overrides, training steps
    "wavegrad": (WG, ["model.mel_bins=20", "model.n_fft=256", "model.upsample=[4,4,2,2]", "model.mel_channels=32",
                      "model.up_channels=[32,32,16,16]", "model.down_channels=[8,16,16,16]", "model.steps=200",
                      "model.beta_end=0.05"], 600),
    "diffwave": (DW, ["model.mel_bins=40", "model.n_fft=512", "model.hop=64", "model.upsample=[8,8]",
                      "model.channels=16", "model.layers=8", "model.dilation_cycle=4"], 600),
}


def sines(freqs, n, length, rng):
    t = np.arange(length) / SR
    out = [0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs for _ in range(n)]
    return torch.tensor(np.stack(out), dtype=torch.float32)[:, None]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_vocoder_follows_its_spectrogram(name):
    module, overrides, steps = SMALL[name]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = module.build(make_config(module.Config, None, [*overrides, f"data.sample_rate={SR}"]))
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(steps):
        loss, _ = module.loss(model, {"audio": sines([500.0, 1500.0], 4, 1024, rng)})
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    clips = sines([500.0, 1500.0], 1, 2048, rng)
    out = module.reconstruct(model, {"audio": clips}, seed=1)
    assert out.shape == clips.shape
    found = [dominant_frequency(o[0, 256:-256].numpy(), SR) for o in out]
    # within a quarter octave of the clip's own pitch (the two pitches are an octave and a half apart)
    assert all(abs(np.log2(f / target)) < 0.25 for f, target in zip(found, (500.0, 1500.0))), found
