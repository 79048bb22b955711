"""GANSynth: the (log-magnitude, instantaneous frequency) image gives the audio back; a steady sine has a
constant IF although its phase spins; the losses are WGAN-GP plus drift plus the AC-GAN pitch term;
the critic's second head learns the pitch; each part's update reaches only its own network; sampling
and the unconditional path follow the zoo protocol."""

import math

import pytest
import torch

import zoo.gansynth as gansynth
from zoo.gansynth import representation
from lineage.config import make_config
from lineage.gan import gradient_penalty

SR = 8000
# a small network on a small image: 32 bins x 16 frames (n_fft 64, hop 16), maps 8 x 4 -> 32 x 16
SMALL = ["data.sample_rate=8000", "model.n_fft=64", "model.hop=16", "model.frames=16", "model.latent=8",
         "model.channels=[16, 8, 8]"]


def small(*extra):
    torch.manual_seed(0)
    return gansynth.build(make_config(gansynth.Config, None, [*SMALL, *extra]))


def test_round_trip_through_log_magnitude_and_if_gives_the_audio_back():
    n_fft, hop, length = 256, 64, 63 * 64
    t = torch.arange(length, dtype=torch.float32) / SR
    chirp = 0.2 * torch.sin(2 * math.pi * (200 + 750 * t / t[-1]) * t)  # 200 Hz gliding up to 1,700 Hz
    x = 0.3 * torch.sin(2 * math.pi * 440 * t) + chirp + 0.1 * torch.sin(2 * math.pi * 1234.5 * t + 1)
    x = x[None, None]  # [1, 1, T]
    spec = representation.encode(x, n_fft, hop)
    assert spec.shape == (1, 2, 128, 64) and spec.abs().max() <= 1  # F = n_fft / 2: Nyquist dropped
    y = representation.decode(spec, n_fft, hop, length)
    inner = slice(n_fft, -n_fft)  # away from the edges
    assert (y - x)[..., inner].abs().max() < 1e-4


def test_if_of_a_steady_sine_is_constant_while_its_phase_spins():
    n_fft, hop = 256, 64  # 75% overlap: bin k's phase turns 2 pi k hop / n_fft = k pi / 2 per frame
    t = torch.arange(63 * hop, dtype=torch.float32)
    for k, expected in [(5, 0.5), (7, -0.5)]:  # 5 pi / 2 wraps to pi / 2; 7 pi / 2 wraps to -pi / 2
        x = 0.5 * torch.cos(2 * math.pi * k * t / n_fft)[None, None]  # exactly at bin centre k
        X = representation.stft(x, n_fft, hop)[0, k, 2:-2]  # [frames], away from the padded edges
        assert abs(X.abs().mean() - 0.5) < 1e-3  # scaled so that the peak is the amplitude
        phase = torch.angle(X)
        assert phase.diff().abs().max() > 1  # the raw phase jumps around the circle...
        inst = gansynth.instantaneous_frequency(phase)[1:]
        assert torch.allclose(inst, torch.full_like(inst, expected), atol=1e-4)  # ...its derivative does not


def test_cumulative_sum_of_if_is_the_unwrapped_phase():
    torch.manual_seed(0)
    phase = (torch.rand(3, 50) * 2 - 1) * math.pi
    inst = gansynth.instantaneous_frequency(phase)
    assert inst.abs().max() <= 1
    unwrapped = gansynth.phase_from_if(inst)
    assert torch.allclose(unwrapped, gansynth.unwrap(phase), atol=1e-5)
    assert torch.allclose(torch.polar(torch.ones_like(phase), unwrapped),
                          torch.polar(torch.ones_like(phase), phase), atol=1e-5)
    assert gansynth.unwrap(phase).diff().abs().max() <= math.pi + 1e-6  # no step bigger than pi


