"""The neural codec (zoo/codec): residual vector quantisation piece by piece, the codec's shapes, its
bitrate arithmetic, causality, and cross-checks against vector-quantize-pytorch and transformers' EnCodec."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import require
from lineage.config import make_config
from zoo.codec import Codebook, Config, ResidualVQ, build
from zoo.codec.model import Codec


def clustered(n: int = 400, dim: int = 4, centres: int = 8, seed: int = 0) -> torch.Tensor:
    """``n`` vectors around ``centres`` well-separated points: data a codebook should learn."""
    g = torch.Generator().manual_seed(seed)
    c = 5 * torch.randn(centres, dim, generator=g)
    return c[torch.randint(0, centres, (n,), generator=g)] + 0.1 * torch.randn(n, dim, generator=g)


# -- one codebook -----------------------------------------------------------------------------------------

def test_nearest_is_the_argmin_of_the_euclidean_distance():
    cb = Codebook(16, 3)
    r = torch.randn(50, 3)
    assert torch.equal(cb.nearest(r), torch.cdist(r, cb.embed).argmin(1))


def test_ema_update_with_no_memory_is_one_k_means_step():
    """With decay 0 the EMA update is Lloyd's step: each used code becomes the mean of the vectors it won."""
    cb = Codebook(8, 4, decay=0.0, eps=0.0)
    r = clustered()
    idx = cb.nearest(r)
    cb.ema_update(r, idx)
    for i in idx.unique():
        assert torch.allclose(cb.embed[i], r[idx == i].mean(0), atol=1e-5)


def test_k_means_initialisation_finds_the_clusters():
    torch.manual_seed(0)
    cb = Codebook(16, 4)  # twice the clusters: Lloyd's algorithm from random starts may merge two
    r = clustered(centres=8)
    before = (r - cb.lookup(cb.nearest(r))).pow(2).sum(1).mean()
    cb.kmeans_init(r)
    after = (r - cb.lookup(cb.nearest(r))).pow(2).sum(1).mean()
    assert bool(cb.initted) and after < 0.01 * before


def test_a_dead_code_moves_onto_the_data():
    torch.manual_seed(0)
    cb = Codebook(4, 2, decay=0.5, dead_threshold=1.0)
    cb.embed[3] = 1e3  # far from everything: never chosen
    r = torch.randn(64, 2)
    idx = cb.nearest(r)
    assert not (idx == 3).any()
    cb.ema_update(r, idx)
    assert cb.restart_dead(r) >= 1
    assert any(torch.equal(cb.embed[3], row) for row in r)  # it now sits on a real vector


# -- the residual stack ----------------------------------------------------------------------------------

def rvq_on(z: torch.Tensor, K: int = 4, S: int = 16) -> ResidualVQ:
    """A stack whose codebooks were k-means-initialised on the latent frames ``z [D, frames]``."""
    torch.manual_seed(0)
    rvq = ResidualVQ(K, S, z.shape[0])
    rvq.train()
    rvq(z[None])  # k-means on the first batch, codebook after codebook
    return rvq.eval()


def test_each_codebook_codes_what_the_previous_ones_left():
    """The error ``|| z - (q_1 + ... + q_n) ||`` falls with every codebook added: each one quantises the
    residual (quantising ``z`` again instead would leave the error where the first codebook left it)."""
    z = torch.randn(4, 300)  # [D, frames]
    rvq = rvq_on(z)
    errors = [float((rvq(z[None], n)[0] - z[None]).pow(2).mean()) for n in range(1, 5)]
    assert all(b < 0.8 * a for a, b in zip(errors, errors[1:])), errors


def test_codes_alone_rebuild_the_quantised_latent():
    """Only integers cross from encoder to decoder: ``decode(codes)`` is exactly the forward pass's z_hat."""
    z = torch.randn(2, 4, 50)
    rvq = rvq_on(z[0])
    z_hat, codes, _, _ = rvq(z)
    assert codes.shape == (2, 4, 50) and codes.dtype == torch.int64
    assert torch.allclose(rvq.decode(codes), z_hat, atol=1e-6)


def test_quantiser_dropout_keeps_a_prefix_per_example():
    z = torch.randn(2, 4, 30)
    rvq = rvq_on(z[0])
    z_hat, codes, _, _ = rvq(z, torch.tensor([1, 3]))
    assert torch.allclose(z_hat[0], rvq.decode(codes[:1, :1])[0], atol=1e-6)
    assert torch.allclose(z_hat[1], rvq.decode(codes[1:, :3])[0], atol=1e-6)


