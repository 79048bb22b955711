"""SaShiMi and its state-space layers (zoo/sashimi): each test would fail if the idea were built wrongly.

The equivalences run in float64 (``jax.enable_x64``), where convolution and recurrence agree to rounding;
float32 would hide a small error under its own noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from lineage import registry  # noqa: E402
from zoo.sashimi import ssm  # noqa: E402
from zoo.sashimi.model import SaShiMi  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "s4d.npz"


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def small_stack(pools=(4, 4), discretization="zoh", eigenvalues="legs"):
    return SaShiMi(width=8, layers=2, pools=pools, expand=2, ff=2, state=8, eigenvalues=eigenvalues,
                   discretization=discretization, quantization=16, cond_classes=(5,))


# -- one layer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("eigenvalues", ["legs", "lin"])
def test_layer_convolution_equals_recurrence(x64, discretization, eigenvalues):
    """(3) == (2): the FFT convolution with the kernel and the step-by-step recurrence, on random input."""
    layer = ssm.S4D(4, 16, eigenvalues, discretization)
    u = jax.random.normal(jax.random.key(1), (2, 96, 4), jnp.float64)
    params = layer.init(jax.random.key(0), u)
    y = layer.apply(params, u)
    x = layer.apply(params, 2, method=ssm.S4D.initial_state)
    steps = []
    for t in range(u.shape[1]):
        yt, x = layer.apply(params, u[:, t], x, method=ssm.S4D.step)
        steps.append(yt)
    assert y.dtype == jnp.float64
    np.testing.assert_allclose(np.stack(steps, 1), y, atol=1e-10)


def test_kernel_two_ways(x64):
    """The Vandermonde form (5) of a diagonal system equals the kernel by repeated powers of Ab (3)."""
    rng = np.random.default_rng(0)
    lam = -np.exp(rng.normal(size=6)) + 1j * rng.normal(scale=5, size=6)
    c = rng.normal(size=6) + 1j * rng.normal(size=6)
    ab, bb = ssm.discretize_diag(jnp.asarray(lam), jnp.ones(6), 0.1, "zoh")
    naive = ssm.kernel_naive(jnp.diag(ab), bb, jnp.asarray(c), 50)
    np.testing.assert_allclose(ssm.kernel_vandermonde(ab, c * bb, 50), naive, atol=1e-12)


def test_hippo_legs_is_normal_plus_low_rank(x64):
    """A = V diag(Lambda) V* - P P^T reconstructs HiPPO-LegS (4), with V unitary and Re(Lambda) = -1/2."""
    a, b = ssm.hippo_legs(12)
    assert a[3, 1] == pytest.approx(-np.sqrt(7 * 3)) and a[3, 3] == -4 and a[1, 3] == 0 and b[2] == np.sqrt(5)
    lam, p, _, v = ssm.nplr_legs(12)
    np.testing.assert_allclose(v @ np.diag(lam) @ v.conj().T - np.outer(p, p), a, atol=1e-10)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(12), atol=1e-10)
    np.testing.assert_allclose(lam.real, -0.5, atol=1e-10)
    half = ssm.init_eigenvalues(12, "legs")
    assert len(half) == 6 and (half.imag > 0).all()


def test_s4_cauchy_kernel_equals_powers(x64):
    """S4's kernel of A = Lambda - p q* by Cauchy sums, Woodbury and an inverse FFT equals C Ab^l Bb of the
    dense bilinear system (with C~ = C (I - Ab^L), as S4 parameterises it)."""
    rng = np.random.default_rng(1)
    n, length, step = 8, 64, 0.05
    cplx = lambda *s: rng.normal(size=s) + 1j * rng.normal(size=s)  # noqa: E731
    lam = -np.exp(rng.normal(size=n)) + 1j * rng.normal(scale=10, size=n)
    p, q, b, c = cplx(n), cplx(n), cplx(n), cplx(n)
    a = np.diag(lam) - np.outer(p, q.conj())
    ab, bb = ssm.discretize(jnp.asarray(a), jnp.asarray(b), step, "bilinear")
    naive = ssm.kernel_naive(ab, bb, jnp.asarray(c), length)
    c_tilde = c @ (np.eye(n) - np.linalg.matrix_power(np.asarray(ab), length))
    fast = ssm.kernel_dplr(jnp.asarray(lam), jnp.asarray(p), jnp.asarray(q), jnp.asarray(b), jnp.asarray(c_tilde),
                           step, length)
    np.testing.assert_allclose(fast, naive, atol=1e-9 * np.abs(naive).max())


def test_zoh_and_bilinear_converge_as_the_step_shrinks(x64):
    """Both discretise the same system: on HiPPO-LegS, their Ab differ by O(Delta^3) (halving Delta
    divides the gap by about 8), and both tend to I + Delta A."""
    a, b = ssm.hippo_legs(8)
    gaps = []
    for step in (0.02, 0.01, 0.005):
        zoh = ssm.discretize(jnp.asarray(a), jnp.asarray(b), step, "zoh")
        bil = ssm.discretize(jnp.asarray(a), jnp.asarray(b), step, "bilinear")
        gaps.append(float(jnp.abs(zoh[0] - bil[0]).max()))
        np.testing.assert_allclose(zoh[1], bil[1], atol=2 * step ** 2 * np.abs(a).max() * np.abs(b).max())
    assert 6 < gaps[0] / gaps[1] < 10 and 6 < gaps[1] / gaps[2] < 10


def test_hurwitz_parameterisation_keeps_generation_stable(x64):
    """Whatever the trained log_A_real, Re(lambda) = -exp(.) < 0, so |Ab| < 1 under both discretisations:
    a long recurrence cannot blow up. (An unconstrained Re(lambda) = +0.1 would grow by e^(0.1 Delta) per
    step, as the last line shows.)"""
    for discretization in ("zoh", "bilinear"):
        layer = ssm.S4D(3, 8, "legs", discretization)
        params = layer.init(jax.random.key(0), jnp.zeros((1, 16, 3)))
        wild = jax.tree_util.tree_map(lambda x: x, params)
        wild["params"]["log_A_real"] = jnp.linspace(-30, 5, 12).reshape(3, 4)
        wild["params"]["log_dt"] = jnp.asarray([-8.0, 0.0, 3.0])
        ab = layer.apply(wild, method=ssm.S4D.ssm)[0]
        assert float(jnp.abs(ab).max()) <= 1.0
    ab_unstable, _ = ssm.discretize_diag(jnp.asarray(0.1 + 1j), jnp.ones(()), 1.0, "zoh")
    assert abs(complex(ab_unstable)) > 1


def test_layer_matches_the_authors_s4d():
    """Our S4D with the parameters of the authors' minimal S4D (state-spaces/s4, models/s4/s4d.py, run by
    scripts/golden_s4d.py) reproduces their kernel and their output."""
    golden = np.load(GOLDEN)
    with jax.enable_x64(True):
        for case in ("lin", "perturbed"):
            g = {k.split("/", 1)[1]: golden[k] for k in golden.files if k.startswith(case + "/")}
            h, half = g["kernel.log_A_real"].shape
            layer = ssm.S4D(h, 2 * half, "lin", "zoh")
            params = {"params": {"log_dt": g["kernel.log_dt"], "log_A_real": g["kernel.log_A_real"],
                                 "A_imag": g["kernel.A_imag"], "C": g["kernel.C"], "D": g["D"],
                                 "mix": {"kernel": g["output_linear.0.weight"][:, :, 0].T,
                                         "bias": g["output_linear.0.bias"]}}}
            kernel = layer.apply(params, g["kernel"].shape[1], method=ssm.S4D.kernel)
            np.testing.assert_allclose(kernel, g["kernel"], atol=1e-9, err_msg=case)
            y = layer.apply(params, jnp.asarray(g["u"]).transpose(0, 2, 1))
            np.testing.assert_allclose(np.asarray(y).transpose(0, 2, 1), g["y"], atol=1e-9, err_msg=case)


# -- the whole stack --------------------------------------------------------------------------------------


@pytest.mark.parametrize("pools", [(4, 4), (2, 3)])
def test_stack_convolution_equals_recurrence(x64, pools):
    """The SaShiMi U-Net teacher-forced in convolution mode equals its recurrent step (down layers
    collecting p inputs, coarse levels running every p-th sample, up layers handing out p outputs)."""
    model = small_stack(pools, "bilinear" if pools == (2, 3) else "zoh")
    length = 12 * int(np.prod(pools))
    tokens = jax.random.randint(jax.random.key(2), (2, length), 0, 16)
    cond = (jnp.asarray([1, 3]),)
    params = model.init(jax.random.key(0), tokens, cond)
    logits = model.apply(params, tokens, cond)
    h = model.apply(params, cond, 2, method=SaShiMi.condition)
    state = model.apply(params, 2, method=SaShiMi.initial_state)
    step = jax.jit(lambda token, state, t: model.apply(params, token, h, state, t, method=SaShiMi.step))
    out = []
    for t in range(length):
        lg, state = step(tokens[:, t], state, jnp.int32(t))
        out.append(lg)
    np.testing.assert_allclose(np.stack(out, 1), logits, atol=1e-9)


def test_stack_is_causal():
    """Changing input t changes no output before t - also across the pooling's block boundaries (the up
    layers' one-step shift) - and does change output t."""
    model = small_stack()
    tokens = jax.random.randint(jax.random.key(3), (1, 64), 0, 16)
    params = model.init(jax.random.key(0), tokens, (jnp.asarray([0]),))
    forward = jax.jit(lambda tokens: model.apply(params, tokens, (jnp.asarray([0]),)))
    base = forward(tokens)
    for t in (5, 16, 33):
        changed = forward(tokens.at[0, t].set((tokens[0, t] + 7) % 16))
        diff = np.abs(np.asarray(changed - base)).max(axis=-1)[0]
        assert diff[:t].max() < 1e-5 and diff[t] > 1e-3, t


