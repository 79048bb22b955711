import pytest
import torch

from lineage.nn import CausalConv1d, RunningMean


def test_causal_conv_step_equals_full_pass():
    """Fast WaveNet's queues compute exactly what the padded convolution computes."""
    torch.manual_seed(0)
    for k, d in [(2, 1), (2, 8), (3, 4)]:
        conv = CausalConv1d(3, 5, kernel_size=k, dilation=d).double()
        x = torch.randn(2, 3, 40, dtype=torch.float64)
        full = conv(x)
        queue = conv.new_queue(2, dtype=torch.float64)
        steps = torch.stack([conv.step(x[:, :, t], queue) for t in range(40)], dim=-1)
        torch.testing.assert_close(steps, full, rtol=0, atol=1e-12)


def test_causal_conv_never_sees_the_future():
    conv = CausalConv1d(1, 1, kernel_size=2, dilation=4)
    x = torch.randn(1, 1, 30)
    y = x.clone()
    y[:, :, 20:] = torch.randn(1, 1, 10)
    assert torch.equal(conv(x)[:, :, :20], conv(y)[:, :, :20])
    assert not torch.equal(conv(x)[:, :, 20:], conv(y)[:, :, 20:])


def test_running_mean_is_the_closed_form_average_in_training_and_still_in_eval():
    """``v_k = (1 - r)^k v_0 + sum_j r (1 - r)^(k - j) x_j``: the exponential moving average, unrolled."""
    torch.manual_seed(0)
    rate, v0 = 0.1, torch.randn(5, dtype=torch.float64)
    xs = torch.randn(20, 5, dtype=torch.float64)
    mean = RunningMean(v0, rate).double().train()
    for x in xs:
        mean.track(x)
    k = len(xs)
    expected = (1 - rate) ** k * v0 + sum(rate * (1 - rate) ** (k - j) * xs[j - 1] for j in range(1, k + 1))
    torch.testing.assert_close(mean.value, expected, rtol=0, atol=1e-12)
    before = mean.value.clone()
    mean.eval()(torch.full((5,), 100.0))  # eval mode: the call does nothing
    assert torch.equal(mean.value, before)
    assert "value" in mean.state_dict()  # saved with the model, but no parameter to train
    assert list(mean.parameters()) == []


def test_running_mean_tracks_a_prefix_and_takes_no_gradient():
    mean = RunningMean(torch.zeros(6), rate=0.5)
    x = torch.ones(4, requires_grad=True)
    mean.track(x * 2)  # a contour shorter than the buffer: only its first 4 entries move
    assert mean.value.tolist() == [1, 1, 1, 1, 0, 0]
    assert not mean.value.requires_grad
    with pytest.raises(ValueError, match="prefix"):
        mean.track(torch.zeros(7))