def test_straight_through_passes_the_gradient_unchanged_and_commitment_reaches_the_encoder():
    z = torch.randn(1, 4, 20, requires_grad=True)
    rvq = rvq_on(z[0].detach())
    z_hat, _, commit, _ = rvq(z)
    g = torch.randn_like(z)
    (gz,) = torch.autograd.grad((z_hat * g).sum(), z, retain_graph=True)
    assert torch.allclose(gz, g)  # d z_hat / d z = I
    (gc,) = torch.autograd.grad(commit, z)
    assert gc.abs().sum() > 0


def test_our_rvq_gives_vector_quantize_pytorchs_codes_and_output():
    """Given the same codebooks, lucidrains' ``ResidualVQ`` (evaluation mode) picks the same codes and
    returns the same quantised vectors."""
    vqp = require("vector_quantize_pytorch")
    z = torch.randn(3, 8, 40)  # [B, D, F]
    ours = rvq_on(z.transpose(0, 1).reshape(8, -1), K=4, S=32)
    theirs = vqp.ResidualVQ(dim=8, num_quantizers=4, codebook_size=32).eval()
    with torch.no_grad():
        for layer, cb in zip(theirs.layers, ours.codebooks):
            layer._codebook.embed.copy_(cb.embed[None])
            layer._codebook.initted.fill_(True)
        q_theirs, idx_theirs, _ = theirs(z.transpose(1, 2))  # they take [B, F, D]
        q_ours, codes, _, _ = ours(z)
    assert torch.equal(idx_theirs.permute(0, 2, 1), codes)
    assert torch.allclose(q_theirs.transpose(1, 2), q_ours, atol=1e-5)


# -- the codec -------------------------------------------------------------------------------------------

def tiny_codec(**model) -> Codec:
    cfg = make_config(Config, overrides=[f"model.{k}={v}" for k, v in model.items()])
    torch.manual_seed(0)
    return build(cfg).eval()


def test_the_bitrate_is_frames_times_codebooks_times_bits():
    m = tiny_codec(strides="[2,4,5,8]", n_codebooks=8, codebook_size=256)
    assert m.hop == 320 and m.frame_rate == 50.0
    assert m.bitrate(8) == 50 * 8 * 8 and m.bitrate(1) == 400


def test_the_bitrate_ladder_is_encodecs():
    """EnCodec at 24 kHz (hop 320: 75 frames per second, codebooks of 1024) reaches 1.5, 3, 6, 12 and 24 kb/s
    with 2, 4, 8, 16 and 32 codebooks: transformers' model agrees with our arithmetic."""
    from transformers import EncodecConfig

    cfg = EncodecConfig()  # the published 24 kHz model's configuration, built offline
    frame_rate = cfg.sampling_rate / math.prod(cfg.upsampling_ratios)
    rvq = ResidualVQ(32, cfg.codebook_size, 1)
    for kbps in cfg.target_bandwidths:
        n = round(kbps * 1000 / (frame_rate * math.log2(cfg.codebook_size)))
        assert frame_rate * rvq.bits_per_frame(n) == pytest.approx(kbps * 1000)
    assert frame_rate == 75 and [round(b * 1000 / 750) for b in cfg.target_bandwidths] == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("T", [3200, 3000])
def test_encode_and_decode_shapes_and_round_trip(T):
    m = tiny_codec(channels=4, dim=8, n_codebooks=3, codebook_size=16)
    audio = 0.1 * torch.randn(2, 1, T)
    codes = m.encode(audio)
    frames = math.ceil(T / m.hop)
    assert codes.shape == (2, 3, frames) and 0 <= int(codes.min()) and int(codes.max()) < 16
    out = m.decode(codes)
    assert out.shape == (2, 1, frames * m.hop)
    with torch.no_grad():
        assert torch.allclose(m(audio)[0], out[..., :T], atol=1e-6)  # the codes carry all the decoder sees
    assert torch.equal(m.encode(audio, 2), codes[:, :2])  # a lower bitrate is a prefix of the codes


@pytest.mark.parametrize("causal", [True, False])
def test_a_causal_codec_ignores_the_future(causal):
    """Changing the last frame's samples changes no earlier output of the streaming (causal) codec; the
    non-causal one looks ahead, so earlier samples move too."""
    m = tiny_codec(channels=4, dim=8, n_codebooks=2, codebook_size=16, causal=str(causal).lower())
    with torch.no_grad():
        for layer in m.modules():  # a latent that passes through the quantiser unchanged
            if isinstance(layer, Codebook):
                layer.embed.zero_()
        x = 0.1 * torch.randn(1, 1, 4 * m.hop)
        y = x.clone()
        y[..., -m.hop:] += 0.5
        a, b = m.encoder(x), m.encoder(y)
        early = slice(0, 3)
        assert torch.equal(a[..., early], b[..., early]) == causal
        a, b = m.decoder(a), m.decoder(b)
        assert torch.equal(a[..., :3 * m.hop], b[..., :3 * m.hop]) == causal