# -- the zoo entry ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entry():
    return registry.load("sashimi")


def tiny_cfg(entry, *extra):
    return entry.config("tiny", None, ["model.width=8", "model.layers=1", "model.state=8", "data.size=60",
                                       "train.batch_size=2", "data.segment=128", *extra])


def test_generation_is_what_the_convolution_mode_would_pick(entry):
    """Greedy generation in recurrent mode, chunk after chunk with the state carried, is a sequence the
    convolution mode agrees with: the argmax of its logits at t is the token generated at t + 1."""
    from zoo.sashimi import model as m

    with jax.enable_x64(True):
        built = entry.build(tiny_cfg(entry))
        n = m.CHUNK + 37  # across a chunk boundary
        cond = {"pitch": np.array([60, 64]), "class": np.array([0, 1])}
        tokens = m.generate(built, 2, n, cond=cond, temperature=0.0)
        inputs = np.concatenate([np.full((2, 1), m.start_token(256)), tokens[:, :-1]], axis=1)
        pad = -n % 16
        logits = built.module.apply({"params": built.params}, jnp.asarray(np.pad(inputs, ((0, 0), (0, pad)))),
                                    m._cond(built, cond, 2))[:, :n]
        agree = (np.asarray(logits).argmax(-1) == tokens).mean()
    assert agree == 1.0, agree