def test_if_mel_keeps_low_notes_and_its_rows_are_weighted_means():
    n_fft, hop, length = 256, 64, 63 * 64
    warp = gansynth.mel_warp(n_fft // 2, SR)
    assert warp.shape == (128, 128) and torch.allclose(warp.sum(1), torch.ones(128))
    # more mel rows than linear bins below 1 kHz: low notes get more of the image
    centres = (warp * torch.arange(128.0)).sum(1)
    assert (centres < 32).sum() > 50  # linear bins 0..31 are 0..1 kHz
    t = torch.arange(length, dtype=torch.float32) / SR
    x = 0.5 * torch.sin(2 * math.pi * 300 * t)[None, None]
    y = representation.decode(representation.encode(x, n_fft, hop, warp), n_fft, hop, length, torch.linalg.pinv(warp))
    inner = slice(n_fft, -n_fft)
    assert (y - x)[..., inner].pow(2).mean() < 1e-4 * x.pow(2).mean()


def test_generator_makes_a_bounded_image_that_depends_on_z_and_pitch():
    model = small()
    z = gansynth.latents(4, 8, seed=0)
    pitch = {"pitch": torch.tensor([60, 60, 67, 67])}
    spec = model.generator(z, pitch)
    assert spec.shape == (4, 2, 32, 16) and spec.abs().max() < 1  # tanh
    assert (spec[0] - spec[1]).abs().max() > 1e-3  # another z, another note
    other = model.generator(z, {"pitch": torch.tensor([72, 60, 67, 67])})
    assert (other[0] - spec[0]).abs().max() > 1e-3 and torch.allclose(other[1:], spec[1:])
    score, aux = model.critic(spec)
    assert score.shape == (4,) and aux["pitch"].shape == (4, 128)


def test_losses_are_wgan_gp_plus_drift_plus_the_pitch_cross_entropy():
    model = small()
    batch = {"audio": torch.randn(4, 1, 240) * 0.1, "pitch": torch.tensor([60, 62, 64, 65])}
    torch.manual_seed(1)
    loss, logs = gansynth.critic_loss(model, batch)
    real = model.encode(batch["audio"])
    d_real, aux_real = model.critic(real)
    torch.manual_seed(1)  # the same z and the same mixing weights u
    fake = model.generator(torch.randn(4, 8), batch)
    d_fake = model.critic(fake)[0]
    assert logs["W"] == pytest.approx((d_real.mean() - d_fake.mean()).item(), abs=1e-5)
    gp = gradient_penalty(lambda x: model.critic(x)[0], real, fake)  # lineage.gan's, shared with WaveGAN
    assert logs["gp"] == pytest.approx(gp.item(), rel=1e-4)
    ce = torch.nn.functional.cross_entropy(aux_real["pitch"], batch["pitch"])
    assert logs["aux"] == pytest.approx(ce.item(), rel=1e-5)
    expected = -logs["W"] + 10 * gp + 0.001 * d_real.square().mean() + 10 * ce
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    torch.manual_seed(2)
    loss, logs = gansynth.generator_loss(model, batch)
    torch.manual_seed(2)
    d_fake, aux_fake = model.critic(model.generator(torch.randn(4, 8), batch))
    ce = torch.nn.functional.cross_entropy(aux_fake["pitch"], batch["pitch"])
    assert loss.item() == pytest.approx((-d_fake.mean() + 10 * ce).item(), rel=1e-4)


def _sines(pitches, length=256):
    t = torch.arange(length, dtype=torch.float32) / SR
    hz = 440 * 2 ** ((torch.as_tensor(pitches, dtype=torch.float32) - 69) / 12)
    return 0.5 * torch.sin(2 * math.pi * hz[:, None] * t)[:, None]  # [B, 1, length]


def test_the_critic_learns_to_name_the_pitch():
    model = small()
    opt = torch.optim.Adam(model.critic.parameters(), 1e-3)
    pitches = torch.tensor([60, 72, 84, 96] * 2)  # 262, 523, 1047, 2093 Hz
    batch = {"audio": _sines(pitches), "pitch": pitches}
    for _ in range(60):
        loss, logs = gansynth.critic_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert logs["aux"] < 0.1 and logs["W"] > 0  # it names the pitch, and scores real above fake
    _, aux = model.critic(model.encode(_sines(torch.tensor([60, 72, 84, 96]), length=400)))
    assert aux["pitch"].argmax(1).tolist() == [60, 72, 84, 96]


def test_each_update_reaches_only_its_own_network():
    model = small()
    steps = gansynth.steps(model)
    assert [s.name for s in steps] == ["critic", "generator"]  # the critic first, as WGAN-GP
    assert gansynth.steps(small("model.critic_steps=3"))[0].repeats == 3
    batch = {"audio": _sines(torch.tensor([60, 67])), "pitch": torch.tensor([60, 67])}
    networks = {"critic": (model.critic, model.generator), "generator": (model.generator, model.critic)}
    for step in reversed(steps):  # the generator first: its frozen critic must thaw for the critic's step
        trained, fixed = networks[step.name]
        assert {id(p) for p in step.params} == {id(p) for p in trained.parameters()}
        model.zero_grad(set_to_none=True)
        loss, logs = step.loss(model, batch)
        loss.backward()
        assert all(p.grad is not None for p in trained.parameters())
        assert all(p.grad is None for p in fixed.parameters())
    assert set(logs) >= {"W", "gp", "aux"}


def test_loss_accepts_clips_of_any_length():
    model = small()
    for length in (256, 1000):  # the model's clip is 15 x 16 = 240 samples: cut either way
        batch = {"audio": torch.randn(3, 1, length) * 0.1, "pitch": torch.tensor([60, 61, 62])}
        for loss_fn in (gansynth.critic_loss, gansynth.generator_loss):
            loss, _ = loss_fn(model, batch)
            assert torch.isfinite(loss)
    model = small("model.frames=64")  # 63 x 16 = 1008 samples: a 256-sample batch is zero-padded
    batch = {"audio": torch.zeros(2, 1, 256), "pitch": torch.tensor([1, 2])}
    assert torch.isfinite(gansynth.critic_loss(model, batch)[0])


def test_sample_has_the_asked_length_seed_and_pitch():
    model = small()
    cond = {"pitch": torch.tensor([60, 67])}
    a = gansynth.sample(model, 2, 0.05, seed=3, cond=cond)
    assert a.shape == (2, 1, 400) and a.abs().max() <= 1  # 240 samples made, zero-padded to 400
    assert a[..., 240:].abs().max() == 0
    assert gansynth.sample(model, 2, 0.01, seed=3, cond=cond).shape == (2, 1, 80)  # cut
    assert torch.equal(a, gansynth.sample(model, 2, 0.05, seed=3, cond=cond))
    assert not torch.equal(a, gansynth.sample(model, 2, 0.05, seed=4, cond=cond))
    b = gansynth.sample(model, 2, 0.05, seed=3, cond={"pitch": torch.tensor([60, 72])})
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="pitch"):
        gansynth.sample(model, 2, 0.05)


