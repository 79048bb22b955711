"""WaveGrad's network: the spectrogram steers the output where it belongs in time, the noisy audio
reaches every UBlock through FiLM, and a schedule of N steps costs N network passes - whatever N is,
since the network is told a continuous noise level, not a step number."""

import pytest
import torch

import zoo.wavegrad as wavegrad
from lineage.config import make_config

SMALL = ["model.mel_bins=8", "model.upsample=[4,2,2]", "model.mel_channels=16", "model.up_channels=[16,8,8]",
         "model.down_channels=[4,8,8]", "model.diffusion_steps=50", "data.sample_rate=8000"]


def small_model():
    torch.manual_seed(0)
    return wavegrad.build(make_config(wavegrad.Config, None, SMALL)).eval()


def test_a_spectrogram_frame_moves_only_its_own_stretch_of_audio():
    model = small_model()  # hop 16 samples
    mel, y, level = torch.randn(1, 8, 40), torch.randn(1, 1, 640), torch.tensor([0.5])
    nudged = mel.clone()
    nudged[..., 20] += 1.0
    d = (model(y, nudged, level) - model(y, mel, level)).abs()[0, 0]  # [640]
    frame = d.reshape(40, 16).amax(dim=1)
    assert frame[20] > 0
    assert frame[:12].max() == 0 and frame[29:].max() == 0  # beyond the receptive field: untouched


def test_noisy_audio_and_noise_level_reach_the_output():
    model = small_model()
    mel, y = torch.randn(1, 8, 10), torch.randn(1, 1, 160)
    base = model(y, mel, torch.tensor([0.5]))
    assert (model(y, mel, torch.tensor([0.51])) - base).abs().max() > 1e-4  # a nearby level is told apart
    later = y.clone()
    later[..., 80] += 1.0
    assert (model(later, mel, torch.tensor([0.5])) - base)[0, 0, :60].abs().max() > 0  # through the DBlocks


@pytest.mark.parametrize("fast,passes", [(True, 6), (False, 50)])
def test_generation_costs_one_network_pass_per_schedule_step(fast, passes):
    model = small_model()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    out = wavegrad.generate(model, torch.randn(2, 8, 5), fast=fast)
    assert out.shape == (2, 1, 80) and len(calls) == passes


def test_the_hop_must_divide_the_training_crop():
    model = small_model()
    with pytest.raises(ValueError, match="multiple of the hop 16"):
        wavegrad.loss(model, {"audio": torch.zeros(2, 1, 100)})