def test_protocol_sample_nll_and_weights(entry):
    cfg = tiny_cfg(entry)
    built = entry.build(cfg)
    cond = {"pitch": np.array([60, 61, 62]), "class": np.array([0, 1, 2])}
    audio = entry.sample(built, 3, 0.05, seed=0, cond=cond)
    assert audio.shape == (3, 1, 400) and audio.dtype == np.float32 and np.abs(audio).max() <= 1
    np.testing.assert_array_equal(audio, entry.sample(built, 3, 0.05, seed=0, cond=cond))
    assert not np.array_equal(audio, entry.sample(built, 3, 0.05, seed=1, cond=cond))
    batch = {"audio": np.zeros((2, 1, 100), np.float32), "pitch": np.array([60, 60]), "class": np.array([0, 0])}
    nats = entry.capability("nll")(built, batch)
    assert 0 < nats < 2 * np.log(256)
    with pytest.raises(ValueError, match="cond_keys"):
        entry.sample(built, 1, 0.01, cond={"pitch": np.array([60])})
    from zoo.sashimi import model as m

    arrays = m.to_arrays(built.params)
    again = m.load_weights(entry.build(tiny_cfg(entry, "train.seed=5")), arrays)
    assert entry.capability("nll")(again, batch) == nats
    with pytest.raises(ValueError, match="do not fit"):
        m.load_weights(entry.build(tiny_cfg(entry, "model.layers=2")), arrays)


def test_training_resumes_exactly_and_guards_nans(entry, tmp_path, monkeypatch):
    """Four steps straight == two steps, a stop, and two more (parameters, EMA, optimizer, log); a
    non-finite loss stops training with one line, keeping the last good checkpoint."""
    from lineage.run import Run
    from lineage.train import TrainingDiverged, train

    cfg = tiny_cfg(entry, "train.steps=4", "train.checkpoint_every=2", "train.log_every=1", "train.sample_n=1",
                   "train.sample_seconds=0.01")
    train("sashimi", cfg, tmp_path / "straight", progress=False)
    half = tiny_cfg(entry, "train.steps=2", "train.checkpoint_every=2", "train.log_every=1", "train.sample_n=1",
                    "train.sample_seconds=0.01")
    train("sashimi", half, tmp_path / "resumed", progress=False)
    train("sashimi", cfg, tmp_path / "resumed", resume=True, progress=False)
    a, b = Run(tmp_path / "straight"), Run(tmp_path / "resumed")
    assert [r["loss"] for r in a.log] == [r["loss"] for r in b.log] and len(a.log) == 4
    wa, wb = a.read_checkpoint(), b.read_checkpoint()
    for k in wa["weights"]:
        assert (wa["weights"][k] == wb["weights"][k]).all() and (wa["ema"][k] == wb["ema"][k]).all(), k
    assert isinstance(a.model(), type(entry.build(cfg)))

    from zoo.sashimi import loop

    real = loop.update

    def poisoned(*args):
        out = real(*args)
        return (*out[:3], jnp.float32(np.nan), out[4])

    monkeypatch.setattr(loop, "update", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 5; the last good checkpoint is step_0000004"):
        train("sashimi", tiny_cfg(entry, "train.steps=6", "train.checkpoint_every=2"), tmp_path / "straight",
              resume=True, progress=False)
