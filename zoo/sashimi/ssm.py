"""State-space layers, S4 and S4D: the engine of SaShiMi, one idea seen as a recurrence and as a convolution.

**The continuous system.** A linear time-invariant system maps an input signal u(t) to an output y(t)
through a hidden state x(t) of N numbers:

    x'(t) = A x(t) + B u(t)          y(t) = C x(t) + D u(t)                                   (1)

**Discretisation.** Sampled every Delta seconds, (1) becomes a recurrence over samples,

    x_k = Ab x_{k-1} + Bb u_k        y_k = C x_k + D u_k                                      (2)

with two classic choices of (Ab, Bb):

* zero-order hold (exact when u is held constant over each step):
  ``Ab = exp(Delta A)``, ``Bb = A^-1 (exp(Delta A) - I) B``;
* bilinear (the trapezoid rule; what S4 used):
  ``Ab = (I - Delta/2 A)^-1 (I + Delta/2 A)``, ``Bb = (I - Delta/2 A)^-1 Delta B``.

The bilinear Ab is the (1,1) Pade approximant of the exponential, so the two agree to second order: their
difference shrinks as Delta^3 (a test). For a fast-decaying mode (large |Delta lambda|) they part ways:
exp(Delta lambda) goes to 0, the bilinear value to -1 (the chapter draws it).

**The kernel.** Unrolling (2) from x_{-1} = 0 gives y_k = sum_j C Ab^j Bb u_{k-j} + D u_k: the output is
the input convolved with

    K = (C Bb, C Ab Bb, C Ab^2 Bb, ..., C Ab^(L-1) Bb)                                        (3)

So a layer *trains* as one long convolution over the whole sequence (by FFT, O(L log L), every sample at
once) and *generates* with (2), a fixed amount of work per sample however long the sound. Both give the
same numbers; that is the first test of the chapter.

**HiPPO-LegS** (Gu et al., 2020). A random A forgets within a few steps. HiPPO-LegS is the A for which
x(t) holds the coefficients of the best approximation of the whole history u(s <= t) by Legendre
polynomials stretched over [0, t]:

    A_nk = -sqrt(2n+1) sqrt(2k+1) if n > k,  -(n+1) if n = k,  0 if n < k;    B_n = sqrt(2n+1)  (4)

**S4** (Gu, Goel and Re, 2022). A is normal plus low rank, A = V Lambda V* - P P^T. In the eigenbasis of
the normal part, the generating function of the bilinear kernel (3) is a Cauchy sum over Lambda,
corrected for the low-rank part by the Woodbury identity; evaluated at the L roots of unity and brought
back by an inverse FFT it gives K without forming a single power of Ab (:func:`kernel_dplr`).

**S4D** (Gu, Gupta, Goel and Re, 2022) drops the low-rank part and keeps a diagonal A = Lambda. Every power
is then elementwise and (3) is a Vandermonde product (:func:`kernel_vandermonde`):

    K_l = sum_n C_n Bb_n Ab_n^l                                                                (5)

A real system's complex eigenvalues come in conjugate pairs; keeping one of each pair makes (5) twice the
real part of a sum over N/2 terms. S4D-LegS takes Lambda from the normal part of (4); S4D-Lin puts
lambda_n = -1/2 + i pi n.

**SaShiMi's fix** (Goel, Gu, Donahue and Re, 2022, section 3.2). Trained freely, Re(lambda) can drift
above zero: the convolution over a short training crop hardly notices, but the recurrence (2) over a long
generation multiplies by |Ab| > 1 at every step and explodes. Writing lambda = -exp(a) + i b keeps
Re(lambda) < 0 whatever a becomes (A is "Hurwitz"), so |Ab| < 1 under both discretisations and generation
stays stable.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# -- the matrices ---------------------------------------------------------------------------------------


def hippo_legs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The HiPPO-LegS matrices (4): ``A [n, n]``, ``B [n]``."""
    q = np.sqrt(2 * np.arange(n) + 1.0)
    a = -np.tril(np.outer(q, q), -1) - np.diag(np.arange(n) + 1.0)
    return a, q.copy()


def nplr_legs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """HiPPO-LegS as normal plus low rank: ``A = V diag(Lambda) V* - P P^T``. Returns ``Lambda [n]``,
    ``P [n]`` (real, in the original basis), ``B [n]`` and ``V [n, n]`` (unitary)."""
    a, b = hippo_legs(n)
    p = np.sqrt(np.arange(n) + 0.5)  # A + P P^T = -I/2 + (a skew-symmetric matrix): normal
    s = a + np.outer(p, p)
    # S = -I/2 + W with W skew-symmetric: W = -i (iW), and iW is Hermitian, so eigh gives its eigenvectors
    w = s + 0.5 * np.eye(n)
    eig, v = np.linalg.eigh(-1j * w)  # -iW Hermitian with real eigenvalues mu: W v = i mu v
    lam = -0.5 + 1j * eig
    return lam, p, b, v


