"""The NSynth autoencoder's lessons as tests: the encoder looks both ways and runs slow; the decoder is a
WaveNet that listens to it, and it is the embedding - not the label - that tells two timbres apart."""

import math

import torch

import zoo.nsynth as N
from lineage.config import make_config

SMALL = ["model.enc_channels=8", "model.enc_cycle=4", "model.bottleneck=4", "model.hop=32",
         "model.channels=8", "model.skip_channels=8", "model.dilation_cycle=4", "model.stacks=1",
         "model.cond_channels=4"]


def small(*extra):
    torch.manual_seed(0)
    return N.build(make_config(N.Config, None, SMALL + list(extra)))


def test_embedding_is_slow_and_the_encoder_looks_ahead():
    model = small().double()
    x = torch.randn(2, 1, 320, dtype=torch.float64)
    z = model.encode(x)
    assert z.shape == (2, 4, 10)  # one 4-vector per 32 samples
    assert model.encode(x[..., :300]).shape[-1] == 10  # a partial last frame is padded, not dropped
    later = x.clone()
    later[..., 100] += 1.0  # a sample inside frame 3 (samples 96..127)
    dz = (model.encode(later) - z).abs().sum(dim=(0, 1))
    assert dz[2] > 0 and dz[3] > 0  # frame 2 (64..95) hears sample 100: the encoder is non-causal
    assert dz[:1].sum() == 0  # frames far before it do not (receptive field 31 samples each side)


def test_decoder_is_a_wavenet_listening_to_the_upsampled_embedding():
    model = small()
    assert type(model.decoder).__name__ == "WaveNet" and model.decoder.cfg.local_channels == 4
    z = torch.randn(1, 4, 3)
    up = model.upsample(z, 80)
    assert up.shape == (1, 4, 80) and torch.equal(up[..., 31], z[..., 0]) and torch.equal(up[..., 32], z[..., 1])
    batch = {"audio": torch.rand(2, 1, 128) * 2 - 1, "pitch": torch.tensor([60, 60])}
    loss, _ = N.loss(model, batch)
    loss.backward()
    assert model.encoder.out.weight.grad.abs().sum() > 0  # trained through the decoder's loss
    out = N.reconstruct(model.eval(), batch)
    assert out.shape == (2, 1, 128) and out.abs().max() <= 1


def _train(model, batch, steps=400):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss, _ = N.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def third_harmonic_ratio(x, f0=262, sample_rate=8000):
    """Energy at 3 f0 relative to f0: about 1/3 for a square wave, about 0 for a sine."""
    seg = x[128:512]
    s = torch.fft.rfft(seg).abs()
    k = round(f0 * len(seg) / sample_rate)
    return (s[3 * k - 1: 3 * k + 2].max() / s[k - 1: k + 2].max()).item()


def test_the_embedding_decides_the_timbre():
    """A sine and a square at the same pitch label: after training, decoding with the square's embedding
    gives a square-like wave and with the sine's a sine-like one - and swapping the embeddings swaps
    the timbres. The label alone could not tell them apart."""
    t = torch.arange(1024) / 8000
    sine = 0.5 * torch.sin(2 * math.pi * 262 * t)
    square = 0.5 * torch.sign(torch.sin(2 * math.pi * 262 * t))
    batch = {"audio": torch.stack([sine, square])[:, None], "pitch": torch.tensor([60, 60])}
    model = small()
    _train(model, batch)
    model.eval()
    with torch.no_grad():
        z = model.encode(batch["audio"])
        own = model.decode(z, batch, 512, seed=0)[:, 0]
        swapped = model.decode(z.flip(0), batch, 512, seed=0)[:, 0]
    ratios = [third_harmonic_ratio(x) for x in (*own, *swapped)]
    assert ratios[0] < 0.25 < ratios[1], ratios  # own embeddings: sine, square
    assert ratios[2] > 0.25 > ratios[3], ratios  # swapped: square, sine
