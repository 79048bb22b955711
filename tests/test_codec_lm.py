"""The codec language model's token layouts (zoo/codec_lm/pattern.py): the delay pattern and flattening,
their inverses, their step counts, and the delay pattern against transformers' MusicGen."""

from __future__ import annotations

import pytest
import torch

from zoo.codec_lm.pattern import delay, flatten, steps, undelay, unflatten


@pytest.mark.parametrize("K,T", [(1, 5), (4, 6), (8, 3)])
def test_delay_and_flatten_are_undone_exactly(K, T):
    codes = torch.randint(0, 64, (2, K, T))
    assert torch.equal(undelay(delay(codes, 64)), codes)
    assert torch.equal(unflatten(flatten(codes), K), codes)


def test_the_delay_pattern_puts_codebook_k_of_frame_t_at_step_t_plus_k():
    codes = torch.arange(12).reshape(1, 3, 4)  # codebook k, frame t holds 4 k + t
    d = delay(codes, -1)[0]
    assert d.shape == (3, 6)
    for k in range(3):
        for s in range(6):
            t = s - k
            assert d[k, s] == (codes[0, k, t] if 0 <= t < 4 else -1)
    # one step of the delayed sequence holds frame s of codebook 0, frame s - 1 of codebook 1, ...
    assert d[:, 2].tolist() == [2, 5, 8]
    assert flatten(codes)[0, :6].tolist() == [0, 4, 8, 1, 5, 9]  # flattening: frame by frame


def test_with_one_codebook_both_layouts_are_the_plain_sequence():
    codes = torch.randint(0, 64, (2, 1, 7))
    assert torch.equal(delay(codes, 64)[:, 0], codes[:, 0])
    assert torch.equal(flatten(codes), codes[:, 0])


def test_steps_per_second_of_musicgen():
    """Four codebooks at 50 frames a second: 200 steps flattened, 53 delayed (MusicGen, section 2.2)."""
    assert steps(50, 4, "flatten") == 200 and steps(50, 4, "delay") == 53
    with pytest.raises(ValueError, match="pattern"):
        steps(50, 4, "interleave")


def test_our_delay_pattern_is_musicgens():
    """transformers' ``MusicgenForCausalLM.build_delay_pattern_mask`` (a tiny decoder built offline) lays
    the same codes out the same way: after its start column, the same tokens and the same padding."""
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    K, T, B, S = 4, 6, 2, 64
    cfg = MusicgenDecoderConfig(vocab_size=S, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                ffn_dim=32, num_codebooks=K, pad_token_id=S, bos_token_id=S)
    lm = MusicgenForCausalLM(cfg)
    codes = torch.randint(0, S, (B, K, T))
    prompt = torch.cat([torch.full((B, K, 1), S), codes], dim=-1).reshape(B * K, T + 1)  # start token, then codes
    _, pattern = lm.build_delay_pattern_mask(prompt, pad_token_id=S, max_length=T + K)
    theirs = pattern.reshape(B, K, T + K)
    assert (theirs[:, :, 0] == S).all()  # the start column
    assert torch.equal(theirs[:, :, 1:], delay(codes, S))