def init_eigenvalues(state: int, kind: str) -> np.ndarray:
    """``state // 2`` eigenvalues, one of each conjugate pair (positive imaginary part), for S4D's A:
    ``"legs"`` (the normal part of HiPPO-LegS) or ``"lin"`` (-1/2 + i pi n)."""
    half = state // 2
    if kind == "lin":
        return -0.5 + 1j * math.pi * np.arange(half)
    if kind == "legs":
        lam = nplr_legs(state)[0]
        lam = lam[lam.imag > 0]  # the other half are their conjugates
        return lam[np.argsort(lam.imag)][:half]
    raise ValueError(f"model.init must be 'legs' or 'lin', got {kind!r}")


# -- discretisation ------------------------------------------------------------------------------------


def discretize(a, b, step: float, method: str = "zoh"):
    """``(Ab, Bb)`` of a dense system ``a [N, N], b [N]`` sampled every ``step``."""
    eye = jnp.eye(a.shape[0], dtype=a.dtype)
    if method == "zoh":
        ab = jax.scipy.linalg.expm(step * a)
        return ab, jnp.linalg.solve(a, (ab - eye) @ b)  # A^-1 (exp(Delta A) - I) B
    if method == "bilinear":
        left = eye - step / 2 * a
        return jnp.linalg.solve(left, eye + step / 2 * a), jnp.linalg.solve(left, step * b)
    raise ValueError(f"model.discretization must be 'zoh' or 'bilinear', got {method!r}")


def discretize_diag(lam, b, step, method: str = "zoh"):
    """The same for a diagonal A = diag(``lam``): elementwise, broadcasting ``step`` over the modes."""
    if method == "zoh":
        ab = jnp.exp(step * lam)
        return ab, (ab - 1.0) / lam * b
    if method == "bilinear":
        left = 1.0 - step / 2 * lam
        return (1.0 + step / 2 * lam) / left, step * b / left
    raise ValueError(f"model.discretization must be 'zoh' or 'bilinear', got {method!r}")


# -- the kernel three ways --------------------------------------------------------------------------------


def kernel_naive(ab, bb, c, length: int):
    """(3) by repeated multiplication: ``K_l = c Ab^l Bb`` for l < ``length``. O(L N^2); the reference."""

    def one(x, _):  # x = Ab^l Bb
        return ab @ x, c @ x

    return jax.lax.scan(one, bb, None, length=length)[1]


def kernel_vandermonde(ab, cb, length: int):
    """(5) for a diagonal Ab ``[..., n]`` and the products ``cb = C Bb [..., n]``: ``sum_n cb_n Ab_n^l``,
    complex ``[..., length]``. Ab^l = exp(l log Ab): one exponential per (mode, l), no recurrence."""
    powers = jnp.exp(jnp.log(ab)[..., None] * jnp.arange(length))  # [..., n, L], the Vandermonde matrix
    return jnp.einsum("...n,...nl->...l", cb, powers)


def kernel_dplr(lam, p, q, b, c_tilde, step: float, length: int):
    """S4's kernel of the bilinear system with ``A = diag(lam) - p q*`` without a single matrix power.

    The generating function of (3) is ``sum_l K_l z^l = C~ (I - Ab z)^-1 Bb``, with
    ``C~ = C (I - Ab^L)`` (S4 learns C~ directly, so it is the argument here). Under the bilinear transform
    it equals ``2/(1+z) C~ (g(z) - A)^-1 B`` with ``g(z) = 2/Delta (1-z)/(1+z)``; Woodbury turns the inverse
    of ``g - Lambda + p q*`` into the diagonal resolvent ``R = (g - Lambda)^-1`` and a rank-one correction,
    so four Cauchy sums ``k(u, v) = sum_n u_n v_n / (g - lam_n)`` are all there is. At the L roots of unity
    ``z = exp(-2 pi i k / L)`` that is the FFT of K; an inverse FFT gives K."""
    z = jnp.exp(-2j * jnp.pi * jnp.arange(length) / length)  # [L]
    g = 2.0 / step * (1 - z) / (1 + z)

    def cauchy(u, v):  # sum_n u_n v_n / (g - lam_n), at every g: [L]
        return jnp.sum(u * v / (g[:, None] - lam), axis=-1)

    k00, k01 = cauchy(c_tilde, b), cauchy(c_tilde, p)
    k10, k11 = cauchy(jnp.conj(q), b), cauchy(jnp.conj(q), p)
    at_roots = 2.0 / (1 + z) * (k00 - k01 * k10 / (1 + k11))  # Woodbury: R - R p (1 + q* R p)^-1 q* R
    return jnp.fft.ifft(at_roots)


