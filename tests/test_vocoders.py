"""The lesson both diffusion vocoders must learn: the spectrogram decides the sound. Each is trained for a
few hundred steps on sines at two pitches (500 and 1500 Hz), then asked to vocode one clip of each from its log-mel
spectrogram in the 6-step fast schedule; its loudest partial must sit near the clip's own pitch. A
model that ignored its spectrogram, or a sampler that left noise in, would put both at one frequency or
at none."""

import numpy as np
import pytest
import torch

import zoo.diffwave as diffwave
import zoo.wavegrad as wavegrad
from lineage.audio import dominant_frequency
from lineage.config import make_config

SR = 8000
SMALL = {  # module, its overrides, optimizer steps
    "wavegrad": (wavegrad, ["model.mel_bins=20", "model.n_fft=256", "model.upsample=[4,4,2,2]",
                            "model.mel_channels=32", "model.up_channels=[32,32,16,16]",
                            "model.down_channels=[8,16,16,16]", "model.diffusion_steps=200", "model.beta_end=0.05"],
                 600),
    "diffwave": (diffwave, ["model.mel_bins=40", "model.n_fft=512", "model.hop=64", "model.upsample=[8,8]",
                            "model.channels=16", "model.layers=8", "model.dilation_cycle=4"], 600),
}


def sines(freqs, n, length, rng):
    t = np.arange(length) / SR
    out = [0.5 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs for _ in range(n)]
    return torch.tensor(np.stack(out), dtype=torch.float32)[:, None]


def test_both_vocoders_hear_the_same_spectrogram_and_track_its_average_frame_in_training():
    """One mel front end (lineage.vocoder): built with the same bins, FFT and hop, WaveGrad and DiffWave
    compute the same log-mel of a clip; a crop that is not whole frames is refused by both in one line;
    each loss moves the average frame its ``sample`` plays, in training mode only."""
    rng = np.random.default_rng(0)
    audio = sines([500.0], 2, 1024, rng)
    models = {name: module.build(make_config(module.Config, None, [*overrides, f"data.sample_rate={SR}"]))
              for name, (module, overrides, _) in SMALL.items()}
    grad_mel = models["wavegrad"].log_mel
    diff_mel = diffwave.build(make_config(diffwave.Config, None, [
        f"model.mel_bins={grad_mel.mel_bins}", f"model.n_fft={grad_mel.n_fft}", f"model.hop={grad_mel.hop}",
        "model.upsample=[8,8]", f"data.sample_rate={SR}"])).log_mel
    assert torch.equal(grad_mel(audio), diff_mel(audio))
    assert grad_mel(audio).shape == (2, grad_mel.mel_bins, 1024 // 64)
    for name, model in models.items():
        module = SMALL[name][0]
        with pytest.raises(ValueError, match="multiple of the hop 64"):
            module.loss(model, {"audio": audio[..., :1000]})
        module.loss(model.eval(), {"audio": audio})
        assert model.mean_mel.value.abs().max() == 0, name  # eval: nothing tracked
        module.loss(model.train(), {"audio": audio})
        frame = model.log_mel(audio).mean(dim=(0, 2))
        torch.testing.assert_close(model.mean_mel.value, 0.01 * frame)  # one step of 1% from zero


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