def test_unconditional_when_no_labels_are_kept():
    model = small("model.cond_keys=[]", "model.cond_classes=[]")
    assert model.generator.labels is None and len(model.critic.aux) == 0
    batch = {"audio": torch.randn(2, 1, 256) * 0.1}  # e.g. spoken digits: no pitch
    for loss_fn in (gansynth.critic_loss, gansynth.generator_loss):
        loss, logs = loss_fn(model, batch)
        assert torch.isfinite(loss)
    assert logs["aux_fake"] == 0
    assert gansynth.sample(model, 3, 0.03).shape == (3, 1, 240)


def test_bad_sizes_are_refused_in_one_line():
    with pytest.raises(ValueError, match="multiples of 2\\^2"):
        small("model.frames=18")
    with pytest.raises(ValueError, match="same length"):
        small("model.cond_classes=[128, 10]")


def test_trains_through_the_trainer(tmp_path):
    from lineage.train import Trainer

    cfg = make_config(gansynth.Config, None, [*SMALL, "data.size=40", "data.segment=256", "train.steps=2",
                                        "train.batch_size=2", "train.log_every=1", "train.sample_n=1",
                                        "train.sample_seconds=0.05", "train.betas=[0.0, 0.99]"])
    last = Trainer("gansynth", cfg, tmp_path / "run", progress=False).fit()
    assert {"loss_critic", "loss_generator", "W", "gp", "aux", "aux_fake"} <= set(last)
    assert (tmp_path / "run" / "samples" / "step_0000002" / "00.wav").is_file()
