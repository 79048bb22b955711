"""The codec language model's token layouts (zoo/codec_lm/pattern.py): the delay pattern and flattening,
their inverses, their step counts, and the delay pattern against transformers' MusicGen."""

from __future__ import annotations

import math

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


# -- the transformer over the tokens (zoo/codec_lm/model.py) -----------------------------------------------

from zoo.codec_lm.model import CodecLM, Config, loss  # noqa: E402


def tiny_lm(pattern="delay", K=4, keys=("text", "class"), classes=(20, 5), **kw) -> CodecLM:
    torch.manual_seed(0)
    cfg = Config(pattern=pattern, n_codebooks=K, dim=32, layers=2, heads=2, cond_keys=list(keys),
                 cond_classes=list(classes), **kw)
    return CodecLM(cfg).double().eval()


def conditions(B=3):
    g = torch.Generator().manual_seed(1)
    return {"text": torch.randint(1, 20, (B, 5), generator=g), "class": torch.arange(B) % 5}


def log_probs(model, codes, cond):
    logits, target = model.logits(codes, cond)
    return torch.log_softmax(logits, -1), target


@pytest.mark.parametrize("pattern", ["delay", "flatten"])
def test_a_token_is_predicted_from_exactly_the_tokens_its_pattern_puts_before_it(pattern):
    """Delay: codebook k of frame t is predicted at step t + k from every token at an earlier step -
    token (k2, t2) sits at step t2 + k2 - so from codebooks < k of its own frame (and even codebook 0 of
    frame t + 1 when k >= 2), never from codebooks >= k of its frame. Flattening: from every token
    earlier in frame-major order. Checked by changing one token and seeing which predictions move."""
    model, cond = tiny_lm(pattern), conditions()
    K, T = 4, 5
    codes = torch.randint(0, 64, (3, K, T))
    base, target = log_probs(model, codes, cond)

    def where(k, t):  # the position of the logits that predict codebook k of frame t
        return (k, t + k) if pattern == "delay" else (k, t)

    def before(k2, t2, k, t):  # does token (k2, t2) come before the prediction of (k, t)?
        return t2 + k2 < t + k if pattern == "delay" else (t2, k2) < (t, k)

    for k2, t2 in [(0, 1), (2, 2), (1, 2), (3, 0), (1, 4)]:
        changed = codes.clone()
        changed[:, k2, t2] = (changed[:, k2, t2] + 7) % 64
        moved, _ = log_probs(model, changed, cond)
        for k in range(K):
            for t in range(T):
                i, j = where(k, t)
                assert target[0, i, j] == codes[0, k, t]
                differs = not torch.allclose(moved[:, i, j], base[:, i, j], atol=1e-12)
                assert differs == before(k2, t2, k, t), (pattern, (k2, t2), (k, t))


def test_with_one_codebook_delay_and_flattening_are_the_same_plain_token_model():
    delayed, flat = tiny_lm("delay", K=1), tiny_lm("flatten", K=1)
    flat.load_state_dict(delayed.state_dict())
    codes, cond = torch.randint(0, 64, (3, 1, 7)), conditions()
    (a, ta), (b, tb) = log_probs(delayed, codes, cond), log_probs(flat, codes, cond)
    assert torch.equal(ta, codes) and torch.equal(tb, codes)  # nothing padded: one token per step
    assert torch.allclose(a, b, atol=1e-12)
    assert torch.equal(delayed.generate(3, 7, cond, seed=2), flat.generate(3, 7, cond, seed=2))


@pytest.mark.parametrize("pattern", ["delay", "flatten"])
def test_greedy_generation_picks_what_teacher_forcing_ranks_first(pattern):
    """The generation loop and the training layout agree: generate at temperature 0 (no guidance), then
    score the result by teacher forcing - every generated token is the argmax of its own prediction."""
    model, cond = tiny_lm(pattern), conditions()
    codes = model.generate(3, 6, cond, seed=0, guidance=1.0, temperature=0.0)
    logits, target = model.logits(codes, cond)
    keep = target != -100
    assert torch.equal(logits.argmax(-1)[keep], target[keep])


@pytest.mark.parametrize("pattern", ["delay", "flatten"])
def test_generation_with_the_kv_cache_equals_generation_without(pattern):
    model, cond = tiny_lm(pattern, top_k=20, temperature=0.9), conditions()
    cached = model.generate(3, 6, cond, seed=4, cache=True)
    assert torch.equal(cached, model.generate(3, 6, cond, seed=4, cache=False))
    assert cached.shape == (3, 4, 6) and 0 <= cached.min() and cached.max() < 64


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    """``l_u + gamma (l_c - l_u)``: gamma = 0 is the unconditional model (the condition dropped), gamma = 1
    the conditional one alone (no doubled batch), and the condition matters once trained to."""
    model, cond = tiny_lm(), conditions()
    for p in model.parameters():  # make the condition matter more than an untrained model's 0.02 scale
        p.data.mul_(8)
    unconditional = model.generate(3, 6, None, seed=5)
    assert torch.equal(model.generate(3, 6, cond, seed=5, guidance=0.0), unconditional)
    conditional = model.generate(3, 6, cond, seed=5, guidance=1.0)
    assert not torch.equal(conditional, unconditional)
    assert not torch.equal(model.generate(3, 6, cond, seed=5, guidance=3.0), conditional)