def fft_conv(u, k):
    """Causal convolution of ``u [..., L, H]`` with ``k [H, L]`` by FFT, zero-padded to 2L so the circular
    convolution does not wrap around: ``y_t = sum_{j<=t} k_j u_{t-j}``."""
    length = u.shape[-2]
    uf = jnp.fft.rfft(u, n=2 * length, axis=-2)  # [..., L+1, H]
    kf = jnp.fft.rfft(k, n=2 * length, axis=-1).T  # [L+1, H]
    return jnp.fft.irfft(uf * kf, n=2 * length, axis=-2)[..., :length, :]


# -- the working layer -----------------------------------------------------------------------------------


class S4D(nn.Module):
    """One S4D layer: H channels, each its own diagonal SSM of ``state // 2`` conjugate pairs, followed by
    a GELU and a gated linear unit that mixes the channels. ``[B, L, H] -> [B, L, H]``.

    In a single-input single-output diagonal system only the products C_n B_n matter, so B is fixed at 1
    and C is learned (as the S4D paper does); A = -exp(log_A_real) + i A_imag is Hurwitz by construction."""

    channels: int
    state: int = 64
    eigenvalues: str = "legs"  # S4D-LegS or S4D-Lin (the config's model.init)
    discretization: str = "zoh"
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    def setup(self):
        h, half = self.channels, self.state // 2
        lam = init_eigenvalues(self.state, self.eigenvalues)
        lo, hi = math.log(self.dt_min), math.log(self.dt_max)
        # log Delta uniform in [log dt_min, log dt_max]: each channel watches its own time scale
        self.log_dt = self.param("log_dt", lambda k, s: jax.random.uniform(k, s, minval=lo, maxval=hi), (h,))
        self.log_A_real = self.param("log_A_real", lambda k, s: jnp.broadcast_to(jnp.log(-lam.real), s), (h, half))
        self.A_imag = self.param("A_imag", lambda k, s: jnp.broadcast_to(lam.imag, s), (h, half))
        # C complex, stored as (real, imaginary) pairs; unit variance like torch's complex normal
        self.C = self.param("C", nn.initializers.normal(math.sqrt(0.5)), (h, half, 2))
        self.D = self.param("D", nn.initializers.normal(1.0), (h,))
        self.mix = nn.Dense(2 * h)  # the 1x1 convolution before the GLU

    def ssm(self):
        """The discretised system of every channel: ``Ab, Bb, C``, complex ``[H, N/2]``."""
        lam = -jnp.exp(self.log_A_real) + 1j * self.A_imag  # Re(lambda) < 0 always
        step = jnp.exp(self.log_dt)[:, None]  # [H, 1]
        ab, bb = discretize_diag(lam, jnp.ones_like(lam), step, self.discretization)
        return ab, bb, self.C[..., 0] + 1j * self.C[..., 1]

    def kernel(self, length: int):
        """K of (5) for every channel, ``[H, L]`` (twice the real part: the conjugate halves)."""
        ab, bb, c = self.ssm()
        return 2 * kernel_vandermonde(ab, c * bb, length).real

    def _out(self, y, u):
        y = nn.gelu(y + self.D * u, approximate=False)  # the D u skip of (1), then the nonlinearity
        return nn.glu(self.mix(y), axis=-1)

    def __call__(self, u):
        """Convolution mode, for training: ``u [B, L, H]`` -> ``[B, L, H]``."""
        return self._out(fft_conv(u, self.kernel(u.shape[-2])), u)

    def step(self, u, x):
        """Recurrent mode (2), for generation: one sample ``u [B, H]`` and the state ``x [B, H, N/2]``
        (complex) -> (output ``[B, H]``, next state)."""
        ab, bb, c = self.ssm()
        x = ab * x + bb * u[..., None]  # x_k = Ab x_{k-1} + Bb u_k
        return self._out(2 * jnp.sum(c * x, axis=-1).real, u), x  # y_k = C x_k (+ D u_k in _out)

    def initial_state(self, batch: int):
        return jnp.zeros((batch, self.channels, self.state // 2), jnp.result_type(self.C.dtype, jnp.complex64))
