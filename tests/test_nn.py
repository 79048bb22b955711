import torch

from lineage.nn import CausalConv1d


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