def test_a_dropped_condition_leaves_only_the_null_vector():
    model, cond = tiny_lm(), conditions()
    other = {"text": torch.randint(1, 20, (3, 5)), "class": (cond["class"] + 1) % 5}
    codes = torch.randint(0, 64, (3, 4, 5))
    drop = torch.ones(3, dtype=torch.bool)
    a, b = model.logits(codes, cond, drop)[0], model.logits(codes, other, drop)[0]
    assert torch.allclose(a, b, atol=1e-12)
    assert not torch.allclose(model.logits(codes, cond)[0], model.logits(codes, other)[0])
    with pytest.raises(ValueError, match="conditioned on"):
        model.logits(codes, {"class": cond["class"]})


def test_the_loss_is_the_mean_cross_entropy_of_the_tokens_that_exist():
    """Uniform predictions cost log S nats a token; the delay's padding is not counted."""
    model = tiny_lm()
    for head in model.heads:
        torch.nn.init.zeros_(head.weight), torch.nn.init.zeros_(head.bias)
    codes = torch.randint(0, 64, (3, 4, 5))
    batch = {**{f"code{k}": codes[:, k] for k in range(4)}, **conditions()}
    value, logs = loss(model, batch)
    assert abs(value.item() - math.log(64)) < 1e-9
    assert all(abs(logs[f"bits{k}"] - 6.0) < 1e-6 for k in range(4))


def test_our_attention_is_torchs_multi_head_attention():
    """lineage.transformer.Attention (causal, and as cross-attention with a padding mask) against
    torch.nn.MultiheadAttention given the same projection weights."""
    from lineage.transformer import Attention

    torch.manual_seed(0)
    ours, theirs = Attention(16, 4).double(), torch.nn.MultiheadAttention(16, 4, batch_first=True).double()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
        theirs.out_proj.weight.copy_(ours.out.weight), theirs.out_proj.bias.copy_(ours.out.bias)
    x, c = torch.randn(2, 6, 16, dtype=torch.float64), torch.randn(2, 4, 16, dtype=torch.float64)
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)  # torch's mask: True = may not attend
    assert torch.allclose(ours(x, causal=True), theirs(x, x, x, attn_mask=causal, need_weights=False)[0])
    seen = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert torch.allclose(ours(x, c, mask=seen), theirs(x, c, c, key_padding_mask=~seen, need_weights=False)[0])
    cache = {}  # one position at a time through the cache = all at once
    steps = torch.cat([ours(x[:, i:i + 1], causal=True, cache=cache) for i in range(6)], dim=1)
    assert torch.allclose(steps, ours(x, causal=True))


def test_prepare_codes_every_clip_once_with_the_frozen_codec(tmp_path, monkeypatch):
    """The tokens are the shipped codec's first K codes of each clip; a second call reads them from the
    cache beside the data (the codec is not run again); a damaged cache file is computed again."""
    import numpy as np

    from lineage import registry
    from lineage.data.clipset import ClipSet
    from zoo.codec.model import Codec
    from zoo.codec_lm.model import load_codec, prepare

    monkeypatch.setenv("LINEAGE_DATA", str(tmp_path))
    cfg = registry.load("codec_lm").config("tiny")
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((3, 8000)) * np.exp(-np.arange(8000) / 800)).astype(np.float32)  # three "hits"
    clips = ClipSet("fabricated", 16000, audio, {}, {})
    found = prepare(cfg, clips)
    codes = load_codec(cfg.model, 16000).encode(torch.from_numpy(audio)[:, None], 4)  # [3, 4, 25]
    assert found.hop == 320 and sorted(found.values) == ["code0", "code1", "code2", "code3"]
    assert all(np.array_equal(found.values[f"code{k}"], codes[:, k].numpy()) for k in range(4))

    def no_codec(*args, **kwargs):
        raise AssertionError("the codec ran again")

    with monkeypatch.context() as m:
        m.setattr(Codec, "encode", no_codec)
        again = prepare(cfg, clips)
    assert all(np.array_equal(again.values[k], found.values[k]) for k in found.values)
    (cached,) = (tmp_path / ".features").glob("codec_lm-fabricated-*.npz")
    cached.write_bytes(b"not an npz")
    assert np.array_equal(prepare(cfg, clips).values["code2"], found.values["code2"])
    from lineage.config import ConfigError

    cfg.data.segment = 256  # under one frame of the codec: nothing to predict, refused in one line
    with pytest.raises(ConfigError, match="data.segment 256 is shorter than one frame"):
        prepare(cfg, clips)
